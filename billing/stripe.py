"""Stripe Checkout: create a session for a pack, verify its webhooks, credit paid sessions.

The session carries our user id (`client_reference_id` and `metadata.user_id`) and the pack
(`metadata.pack`), so the webhook knows whom to credit; the original matched the email typed
into Checkout, which can differ from the account's. Only `checkout.session.completed` and
`checkout.session.async_payment_succeeded` with `payment_status == "paid"` credit: delayed
methods (bank debits) complete unpaid and succeed later, in the second event. Stripe SDK
exceptions are translated into billing errors here and nowhere else.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import stripe
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from billing.errors import (
    BillingNotConfigured,
    PaymentProviderError,
    PaymentVerificationFailed,
)
from billing.packs import PACKS, STRIPE_PRICES, Price, check_prices, get_pack
from billing.webhooks import PaymentClaim, ProviderEvent, WebhookOutcome, process_event
from db.models import PaymentProvider, WebhookStatus
from db.payments import create_payment

__all__ = [
    "HANDLED_EVENTS",
    "SIGNATURE_TOLERANCE_S",
    "CheckoutSession",
    "StripeOptions",
    "create_checkout",
    "handle_stripe_webhook",
    "parse_webhook",
]

PROVIDER = "Stripe"
HANDLED_EVENTS = frozenset(
    {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
)
# Stripe's own default: a signed event older than this is refused as a possible replay.
SIGNATURE_TOLERANCE_S = 300


@dataclass(frozen=True, kw_only=True)
class StripeOptions:
    """How to reach Stripe and what the packs cost there.

    Attributes:
        secret_key: the API secret key (`sk_…`).
        webhook_secret: the webhook endpoint's signing secret (`whsec_…`).
        price_ids: the Stripe Price id of every pack, by pack name.
        success_url: where Checkout sends the buyer after paying.
        cancel_url: where Checkout sends the buyer who gives up.
        prices: what each pack's Stripe Price costs; a webhook's `amount_total` and `currency`
            must match it (default: USD 1000/2500/7000 cents).
        api_base: the API's base URL; None means Stripe's (tests point it at a stub).
        max_network_retries: the SDK's retries of failed requests, safe because checkout
            creation carries an idempotency key.
        timeout_s: per-request timeout.
    """

    secret_key: SecretStr
    webhook_secret: SecretStr
    price_ids: Mapping[str, str]
    success_url: str
    cancel_url: str
    prices: Mapping[str, Price] = field(default_factory=lambda: STRIPE_PRICES)
    api_base: str | None = None
    max_network_retries: int = 2
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if set(self.price_ids) != set(PACKS):
            raise ValueError(
                f"Stripe price_ids must name exactly the packs {sorted(PACKS)},"
                f" got {sorted(self.price_ids)}"
            )
        check_prices(self.prices, PROVIDER)


@dataclass(frozen=True)
class CheckoutSession:
    """A created Checkout Session: send the buyer to `url`."""

    id: str
    url: str


def create_checkout(
    options: StripeOptions | None,
    *,
    session: Session,
    user_id: uuid.UUID,
    pack: str,
    idempotency_key: str,
) -> CheckoutSession:
    """Create a Checkout Session for `pack` and store its payment (status `created`).

    The payment row is written in the caller's transaction; the caller commits. The same
    `idempotency_key` returns the same session from Stripe, and the same stored payment. The
    Stripe request comes first: call this with no write transaction open, since on SQLite an
    open transaction holds the database's write lock for the whole request.
    Raises `BillingNotConfigured`, `UnknownPack` or `PaymentProviderError`.
    """
    options = _require(options)
    chosen = get_pack(pack)
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [{"price": options.price_ids[chosen.name], "quantity": 1}],
        "client_reference_id": str(user_id),
        "metadata": {"user_id": str(user_id), "pack": chosen.name},
        "success_url": options.success_url,
        "cancel_url": options.cancel_url,
    }
    client = stripe.StripeClient(
        options.secret_key.get_secret_value(),
        base_addresses={"api": options.api_base} if options.api_base else None,
        max_network_retries=options.max_network_retries,
        http_client=stripe.RequestsClient(timeout=options.timeout_s),
    )
    with _translate_errors():
        checkout = client.v1.checkout.sessions.create(
            params=params,
            options={"idempotency_key": idempotency_key},
        )
    checkout_id, url = getattr(checkout, "id", None), getattr(checkout, "url", None)
    if not checkout_id or not url:
        raise PaymentProviderError(PROVIDER, "the checkout session came back without an id or url")
    price = options.prices[chosen.name]
    create_payment(
        session=session,
        user_id=user_id,
        provider=PaymentProvider.STRIPE,
        provider_payment_id=checkout_id,
        pack=chosen.name,
        amount=price.amount,
        currency=price.currency,
        credits=chosen.credits,
    )
    return CheckoutSession(id=checkout_id, url=url)


def parse_webhook(
    options: StripeOptions | None, raw_body: bytes, signature_header: str | None
) -> stripe.Event:
    """Verify the `Stripe-Signature` header over the raw request body and parse the event.

    Raises `PaymentVerificationFailed` for a missing, malformed or wrong signature, a timestamp
    older than `SIGNATURE_TOLERANCE_S`, or a signed body that is not an event.
    """
    options = _require(options)
    try:
        return stripe.Webhook.construct_event(
            raw_body,
            signature_header,
            options.webhook_secret.get_secret_value(),
            tolerance=SIGNATURE_TOLERANCE_S,
        )
    except stripe.SignatureVerificationError as exc:
        raise PaymentVerificationFailed(PROVIDER, exc.user_message or "bad signature") from exc
    except ValueError as exc:  # not UTF-8, not JSON, or not a v1 event
        raise PaymentVerificationFailed(PROVIDER, "the body is not a Stripe event") from exc


def handle_stripe_webhook(
    options: StripeOptions | None,
    *,
    session_factory: sessionmaker[Session],
    raw_body: bytes,
    signature_header: str | None,
) -> WebhookOutcome:
    """Verify, record and act on one Stripe webhook delivery; commits its own transaction.

    Raises `PaymentVerificationFailed` (answer 400; nothing was stored) or
    `BillingNotConfigured` (503). Every returned outcome, `failed` included, deserves a 2xx.
    """
    options = _require(options)
    event = parse_webhook(options, raw_body, signature_header)
    return process_event(session_factory, _provider_event(event.to_dict()), prices=options.prices)


def _provider_event(event: Mapping[str, Any]) -> ProviderEvent:
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not isinstance(event_type, str):
        raise PaymentVerificationFailed(PROVIDER, "the event has no id or type")

    def outcome(**fields: Any) -> ProviderEvent:
        return ProviderEvent(PaymentProvider.STRIPE, event_id, event_type, **fields)

    if event_type not in HANDLED_EVENTS:
        return outcome(reason="event type not handled")
    data = event.get("data")
    checkout = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(checkout, Mapping):
        return outcome(status=WebhookStatus.FAILED, reason="the event has no checkout session")
    payment_status = checkout.get("payment_status")
    if payment_status != "paid":
        return outcome(reason=f"payment_status is {payment_status!r}, not 'paid'")
    checkout_id = checkout.get("id")
    amount, currency = checkout.get("amount_total"), checkout.get("currency")
    if not (isinstance(checkout_id, str) and isinstance(amount, int) and isinstance(currency, str)):
        return outcome(
            status=WebhookStatus.FAILED,
            reason="the checkout session lacks its id, amount_total or currency",
        )
    metadata = checkout.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    claim = PaymentClaim(
        provider_payment_id=checkout_id,
        amount=amount,
        currency=currency.upper(),
        user_ref=metadata.get("user_id") or checkout.get("client_reference_id"),
        pack=metadata.get("pack"),
    )
    return outcome(claim=claim)


def _require(options: StripeOptions | None) -> StripeOptions:
    if options is None:
        raise BillingNotConfigured(PROVIDER)
    return options


@contextmanager
def _translate_errors() -> Iterator[None]:
    """Turn any Stripe SDK error into `PaymentProviderError`, keeping it as the cause."""
    try:
        yield
    except stripe.StripeError as exc:
        message = exc.user_message or type(exc).__name__
        raise PaymentProviderError(PROVIDER, message) from exc
