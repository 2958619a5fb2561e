"""Keyed state: every stage's memory scoped to one key, in a backend behind one contract.

A stage (``stage.py``) declares the events it reads, the key it is partitioned by and its
state as named value / list / map handles, each with a time-to-live in event time
(``spec.py``). While it handles an event or a timer it can reach only the current key's
state. Backends (``memory.py``, ``rocks.py``) store the entries and checkpoint the keys
changed since the last checkpoint. docs/adr/0004-keyed-state.md has the contract and why.
"""

from vigil.events.derived import DerivedEvent
from vigil.state.keyed.backend import StateBackend, open_backend
from vigil.state.keyed.spec import ListSpec, MapSpec, StateSpec, ValueSpec, expiry_of
from vigil.state.keyed.stage import KEY_KINDS, KeyKind, Stage, StageContext

__all__ = [
    "KEY_KINDS",
    "DerivedEvent",
    "KeyKind",
    "ListSpec",
    "MapSpec",
    "Stage",
    "StageContext",
    "StateBackend",
    "StateSpec",
    "ValueSpec",
    "expiry_of",
    "open_backend",
]
