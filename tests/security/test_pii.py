"""Salted hashes of personal data: equal values link, nothing else does."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from vigil.errors import ConfigError, RequestError
from vigil.security import SecuritySettings
from vigil.security.pii import hash_value, normalise

SECRET = b"0123456789abcdef0123"


@pytest.mark.parametrize(
    ("kind", "a", "b"),
    [
        ("email", "Jane.Roe@Example.COM ", "jane.roe@example.com"),
        ("phone", "+1 (555) 010-7788", "+15550107788"),
        ("address", "221B  Baker Street,\nLondon", "221b baker street london"),
        ("payment", "fp_42 42", "fp_4242"),
    ],
)
def test_spellings_of_one_value_link(kind: str, a: str, b: str) -> None:
    assert hash_value(kind, a, SECRET) == hash_value(kind, b, SECRET)  # type: ignore[arg-type]


def test_it_is_an_hmac_of_kind_and_normal_form() -> None:
    expected = hmac.new(SECRET, b"email\x00a@b.c", hashlib.sha256).hexdigest()
    assert hash_value("email", "A@B.C", SECRET) == expected
    assert normalise("email", " A@B.C ") == "a@b.c"


def test_kind_and_secret_separate_hashes() -> None:
    assert hash_value("email", "x1", SECRET) != hash_value("payment", "x1", SECRET)
    assert hash_value("email", "x1", SECRET) != hash_value("email", "x1", SECRET + b"!")
    plain = hashlib.sha256(b"a@b.c").hexdigest()
    assert hash_value("email", "a@b.c", SECRET) != plain


def test_bad_input_and_weak_secrets_are_refused() -> None:
    with pytest.raises(ConfigError, match="VIGIL_PII_SECRET"):
        hash_value("email", "a@b.c", b"short")
    with pytest.raises(RequestError, match="unknown personal-data kind"):
        hash_value("ssn", "1", SECRET)  # type: ignore[arg-type]
    with pytest.raises(RequestError, match="empty"):
        hash_value("phone", " () ", SECRET)


def test_settings_come_from_the_environment() -> None:
    settings = SecuritySettings.from_env(
        {"VIGIL_PII_SECRET": SECRET.decode(), "VIGIL_DATABASE_URL": "sqlite:///x.db"}
    )
    assert settings.pii_secret == SECRET and settings.database_url == "sqlite:///x.db"
    with pytest.raises(ConfigError, match="openssl rand"):
        SecuritySettings.from_env({})
    assert SecuritySettings.from_env({}, require_pii_secret=False).database_url.startswith(
        "sqlite:///"
    )
