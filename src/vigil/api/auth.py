"""API keys on every endpoint but ``/healthz``: header ``X-API-Key``, one action per route.

Who may do what is decided by ``vigil.security.permissions`` (one matrix for roles and
scopes); this module only finds the principal behind a key and asks the matrix. Keys are
checked by an ``Authenticator``: ``StaticKeys`` (keys given to ``vigil serve`` on the
command line or by a test) or the security service's key store, wrapped in ``CachedKeys``
so a key is looked up at most once per ``auth_cache_s`` (a revoked key stops working
within that time; the decision API does not pay a database round trip per request).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Protocol

from fastapi import Request, Security
from fastapi.security import APIKeyHeader

from vigil.errors import ConfigError, UnauthorizedError
from vigil.security.db import Database
from vigil.security.permissions import SCOPES, Action, Principal, Scope, require

API_KEY_HEADER = "X-API-Key"

api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    scheme_name="ApiKey",
    description="An API key (``vigil serve --api-key`` or ``vigil keys create``); each "
    "endpoint needs one scope: " + ", ".join(SCOPES) + ".",
    auto_error=False,
)


class Authenticator(Protocol):
    def authenticate(self, raw_key: str) -> Principal:
        """The principal behind ``raw_key``; raises ``UnauthorizedError`` if none."""
        ...


def _digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode("utf-8", "surrogatepass")).hexdigest()


class StaticKeys:
    """Keys known at start-up: ``name:secret:scope,scope`` or generated ones."""

    def __init__(self) -> None:
        self._by_digest: dict[str, Principal] = {}

    def add(
        self, name: str, raw_key: str, scopes: Iterable[str], advertiser_id: str | None = None
    ) -> Principal:
        """``advertiser_id``: an advertiser's key (``ads:read`` alone: its own figures)."""
        wanted = frozenset(scopes)
        if advertiser_id is not None and wanted != {"ads:read"}:
            raise ConfigError(f"API key {name!r}: an advertiser's key holds ads:read only")
        unknown = wanted - set(SCOPES)
        if unknown:
            raise ConfigError(
                f"API key {name!r}: unknown scopes {sorted(unknown)}; known: {', '.join(SCOPES)}"
            )
        if len(raw_key) < 16:
            raise ConfigError(f"API key {name!r} is too short: use at least 16 characters")
        principal = Principal(
            kind="key",
            id=len(self._by_digest) + 1,
            name=name,
            scopes=frozenset(s for s in SCOPES if s in wanted),
            advertiser_id=advertiser_id,
        )
        self._by_digest[_digest(raw_key)] = principal
        return principal

    def add_spec(self, spec: str) -> Principal:
        """``name:secret:scope,scope`` (``*`` for every scope). Scope names hold a colon
        themselves (``decisions:read``), so the secret is what lies between the first two
        colons and cannot contain one."""
        parts = spec.split(":", 2)
        if len(parts) < 3 or not all(parts):
            name = parts[0] if len(parts) > 1 else "?"
            raise ConfigError(  # never echo the secret
                f"API key {name!r}: expected a name, a secret and scopes separated by colons, "
                "e.g. svc:a-long-secret:decisions:read,alerts:read (or * for every scope)"
            )
        name, raw, scopes = parts
        return self.add(name, raw, SCOPES if scopes == "*" else scopes.split(","))

    def generate(self, name: str, scopes: Iterable[Scope] = SCOPES) -> str:
        raw = "vgk_dev_" + secrets.token_urlsafe(24)
        self.add(name, raw, scopes)
        return raw

    def authenticate(self, raw_key: str) -> Principal:
        principal = self._by_digest.get(_digest(raw_key))
        if principal is None:
            raise UnauthorizedError(f"unknown API key in {API_KEY_HEADER}")
        return principal


class DatabaseKeys:
    """Keys created with the security service (``vigil.security.keys``)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def authenticate(self, raw_key: str) -> Principal:
        from vigil.security.keys import authenticate_api_key

        with self.db.transaction() as session:
            return authenticate_api_key(session, raw_key)


class CachedKeys:
    """Remembers what ``inner`` said about a key for ``ttl_s`` seconds."""

    def __init__(self, inner: Authenticator, ttl_s: float) -> None:
        self.inner = inner
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, Principal]] = {}

    def authenticate(self, raw_key: str) -> Principal:
        now = time.monotonic()
        digest = _digest(raw_key)
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        principal = self.inner.authenticate(raw_key)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now + self.ttl_s, principal)
        return principal


class AnyOf:
    """Tries several authenticators in turn (static keys, then the key store)."""

    def __init__(self, *authenticators: Authenticator) -> None:
        self.authenticators = authenticators

    def authenticate(self, raw_key: str) -> Principal:
        error: UnauthorizedError | None = None
        for auth in self.authenticators:
            try:
                return auth.authenticate(raw_key)
            except UnauthorizedError as exc:
                error = exc
        raise error or UnauthorizedError(f"unknown API key in {API_KEY_HEADER}")


def needs(action: Action) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller's principal, if its key may do ``action`` (else 401/403)."""

    async def principal(
        request: Request, raw_key: Annotated[str | None, Security(api_key_scheme)] = None
    ) -> Principal:
        if not raw_key:
            raise UnauthorizedError(
                f"this endpoint needs an API key in the {API_KEY_HEADER} header"
            )
        auth: Authenticator = request.app.state.vigil.auth
        found = auth.authenticate(raw_key)
        require(found, action)
        return found

    principal.__name__ = f"needs_{action.replace(':', '_')}"
    return principal
