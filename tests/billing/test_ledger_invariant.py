"""The ledger invariant across billing and jobs: after any sequence of purchases (through the
webhook handlers, replays included), reservations, settlements and refunds, every user's
balance equals the sum of their ledger rows and is never negative."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from billing.packs import PACKS
from billing.razorpay import RazorpayOptions
from billing.stripe import StripeOptions
from db.credits import ledger_sum, refund_credits, settle_credits
from db.models import CreditLedger, User
from tests.billing.harness import Delivery, ProviderHarness, RazorpayHarness, StripeHarness
from tests.utils.db import make_job, make_user

_users = st.integers(0, 1)
_operations = st.lists(
    st.one_of(
        st.tuples(st.just("buy"), _users, st.integers(0, 1), st.sampled_from(sorted(PACKS))),
        st.tuples(st.just("replay"), _users, st.just(0), st.just("")),
        st.tuples(st.just("submit"), _users, st.integers(1, 80), st.just("")),
        st.tuples(st.just("settle"), _users, st.integers(0, 80), st.just("")),
        st.tuples(st.just("refund"), _users, st.just(0), st.just("")),
    ),
    max_size=12,
)


def _assert_consistent(session: Session, user_id: uuid.UUID) -> None:
    user = session.get(User, user_id, populate_existing=True)
    assert user is not None
    assert user.credits == ledger_sum(session=session, user_id=user_id) >= 0
    balances = session.scalars(
        select(CreditLedger.balance_after).where(CreditLedger.user_id == user_id)
    ).all()
    assert all(balance >= 0 for balance in balances)


@settings(
    max_examples=20,
    deadline=None,
    database=None,  # no .hypothesis/ example store in the repository
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(operations=_operations, start=st.integers(0, 20))
def test_random_billing_and_job_sequences_keep_balance_equal_to_ledger(
    db_sessions: sessionmaker[Session],
    stripe_options: StripeOptions,
    razorpay_options: RazorpayOptions,
    operations: list[tuple[str, int, int, str]],
    start: int,
) -> None:
    providers: list[ProviderHarness] = [
        StripeHarness(stripe_options),
        RazorpayHarness(razorpay_options),
    ]
    with db_sessions.begin() as session:
        users = [make_user(session, credits=start).id for _ in range(2)]
    jobs: list[list[uuid.UUID]] = [[], []]
    sent: list[tuple[ProviderHarness, Delivery]] = []
    for step, (operation, who, amount, pack) in enumerate(operations):
        user_id = users[who]
        if operation == "buy":
            provider = providers[amount]
            with db_sessions.begin() as session:
                payment_id = provider.checkout(session, user_id, pack)
            delivery = provider.paid(payment_id, user_id=str(user_id), pack=pack)
            sent.append((provider, delivery))
            assert provider.deliver(db_sessions, delivery).status == "processed"
        elif operation == "replay" and sent:
            provider, delivery = sent[step % len(sent)]
            assert provider.deliver(db_sessions, delivery).status == "duplicate"
        elif operation == "submit":
            with db_sessions.begin() as session:
                jobs[who].append(make_job(session, user_id, credits=amount).id)
        elif operation in ("settle", "refund") and jobs[who]:
            job_id = jobs[who][step % len(jobs[who])]  # sometimes one settled before
            with db_sessions.begin() as session:
                if operation == "settle":
                    settle_credits(session=session, job_id=job_id, used=amount)
                else:
                    refund_credits(session=session, job_id=job_id)
        with db_sessions() as session:
            for each in users:
                _assert_consistent(session, each)
