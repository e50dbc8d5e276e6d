"""A user's billing history: payments and ledger rows, newest first, owner only."""

from __future__ import annotations

from sqlalchemy.orm import Session

from db.credits import grant_credits
from db.models import LedgerReason, PaymentProvider
from db.payments import create_payment, list_ledger, list_payments
from tests.utils.db import make_job, make_user


def test_list_payments_newest_first_and_only_the_users(db_session: Session) -> None:
    user, other = make_user(db_session), make_user(db_session)
    for number in range(3):
        create_payment(
            session=db_session,
            user_id=user.id,
            provider=PaymentProvider.RAZORPAY,
            provider_payment_id=f"order_{number}",
            pack="small",
            amount=83000,
            currency="INR",
            credits=50,
        )
    create_payment(
        session=db_session,
        user_id=other.id,
        provider=PaymentProvider.STRIPE,
        provider_payment_id="cs_other",
        pack="small",
        amount=1000,
        currency="USD",
        credits=50,
    )

    payments, count = list_payments(session=db_session, user_id=user.id)
    assert count == 3
    assert [p.provider_payment_id for p in payments] == ["order_2", "order_1", "order_0"]
    page, count = list_payments(session=db_session, user_id=user.id, offset=1, limit=1)
    assert ([p.provider_payment_id for p in page], count) == (["order_1"], 3)


def test_list_ledger_newest_first(db_session: Session) -> None:
    user, other = make_user(db_session, credits=10), make_user(db_session, credits=5)
    grant_credits(session=db_session, user_id=user.id, amount=50, reason="purchase")
    make_job(db_session, user.id, credits=3)

    rows, count = list_ledger(session=db_session, user_id=user.id)

    assert count == 3
    assert [(row.reason, row.delta, row.balance_after) for row in rows] == [
        (LedgerReason.RESERVE, -3, 57),
        (LedgerReason.PURCHASE, 50, 60),
        (LedgerReason.SIGNUP_BONUS, 10, 10),
    ]
    assert list_ledger(session=db_session, user_id=other.id)[1] == 1
