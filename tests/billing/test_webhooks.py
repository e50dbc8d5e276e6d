"""Crediting rules shared by both providers: once per payment, whatever arrives how often.

Each test runs for Stripe and Razorpay (the `provider` harness) on PostgreSQL and SQLite.
"""

from __future__ import annotations

import logging
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.credits import ledger_sum
from db.models import CreditLedger, LedgerReason, Payment, PaymentStatus, User, WebhookEvent
from tests.billing.harness import ProviderHarness
from tests.utils.db import make_user, run_in_threads


def _checkout(
    db_sessions: sessionmaker[Session], provider: ProviderHarness, *, pack: str = "small"
) -> tuple[uuid.UUID, str]:
    """A user with 10 credits and a committed checkout for `pack`: (user id, payment id)."""
    with db_sessions.begin() as session:
        user_id = make_user(session, credits=10).id
        payment_id = provider.checkout(session, user_id, pack)
    return user_id, payment_id


def _state(db_sessions: sessionmaker[Session], user_id: uuid.UUID) -> dict[str, object]:
    """The user's balance, purchase rows and payments, after checking balance == ledger."""
    with db_sessions() as session:
        user = session.get(User, user_id)
        assert user is not None
        assert user.credits == ledger_sum(session=session, user_id=user_id) >= 0
        purchases = session.scalars(
            select(CreditLedger).where(
                CreditLedger.user_id == user_id, CreditLedger.reason == LedgerReason.PURCHASE
            )
        ).all()
        payments = session.scalars(select(Payment).where(Payment.user_id == user_id)).all()
        return {
            "credits": user.credits,
            "purchases": [(row.delta, row.idem_key) for row in purchases],
            "payments": [(p.status, p.failure_reason) for p in payments],
        }


def _events(db_sessions: sessionmaker[Session]) -> list[tuple[str, str | None]]:
    with db_sessions() as session:
        rows = session.scalars(select(WebhookEvent).order_by(WebhookEvent.created_at)).all()
        return [(row.status, row.reason) for row in rows]


def test_paid_event_credits_the_pack(
    db_sessions: sessionmaker[Session], provider: ProviderHarness
) -> None:
    user_id, payment_id = _checkout(db_sessions, provider, pack="medium")
    delivery = provider.paid(payment_id, user_id=str(user_id), pack="medium")

    outcome = provider.deliver(db_sessions, delivery)

    assert (outcome.status, outcome.reason) == ("processed", "credited 150 credits")
    state = _state(db_sessions, user_id)
    assert state["credits"] == 160
    assert state["purchases"] == [(150, f"{provider.name}:{payment_id}")]
    assert state["payments"] == [(PaymentStatus.PAID, None)]
    assert _events(db_sessions) == [("processed", "credited 150 credits")]
    with db_sessions() as session:
        payment = session.scalars(select(Payment)).one()
        ledger_row = session.scalars(
            select(CreditLedger).where(CreditLedger.reason == LedgerReason.PURCHASE)
        ).one()
        assert payment.paid_at is not None
        assert ledger_row.payment_id == payment.id


def test_replayed_event_credits_once(
    db_sessions: sessionmaker[Session], provider: ProviderHarness
) -> None:
    user_id, payment_id = _checkout(db_sessions, provider)
    delivery = provider.paid(payment_id, user_id=str(user_id), pack="small")

    outcomes = [provider.deliver(db_sessions, delivery).status for _ in range(100)]

    assert outcomes == ["processed"] + ["duplicate"] * 99
    assert _state(db_sessions, user_id)["credits"] == 60
    assert len(_events(db_sessions)) == 1


def test_concurrent_deliveries_of_one_event_credit_once(
    db_sessions: sessionmaker[Session], provider: ProviderHarness
) -> None:
    user_id, payment_id = _checkout(db_sessions, provider)
    delivery = provider.paid(payment_id, user_id=str(user_id), pack="small")

    outcomes = run_in_threads(10, lambda _: provider.deliver(db_sessions, delivery).status)

    assert sorted(outcomes) == ["duplicate"] * 9 + ["processed"]
    assert _state(db_sessions, user_id)["credits"] == 60
    assert len(_events(db_sessions)) == 1


def test_two_events_for_one_payment_credit_once(
    db_sessions: sessionmaker[Session], provider: ProviderHarness
) -> None:
    user_id, payment_id = _checkout(db_sessions, provider)
    first = provider.paid(payment_id, user_id=str(user_id), pack="small")
    second = provider.paid(payment_id, user_id=str(user_id), pack="small", second=True)

    outcomes = [provider.deliver(db_sessions, delivery) for delivery in (first, second)]

    assert [(o.status, o.reason) for o in outcomes] == [
        ("processed", "credited 50 credits"),
        ("processed", "payment already credited"),
    ]
    assert _state(db_sessions, user_id)["credits"] == 60


def test_concurrent_different_events_for_one_payment_credit_once(
    db_sessions: sessionmaker[Session], provider: ProviderHarness
) -> None:
    user_id, payment_id = _checkout(db_sessions, provider)
    deliveries = [
        provider.paid(payment_id, user_id=str(user_id), pack="small", second=i % 2 == 1)
        for i in range(10)
    ]

    outcomes = run_in_threads(10, lambda i: provider.deliver(db_sessions, deliveries[i]))

    assert sorted(o.reason or "" for o in outcomes) == (
        ["credited 50 credits"] + ["payment already credited"] * 9
    )
    assert _state(db_sessions, user_id)["credits"] == 60
    assert len(_events(db_sessions)) == 10


def test_wrong_amount_fails_the_payment_without_credit(
    db_sessions: sessionmaker[Session], provider: ProviderHarness
) -> None:
    user_id, payment_id = _checkout(db_sessions, provider)
    price = provider.prices["small"]
    short = provider.paid(payment_id, user_id=str(user_id), pack="small", amount=price.amount - 1)

    outcome = provider.deliver(db_sessions, short)

    reason = f"paid {price.amount - 1} {price.currency}, expected {price.amount} {price.currency}"
    assert outcome.status == "failed"
    assert outcome.reason == f"{reason} for pack small"
    state = _state(db_sessions, user_id)
    assert state["credits"] == 10
    assert state["payments"] == [(PaymentStatus.FAILED, outcome.reason)]
    assert _events(db_sessions) == [("failed", outcome.reason)]

    # A later event with the right amount does not revive a failed payment.
    right = provider.paid(payment_id, user_id=str(user_id), pack="small", second=True)
    later = provider.deliver(db_sessions, right)
    assert (later.status, later.reason) == ("failed", f"payment failed earlier: {outcome.reason}")
    assert _state(db_sessions, user_id)["credits"] == 10


def test_wrong_currency_fails_the_payment_without_credit(
    db_sessions: sessionmaker[Session], provider: ProviderHarness
) -> None:
    user_id, payment_id = _checkout(db_sessions, provider)
    delivery = provider.paid(payment_id, user_id=str(user_id), pack="small", currency="EUR")

    outcome = provider.deliver(db_sessions, delivery)

    assert outcome.status == "failed"
    assert outcome.reason is not None and "EUR" in outcome.reason
    state = _state(db_sessions, user_id)
    assert (state["credits"], state["purchases"]) == (10, [])
    assert state["payments"] == [(PaymentStatus.FAILED, outcome.reason)]


def test_unknown_user_is_stored_as_failed(
    db_sessions: sessionmaker[Session], provider: ProviderHarness
) -> None:
    ghost = uuid.uuid4()
    delivery = provider.paid("never_checked_out", user_id=str(ghost), pack="small")

    outcome = provider.deliver(db_sessions, delivery)

    assert (outcome.status, outcome.reason) == ("failed", f"unknown user {ghost}")
    assert _events(db_sessions) == [("failed", f"unknown user {ghost}")]
    with db_sessions() as session:
        assert session.execute(select(func.count()).select_from(Payment)).scalar_one() == 0


def test_unknown_pack_is_stored_as_failed(
    db_sessions: sessionmaker[Session], provider: ProviderHarness
) -> None:
    with db_sessions.begin() as session:
        user_id = make_user(session, credits=0).id
    delivery = provider.paid("never_checked_out", user_id=str(user_id), pack="huge")

    outcome = provider.deliver(db_sessions, delivery)

    assert (outcome.status, outcome.reason) == ("failed", "unknown pack 'huge'")
    assert _state(db_sessions, user_id) == {"credits": 0, "purchases": [], "payments": []}


def test_lost_checkout_row_is_recorded_from_the_event_and_credited(
    db_sessions: sessionmaker[Session], provider: ProviderHarness
) -> None:
    """The provider created the checkout but our transaction never committed its row."""
    with db_sessions() as session:  # rolled back at the end of the block
        user_id = make_user(session, credits=0).id
        payment_id = provider.checkout(session, user_id, "large")
    with db_sessions.begin() as session:
        user_id = make_user(session, credits=0).id
    delivery = provider.paid(payment_id, user_id=str(user_id), pack="large")

    outcome = provider.deliver(db_sessions, delivery)

    assert (outcome.status, outcome.reason) == ("processed", "credited 500 credits")
    assert _state(db_sessions, user_id)["payments"] == [(PaymentStatus.PAID, None)]


def test_log_names_the_event_but_not_the_payload(
    db_sessions: sessionmaker[Session],
    provider: ProviderHarness,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Payloads carry the buyer's email and phone: only ids, type and outcome are logged."""
    user_id, payment_id = _checkout(db_sessions, provider)
    delivery = provider.paid(payment_id, user_id=str(user_id), pack="small")

    with caplog.at_level(logging.INFO, logger="clipzz.billing"):
        provider.deliver(db_sessions, delivery)

    [record] = caplog.records
    assert record.getMessage().startswith(f"{provider.name} webhook ")
    assert record.getMessage().endswith(": processed (credited 50 credits)")
    assert "buyer@example.com" not in caplog.text
    assert str(user_id) not in caplog.text
