"""Stripe: the Checkout request the SDK really sends, error translation, and webhook
verification and parsing."""

from __future__ import annotations

import socket
import time
from dataclasses import replace

import pytest
import stripe
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from billing.errors import (
    BillingNotConfigured,
    PaymentProviderError,
    PaymentVerificationFailed,
    UnknownPack,
)
from billing.stripe import StripeOptions, create_checkout, handle_stripe_webhook
from billing.webhooks import WebhookOutcome
from db.models import Payment, PaymentProvider, PaymentStatus, User, WebhookEvent
from tests.utils.db import make_user
from tests.utils.stripe_stub import CHECKOUT_PATH, StripeStub, checkout_event, sign


def _count(session: Session, model: type) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def _send(
    options: StripeOptions | None,
    db_sessions: sessionmaker[Session],
    body: bytes,
    header: str | None,
) -> WebhookOutcome:
    return handle_stripe_webhook(
        options, session_factory=db_sessions, raw_body=body, signature_header=header
    )


def _send_event(
    options: StripeOptions, db_sessions: sessionmaker[Session], event: dict
) -> WebhookOutcome:
    """Deliver `event` signed with the configured webhook secret."""
    return _send(options, db_sessions, *sign(event, options.webhook_secret.get_secret_value()))


# --- checkout ----------------------------------------------------------------------------------


def test_create_checkout_sends_the_expected_request(
    db_session: Session, stripe_stub: StripeStub, stripe_options: StripeOptions
) -> None:
    user = make_user(db_session)

    checkout = create_checkout(
        stripe_options,
        session=db_session,
        user_id=user.id,
        pack="medium",
        idempotency_key="checkout-42",
    )

    [request] = stripe_stub.requests
    assert (request.method, request.path) == ("POST", CHECKOUT_PATH)
    assert request.headers["authorization"] == "Bearer sk_test_123"
    assert request.headers["idempotency-key"] == "checkout-42"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.form() == {
        "mode": "payment",
        "line_items[0][price]": "price_medium",
        "line_items[0][quantity]": "1",
        "client_reference_id": str(user.id),
        "metadata[user_id]": str(user.id),
        "metadata[pack]": "medium",
        "success_url": "https://clipzz.test/billing?paid=1",
        "cancel_url": "https://clipzz.test/billing?cancelled=1",
    }
    assert checkout.url == f"https://checkout.stripe.test/c/pay/{checkout.id}"
    payment = db_session.scalars(select(Payment)).one()
    assert (payment.provider, payment.provider_payment_id, payment.status) == (
        PaymentProvider.STRIPE,
        checkout.id,
        PaymentStatus.CREATED,
    )
    assert (payment.user_id, payment.pack, payment.credits) == (user.id, "medium", 150)
    assert (payment.amount, payment.currency) == (2500, "USD")


def test_create_checkout_retried_with_one_key_makes_one_payment(
    db_session: Session, stripe_stub: StripeStub, stripe_options: StripeOptions
) -> None:
    user = make_user(db_session)
    first, second = (
        create_checkout(
            stripe_options, session=db_session, user_id=user.id, pack="small", idempotency_key="k"
        )
        for _ in range(2)
    )
    assert first == second
    assert len(stripe_stub.requests) == 2
    assert _count(db_session, Payment) == 1


def test_create_checkout_stripe_error_becomes_provider_error(
    db_session: Session, stripe_stub: StripeStub, stripe_options: StripeOptions
) -> None:
    user = make_user(db_session)
    stripe_stub.error = (400, "invalid_request_error", "No such price: 'price_small'")

    with pytest.raises(PaymentProviderError, match="No such price") as caught:
        create_checkout(
            stripe_options, session=db_session, user_id=user.id, pack="small", idempotency_key="k"
        )

    assert isinstance(caught.value.__cause__, stripe.InvalidRequestError)
    assert _count(db_session, Payment) == 0


def test_create_checkout_unreachable_stripe_becomes_provider_error(
    db_session: Session, stripe_options: StripeOptions
) -> None:
    user = make_user(db_session)
    with socket.socket() as probe:  # a port that was just free: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = replace(stripe_options, api_base=f"http://127.0.0.1:{port}")

    with pytest.raises(PaymentProviderError) as caught:
        create_checkout(
            options, session=db_session, user_id=user.id, pack="small", idempotency_key="k"
        )
    assert isinstance(caught.value.__cause__, stripe.APIConnectionError)


def test_create_checkout_refuses_unknown_pack_and_missing_options(
    db_session: Session, stripe_stub: StripeStub, stripe_options: StripeOptions
) -> None:
    user = make_user(db_session)
    with pytest.raises(UnknownPack, match="'huge'; expected one of: small, medium, large"):
        create_checkout(
            stripe_options, session=db_session, user_id=user.id, pack="huge", idempotency_key="k"
        )
    with pytest.raises(BillingNotConfigured, match="Stripe payments are not configured"):
        create_checkout(
            None, session=db_session, user_id=user.id, pack="small", idempotency_key="k"
        )
    assert stripe_stub.requests == []


def test_options_need_a_price_id_for_every_pack(stripe_options: StripeOptions) -> None:
    with pytest.raises(ValueError, match="price_ids must name exactly the packs"):
        replace(stripe_options, price_ids={"small": "price_small"})
    assert "sk_test_123" not in repr(stripe_options)


# --- webhook verification ----------------------------------------------------------------------


def _tampered(body: bytes, header: str, secret: str) -> tuple[bytes, str | None]:
    return body.replace(b'"amount_total": 1000', b'"amount_total": 9000'), header


def _wrong_secret(body: bytes, header: str, secret: str) -> tuple[bytes, str | None]:
    return body, stripe.WebhookSignature.generate_signature_header(body.decode(), "whsec_other")


def _stale(body: bytes, header: str, secret: str) -> tuple[bytes, str | None]:
    old = int(time.time()) - 301
    return body, stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=old
    )


def _missing(body: bytes, header: str, secret: str) -> tuple[bytes, str | None]:
    return body, None


def _garbled(body: bytes, header: str, secret: str) -> tuple[bytes, str | None]:
    return body, "not a stripe signature"


@pytest.mark.parametrize("spoil", [_tampered, _wrong_secret, _stale, _missing, _garbled])
def test_unverifiable_webhook_is_refused_and_nothing_is_stored(
    db_sessions: sessionmaker[Session], stripe_options: StripeOptions, spoil
) -> None:
    with db_sessions.begin() as session:
        user_id = make_user(session, credits=10).id
    secret = stripe_options.webhook_secret.get_secret_value()
    event = checkout_event("cs_test_1", user_id=str(user_id), pack="small")
    body, header = spoil(*sign(event, secret), secret)

    with pytest.raises(PaymentVerificationFailed, match="Stripe webhook rejected"):
        _send(stripe_options, db_sessions, body, header)

    with db_sessions() as session:
        assert _count(session, WebhookEvent) == _count(session, Payment) == 0
        assert session.get(User, user_id).credits == 10


def test_signed_body_that_is_not_json_is_refused(
    db_sessions: sessionmaker[Session], stripe_options: StripeOptions
) -> None:
    body = b"definitely not json"
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), stripe_options.webhook_secret.get_secret_value()
    )
    with pytest.raises(PaymentVerificationFailed, match="not a Stripe event"):
        _send(stripe_options, db_sessions, body, header)


def test_webhook_without_options_is_not_configured(db_sessions: sessionmaker[Session]) -> None:
    with pytest.raises(BillingNotConfigured):
        _send(None, db_sessions, b"{}", "t=1,v1=00")


# --- what a verified event does ----------------------------------------------------------------


def test_unpaid_session_is_ignored_until_the_async_payment_succeeds(
    db_sessions: sessionmaker[Session], stripe_options: StripeOptions
) -> None:
    """Bank debits complete unpaid; the credit waits for `async_payment_succeeded`."""
    with db_sessions.begin() as session:
        user_id = make_user(session, credits=0).id
        checkout = create_checkout(
            stripe_options, session=session, user_id=user_id, pack="small", idempotency_key="k"
        )
    unpaid = checkout_event(
        checkout.id, user_id=str(user_id), pack="small", payment_status="unpaid"
    )
    outcome = _send_event(stripe_options, db_sessions, unpaid)
    assert (outcome.status, outcome.reason) == ("ignored", "payment_status is 'unpaid', not 'paid'")
    with db_sessions() as session:
        assert session.get(User, user_id).credits == 0
        stored = session.scalars(select(WebhookEvent)).one()
        assert (stored.event_id, stored.status) == (unpaid["id"], "ignored")

    succeeded = checkout_event(
        checkout.id,
        user_id=str(user_id),
        pack="small",
        event_type="checkout.session.async_payment_succeeded",
    )
    assert _send_event(stripe_options, db_sessions, succeeded).status == "processed"
    with db_sessions() as session:
        assert session.get(User, user_id).credits == 50


def test_other_event_types_are_ignored(
    db_sessions: sessionmaker[Session], stripe_options: StripeOptions
) -> None:
    event = checkout_event("cs_x", user_id=None, pack=None, event_type="checkout.session.expired")
    outcome = _send_event(stripe_options, db_sessions, event)
    assert (outcome.status, outcome.reason) == ("ignored", "event type not handled")


def test_user_from_client_reference_id_when_metadata_lacks_it(
    db_sessions: sessionmaker[Session], stripe_options: StripeOptions
) -> None:
    with db_sessions.begin() as session:
        user_id = make_user(session, credits=0).id
    event = checkout_event("cs_no_row", user_id=str(user_id), pack="small")
    del event["data"]["object"]["metadata"]["user_id"]
    assert _send_event(stripe_options, db_sessions, event).status == "processed"
    with db_sessions() as session:
        assert session.get(User, user_id).credits == 50


def test_session_without_amount_is_stored_as_failed(
    db_sessions: sessionmaker[Session], stripe_options: StripeOptions
) -> None:
    event = checkout_event("cs_1", user_id=None, pack="small")
    del event["data"]["object"]["amount_total"]
    outcome = _send_event(stripe_options, db_sessions, event)
    assert outcome.status == "failed"
    assert outcome.reason == "the checkout session lacks its id, amount_total or currency"
