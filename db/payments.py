"""Payments, webhook events, and the reads behind a user's billing history.

Crediting a purchase exactly once rests on two unique keys and one conditional UPDATE:
- `webhook_events (provider, event_id)`: `record_event` inserts with ON CONFLICT DO NOTHING, so a
  redelivered event is recognised (None) before anything else happens. On PostgreSQL a
  concurrent duplicate waits on the index until the first transaction ends, then finds the row.
- `payments (provider, provider_payment_id)` plus its status: `credit_payment` moves a payment
  from `created` to `paid` in one statement and grants its credits in the same transaction, so
  two different events for one payment (Stripe's `completed` and `async_payment_succeeded`,
  Razorpay's `order.paid` and `payment.captured`) credit once. The ledger's `idem_key`
  "<provider>:<provider payment id>" backs this up.

Every function runs in the caller's session and transaction and never commits.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from db._sql import insert_ignore
from db.credits import grant_credits
from db.models import (
    CreditLedger,
    LedgerReason,
    Payment,
    PaymentProvider,
    PaymentStatus,
    WebhookEvent,
    WebhookStatus,
)
from db.types import utcnow

__all__ = [
    "create_payment",
    "credit_payment",
    "fail_payment",
    "get_payment",
    "list_ledger",
    "list_payments",
    "record_event",
]


def create_payment(
    *,
    session: Session,
    user_id: uuid.UUID,
    provider: PaymentProvider,
    provider_payment_id: str,
    pack: str,
    amount: int,
    currency: str,
    credits: int,
    payment_id: uuid.UUID | None = None,
) -> Payment:
    """Store a payment in status `created`; returns the stored row.

    When the provider id is already stored (a retried checkout with the same idempotency key,
    or two webhooks racing to record a payment whose checkout row was lost) the existing row is
    returned unchanged.
    """
    values = {
        "user_id": user_id,
        "provider": provider,
        "provider_payment_id": provider_payment_id,
        "pack": pack,
        "amount": amount,
        "currency": currency,
        "credits": credits,
    }
    if payment_id is not None:
        values["id"] = payment_id
    insert_ignore(
        session,
        Payment,
        values,
        conflict=["provider", "provider_payment_id"],
        returning=Payment.id,
    )
    # Inserted just now, or the row that conflicted: either way it exists.
    return session.scalars(_payment_by_provider_id(provider, provider_payment_id)).one()


def get_payment(
    *, session: Session, provider: PaymentProvider, provider_payment_id: str
) -> Payment | None:
    return session.scalars(_payment_by_provider_id(provider, provider_payment_id)).first()


def credit_payment(*, session: Session, payment: Payment) -> int | None:
    """Mark a `created` payment paid and grant its credits; returns the new balance.

    None when the payment is no longer `created` (another event credited it, or it failed):
    nothing changes. `payment` is refreshed either way.
    """
    paid = session.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.status == PaymentStatus.CREATED)
        .values(status=PaymentStatus.PAID, paid_at=utcnow())
        .returning(Payment.id)
    ).scalar_one_or_none()
    balance = None
    if paid is not None:
        balance = grant_credits(
            session=session,
            user_id=payment.user_id,
            amount=payment.credits,
            reason=LedgerReason.PURCHASE,
            idem_key=f"{payment.provider}:{payment.provider_payment_id}",
            payment_id=payment.id,
        )
    session.refresh(payment)
    return balance


def fail_payment(*, session: Session, payment: Payment, reason: str) -> bool:
    """Mark a `created` payment failed with `reason`; False when it was already paid or failed."""
    failed = session.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.status == PaymentStatus.CREATED)
        .values(status=PaymentStatus.FAILED, failure_reason=reason)
        .returning(Payment.id)
    ).scalar_one_or_none()
    session.refresh(payment)
    return failed is not None


def record_event(
    *,
    session: Session,
    provider: PaymentProvider,
    event_id: str,
    event_type: str,
    status: WebhookStatus = WebhookStatus.PROCESSED,
    reason: str | None = None,
) -> WebhookEvent | None:
    """Store a verified webhook event; None when this provider event id is already stored.

    Record the event first and handle it in the same transaction: the caller then sets the
    row's final `status` and `reason`, and nobody sees the intermediate state.
    """
    event_row_id = insert_ignore(
        session,
        WebhookEvent,
        {
            "provider": provider,
            "event_id": event_id,
            "event_type": event_type,
            "status": status,
            "reason": reason,
        },
        conflict=["provider", "event_id"],
        returning=WebhookEvent.id,
    )
    return None if event_row_id is None else session.get(WebhookEvent, event_row_id)


def list_payments(
    *, session: Session, user_id: uuid.UUID, offset: int = 0, limit: int = 100
) -> tuple[list[Payment], int]:
    """The user's payments, newest first, and how many there are in all."""
    mine = Payment.user_id == user_id
    count = session.execute(select(func.count()).select_from(Payment).where(mine)).scalar_one()
    payments = session.scalars(
        select(Payment)
        .where(mine)
        .order_by(Payment.created_at.desc(), Payment.id)
        .offset(offset)
        .limit(limit)
    ).all()
    return list(payments), count


def list_ledger(
    *, session: Session, user_id: uuid.UUID, offset: int = 0, limit: int = 100
) -> tuple[list[CreditLedger], int]:
    """The user's credit ledger, newest first, and how many rows there are in all.

    Ordered by id, the insertion order: rows written in one transaction share a timestamp.
    """
    mine = CreditLedger.user_id == user_id
    count = session.execute(select(func.count()).select_from(CreditLedger).where(mine)).scalar_one()
    rows = session.scalars(
        select(CreditLedger)
        .where(mine)
        .order_by(CreditLedger.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return list(rows), count


def _payment_by_provider_id(provider: PaymentProvider, provider_payment_id: str) -> Select:
    return select(Payment).where(
        Payment.provider == provider, Payment.provider_payment_id == provider_payment_id
    )
