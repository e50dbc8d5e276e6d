"""Password hashing and tokens, below the routes."""

from __future__ import annotations

import uuid

import pytest
from pydantic import SecretStr

from serve.security import (
    InvalidToken,
    burn_password_check,
    hash_password,
    issue_access_token,
    read_access_token,
    service_token_matches,
    verify_password,
)

SECRET = SecretStr("s" * 40)


def test_password_round_trip() -> None:
    stored = hash_password("correct horse", cost=4)
    assert stored.startswith("$2b$04$")
    assert verify_password("correct horse", stored)
    assert not verify_password("wrong horse", stored)


@pytest.mark.parametrize("stored", [None, "", "not-a-real-hash", "$2b$04$truncated"])
def test_unusable_hashes_never_match(stored: str | None) -> None:
    assert not verify_password("correct horse", stored)


def test_passwords_over_72_bytes_never_match() -> None:
    """bcrypt 5 raises for them; they must fail like any wrong password."""
    stored = hash_password("a" * 72, cost=4)
    assert verify_password("a" * 72, stored)
    assert not verify_password("a" * 73, stored)
    burn_password_check("é" * 100, cost=4)


def test_token_round_trip_and_issuer() -> None:
    user_id = uuid.uuid4()
    token = issue_access_token(user_id, secret=SECRET, issuer="clipzz", ttl_s=60)
    assert read_access_token(token, secret=SECRET, issuer="clipzz") == user_id
    with pytest.raises(InvalidToken):
        read_access_token(token, secret=SECRET, issuer="other")
    with pytest.raises(InvalidToken):
        read_access_token(token, secret=SecretStr("t" * 40), issuer="clipzz")


def test_service_token_comparison() -> None:
    expected = SecretStr("token-" + "x" * 40)
    assert service_token_matches("token-" + "x" * 40, expected)
    assert not service_token_matches("token-", expected)
    assert not service_token_matches("tökén", expected)
