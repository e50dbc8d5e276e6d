"""A stand-in for Stripe's API and webhooks, for tests that drive the real `stripe` SDK.

stripe-mock is not packaged for Python and `localstripe` lacks Checkout Sessions, so tests point
`StripeClient(base_addresses={"api": stub.base_url})` at this server. It answers
`POST /v1/checkout/sessions` like Stripe (the same `Idempotency-Key` returns the same session),
can be told to fail with a Stripe error body, and records every request. `checkout_event` and
`sign` build webhook deliveries signed with Stripe's real scheme.

    with StripeStub() as stub:
        ...  # create a checkout with api_base=stub.base_url
        assert stub.requests[0].form()["mode"] == "payment"
"""

from __future__ import annotations

import itertools
import json
import secrets
from typing import Any

import stripe

from tests.utils.http_stub import RecordedRequest, StubServer

__all__ = ["CHECKOUT_PATH", "StripeStub", "checkout_event", "sign"]

CHECKOUT_PATH = "/v1/checkout/sessions"


class StripeStub(StubServer):
    """Stripe's Checkout Session endpoint on loopback.

    Set `error = (status, type, message)` to make every call fail the way Stripe does, e.g.
    `(400, "invalid_request_error", "No such price")`.
    """

    name = "stripe-stub"

    def __init__(self) -> None:
        super().__init__()
        self.error: tuple[int, str, str] | None = None
        self._sessions: dict[str, dict[str, Any]] = {}
        self._numbers = itertools.count(1)

    def respond(self, request: RecordedRequest) -> tuple[int, Any]:
        if self.error is not None:
            status, kind, message = self.error
            return status, {"error": {"type": kind, "message": message}}
        if (request.method, request.path) != ("POST", CHECKOUT_PATH):
            return 404, {
                "error": {"type": "invalid_request_error", "message": f"no {request.path}"}
            }
        key = request.headers.get("idempotency-key") or secrets.token_hex(8)
        if key not in self._sessions:
            form = request.form()
            session_id = f"cs_test_{next(self._numbers):04d}"
            self._sessions[key] = {
                "id": session_id,
                "object": "checkout.session",
                "mode": form.get("mode"),
                "payment_status": "unpaid",
                "status": "open",
                "client_reference_id": form.get("client_reference_id"),
                "metadata": {
                    name[len("metadata[") : -1]: value
                    for name, value in form.items()
                    if name.startswith("metadata[")
                },
                "url": f"https://checkout.stripe.test/c/pay/{session_id}",
            }
        return 200, self._sessions[key]


def checkout_event(
    session_id: str,
    *,
    user_id: str | None,
    pack: str | None,
    amount: int = 1000,
    currency: str = "usd",
    payment_status: str = "paid",
    event_type: str = "checkout.session.completed",
    event_id: str | None = None,
) -> dict[str, Any]:
    """A Stripe v1 event whose object is a Checkout Session carrying our metadata."""
    metadata = {key: value for key, value in (("user_id", user_id), ("pack", pack)) if value}
    return {
        "id": event_id or f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "type": event_type,
        "livemode": False,
        "data": {
            "object": {
                "id": session_id,
                "object": "checkout.session",
                "mode": "payment",
                "status": "complete",
                "payment_status": payment_status,
                "amount_total": amount,
                "currency": currency,
                "client_reference_id": user_id,
                "customer_details": {"email": "buyer@example.com", "name": "A Buyer"},
                "metadata": metadata,
            }
        },
    }


def sign(event: dict[str, Any], secret: str, *, timestamp: int | None = None) -> tuple[bytes, str]:
    """The raw body and `Stripe-Signature` header Stripe would send for `event`."""
    payload = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp)
    return payload.encode(), header
