"""One harness per provider: a real checkout through the provider's stub, and signed webhook
deliveries for it, so the crediting rules both providers share are tested once."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from billing.packs import Price
from billing.razorpay import RazorpayOptions, create_order, handle_razorpay_webhook
from billing.stripe import StripeOptions, create_checkout, handle_stripe_webhook
from billing.webhooks import WebhookOutcome
from tests.utils import razorpay_stub as rzp
from tests.utils import stripe_stub as stp

__all__ = ["Delivery", "ProviderHarness", "RazorpayHarness", "StripeHarness"]


@dataclass(frozen=True)
class Delivery:
    """One webhook request: the raw body, its signature header, and Razorpay's event id header."""

    raw_body: bytes
    signature: str | None
    event_id: str | None = None


class ProviderHarness:
    """Drive one provider: a real checkout through its stub, and signed paid-event deliveries."""

    name: str
    prices: Mapping[str, Price]

    def checkout(self, session: Session, user_id: uuid.UUID, pack: str) -> str:
        """Create a checkout (the caller commits); returns the provider payment id."""
        raise NotImplementedError

    def deliver(self, session_factory: sessionmaker[Session], delivery: Delivery) -> WebhookOutcome:
        raise NotImplementedError

    def paid(
        self,
        payment_id: str,
        *,
        user_id: str | None,
        pack: str | None,
        amount: int | None = None,
        currency: str | None = None,
        second: bool = False,
    ) -> Delivery:
        """A signed event saying `payment_id` was paid (at the pack's price unless given).

        `second` picks the provider's other event for a paid payment (Stripe's
        `async_payment_succeeded`, Razorpay's `payment.captured`), which has its own id.
        """
        price = self.prices.get(pack or "", self.prices["small"])
        return self._signed_event(
            payment_id,
            user_id=user_id,
            pack=pack,
            amount=price.amount if amount is None else amount,
            currency=currency or price.currency,
            second=second,
        )

    def _signed_event(
        self,
        payment_id: str,
        *,
        user_id: str | None,
        pack: str | None,
        amount: int,
        currency: str,
        second: bool,
    ) -> Delivery:
        raise NotImplementedError


class StripeHarness(ProviderHarness):
    name = "stripe"

    def __init__(self, options: StripeOptions) -> None:
        self.options = options
        self.prices = options.prices

    def checkout(self, session: Session, user_id: uuid.UUID, pack: str) -> str:
        key = secrets.token_hex(8)
        return create_checkout(
            self.options, session=session, user_id=user_id, pack=pack, idempotency_key=key
        ).id

    def deliver(self, session_factory: sessionmaker[Session], delivery: Delivery) -> WebhookOutcome:
        return handle_stripe_webhook(
            self.options,
            session_factory=session_factory,
            raw_body=delivery.raw_body,
            signature_header=delivery.signature,
        )

    def _signed_event(
        self,
        payment_id: str,
        *,
        user_id: str | None,
        pack: str | None,
        amount: int,
        currency: str,
        second: bool,
    ) -> Delivery:
        event = stp.checkout_event(
            payment_id,
            user_id=user_id,
            pack=pack,
            amount=amount,
            currency=currency.lower(),  # as Stripe sends it
            event_type=f"checkout.session.{'async_payment_succeeded' if second else 'completed'}",
        )
        return Delivery(*stp.sign(event, self.options.webhook_secret.get_secret_value()))


class RazorpayHarness(ProviderHarness):
    name = "razorpay"

    def __init__(self, options: RazorpayOptions) -> None:
        self.options = options
        self.prices = options.prices

    def checkout(self, session: Session, user_id: uuid.UUID, pack: str) -> str:
        return create_order(self.options, session=session, user_id=user_id, pack=pack).order_id

    def deliver(self, session_factory: sessionmaker[Session], delivery: Delivery) -> WebhookOutcome:
        return handle_razorpay_webhook(
            self.options,
            session_factory=session_factory,
            raw_body=delivery.raw_body,
            signature=delivery.signature,
            event_id_header=delivery.event_id,
        )

    def _signed_event(
        self,
        payment_id: str,
        *,
        user_id: str | None,
        pack: str | None,
        amount: int,
        currency: str,
        second: bool,
    ) -> Delivery:
        if second:
            event = rzp.payment_captured_event(payment_id, amount=amount, currency=currency)
        else:
            notes = {key: value for key, value in (("user_id", user_id), ("pack", pack)) if value}
            event = rzp.order_paid_event(payment_id, amount=amount, currency=currency, notes=notes)
        body, signature = rzp.sign(event, self.options.webhook_secret.get_secret_value())
        return Delivery(body, signature, event_id=f"evt_{secrets.token_hex(7)}")
