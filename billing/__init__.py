"""clipzz billing: credit packs, Stripe Checkout and Razorpay Orders, and their webhooks.

Modules: `packs` (what a pack gives and costs), `stripe` and `razorpay` (one per provider, each
creating a checkout and verifying and handling its webhooks), `webhooks` (recording every event
once and crediting every payment at most once, for both), `errors`. billing/ imports db/ and
nothing else of ours; options arrive as typed objects built by serve/ from its settings.

The routes call:
- `create_checkout(stripe_options, session=, user_id=, pack=, idempotency_key=)` and
  `create_order(razorpay_options, session=, user_id=, pack=)`, then commit;
- `handle_stripe_webhook(...)` and `handle_razorpay_webhook(...)` with the raw request body,
  which commit their own transactions.
"""

from billing.errors import (
    BillingError,
    BillingNotConfigured,
    PaymentProviderError,
    PaymentVerificationFailed,
    UnknownPack,
)
from billing.packs import PACKS, RAZORPAY_PRICES, STRIPE_PRICES, Pack, Price, get_pack
from billing.razorpay import Order, RazorpayOptions, create_order, handle_razorpay_webhook
from billing.stripe import CheckoutSession, StripeOptions, create_checkout, handle_stripe_webhook
from billing.webhooks import WebhookOutcome

__all__ = [
    "PACKS",
    "RAZORPAY_PRICES",
    "STRIPE_PRICES",
    "BillingError",
    "BillingNotConfigured",
    "CheckoutSession",
    "Order",
    "Pack",
    "PaymentProviderError",
    "PaymentVerificationFailed",
    "Price",
    "RazorpayOptions",
    "StripeOptions",
    "UnknownPack",
    "WebhookOutcome",
    "create_checkout",
    "create_order",
    "get_pack",
    "handle_razorpay_webhook",
    "handle_stripe_webhook",
]
