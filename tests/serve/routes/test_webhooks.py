"""Payment webhooks over HTTP: signed deliveries credit once, whatever the repetition or
concurrency; unsigned, tampered or stale ones store nothing; odd payments credit nothing."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.models import WebhookEvent
from tests.serve.routes.conftest import (
    RAZORPAY_WEBHOOK_SECRET,
    STRIPE_WEBHOOK_SECRET,
    credits_of,
    razorpay_order,
    stripe_checkout,
)
from tests.utils import razorpay_stub as rzp
from tests.utils import stripe_stub as stp
from tests.utils.api import ApiUser, live_server, sign_up
from tests.utils.db import run_in_threads

STRIPE_PATH = "/api/webhooks/stripe"
RAZORPAY_PATH = "/api/webhooks/razorpay"


def _stripe_paid(
    session_id: str, user: ApiUser, *, secret: str = STRIPE_WEBHOOK_SECRET, **fields: object
) -> tuple[bytes, dict[str, str]]:
    """A signed `checkout.session.completed` for the small pack: the body and its headers."""
    event = stp.checkout_event(session_id, user_id=str(user.id), pack="small", **fields)
    body, signature = stp.sign(event, secret)
    return body, {"Stripe-Signature": signature, "Content-Type": "application/json"}


def _event_rows(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.execute(select(func.count()).select_from(WebhookEvent)).scalar_one()


def _assert_credited_once(client: httpx.Client, user: ApiUser, credits: int = 60) -> None:
    """The balance, and a ledger that adds up to it with exactly one purchase row."""
    assert credits_of(client, user) == credits
    ledger = client.get("/billing/ledger", headers=user.headers).json()
    purchases = [row for row in ledger["data"] if row["reason"] == "purchase"]
    assert len(purchases) == 1
    assert sum(row["delta"] for row in ledger["data"]) == credits


# --- Stripe ------------------------------------------------------------------------------------


def test_stripe_paid_checkout_credits_the_pack(billing_client: TestClient) -> None:
    user = sign_up(billing_client)
    session_id = stripe_checkout(billing_client, user)
    assert credits_of(billing_client, user) == 10

    body, headers = _stripe_paid(session_id, user)
    response = billing_client.post(STRIPE_PATH, content=body, headers=headers)

    assert response.status_code == 200, response.text
    assert response.json() == {"received": True}
    assert credits_of(billing_client, user) == 60
    [payment] = billing_client.get("/billing/payments", headers=user.headers).json()["data"]
    assert (payment["status"], payment["failure_reason"]) == ("paid", None)
    assert payment["paid_at"] is not None
    ledger = billing_client.get("/billing/ledger", headers=user.headers).json()
    assert ledger["count"] == 2
    purchase, bonus = ledger["data"]  # newest first
    assert (purchase["reason"], purchase["delta"], purchase["balance_after"]) == (
        "purchase",
        50,
        60,
    )
    assert purchase["payment_id"] == payment["id"]
    assert (bonus["reason"], bonus["delta"]) == ("signup_bonus", 10)
    _assert_credited_once(billing_client, user)


def test_stripe_event_delivered_100_times_credits_once(
    billing_client: TestClient, db_sessions: sessionmaker[Session]
) -> None:
    user = sign_up(billing_client)
    body, headers = _stripe_paid(stripe_checkout(billing_client, user), user)

    for _ in range(100):
        response = billing_client.post(STRIPE_PATH, content=body, headers=headers)
        assert response.status_code == 200, response.text

    _assert_credited_once(billing_client, user)
    assert _event_rows(db_sessions) == 1


def test_stripe_event_delivered_10_times_at_once_credits_once(
    billing_app: FastAPI, db_sessions: sessionmaker[Session]
) -> None:
    with live_server(billing_app) as base_url, httpx.Client(base_url=base_url) as client:
        user = sign_up(client)
        body, headers = _stripe_paid(stripe_checkout(client, user), user)

        def deliver(_: int) -> int:
            with httpx.Client(base_url=base_url, timeout=30) as own:
                return own.post(STRIPE_PATH, content=body, headers=headers).status_code

        assert run_in_threads(10, deliver) == [200] * 10
        _assert_credited_once(client, user)
    assert _event_rows(db_sessions) == 1


@pytest.mark.parametrize(
    "forgery", ["tampered body", "wrong secret", "stale timestamp", "no header", "garbage header"]
)
def test_stripe_untrusted_delivery_is_400_and_stores_nothing(
    billing_client: TestClient, db_sessions: sessionmaker[Session], forgery: str
) -> None:
    user = sign_up(billing_client)
    session_id = stripe_checkout(billing_client, user)
    body, headers = _stripe_paid(session_id, user)
    if forgery == "tampered body":
        body = body.replace(b'"pack": "small"', b'"pack": "large"')
    elif forgery == "wrong secret":
        body, headers = _stripe_paid(session_id, user, secret="whsec_someone_else")
    elif forgery == "stale timestamp":
        event = stp.checkout_event(session_id, user_id=str(user.id), pack="small")
        body, signature = stp.sign(event, STRIPE_WEBHOOK_SECRET, timestamp=int(time.time()) - 301)
        headers["Stripe-Signature"] = signature
    elif forgery == "no header":
        del headers["Stripe-Signature"]
    else:
        headers["Stripe-Signature"] = "t=1,v1=" + "0" * 64

    response = billing_client.post(STRIPE_PATH, content=body, headers=headers)

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "Bad request"
    assert response.json()["message"].startswith("Stripe webhook rejected: ")
    assert credits_of(billing_client, user) == 10
    assert _event_rows(db_sessions) == 0


def test_stripe_unpaid_session_credits_nothing(
    billing_client: TestClient, db_sessions: sessionmaker[Session]
) -> None:
    user = sign_up(billing_client)
    body, headers = _stripe_paid(
        stripe_checkout(billing_client, user), user, payment_status="unpaid"
    )

    response = billing_client.post(STRIPE_PATH, content=body, headers=headers)

    assert response.status_code == 200
    assert credits_of(billing_client, user) == 10
    [payment] = billing_client.get("/billing/payments", headers=user.headers).json()["data"]
    assert payment["status"] == "created"  # a delayed method may still succeed later
    assert _event_rows(db_sessions) == 1


def test_stripe_wrong_amount_fails_the_payment(billing_client: TestClient) -> None:
    user = sign_up(billing_client)
    body, headers = _stripe_paid(stripe_checkout(billing_client, user), user, amount=1)

    response = billing_client.post(STRIPE_PATH, content=body, headers=headers)

    assert response.status_code == 200  # stored as failed: retrying would not help
    assert credits_of(billing_client, user) == 10
    [payment] = billing_client.get("/billing/payments", headers=user.headers).json()["data"]
    assert payment["status"] == "failed"
    assert payment["failure_reason"] == "paid 1 USD, expected 1000 USD for pack small"


def test_stripe_other_event_types_are_acknowledged(billing_client: TestClient) -> None:
    user = sign_up(billing_client)
    body, headers = _stripe_paid(
        stripe_checkout(billing_client, user), user, event_type="checkout.session.expired"
    )
    response = billing_client.post(STRIPE_PATH, content=body, headers=headers)
    assert (response.status_code, response.json()) == (200, {"received": True})
    assert credits_of(billing_client, user) == 10


def test_webhook_logs_carry_no_personal_data(
    billing_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    user = sign_up(billing_client)
    body, headers = _stripe_paid(stripe_checkout(billing_client, user), user)
    with caplog.at_level(logging.DEBUG):
        billing_client.post(STRIPE_PATH, content=body, headers=headers)
        billing_client.post(STRIPE_PATH, content=body + b" ", headers=headers)  # rejected
    assert "processed" in caplog.text
    assert "buyer@example.com" not in caplog.text
    assert user.email not in caplog.text


# --- Razorpay ----------------------------------------------------------------------------------


def _razorpay_paid(order_id: str, user: ApiUser, *, amount: int = 83000) -> dict[str, Any]:
    notes = {"user_id": str(user.id), "pack": "small"}
    return rzp.order_paid_event(order_id, amount=amount, notes=notes)


def test_razorpay_order_paid_replayed_credits_once(
    billing_client: TestClient, db_sessions: sessionmaker[Session]
) -> None:
    user = sign_up(billing_client)
    order_id = razorpay_order(billing_client, user)
    body, signature = rzp.sign(_razorpay_paid(order_id, user), RAZORPAY_WEBHOOK_SECRET)
    headers = {"X-Razorpay-Signature": signature, "X-Razorpay-Event-Id": "evt_replayed"}

    for _ in range(5):
        response = billing_client.post(RAZORPAY_PATH, content=body, headers=headers)
        assert (response.status_code, response.json()) == (200, {"status": "ok"})
    # A replay under a new event id (the header is not signed) is recorded, but credits nothing.
    headers["X-Razorpay-Event-Id"] = f"evt_{uuid.uuid4().hex[:14]}"
    assert billing_client.post(RAZORPAY_PATH, content=body, headers=headers).status_code == 200

    _assert_credited_once(billing_client, user)
    [payment] = billing_client.get("/billing/payments", headers=user.headers).json()["data"]
    assert (payment["provider_payment_id"], payment["status"]) == (order_id, "paid")
    assert _event_rows(db_sessions) == 2


def test_razorpay_untrusted_delivery_is_400_and_stores_nothing(
    billing_client: TestClient, db_sessions: sessionmaker[Session]
) -> None:
    user = sign_up(billing_client)
    event = _razorpay_paid(razorpay_order(billing_client, user), user)
    body, signature = rzp.sign(event, RAZORPAY_WEBHOOK_SECRET)
    _, wrong = rzp.sign(event, "someone-elses-secret")
    for headers, content in [
        ({"X-Razorpay-Signature": wrong}, body),
        ({"X-Razorpay-Signature": signature}, body.replace(b"83000", b"8300")),
        ({}, body),
    ]:
        response = billing_client.post(RAZORPAY_PATH, content=content, headers=headers)
        assert response.status_code == 400, headers
        assert response.json()["message"].startswith("Razorpay webhook rejected: ")
    assert credits_of(billing_client, user) == 10
    assert _event_rows(db_sessions) == 0


# --- configuration -----------------------------------------------------------------------------


def test_webhooks_answer_503_when_unconfigured(
    client: TestClient, db_sessions: sessionmaker[Session]
) -> None:
    for path, provider in [(STRIPE_PATH, "Stripe"), (RAZORPAY_PATH, "Razorpay")]:
        response = client.post(path, content=b"{}", headers={"Stripe-Signature": "t=1,v1=00"})
        assert response.status_code == 503, path
        assert (
            response.json()["message"] == f"{provider} payments are not configured on this server"
        )
    assert _event_rows(db_sessions) == 0
