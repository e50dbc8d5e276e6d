"""Route-test fixtures for payments: the provider stubs, and an app with both providers pointed
at them (tests/utils/stripe_stub.py, tests/utils/razorpay_stub.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.serve.conftest import MakeApp
from tests.utils.api import ApiUser
from tests.utils.razorpay_stub import RazorpayStub
from tests.utils.stripe_stub import StripeStub

STRIPE_WEBHOOK_SECRET = "whsec_test_secret"
RAZORPAY_WEBHOOK_SECRET = "rzp_webhook_secret"
STRIPE_PRICE_IDS = {"small": "price_small", "medium": "price_medium", "large": "price_large"}


def billing_settings(stripe: StripeStub, razorpay: RazorpayStub) -> dict[str, Any]:
    """Settings overrides that turn both providers on, against the stubs."""
    return {
        "stripe_secret_key": "sk_test_123",
        "stripe_webhook_secret": STRIPE_WEBHOOK_SECRET,
        **{f"stripe_price_{pack}": price_id for pack, price_id in STRIPE_PRICE_IDS.items()},
        "stripe_api_base": stripe.base_url,
        "razorpay_key_id": "rzp_test_key",
        "razorpay_key_secret": "rzp_test_secret",
        "razorpay_webhook_secret": RAZORPAY_WEBHOOK_SECRET,
        "razorpay_base_url": razorpay.base_url,
    }


@pytest.fixture
def stripe_stub() -> Iterator[StripeStub]:
    with StripeStub() as stub:
        yield stub


@pytest.fixture
def razorpay_stub() -> Iterator[RazorpayStub]:
    with RazorpayStub() as stub:
        yield stub


@pytest.fixture
def billing_app(make_app: MakeApp, stripe_stub: StripeStub, razorpay_stub: RazorpayStub) -> FastAPI:
    return make_app(**billing_settings(stripe_stub, razorpay_stub))


@pytest.fixture
def billing_client(billing_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(billing_app) as client:
        yield client


def stripe_checkout(client: httpx.Client, user: ApiUser, pack: str = "small") -> str:
    """Create a Checkout Session through the API; returns its id."""
    response = client.post("/billing/stripe/checkout", json={"pack": pack}, headers=user.headers)
    assert response.status_code == 201, response.text
    return response.json()["session_id"]


def razorpay_order(client: httpx.Client, user: ApiUser, pack: str = "small") -> str:
    """Create a Razorpay order through the API; returns its id."""
    response = client.post("/billing/razorpay/orders", json={"pack": pack}, headers=user.headers)
    assert response.status_code == 201, response.text
    return response.json()["order_id"]


def credits_of(client: httpx.Client, user: ApiUser) -> int:
    response = client.get("/me", headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()["credits"]
