"""Billing routes: the packs, creating a Stripe checkout or a Razorpay order through the real SDKs
against the stubs, the user's payments and ledger, and how configuration turns providers on."""

from __future__ import annotations

import base64
import uuid

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from pipeline.errors import InvalidInput
from serve.billing_options import razorpay_options, stripe_options
from tests.serve.conftest import MakeApp
from tests.serve.routes.conftest import (
    STRIPE_PRICE_IDS,
    razorpay_order,
    stripe_checkout,
)
from tests.utils.api import api_settings, sign_up
from tests.utils.razorpay_stub import ORDERS_PATH, RazorpayStub
from tests.utils.stripe_stub import CHECKOUT_PATH, StripeStub

# --- packs -------------------------------------------------------------------------------------


def test_read_packs_with_both_providers(billing_client: TestClient) -> None:
    response = billing_client.get("/billing/packs")  # public: a pricing page needs no account
    assert response.status_code == 200
    assert response.json() == {
        "data": [
            {
                "name": name,
                "credits": credits,
                "stripe": {"amount": usd, "currency": "USD"},
                "razorpay": {"amount": inr, "currency": "INR"},
            }
            for name, credits, usd, inr in [
                ("small", 50, 1000, 83000),
                ("medium", 150, 2500, 207500),
                ("large", 500, 7000, 581000),
            ]
        ],
        "count": 3,
    }


def test_read_packs_without_providers(client: TestClient) -> None:
    packs = client.get("/billing/packs").json()["data"]
    assert [(p["name"], p["credits"], p["stripe"], p["razorpay"]) for p in packs] == [
        ("small", 50, None, None),
        ("medium", 150, None, None),
        ("large", 500, None, None),
    ]


# --- Stripe checkout ---------------------------------------------------------------------------


def test_stripe_checkout_sends_the_expected_request(
    billing_client: TestClient, stripe_stub: StripeStub
) -> None:
    user = sign_up(billing_client)
    response = billing_client.post(
        "/billing/stripe/checkout",
        json={"pack": "medium"},
        headers={**user.headers, "Idempotency-Key": "tab-1"},
    )

    assert response.status_code == 201, response.text
    [request] = stripe_stub.requests
    assert (request.method, request.path) == ("POST", CHECKOUT_PATH)
    assert request.headers["authorization"] == "Bearer sk_test_123"
    assert request.headers["idempotency-key"] == f"checkout:{user.id}:medium:tab-1"
    assert request.form() == {
        "mode": "payment",
        "line_items[0][price]": "price_medium",
        "line_items[0][quantity]": "1",
        "client_reference_id": str(user.id),
        "metadata[user_id]": str(user.id),
        "metadata[pack]": "medium",
        "success_url": "http://testserver/billing/success",  # relative settings, joined
        "cancel_url": "http://testserver/billing/cancel",
    }
    session_id = response.json()["session_id"]
    assert response.json() == {
        "url": f"https://checkout.stripe.test/c/pay/{session_id}",
        "session_id": session_id,
    }
    payments = billing_client.get("/billing/payments", headers=user.headers).json()
    assert payments["count"] == 1
    payment = payments["data"][0]
    assert (payment["provider"], payment["provider_payment_id"]) == ("stripe", session_id)
    assert (payment["pack"], payment["amount"], payment["currency"]) == ("medium", 2500, "USD")
    assert (payment["credits"], payment["status"], payment["paid_at"]) == (150, "created", None)


def test_stripe_checkout_retried_with_the_same_key_is_the_same_session(
    billing_client: TestClient, stripe_stub: StripeStub
) -> None:
    user = sign_up(billing_client)

    def checkout(key: str | None, pack: str = "small") -> str:
        headers = {**user.headers, **({"Idempotency-Key": key} if key else {})}
        response = billing_client.post(
            "/billing/stripe/checkout", json={"pack": pack}, headers=headers
        )
        assert response.status_code == 201, response.text
        return response.json()["session_id"]

    first = checkout("retry-me")
    assert checkout("retry-me") == first
    assert checkout("retry-me", "large") != first  # the key is per pack
    assert checkout(None) != checkout(None)  # no key: a fresh session each time
    keys = [request.headers["idempotency-key"] for request in stripe_stub.requests]
    assert len(set(keys)) == 4
    assert billing_client.get("/billing/payments", headers=user.headers).json()["count"] == 4


def test_checkout_of_an_unknown_pack(billing_client: TestClient, stripe_stub: StripeStub) -> None:
    user = sign_up(billing_client)
    for path in ("/billing/stripe/checkout", "/billing/razorpay/orders"):
        response = billing_client.post(path, json={"pack": "huge"}, headers=user.headers)
        assert response.status_code == 400, path
        message = "unknown credit pack 'huge'; expected one of: small, medium, large"
        assert response.json() == {
            "error": "Bad request",
            "message": message,
            "details": [{"field": "pack", "message": message}],
        }
    assert stripe_stub.requests == []


def test_checkout_needs_a_user_and_a_pack(billing_client: TestClient) -> None:
    for path in ("/billing/stripe/checkout", "/billing/razorpay/orders"):
        assert billing_client.post(path, json={"pack": "small"}).status_code == 401
    user = sign_up(billing_client)
    response = billing_client.post(
        "/billing/stripe/checkout", json={"pack": "small", "qty": 2}, headers=user.headers
    )
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["details"]] == ["qty"]
    response = billing_client.post(
        "/billing/stripe/checkout",
        json={"pack": "small"},
        headers={**user.headers, "Idempotency-Key": "k" * 129},
    )
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["details"]] == ["Idempotency-Key"]


def test_provider_failure_is_502_and_stores_nothing(
    billing_client: TestClient, stripe_stub: StripeStub, razorpay_stub: RazorpayStub
) -> None:
    user = sign_up(billing_client)
    stripe_stub.error = (400, "invalid_request_error", "No such price: 'price_small'")
    razorpay_stub.error = (401, "BAD_REQUEST_ERROR", "Authentication failed")

    stripe = billing_client.post(
        "/billing/stripe/checkout", json={"pack": "small"}, headers=user.headers
    )
    razorpay = billing_client.post(
        "/billing/razorpay/orders", json={"pack": "small"}, headers=user.headers
    )

    assert (stripe.status_code, razorpay.status_code) == (502, 502)
    assert stripe.json() == {
        "error": "Bad Gateway",
        "message": "Stripe did not answer as expected; try again later",
    }
    assert razorpay.json()["message"] == "Razorpay did not answer as expected; try again later"
    assert billing_client.get("/billing/payments", headers=user.headers).json()["count"] == 0


# --- Razorpay orders ---------------------------------------------------------------------------


def test_razorpay_order_sends_the_expected_request(
    billing_client: TestClient, razorpay_stub: RazorpayStub
) -> None:
    user = sign_up(billing_client)
    response = billing_client.post(
        "/billing/razorpay/orders", json={"pack": "large"}, headers=user.headers
    )

    assert response.status_code == 201, response.text
    [request] = razorpay_stub.requests
    assert (request.method, request.path) == ("POST", ORDERS_PATH)
    expected_auth = base64.b64encode(b"rzp_test_key:rzp_test_secret").decode()
    assert request.headers["authorization"] == f"Basic {expected_auth}"
    sent = request.json()
    assert (sent["amount"], sent["currency"]) == (581000, "INR")
    assert sent["notes"] == {"user_id": str(user.id), "pack": "large"}
    order = response.json()
    assert order == {
        "key_id": "rzp_test_key",
        "order_id": order["order_id"],
        "amount": 581000,
        "currency": "INR",
    }
    [payment] = billing_client.get("/billing/payments", headers=user.headers).json()["data"]
    assert (payment["provider"], payment["provider_payment_id"]) == ("razorpay", order["order_id"])
    assert sent["receipt"] == uuid.UUID(payment["id"]).hex  # links the two in the dashboard


# --- history -----------------------------------------------------------------------------------


def test_payments_and_ledger_are_the_users_own_newest_first(billing_client: TestClient) -> None:
    owner, other = sign_up(billing_client), sign_up(billing_client)
    orders = [razorpay_order(billing_client, owner) for _ in range(2)]
    session_id = stripe_checkout(billing_client, owner, "medium")

    payments = billing_client.get("/billing/payments", headers=owner.headers).json()
    assert payments["count"] == 3
    ids = [p["provider_payment_id"] for p in payments["data"]]
    assert sorted(ids) == sorted([*orders, session_id])
    page = billing_client.get("/billing/payments?limit=1&offset=1", headers=owner.headers).json()
    assert (len(page["data"]), page["count"]) == (1, 3)

    assert billing_client.get("/billing/payments", headers=other.headers).json() == {
        "data": [],
        "count": 0,
    }
    ledger = billing_client.get("/billing/ledger", headers=other.headers).json()
    assert ledger["count"] == 1
    [bonus] = ledger["data"]
    assert (bonus["reason"], bonus["delta"], bonus["balance_after"]) == ("signup_bonus", 10, 10)
    for path in ("/billing/payments", "/billing/ledger"):
        assert billing_client.get(path).status_code == 401
        assert billing_client.get(f"{path}?limit=101", headers=owner.headers).status_code == 422


# --- configuration -----------------------------------------------------------------------------


def test_unconfigured_providers_answer_503(client: TestClient) -> None:
    user = sign_up(client)
    for path, provider in [
        ("/billing/stripe/checkout", "Stripe"),
        ("/billing/razorpay/orders", "Razorpay"),
    ]:
        response = client.post(path, json={"pack": "small"}, headers=user.headers)
        assert response.status_code == 503, path
        assert response.json() == {
            "error": "Service Unavailable",
            "message": f"{provider} payments are not configured on this server",
        }


def test_half_configured_stripe_stops_the_app(make_app: MakeApp) -> None:
    with pytest.raises(InvalidInput) as raised:
        make_app(stripe_secret_key="sk_test_123", stripe_price_small="price_small")
    message = str(raised.value)
    assert message.startswith("Stripe is only partly configured: set STRIPE_WEBHOOK_SECRET or")
    assert "STRIPE_MEDIUM_CREDIT_PACK or CLIPZZ_STRIPE_PRICE_MEDIUM" in message
    assert "STRIPE_LARGE_CREDIT_PACK" in message
    assert "STRIPE_SMALL_CREDIT_PACK" not in message
    assert "sk_test_123" not in message
    with pytest.raises(InvalidInput, match="Razorpay is only partly configured"):
        make_app(razorpay_key_id="rzp_test_key", razorpay_key_secret="")


def test_billing_options_from_settings() -> None:
    assert stripe_options(api_settings()) is None
    assert razorpay_options(api_settings()) is None
    # Price ids alone (left in an env file) do not turn Stripe on.
    assert stripe_options(api_settings(stripe_price_small="price_small")) is None

    prices = {f"stripe_price_{pack}": price_id for pack, price_id in STRIPE_PRICE_IDS.items()}
    options = stripe_options(
        api_settings(
            stripe_secret_key="sk_live_1",
            stripe_webhook_secret="whsec_1",
            public_base_url="https://clipzz.example/app/",
            stripe_success_url="/billing/done?session={CHECKOUT_SESSION_ID}",
            stripe_cancel_url="https://elsewhere.example/cancel",
            **prices,
        )
    )
    assert options is not None
    assert options.price_ids == STRIPE_PRICE_IDS
    assert options.secret_key == SecretStr("sk_live_1")
    assert options.success_url == (
        "https://clipzz.example/app/billing/done?session={CHECKOUT_SESSION_ID}"
    )
    assert options.cancel_url == "https://elsewhere.example/cancel"
    assert options.api_base is None

    razorpay = razorpay_options(
        api_settings(
            razorpay_key_id="rzp_live_1",
            razorpay_key_secret="secret",
            razorpay_webhook_secret="hook",
        )
    )
    assert razorpay is not None
    assert (razorpay.key_id, razorpay.base_url) == ("rzp_live_1", None)
