"""The one error root. Every Vigil error says what failed, where, and what to do."""

from __future__ import annotations


class VigilError(Exception):
    """Root of all errors Vigil raises on purpose."""


class ConfigError(VigilError):
    """A setting or command-line option is wrong."""


class InputError(VigilError):
    """An input file or stream cannot be read at all (missing, unreadable)."""


class CheckpointError(VigilError):
    """A checkpoint cannot be loaded or does not match the run it is resumed with."""
