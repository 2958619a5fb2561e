"""Vigil's HTTP API (``vigil serve``): the decision API process beside the runtime process.

See docs/api.md for the architecture (two processes, the channel between them, how stale
the index can be) and every endpoint.
"""

from vigil.api.app import create_app
from vigil.api.auth import StaticKeys
from vigil.api.settings import ApiSettings

__all__ = ["ApiSettings", "StaticKeys", "create_app"]
