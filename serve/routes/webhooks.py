"""The payment providers' webhooks: where purchased credits are granted.

No bearer token: each request is trusted only once its signature over the raw body checks out
(billing/ verifies it, records the event once and credits its payment at most once). A bad
signature answers 400 with nothing stored; every verified event answers 200, even one that
could not be credited (it is stored as failed, for an operator), so the provider stops
retrying. The handlers block on the database, so they run in the threadpool, each holding one
of the app's database slots (see serve/deps.py `get_session`). Bodies are never logged: they
carry the buyer's personal data.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool

from billing.razorpay import handle_razorpay_webhook
from billing.stripe import handle_stripe_webhook
from serve.billing_options import RazorpayOptionsDep, StripeOptionsDep
from serve.deps import DbSlotsDep, SessionFactoryDep
from serve.schemas import RazorpayWebhookAck, StripeWebhookAck, error_responses

__all__ = ["router"]

router = APIRouter(
    prefix="/api/webhooks", tags=["webhooks"], responses=error_responses(400, 422, 503)
)

# The raw JSON body the provider signed; declared here since the handlers read it unparsed.
_RAW_JSON_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}}
}


@router.post("/stripe", response_model=StripeWebhookAck, openapi_extra=_RAW_JSON_BODY)
async def stripe_webhook(
    request: Request,
    options: StripeOptionsDep,
    sessions: SessionFactoryDep,
    slots: DbSlotsDep,
    signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> StripeWebhookAck:
    """Stripe's events: a paid Checkout Session grants its pack's credits, once."""
    raw_body = await request.body()
    async with slots:
        await run_in_threadpool(
            handle_stripe_webhook,
            options,
            session_factory=sessions,
            raw_body=raw_body,
            signature_header=signature,
        )
    return StripeWebhookAck()


@router.post("/razorpay", response_model=RazorpayWebhookAck, openapi_extra=_RAW_JSON_BODY)
async def razorpay_webhook(
    request: Request,
    options: RazorpayOptionsDep,
    sessions: SessionFactoryDep,
    slots: DbSlotsDep,
    signature: Annotated[str | None, Header(alias="X-Razorpay-Signature")] = None,
    event_id: Annotated[str | None, Header(alias="X-Razorpay-Event-Id")] = None,
) -> RazorpayWebhookAck:
    """Razorpay's events: a paid order (`order.paid`, `payment.captured`) grants its pack's
    credits, once."""
    raw_body = await request.body()
    async with slots:
        await run_in_threadpool(
            handle_razorpay_webhook,
            options,
            session_factory=sessions,
            raw_body=raw_body,
            signature=signature,
            event_id_header=event_id,
        )
    return RazorpayWebhookAck()
