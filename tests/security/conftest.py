"""Fixtures of the security tests: ``store`` (SQLite and PostgreSQL), ``db``, ``people``."""

from __future__ import annotations

from .dbfixtures import db, people, store

__all__ = ["db", "people", "store"]
