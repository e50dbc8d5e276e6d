"""A stand-in for Razorpay's Orders API and webhooks, for tests that drive the real `razorpay`
SDK.

Tests point `razorpay.Client(base_url=stub.base_url)` at this server. It answers
`POST /v1/orders` like Razorpay (an order in status `created` echoing amount, currency, receipt
and notes), can be told to fail with a Razorpay error body, and records every request.
`order_paid_event`, `payment_captured_event` and `sign` build webhook deliveries signed with
Razorpay's real scheme (hex HMAC-SHA256 of the raw body with the webhook secret).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
from typing import Any

from tests.utils.http_stub import RecordedRequest, StubServer

__all__ = [
    "ORDERS_PATH",
    "RazorpayStub",
    "order_paid_event",
    "payment_captured_event",
    "sign",
    "signature_of",
]

ORDERS_PATH = "/v1/orders"


class RazorpayStub(StubServer):
    """Razorpay's order creation on loopback.

    Set `error = (status, code, description)` to make every call fail the way Razorpay does,
    e.g. `(400, "BAD_REQUEST_ERROR", "amount exceeds maximum amount allowed")`.
    """

    name = "razorpay-stub"

    def __init__(self) -> None:
        super().__init__()
        self.error: tuple[int, str, str] | None = None
        self._numbers = itertools.count(1)

    def respond(self, request: RecordedRequest) -> tuple[int, Any]:
        if self.error is not None:
            status, code, description = self.error
            return status, {"error": {"code": code, "description": description}}
        if (request.method, request.path) != ("POST", ORDERS_PATH):
            return 404, {"error": {"code": "BAD_REQUEST_ERROR", "description": "not found"}}
        order = request.json()
        return 200, {
            "id": f"order_test{next(self._numbers):010d}",
            "entity": "order",
            "amount": order["amount"],
            "amount_paid": 0,
            "amount_due": order["amount"],
            "currency": order["currency"],
            "receipt": order.get("receipt"),
            "status": "created",
            "attempts": 0,
            "notes": order.get("notes", {}),
            "created_at": 1_700_000_000,
        }


def _payment_entity(order_id: str, amount: int, currency: str) -> dict[str, Any]:
    return {
        "id": f"pay_{secrets.token_hex(7)}",
        "entity": "payment",
        "amount": amount,
        "currency": currency,
        "status": "captured",
        "order_id": order_id,
        "method": "upi",
        "captured": True,
        "email": "buyer@example.com",
        "contact": "+919900000000",
        "notes": [],
    }


def order_paid_event(
    order_id: str,
    *,
    amount: int,
    currency: str = "INR",
    notes: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An `order.paid` event: the paid order (with our notes) and its captured payment."""
    order = {
        "id": order_id,
        "entity": "order",
        "amount": amount,
        "amount_paid": amount,
        "amount_due": 0,
        "currency": currency,
        "status": "paid",
        "notes": notes or {},
    }
    return {
        "entity": "event",
        "account_id": "acc_test",
        "event": "order.paid",
        "contains": ["payment", "order"],
        "payload": {
            "payment": {"entity": _payment_entity(order_id, amount, currency)},
            "order": {"entity": order},
        },
        "created_at": 1_700_000_100,
    }


def payment_captured_event(order_id: str, *, amount: int, currency: str = "INR") -> dict[str, Any]:
    """A `payment.captured` event for a payment of the order."""
    return {
        "entity": "event",
        "account_id": "acc_test",
        "event": "payment.captured",
        "contains": ["payment"],
        "payload": {"payment": {"entity": _payment_entity(order_id, amount, currency)}},
        "created_at": 1_700_000_100,
    }


def sign(event: dict[str, Any], secret: str) -> tuple[bytes, str]:
    """The raw body and `X-Razorpay-Signature` Razorpay would send for `event`."""
    body = json.dumps(event).encode()
    return body, signature_of(body, secret)


def signature_of(body: bytes, secret: str) -> str:
    """Razorpay's webhook signature: hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
