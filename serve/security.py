"""Passwords (bcrypt), access tokens (JWT HS256) and the service token of `/process_video`.

bcrypt 5 raises `ValueError` for passwords over 72 bytes instead of truncating them; sign-up
refuses such passwords, and `verify_password` answers False for them (they can never match).
Each check costs ~0.4 s at cost 12, so callers run these functions off the event loop.
"""

from __future__ import annotations

import hmac
import uuid
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import bcrypt
import jwt
from pydantic import SecretStr

__all__ = [
    "BCRYPT_MAX_BYTES",
    "InvalidToken",
    "burn_password_check",
    "hash_password",
    "issue_access_token",
    "read_access_token",
    "service_token_matches",
    "verify_password",
]

BCRYPT_MAX_BYTES = 72
ALGORITHM = "HS256"


class InvalidToken(Exception):
    """The access token is missing a claim, expired, forged, or not for this service."""


def hash_password(password: str, *, cost: int) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=cost)).decode()


def verify_password(password: str, password_hash: str | None) -> bool:
    """Whether `password` matches; False (never an error) for no hash or an unusable one."""
    encoded = password.encode()
    if not password_hash or len(encoded) > BCRYPT_MAX_BYTES:
        return False
    try:
        return bcrypt.checkpw(encoded, password_hash.encode())
    except ValueError:  # not a bcrypt hash
        return False


def burn_password_check(password: str, *, cost: int) -> None:
    """Spend the time of a real check, so a login for an unknown email is not faster."""
    verify_password(password, _dummy_hash(cost))


@lru_cache
def _dummy_hash(cost: int) -> str:
    return hash_password("clipzz dummy password", cost=cost)


def issue_access_token(
    user_id: uuid.UUID,
    *,
    secret: SecretStr,
    issuer: str,
    ttl_s: int,
    now: datetime | None = None,
) -> str:
    """A signed token whose `sub` is the user id (a string: PyJWT rejects other types)."""
    issued = now or datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "iss": issuer,
        "iat": issued,
        "exp": issued + timedelta(seconds=ttl_s),
    }
    return jwt.encode(claims, secret.get_secret_value(), algorithm=ALGORITHM)


def read_access_token(token: str, *, secret: SecretStr, issuer: str) -> uuid.UUID:
    """The user id in a valid token, else `InvalidToken`.

    Only HS256 is accepted (so `alg: none` and algorithm confusion fail), and `exp`, `iat`,
    `sub` and this issuer are required.
    """
    try:
        claims = jwt.decode(
            token,
            secret.get_secret_value(),
            algorithms=[ALGORITHM],
            issuer=issuer,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
        return uuid.UUID(claims["sub"])
    except (jwt.PyJWTError, ValueError) as exc:
        raise InvalidToken(str(exc)) from exc


def service_token_matches(given: str, expected: SecretStr) -> bool:
    """Constant-time comparison, so response times do not reveal how much of it was right."""
    return hmac.compare_digest(given.encode(), expected.get_secret_value().encode())
