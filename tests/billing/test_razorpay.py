"""Razorpay: the order request the SDK really sends, error translation, and webhook
verification, event ids and parsing."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
import razorpay
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from billing.errors import BillingNotConfigured, PaymentProviderError, PaymentVerificationFailed
from billing.razorpay import RazorpayOptions, create_order, event_id_for, handle_razorpay_webhook
from billing.webhooks import WebhookOutcome
from db.models import Payment, PaymentProvider, PaymentStatus, User, WebhookEvent
from tests.utils.db import make_user
from tests.utils.razorpay_stub import (
    ORDERS_PATH,
    RazorpayStub,
    order_paid_event,
    payment_captured_event,
    sign,
    signature_of,
)


def _count(session: Session, model: type) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def _send(
    options: RazorpayOptions | None,
    db_sessions: sessionmaker[Session],
    body: bytes,
    signature: str | None,
    event_id: str | None = None,
) -> WebhookOutcome:
    return handle_razorpay_webhook(
        options,
        session_factory=db_sessions,
        raw_body=body,
        signature=signature,
        event_id_header=event_id,
    )


def _send_event(
    options: RazorpayOptions,
    db_sessions: sessionmaker[Session],
    event: dict,
    event_id: str | None = None,
) -> WebhookOutcome:
    """Deliver `event` signed with the configured webhook secret."""
    body, signature = sign(event, options.webhook_secret.get_secret_value())
    return _send(options, db_sessions, body, signature, event_id)


# --- orders ------------------------------------------------------------------------------------


def test_create_order_sends_the_expected_request(
    db_session: Session, razorpay_stub: RazorpayStub, razorpay_options: RazorpayOptions
) -> None:
    user = make_user(db_session)

    order = create_order(razorpay_options, session=db_session, user_id=user.id, pack="large")

    [request] = razorpay_stub.requests
    assert (request.method, request.path) == ("POST", ORDERS_PATH)
    credentials = base64.b64encode(b"rzp_test_key:rzp_test_secret").decode()
    assert request.headers["authorization"] == f"Basic {credentials}"
    assert request.headers["content-type"] == "application/json"
    payment = db_session.scalars(select(Payment)).one()
    assert request.json() == {
        "amount": 581000,
        "currency": "INR",
        "receipt": payment.id.hex,
        "notes": {"user_id": str(user.id), "pack": "large"},
    }
    assert (order.key_id, order.amount, order.currency) == ("rzp_test_key", 581000, "INR")
    assert order.order_id.startswith("order_")
    assert (payment.provider, payment.provider_payment_id, payment.status) == (
        PaymentProvider.RAZORPAY,
        order.order_id,
        PaymentStatus.CREATED,
    )
    assert (payment.user_id, payment.pack, payment.credits) == (user.id, "large", 500)
    assert (payment.amount, payment.currency) == (581000, "INR")


def test_create_order_razorpay_error_becomes_provider_error(
    db_session: Session, razorpay_stub: RazorpayStub, razorpay_options: RazorpayOptions
) -> None:
    user = make_user(db_session)
    razorpay_stub.error = (400, "BAD_REQUEST_ERROR", "The api key provided is invalid")

    with pytest.raises(PaymentProviderError, match="The api key provided is invalid") as caught:
        create_order(razorpay_options, session=db_session, user_id=user.id, pack="small")

    assert isinstance(caught.value.__cause__, razorpay.errors.BadRequestError)
    assert _count(db_session, Payment) == 0


def test_create_order_server_error_becomes_provider_error(
    db_session: Session, razorpay_stub: RazorpayStub, razorpay_options: RazorpayOptions
) -> None:
    user = make_user(db_session)
    razorpay_stub.error = (500, "SERVER_ERROR", "We are facing some trouble")
    with pytest.raises(PaymentProviderError) as caught:
        create_order(razorpay_options, session=db_session, user_id=user.id, pack="small")
    assert isinstance(caught.value.__cause__, razorpay.errors.ServerError)


def test_create_order_without_options_is_not_configured(db_session: Session) -> None:
    user = make_user(db_session)
    with pytest.raises(BillingNotConfigured, match="Razorpay payments are not configured"):
        create_order(None, session=db_session, user_id=user.id, pack="small")


# --- webhook verification ----------------------------------------------------------------------


def _tampered(body: bytes, signature: str) -> tuple[bytes, str | None]:
    return body.replace(b'"amount_paid": 83000', b'"amount_paid": 8300000'), signature


def _wrong_secret(body: bytes, signature: str) -> tuple[bytes, str | None]:
    return body, signature_of(body, "another secret")


def _key_secret_instead(body: bytes, signature: str) -> tuple[bytes, str | None]:
    return body, signature_of(body, "rzp_test_secret")  # the API key secret


def _missing(body: bytes, signature: str) -> tuple[bytes, str | None]:
    return body, None


def _non_ascii(body: bytes, signature: str) -> tuple[bytes, str | None]:
    return body, "é" * 64


@pytest.mark.parametrize(
    "spoil", [_tampered, _wrong_secret, _key_secret_instead, _missing, _non_ascii]
)
def test_unverifiable_webhook_is_refused_and_nothing_is_stored(
    db_sessions: sessionmaker[Session], razorpay_options: RazorpayOptions, spoil
) -> None:
    with db_sessions.begin() as session:
        user_id = make_user(session, credits=10).id
        order_id = create_order(
            razorpay_options, session=session, user_id=user_id, pack="small"
        ).order_id
    event = order_paid_event(order_id, amount=83000)
    body, signature = spoil(*sign(event, razorpay_options.webhook_secret.get_secret_value()))

    with pytest.raises(PaymentVerificationFailed, match="Razorpay webhook rejected"):
        _send(razorpay_options, db_sessions, body, signature, "evt_1")

    with db_sessions() as session:
        assert _count(session, WebhookEvent) == 0
        assert session.scalars(select(Payment.status)).one() == PaymentStatus.CREATED
        assert session.get(User, user_id).credits == 10


def test_signed_body_that_is_not_json_is_refused(
    db_sessions: sessionmaker[Session], razorpay_options: RazorpayOptions
) -> None:
    body = b"<html>not json</html>"
    signature = signature_of(body, razorpay_options.webhook_secret.get_secret_value())
    with pytest.raises(PaymentVerificationFailed, match="not JSON"):
        _send(razorpay_options, db_sessions, body, signature)


# --- event ids ---------------------------------------------------------------------------------


def test_event_id_comes_from_the_header_else_from_the_body() -> None:
    body = b'{"event": "order.paid"}'
    assert event_id_for(body, "evt_ABC") == "evt_ABC"
    hashed = event_id_for(body, None)
    assert hashed == "sha256:" + hashlib.sha256(body).hexdigest()
    assert event_id_for(body, "") == event_id_for(body, "x" * 256) == hashed


def test_redelivery_without_event_id_header_is_a_duplicate(
    db_sessions: sessionmaker[Session], razorpay_options: RazorpayOptions
) -> None:
    with db_sessions.begin() as session:
        user_id = make_user(session, credits=0).id
        order_id = create_order(
            razorpay_options, session=session, user_id=user_id, pack="small"
        ).order_id
    event = order_paid_event(order_id, amount=83000)

    statuses = [_send_event(razorpay_options, db_sessions, event).status for _ in range(3)]

    assert statuses == ["processed", "duplicate", "duplicate"]
    with db_sessions() as session:
        assert session.get(User, user_id).credits == 50


# --- what a verified event does ----------------------------------------------------------------


def test_payment_captured_for_an_unknown_order_is_stored_as_failed(
    db_sessions: sessionmaker[Session], razorpay_options: RazorpayOptions
) -> None:
    """Unlike `order.paid`, a payment event carries none of our notes to recover the order."""
    outcome = _send_event(
        razorpay_options, db_sessions, payment_captured_event("order_unknown", amount=83000)
    )
    assert outcome.status == "failed"
    assert outcome.reason == "no stored payment order_unknown and no user or pack in the event"


def test_payment_without_order_and_other_events_are_ignored(
    db_sessions: sessionmaker[Session], razorpay_options: RazorpayOptions
) -> None:
    orderless = payment_captured_event("order_x", amount=100)
    orderless["payload"]["payment"]["entity"]["order_id"] = None
    refunded = {"event": "refund.processed", "payload": {}}

    outcomes = [
        _send_event(razorpay_options, db_sessions, event, event_id)
        for event, event_id in ((orderless, "evt_1"), (refunded, "evt_2"))
    ]

    assert [(o.status, o.reason) for o in outcomes] == [
        ("ignored", "the payment belongs to no order"),
        ("ignored", "event type not handled"),
    ]
    with db_sessions() as session:
        assert _count(session, WebhookEvent) == 2


def test_order_without_amount_is_stored_as_failed(
    db_sessions: sessionmaker[Session], razorpay_options: RazorpayOptions
) -> None:
    event = order_paid_event("order_1", amount=83000)
    del event["payload"]["order"]["entity"]["amount_paid"]
    outcome = _send_event(razorpay_options, db_sessions, event)
    assert (outcome.status, outcome.reason) == (
        "failed",
        "the event lacks the order id, amount or currency",
    )


def test_json_that_is_not_an_event_is_refused(
    db_sessions: sessionmaker[Session], razorpay_options: RazorpayOptions
) -> None:
    body = json.dumps(["not", "an", "event"]).encode()
    signature = signature_of(body, razorpay_options.webhook_secret.get_secret_value())
    with pytest.raises(PaymentVerificationFailed, match="not a Razorpay event"):
        _send(razorpay_options, db_sessions, body, signature)
