"""Alembic migrations of the operational database (run by ``vigil.security.migrate``)."""
