"""Razorpay Orders: create an order for a pack, verify its webhooks, credit paid orders.

The order is stored when it is created, with the amount we asked for; a webhook credits it only
when the amount and currency paid match that stored order (the original trusted the notes and
never compared amounts). `order.paid` and `payment.captured` both credit; whichever arrives
first wins and the other finds the order paid.

Razorpay signs only the body (hex HMAC-SHA256 with the webhook secret, no timestamp), so replay
protection is idempotency: the event id comes from `X-Razorpay-Event-Id`, or, without that
header, from a hash of the body, since a redelivery repeats the same body. The header is not
signed, but a replay under a new id still credits nothing twice: crediting is once per order.
Razorpay SDK exceptions are translated into billing errors here and nowhere else.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import razorpay
import requests
from pydantic import SecretStr
from razorpay.errors import BadRequestError, GatewayError, ServerError
from sqlalchemy.orm import Session, sessionmaker

from billing.errors import BillingNotConfigured, PaymentProviderError, PaymentVerificationFailed
from billing.packs import RAZORPAY_PRICES, Price, check_prices, get_pack
from billing.webhooks import PaymentClaim, ProviderEvent, WebhookOutcome, process_event
from db.models import PaymentProvider, WebhookStatus
from db.payments import create_payment

__all__ = [
    "HANDLED_EVENTS",
    "Order",
    "RazorpayOptions",
    "create_order",
    "event_id_for",
    "handle_razorpay_webhook",
    "verify_webhook",
]

PROVIDER = "Razorpay"
HANDLED_EVENTS = frozenset({"order.paid", "payment.captured"})
# The longest event id the webhook_events table stores.
_MAX_EVENT_ID = 255


@dataclass(frozen=True, kw_only=True)
class RazorpayOptions:
    """How to reach Razorpay and what the packs cost there.

    Attributes:
        key_id: the public key id (`rzp_…`); the browser's Checkout needs it too.
        key_secret: the key secret, for API calls.
        webhook_secret: the secret set on the webhook in the dashboard (not the key secret).
        base_url: the API's base URL; None means Razorpay's (tests point it at a stub).
        prices: what each pack's order asks for (default: INR 83000/207500/581000 paise).
        timeout_s: per-request timeout.
    """

    key_id: str
    key_secret: SecretStr
    webhook_secret: SecretStr
    base_url: str | None = None
    prices: Mapping[str, Price] = field(default_factory=lambda: RAZORPAY_PRICES)
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        check_prices(self.prices, PROVIDER)


@dataclass(frozen=True)
class Order:
    """A created order: what the browser's Razorpay Checkout is opened with."""

    key_id: str
    order_id: str
    amount: int
    currency: str


def create_order(
    options: RazorpayOptions | None, *, session: Session, user_id: uuid.UUID, pack: str
) -> Order:
    """Create an order for `pack` and store its payment (status `created`).

    The payment row is written in the caller's transaction; the caller commits. Its id is the
    order's `receipt`, which links the two in Razorpay's dashboard. The Razorpay request comes
    first: call this with no write transaction open, since on SQLite an open transaction holds
    the database's write lock for the whole request.
    Raises `BillingNotConfigured`, `UnknownPack` or `PaymentProviderError`.
    """
    options = _require(options)
    chosen = get_pack(pack)
    price = options.prices[chosen.name]
    payment_id = uuid.uuid4()
    # The SDK reads `base_url` only when given; passing None would break every URL.
    extra = {"base_url": options.base_url} if options.base_url else {}
    client = razorpay.Client(auth=(options.key_id, options.key_secret.get_secret_value()), **extra)
    with _translate_errors():
        order = client.order.create(
            {
                "amount": price.amount,
                "currency": price.currency,
                "receipt": payment_id.hex,
                "notes": {"user_id": str(user_id), "pack": chosen.name},
            },
            timeout=options.timeout_s,
        )
    order_id = order.get("id") if isinstance(order, Mapping) else None
    if not isinstance(order_id, str) or not order_id:
        raise PaymentProviderError(PROVIDER, "the order came back without an id")
    create_payment(
        session=session,
        user_id=user_id,
        provider=PaymentProvider.RAZORPAY,
        provider_payment_id=order_id,
        pack=chosen.name,
        amount=price.amount,
        currency=price.currency,
        credits=chosen.credits,
        payment_id=payment_id,
    )
    return Order(
        key_id=options.key_id, order_id=order_id, amount=price.amount, currency=price.currency
    )


def verify_webhook(options: RazorpayOptions | None, raw_body: bytes, signature: str | None) -> None:
    """Check `X-Razorpay-Signature`: hex HMAC-SHA256 of the raw body with the webhook secret.

    Compared in constant time. Raises `PaymentVerificationFailed` when it is missing or wrong.
    """
    options = _require(options)
    if not signature:
        raise PaymentVerificationFailed(PROVIDER, "no X-Razorpay-Signature header")
    expected = hmac.new(
        options.webhook_secret.get_secret_value().encode(), raw_body, hashlib.sha256
    ).hexdigest()
    # Bytes, because compare_digest refuses non-ASCII str and the header is attacker-controlled.
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise PaymentVerificationFailed(PROVIDER, "the signature does not match the body")


def event_id_for(raw_body: bytes, event_id_header: str | None) -> str:
    """The event's id: `X-Razorpay-Event-Id` when usable, else a hash of the body."""
    if event_id_header and len(event_id_header) <= _MAX_EVENT_ID:
        return event_id_header
    return "sha256:" + hashlib.sha256(raw_body).hexdigest()


def handle_razorpay_webhook(
    options: RazorpayOptions | None,
    *,
    session_factory: sessionmaker[Session],
    raw_body: bytes,
    signature: str | None,
    event_id_header: str | None,
) -> WebhookOutcome:
    """Verify, record and act on one Razorpay webhook delivery; commits its own transaction.

    Raises `PaymentVerificationFailed` (answer 400; nothing was stored) or
    `BillingNotConfigured` (503). Every returned outcome, `failed` included, deserves a 2xx.
    """
    options = _require(options)
    verify_webhook(options, raw_body, signature)
    try:
        body = json.loads(raw_body)
    except ValueError as exc:
        raise PaymentVerificationFailed(PROVIDER, "the body is not JSON") from exc
    if not isinstance(body, Mapping) or not isinstance(body.get("event"), str):
        raise PaymentVerificationFailed(PROVIDER, "the body is not a Razorpay event")
    event = _provider_event(event_id_for(raw_body, event_id_header), body)
    return process_event(session_factory, event, prices=options.prices)


def _provider_event(event_id: str, body: Mapping[str, Any]) -> ProviderEvent:
    event_type: str = body["event"]

    def outcome(**fields: Any) -> ProviderEvent:
        return ProviderEvent(PaymentProvider.RAZORPAY, event_id, event_type, **fields)

    if event_type not in HANDLED_EVENTS:
        return outcome(reason="event type not handled")
    payload = _mapping(body.get("payload"))
    if event_type == "order.paid":
        entity = _entity(payload, "order")  # with the notes our checkout set on it
        fields = ("id", "amount_paid", "currency")
        notes = _mapping(entity.get("notes"))
    else:
        entity = _entity(payload, "payment")
        fields = ("order_id", "amount", "currency")
        notes = {}  # a payment's notes are the browser's, not ours
        if entity and not entity.get("order_id"):
            return outcome(reason="the payment belongs to no order")
    order_id, amount, currency = (entity.get(key) for key in fields)
    user_ref, pack = notes.get("user_id"), notes.get("pack")
    if not (isinstance(order_id, str) and isinstance(amount, int) and isinstance(currency, str)):
        return outcome(
            status=WebhookStatus.FAILED, reason="the event lacks the order id, amount or currency"
        )
    claim = PaymentClaim(
        provider_payment_id=order_id,
        amount=amount,
        currency=currency.upper(),
        user_ref=user_ref if isinstance(user_ref, str) else None,
        pack=pack if isinstance(pack, str) else None,
    )
    return outcome(claim=claim)


def _entity(payload: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """`payload[name]["entity"]`, or an empty mapping when the event lacks it."""
    return _mapping(_mapping(payload.get(name)).get("entity"))


def _mapping(value: object) -> Mapping[str, Any]:
    """`value` when it is a JSON object, else an empty one: signed events can still be odd."""
    return value if isinstance(value, Mapping) else {}


def _require(options: RazorpayOptions | None) -> RazorpayOptions:
    if options is None:
        raise BillingNotConfigured(PROVIDER)
    return options


@contextmanager
def _translate_errors() -> Iterator[None]:
    """Turn the SDK's errors (API errors, HTTP failures, a non-JSON answer) into
    `PaymentProviderError`, keeping them as the cause."""
    try:
        yield
    except (BadRequestError, GatewayError, ServerError) as exc:
        raise PaymentProviderError(PROVIDER, str(exc) or type(exc).__name__) from exc
    except requests.RequestException as exc:  # includes the JSON decoding of an error page
        raise PaymentProviderError(PROVIDER, f"no usable answer ({type(exc).__name__})") from exc
