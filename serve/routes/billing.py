"""Buying credits: the packs, a Stripe Checkout Session or a Razorpay order for one, and the
user's payments and credit ledger.

The credits arrive later, by webhook (serve/routes/webhooks.py). Creating a checkout calls the
provider, which can take seconds, so the read transaction that authenticated the user is
committed first: on SQLite an open transaction holds the database's write lock. The payment row
is then written in a new transaction, after the provider answered, and committed with the
request.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header

from billing.packs import PACKS, Price
from billing.razorpay import create_order
from billing.stripe import create_checkout
from db.payments import list_ledger, list_payments
from serve.billing_options import RazorpayOptionsDep, StripeOptionsDep
from serve.deps import CurrentUser, PageDep, SessionDep
from serve.schemas import (
    CheckoutPublic,
    LedgerEntriesPublic,
    LedgerEntryPublic,
    OrderPublic,
    PackPublic,
    PacksPublic,
    PaymentPublic,
    PaymentsPublic,
    PricePublic,
    PurchaseCreate,
    error_responses,
)

__all__ = ["MAX_IDEMPOTENCY_KEY_CHARS", "router"]

router = APIRouter(prefix="/billing", tags=["billing"], responses=error_responses(422))

# Stripe takes keys up to 255 characters; ours adds a prefix, the user id and the pack.
MAX_IDEMPOTENCY_KEY_CHARS = 128

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_IDEMPOTENCY_KEY_CHARS,
        description="Send the same key to retry a checkout and get the same session back",
    ),
]


@router.get("/packs", response_model=PacksPublic)
def read_packs(stripe: StripeOptionsDep, razorpay: RazorpayOptionsDep) -> PacksPublic:
    """The credit packs and their prices; a provider that is off has a null price."""
    packs = [
        PackPublic(
            name=pack.name,
            credits=pack.credits,
            stripe=_price(stripe.prices[pack.name]) if stripe else None,
            razorpay=_price(razorpay.prices[pack.name]) if razorpay else None,
        )
        for pack in PACKS.values()
    ]
    return PacksPublic(data=packs, count=len(packs))


@router.post(
    "/stripe/checkout",
    status_code=201,
    response_model=CheckoutPublic,
    responses=error_responses(400, 401, 502, 503),
)
def create_stripe_checkout(
    body: PurchaseCreate,
    user: CurrentUser,
    session: SessionDep,
    options: StripeOptionsDep,
    idempotency_key: IdempotencyKey = None,
) -> CheckoutPublic:
    """Start paying for a pack with Stripe: a Checkout Session to send the buyer to.

    The same `Idempotency-Key` (per user and pack) returns the same session.
    """
    session.commit()  # end the authenticating read before calling Stripe (module docstring)
    key = f"checkout:{user.id}:{body.pack}:{idempotency_key or uuid.uuid4().hex}"
    checkout = create_checkout(
        options, session=session, user_id=user.id, pack=body.pack, idempotency_key=key
    )
    return CheckoutPublic(url=checkout.url, session_id=checkout.id)


@router.post(
    "/razorpay/orders",
    status_code=201,
    response_model=OrderPublic,
    responses=error_responses(400, 401, 502, 503),
)
def create_razorpay_order(
    body: PurchaseCreate, user: CurrentUser, session: SessionDep, options: RazorpayOptionsDep
) -> OrderPublic:
    """Start paying for a pack with Razorpay: the order to open Razorpay Checkout with."""
    session.commit()  # end the authenticating read before calling Razorpay (module docstring)
    order = create_order(options, session=session, user_id=user.id, pack=body.pack)
    return OrderPublic(
        key_id=order.key_id, order_id=order.order_id, amount=order.amount, currency=order.currency
    )


@router.get("/payments", response_model=PaymentsPublic, responses=error_responses(401))
def read_payments(user: CurrentUser, session: SessionDep, page: PageDep) -> PaymentsPublic:
    """The user's payments, newest first, with the reason of any that failed."""
    payments, count = list_payments(
        session=session, user_id=user.id, offset=page.offset, limit=page.limit
    )
    return PaymentsPublic(data=[PaymentPublic.model_validate(p) for p in payments], count=count)


@router.get("/ledger", response_model=LedgerEntriesPublic, responses=error_responses(401))
def read_ledger(user: CurrentUser, session: SessionDep, page: PageDep) -> LedgerEntriesPublic:
    """The user's credit changes, newest first; their deltas add up to the balance."""
    rows, count = list_ledger(
        session=session, user_id=user.id, offset=page.offset, limit=page.limit
    )
    return LedgerEntriesPublic(
        data=[LedgerEntryPublic.model_validate(row) for row in rows], count=count
    )


def _price(price: Price) -> PricePublic:
    return PricePublic(amount=price.amount, currency=price.currency)
