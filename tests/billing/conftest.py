"""Billing tests run the real Stripe and Razorpay SDKs against loopback stubs, on PostgreSQL and
on SQLite (see tests/utils/db.py).

`provider` runs a test once per provider through its harness (tests/billing/harness.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from billing.razorpay import RazorpayOptions
from billing.stripe import StripeOptions
from tests.billing.harness import ProviderHarness, RazorpayHarness, StripeHarness
from tests.utils.db import db_engine, db_session, db_sessions, db_url
from tests.utils.razorpay_stub import RazorpayStub
from tests.utils.stripe_stub import StripeStub

__all__ = [
    "db_engine",
    "db_session",
    "db_sessions",
    "db_url",
    "provider",
    "razorpay_options",
    "razorpay_stub",
    "stripe_options",
    "stripe_stub",
]


@pytest.fixture
def stripe_stub() -> Iterator[StripeStub]:
    with StripeStub() as stub:
        yield stub


@pytest.fixture
def razorpay_stub() -> Iterator[RazorpayStub]:
    with RazorpayStub() as stub:
        yield stub


@pytest.fixture
def stripe_options(stripe_stub: StripeStub) -> StripeOptions:
    return StripeOptions(
        secret_key=SecretStr("sk_test_123"),
        webhook_secret=SecretStr("whsec_test_secret"),
        price_ids={"small": "price_small", "medium": "price_medium", "large": "price_large"},
        success_url="https://clipzz.test/billing?paid=1",
        cancel_url="https://clipzz.test/billing?cancelled=1",
        api_base=stripe_stub.base_url,
        max_network_retries=0,
        timeout_s=5,
    )


@pytest.fixture
def razorpay_options(razorpay_stub: RazorpayStub) -> RazorpayOptions:
    return RazorpayOptions(
        key_id="rzp_test_key",
        key_secret=SecretStr("rzp_test_secret"),
        webhook_secret=SecretStr("rzp_webhook_secret"),
        base_url=razorpay_stub.base_url,
        timeout_s=5,
    )


@pytest.fixture(params=["stripe", "razorpay"])
def provider(request: pytest.FixtureRequest) -> ProviderHarness:
    if request.param == "stripe":
        return StripeHarness(request.getfixturevalue("stripe_options"))
    return RazorpayHarness(request.getfixturevalue("razorpay_options"))
