"""Security settings, built once at the entry point (``from_env``) and passed down."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vigil.errors import ConfigError
from vigil.security.db import DEFAULT_URL
from vigil.security.pii import MIN_SECRET_BYTES

__all__ = ["SecuritySettings"]


@dataclass(frozen=True, slots=True)
class SecuritySettings:
    #: ``sqlite:///vigil.db`` or ``postgresql+psycopg://user@host:port/db``
    database_url: str = DEFAULT_URL
    #: the per-deployment key of the salted PII hashes (``VIGIL_PII_SECRET``)
    pii_secret: bytes = b""

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], *, require_pii_secret: bool = True
    ) -> SecuritySettings:
        """``VIGIL_DATABASE_URL`` and ``VIGIL_PII_SECRET`` (at least 16 bytes)."""
        secret = environ.get("VIGIL_PII_SECRET", "").encode()
        if require_pii_secret and len(secret) < MIN_SECRET_BYTES:
            raise ConfigError(
                "VIGIL_PII_SECRET is missing or shorter than "
                f"{MIN_SECRET_BYTES} bytes: set it to a long random value kept per deployment "
                "(e.g. `export VIGIL_PII_SECRET=$(openssl rand -hex 32)`); changing it later "
                "breaks the links between hashes made before and after"
            )
        return cls(database_url=environ.get("VIGIL_DATABASE_URL", DEFAULT_URL), pii_secret=secret)
