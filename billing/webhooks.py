"""Provider-independent webhook handling: record every verified event once, credit every payment
at most once.

A provider module (`billing.stripe`, `billing.razorpay`) verifies the signature and reduces the
event to a `ProviderEvent`: its id, its type and, when it reports a successful payment, a
`PaymentClaim` saying which payment and what was paid. `process_event` then runs one
transaction:

1. record the event (`db.payments.record_event`); an id already stored is a redelivery, answered
   "duplicate" with nothing else done;
2. find the stored payment, or record it from the user and pack our checkout attached to it
   (metadata, notes) when its row is missing, e.g. the checkout's transaction failed after the
   provider created the session;
3. compare the paid amount and currency with the stored ones; a mismatch fails the payment;
4. mark the payment paid and grant its credits (`db.payments.credit_payment`): one conditional
   UPDATE decides, so concurrent deliveries, and different events for one payment, credit once;
5. store the outcome on the event row and commit.

Problems that retrying cannot fix (an unknown user or pack, a wrong amount) are stored as failed
events and reported in the `WebhookOutcome`, never raised: the route answers 2xx and the
provider stops retrying. Only the provider, event id, type and outcome are logged, never the
payload, which carries personal data.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session, sessionmaker

from billing.packs import PACKS, Price
from db.models import Payment, PaymentProvider, PaymentStatus, User, WebhookStatus
from db.payments import (
    create_payment,
    credit_payment,
    fail_payment,
    get_payment,
    record_event,
)

__all__ = ["OutcomeStatus", "PaymentClaim", "ProviderEvent", "WebhookOutcome", "process_event"]

logger = logging.getLogger("clipzz.billing")

OutcomeStatus = Literal["processed", "duplicate", "ignored", "failed"]


@dataclass(frozen=True)
class WebhookOutcome:
    """What became of one delivery; every status means the provider may stop retrying.

    `processed`: the payment is credited (now or by an earlier event); `duplicate`: this event
    id was handled before; `ignored`: an event that credits nothing (another type, an unpaid
    session); `failed`: stored with `reason` for an operator (unknown user or pack, wrong amount).
    """

    status: OutcomeStatus
    reason: str | None = None


@dataclass(frozen=True)
class PaymentClaim:
    """What a verified event says was paid.

    Attributes:
        provider_payment_id: the Stripe Checkout Session id or Razorpay order id.
        amount: the amount paid, in the currency's minor unit.
        currency: upper-case ISO 4217 code.
        user_ref: the user id our checkout attached to the payment, if the event carries it.
        pack: the pack name our checkout attached, if the event carries it. These two are used
            only when no payment row is stored.
    """

    provider_payment_id: str
    amount: int
    currency: str
    user_ref: str | None = None
    pack: str | None = None


@dataclass(frozen=True)
class ProviderEvent:
    """A verified webhook event reduced to what crediting needs.

    With a `claim` the event reports a successful payment. Without one, `status` and `reason`
    are stored as they are: ignored for events that credit nothing, failed for a malformed one.
    """

    provider: PaymentProvider
    event_id: str
    event_type: str
    claim: PaymentClaim | None = None
    status: WebhookStatus = WebhookStatus.IGNORED
    reason: str | None = None


def process_event(
    session_factory: sessionmaker[Session], event: ProviderEvent, *, prices: Mapping[str, Price]
) -> WebhookOutcome:
    """Record `event` and credit its payment at most once, in one committed transaction.

    `prices` gives the price of a pack for a payment that has to be recorded from the event.
    Safe under concurrent calls with the same or different events.
    """
    # A concurrent delivery of the same event waits inside `record_event` (ON CONFLICT DO NOTHING
    # on the unique index) and then sees the row: "duplicate", never a unique-violation error.
    with session_factory.begin() as session:
        outcome = _process(session, event, prices)
    logger.info(
        "%s webhook %s (%s): %s%s",
        event.provider,
        event.event_id,
        event.event_type,
        outcome.status,
        f" ({outcome.reason})" if outcome.reason else "",
    )
    return outcome


def _process(session: Session, event: ProviderEvent, prices: Mapping[str, Price]) -> WebhookOutcome:
    row = record_event(
        session=session,
        provider=event.provider,
        event_id=event.event_id,
        event_type=event.event_type,
    )
    if row is None:
        return WebhookOutcome("duplicate", "event already handled")
    if event.claim is None:
        status, reason = event.status, event.reason
    else:
        status, reason = _settle(session, event.provider, event.claim, prices)
    row.status, row.reason = status, reason
    return WebhookOutcome(status.value, reason)


def _settle(
    session: Session,
    provider: PaymentProvider,
    claim: PaymentClaim,
    prices: Mapping[str, Price],
) -> tuple[WebhookStatus, str]:
    """Credit the claimed payment, or say why not (steps 2–4 of the module docstring)."""
    payment = get_payment(
        session=session, provider=provider, provider_payment_id=claim.provider_payment_id
    )
    if payment is None:
        recorded = _record_payment(session, provider, claim, prices)
        if isinstance(recorded, str):
            return WebhookStatus.FAILED, recorded
        payment = recorded
    if payment.status != PaymentStatus.CREATED:
        return _settled_before(payment)
    mismatch = _mismatch(payment, claim)
    if mismatch is not None:
        if fail_payment(session=session, payment=payment, reason=mismatch):
            return WebhookStatus.FAILED, mismatch
        return _settled_before(payment)  # another event settled it first
    if credit_payment(session=session, payment=payment) is None:
        return _settled_before(payment)
    return WebhookStatus.PROCESSED, f"credited {payment.credits} credits"


def _record_payment(
    session: Session,
    provider: PaymentProvider,
    claim: PaymentClaim,
    prices: Mapping[str, Price],
) -> Payment | str:
    """Store a payment we have no row for from the user and pack the event carries.

    Returns the payment, or why it cannot be stored.
    """
    if claim.user_ref is None or claim.pack is None:
        return f"no stored payment {claim.provider_payment_id} and no user or pack in the event"
    pack = PACKS.get(claim.pack)
    if pack is None:
        return f"unknown pack {claim.pack!r}"
    try:
        user_id = uuid.UUID(claim.user_ref)
    except ValueError:
        return f"unknown user {claim.user_ref!r}"
    if session.get(User, user_id) is None:
        return f"unknown user {user_id}"
    price = prices[pack.name]
    return create_payment(
        session=session,
        user_id=user_id,
        provider=provider,
        provider_payment_id=claim.provider_payment_id,
        pack=pack.name,
        amount=price.amount,
        currency=price.currency,
        credits=pack.credits,
    )


def _mismatch(payment: Payment, claim: PaymentClaim) -> str | None:
    if (claim.amount, claim.currency.upper()) == (payment.amount, payment.currency.upper()):
        return None
    return (
        f"paid {claim.amount} {claim.currency.upper()}, expected {payment.amount}"
        f" {payment.currency} for pack {payment.pack}"
    )


def _settled_before(payment: Payment) -> tuple[WebhookStatus, str]:
    if payment.status == PaymentStatus.PAID:
        return WebhookStatus.PROCESSED, "payment already credited"
    return WebhookStatus.FAILED, f"payment failed earlier: {payment.failure_reason}"
