"""Sign-up, login, the current user, and every way a bearer token can be wrong."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.credits import ledger_sum
from db.models import CreditLedger, LedgerReason
from serve.ratelimit import RateLimiter
from serve.security import issue_access_token
from tests.serve.conftest import MakeApp
from tests.utils.api import PASSWORD, TEST_JWT_SECRET, sign_up
from tests.utils.db import random_email

UNAUTHORIZED = {"error": "Unauthorized", "message": "Invalid or missing authentication token"}


def test_signup_creates_user_with_signup_credits(
    client: TestClient, db_sessions: sessionmaker[Session]
) -> None:
    response = client.post(
        "/auth/signup",
        json={"email": "  Alice@Example.COM ", "password": PASSWORD, "name": " Alice "},
    )
    assert response.status_code == 201
    body = response.json()
    assert body == {"id": body["id"], "email": "alice@example.com", "name": "Alice", "credits": 10}
    with db_sessions() as session:
        user_id = uuid.UUID(body["id"])
        reasons = session.scalars(
            select(CreditLedger.reason).where(CreditLedger.user_id == user_id)
        ).all()
        assert reasons == [LedgerReason.SIGNUP_BONUS]
        assert ledger_sum(session=session, user_id=user_id) == 10


@pytest.mark.parametrize("second", ["bob@example.com", "BOB@Example.com", " bob@example.com"])
def test_signup_duplicate_email_conflict(client: TestClient, second: str) -> None:
    assert client.post("/auth/signup", json={"email": "bob@example.com", "password": PASSWORD})
    response = client.post("/auth/signup", json={"email": second, "password": PASSWORD})
    assert response.status_code == 409
    assert response.json() == {
        "error": "Conflict",
        "message": "An account with this email already exists",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "a@b", "password": PASSWORD}, "email"),
        ({"email": "a b@example.com", "password": PASSWORD}, "email"),
        ({"email": "a\x00b@example.com", "password": PASSWORD}, "email"),
        ({"email": "carol@example.com", "password": "short"}, "password"),
        ({"email": "carol@example.com", "password": "é" * 37}, "password"),  # 74 bytes
        ({"email": "carol@example.com"}, "password"),
        ({"password": PASSWORD}, "email"),
        ({"email": "carol@example.com", "password": 12345678}, "password"),
        ({"email": "carol@example.com", "password": PASSWORD, "role": "admin"}, "role"),
    ],
)
def test_signup_rejects_bad_input(client: TestClient, body: dict[str, Any], field: str) -> None:
    response = client.post("/auth/signup", json=body)
    assert response.status_code == 422
    error = response.json()
    assert error["error"] == "Validation failed"
    assert [detail["field"] for detail in error["details"]] == [field]
    assert PASSWORD not in response.text


def test_signup_accepts_a_72_byte_password(client: TestClient) -> None:
    password = "é" * 36  # 72 bytes in UTF-8, bcrypt's limit
    user = sign_up(client, password=password)
    assert client.get("/me", headers=user.headers).status_code == 200


def test_login_returns_a_bearer_token(client: TestClient) -> None:
    email = random_email()
    client.post("/auth/signup", json={"email": email, "password": PASSWORD})
    response = client.post("/auth/login", json={"email": email.upper(), "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert (body["token_type"], body["expires_in"]) == ("bearer", 3600)
    claims = jwt.decode(
        body["access_token"], TEST_JWT_SECRET, algorithms=["HS256"], issuer="clipzz"
    )
    assert claims["exp"] - claims["iat"] == 3600
    assert uuid.UUID(claims["sub"])


@pytest.mark.parametrize("case", ["wrong password", "unknown email", "overlong password"])
def test_login_failures_look_alike(client: TestClient, case: str) -> None:
    user = sign_up(client)
    email, password = {
        "wrong password": (user.email, "not the password"),
        "unknown email": (random_email(), PASSWORD),
        "overlong password": (user.email, "x" * 100),
    }[case]
    response = client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized", "message": "Invalid email or password"}


def test_me_returns_the_current_user(client: TestClient) -> None:
    user = sign_up(client)
    response = client.get("/me", headers=user.headers)
    assert response.status_code == 200
    assert response.json() == {"id": str(user.id), "email": user.email, "name": None, "credits": 10}


def _unsigned(claims: dict[str, Any]) -> str:
    """An `alg: none` token, built by hand (PyJWT will not make one)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _bad_token(case: str, user_id: uuid.UUID) -> str | None:
    secret = SecretStr(TEST_JWT_SECRET)
    now = datetime.now(UTC)
    claims = {"sub": str(user_id), "iss": "clipzz", "iat": now, "exp": now + timedelta(hours=1)}
    match case:
        case "missing":
            return None
        case "garbage":
            return "not.a.token"
        case "expired":
            past = now - timedelta(hours=2)
            return issue_access_token(user_id, secret=secret, issuer="clipzz", ttl_s=60, now=past)
        case "wrong signature":
            return jwt.encode(claims, "another-secret-" + "x" * 32, algorithm="HS256")
        case "alg none":
            return _unsigned(
                {**claims, "iat": int(now.timestamp()), "exp": int(now.timestamp()) + 60}
            )
        case "wrong issuer":
            return issue_access_token(user_id, secret=secret, issuer="someone-else", ttl_s=60)
        case "unknown user":
            return issue_access_token(uuid.uuid4(), secret=secret, issuer="clipzz", ttl_s=60)
        case "no subject":
            return jwt.encode({k: v for k, v in claims.items() if k != "sub"}, TEST_JWT_SECRET)
        case "subject not a uuid":
            return jwt.encode({**claims, "sub": "admin"}, TEST_JWT_SECRET)
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "garbage",
        "expired",
        "wrong signature",
        "alg none",
        "wrong issuer",
        "unknown user",
        "no subject",
        "subject not a uuid",
    ],
)
def test_me_rejects_bad_tokens(client: TestClient, case: str) -> None:
    user = sign_up(client)
    token = _bad_token(case, user.id)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.get("/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == UNAUTHORIZED


def test_me_rejects_a_non_bearer_scheme(client: TestClient) -> None:
    user = sign_up(client)
    response = client.get("/me", headers={"Authorization": f"Basic {user.token}"})
    assert response.status_code == 401


def test_login_attempts_are_limited_per_email(make_app: MakeApp) -> None:
    now = [1000.0]
    app = make_app(rate_limiter=RateLimiter(clock=lambda: now[0]))
    with TestClient(app) as client:
        user = sign_up(client)  # one attempt on this email and address
        wrong = {"email": user.email, "password": "not the password"}
        for _ in range(9):
            assert client.post("/auth/login", json=wrong).status_code == 401
        refused = client.post("/auth/login", json={**wrong, "password": user.password})
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == str(15 * 60)
        assert refused.json()["error"] == "Too many requests"
        now[0] += 15 * 60 + 1
        allowed = client.post("/auth/login", json={**wrong, "password": user.password})
        assert allowed.status_code == 200


def test_login_attempts_are_limited_per_address(make_app: MakeApp) -> None:
    now = [0.0]
    app = make_app(rate_limiter=RateLimiter(clock=lambda: now[0]), login_attempts_per_15min=3)
    with TestClient(app) as client:
        for _ in range(3):
            attempt = {"email": random_email(), "password": PASSWORD}
            assert client.post("/auth/login", json=attempt).status_code == 401
            now[0] += 60
        refused = client.post("/auth/login", json={"email": random_email(), "password": PASSWORD})
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == str(15 * 60 - 3 * 60)
