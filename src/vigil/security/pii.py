"""Personal data needed only for linking, kept as salted hashes (never in clear).

Emails, phones, addresses and payment fingerprints are needed to *link* records (two
accounts sharing a card), never to read them back. ``hash_value`` keeps exactly that:
HMAC-SHA256 keyed by a per-deployment secret, over the kind and a normalised value, so
equal values link, the same email under two kinds does not, and without the secret a
hash cannot be reversed by hashing a dictionary of likely emails or phone numbers.

The secret comes from configuration (``SecuritySettings.pii_secret``, read from the
environment at the entry point by ``SecuritySettings.from_env``); nothing here reads it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from typing import Final, Literal, get_args

from vigil.errors import ConfigError, RequestError

__all__ = ["KINDS", "MIN_SECRET_BYTES", "PiiKind", "hash_value", "normalise"]

PiiKind = Literal["email", "phone", "address", "payment"]
KINDS: Final[tuple[PiiKind, ...]] = get_args(PiiKind)
MIN_SECRET_BYTES = 16
_SPACES = re.compile(r"\s+")
_NOT_PHONE = re.compile(r"[^0-9]")


def normalise(kind: PiiKind, value: str) -> str:
    """The form two spellings of the same thing share (case, spaces, punctuation)."""
    text = unicodedata.normalize("NFKC", value).strip()
    if kind == "email":
        return text.casefold()
    if kind == "phone":
        digits = _NOT_PHONE.sub("", text)
        return ("+" if text.startswith("+") else "") + digits
    if kind == "address":
        return _SPACES.sub(" ", text.casefold().replace(",", " ")).strip()
    return _SPACES.sub("", text)


def hash_value(kind: PiiKind, value: str, secret: bytes) -> str:
    """HMAC-SHA256 (hex) of ``kind`` and the normalised ``value`` under ``secret``."""
    if kind not in KINDS:
        raise RequestError(f"unknown personal-data kind {kind!r}; use one of {', '.join(KINDS)}")
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"the PII secret has {len(secret)} bytes, fewer than {MIN_SECRET_BYTES}: set "
            "VIGIL_PII_SECRET to a long random value (e.g. `openssl rand -hex 32`)"
        )
    normal = normalise(kind, value)
    if not normal:
        raise RequestError(f"empty {kind}: nothing to hash")
    message = f"{kind}\x00{normal}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()
