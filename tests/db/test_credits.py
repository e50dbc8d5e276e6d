"""Credits: arithmetic, idempotency, the ledger invariant, and races on both databases."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.credits import grant_credits, ledger_sum, refund_credits, reserve_credits, settle_credits
from db.errors import JobNotFound, UserNotFound
from db.models import CreditLedger, Job, LedgerReason, User
from tests.utils.db import make_job, make_user, run_in_threads


def _ledger(session: Session, job_id: uuid.UUID) -> list[tuple[LedgerReason, int]]:
    rows = session.scalars(
        select(CreditLedger).where(CreditLedger.job_id == job_id).order_by(CreditLedger.id)
    )
    return [(row.reason, row.delta) for row in rows]


def _assert_consistent(session: Session, user_id: uuid.UUID) -> None:
    """credits == sum(ledger) >= 0, the last balance_after is the balance, and per job
    reserved + charged == -(sum of the job's deltas)."""
    user = session.get(User, user_id, populate_existing=True)
    assert user is not None
    assert user.credits >= 0
    assert user.credits == ledger_sum(session=session, user_id=user_id)
    last = session.scalars(
        select(CreditLedger.balance_after)
        .where(CreditLedger.user_id == user_id)
        .order_by(CreditLedger.id.desc())
        .limit(1)
    ).first()
    assert last in (None, user.credits)
    jobs = session.scalars(
        select(Job).where(Job.user_id == user_id).execution_options(populate_existing=True)
    )
    for job in jobs:
        job_total = session.execute(
            select(func.coalesce(func.sum(CreditLedger.delta), 0)).where(
                CreditLedger.job_id == job.id
            )
        ).scalar_one()
        assert job.credits_reserved + job.credits_charged == -job_total


# --- arithmetic --------------------------------------------------------------------------------


def test_reserve_takes_credits_and_holds_them_on_the_job(db_session: Session) -> None:
    user = make_user(db_session, credits=10)
    job = make_job(db_session, user.id, credits=3)
    assert (user.credits, job.credits_reserved, job.credits_charged) == (7, 3, 0)
    assert reserve_credits(session=db_session, user_id=user.id, amount=2, job_id=job.id) == 5
    assert job.credits_reserved == 5
    assert _ledger(db_session, job.id) == [(LedgerReason.RESERVE, -3), (LedgerReason.RESERVE, -2)]
    _assert_consistent(db_session, user.id)


def test_reserve_insufficient_returns_none_and_changes_nothing(db_session: Session) -> None:
    user = make_user(db_session, credits=5)
    job = make_job(db_session, user.id, credits=5)
    assert reserve_credits(session=db_session, user_id=user.id, amount=1, job_id=job.id) is None
    assert (user.credits, job.credits_reserved) == (0, 5)
    assert _ledger(db_session, job.id) == [(LedgerReason.RESERVE, -5)]


def test_reserve_for_another_users_or_unknown_job_raises(db_session: Session) -> None:
    owner, other = make_user(db_session), make_user(db_session)
    job = make_job(db_session, owner.id)
    with pytest.raises(JobNotFound):
        reserve_credits(session=db_session, user_id=other.id, amount=1, job_id=job.id)
    with pytest.raises(JobNotFound):
        reserve_credits(session=db_session, user_id=owner.id, amount=1, job_id=uuid.uuid4())
    assert (owner.credits, other.credits) == (97, 100)


def test_settle_charges_used_and_refunds_the_rest(db_session: Session) -> None:
    user = make_user(db_session, credits=10)
    job = make_job(db_session, user.id, credits=5)
    assert settle_credits(session=db_session, job_id=job.id, used=2) == 3
    db_session.refresh(job)
    assert (user.credits, job.credits_reserved, job.credits_charged) == (8, 0, 2)
    assert _ledger(db_session, job.id) == [
        (LedgerReason.RESERVE, -5),
        (LedgerReason.REFUND, 3),
        (LedgerReason.SETTLE, 0),
    ]
    settle = db_session.scalars(
        select(CreditLedger).where(CreditLedger.reason == LedgerReason.SETTLE)
    ).one()
    assert settle.balance_after == 8
    _assert_consistent(db_session, user.id)


def test_settle_all_used_writes_no_refund_row(db_session: Session) -> None:
    user = make_user(db_session, credits=10)
    job = make_job(db_session, user.id, credits=4)
    assert settle_credits(session=db_session, job_id=job.id, used=4) == 0
    assert _ledger(db_session, job.id) == [(LedgerReason.RESERVE, -4), (LedgerReason.SETTLE, 0)]
    assert user.credits == 6


def test_settle_never_charges_more_than_held(db_session: Session) -> None:
    user = make_user(db_session, credits=10)
    job = make_job(db_session, user.id, credits=2)
    assert settle_credits(session=db_session, job_id=job.id, used=5) == 0
    db_session.refresh(job)
    assert (user.credits, job.credits_charged) == (8, 2)


def test_settle_twice_and_refund_after_settle_are_no_ops(db_session: Session) -> None:
    user = make_user(db_session, credits=10)
    job = make_job(db_session, user.id, credits=5)
    settle_credits(session=db_session, job_id=job.id, used=1)
    before = _ledger(db_session, job.id)
    assert settle_credits(session=db_session, job_id=job.id, used=0) == 0
    assert refund_credits(session=db_session, job_id=job.id) == 0
    db_session.refresh(job)
    assert _ledger(db_session, job.id) == before
    assert (user.credits, job.credits_reserved, job.credits_charged) == (9, 0, 1)


def test_refund_returns_the_whole_hold_once(db_session: Session) -> None:
    user = make_user(db_session, credits=10)
    job = make_job(db_session, user.id, credits=6)
    assert refund_credits(session=db_session, job_id=job.id) == 6
    assert refund_credits(session=db_session, job_id=job.id) == 0
    assert settle_credits(session=db_session, job_id=job.id, used=3) == 0
    db_session.refresh(job)
    assert (user.credits, job.credits_reserved, job.credits_charged) == (10, 0, 0)
    assert _ledger(db_session, job.id) == [(LedgerReason.RESERVE, -6), (LedgerReason.REFUND, 6)]
    _assert_consistent(db_session, user.id)


def test_settle_and_refund_of_unknown_job_raise(db_session: Session) -> None:
    with pytest.raises(JobNotFound):
        settle_credits(session=db_session, job_id=uuid.uuid4(), used=1)
    with pytest.raises(JobNotFound):
        refund_credits(session=db_session, job_id=uuid.uuid4())


@pytest.mark.parametrize("amount", [0, -5])
def test_non_positive_amounts_are_refused(db_session: Session, amount: int) -> None:
    user = make_user(db_session)
    job = make_job(db_session, user.id)
    with pytest.raises(ValueError, match="amount must be > 0"):
        reserve_credits(session=db_session, user_id=user.id, amount=amount, job_id=job.id)
    with pytest.raises(ValueError, match="amount must be > 0"):
        grant_credits(session=db_session, user_id=user.id, amount=amount, reason="purchase")


# --- grants ------------------------------------------------------------------------------------


def test_grant_with_idem_key_applies_once(db_session: Session) -> None:
    user = make_user(db_session, credits=10)
    first = grant_credits(
        session=db_session, user_id=user.id, amount=50, reason="purchase", idem_key="payment:1"
    )
    again = grant_credits(
        session=db_session, user_id=user.id, amount=50, reason="purchase", idem_key="payment:1"
    )
    db_session.commit()
    assert (first, again, user.credits) == (60, None, 60)
    purchases = db_session.scalars(
        select(CreditLedger).where(CreditLedger.reason == LedgerReason.PURCHASE)
    ).all()
    assert [(row.delta, row.balance_after) for row in purchases] == [(50, 60)]
    _assert_consistent(db_session, user.id)


def test_grant_refuses_job_reasons_and_unknown_users(db_session: Session) -> None:
    user = make_user(db_session)
    with pytest.raises(ValueError, match="grant reason"):
        grant_credits(session=db_session, user_id=user.id, amount=1, reason="refund")
    with pytest.raises(UserNotFound):
        grant_credits(session=db_session, user_id=uuid.uuid4(), amount=1, reason="adjustment")


def test_concurrent_grants_with_one_idem_key_apply_once(
    db_sessions: sessionmaker[Session],
) -> None:
    with db_sessions.begin() as session:
        user_id = make_user(session, credits=0).id

    def grant(_: int) -> int | None:
        with db_sessions.begin() as session:
            return grant_credits(
                session=session,
                user_id=user_id,
                amount=50,
                reason=LedgerReason.PURCHASE,
                idem_key="stripe:evt_1",
            )

    results = run_in_threads(8, grant)
    assert sorted(results, key=str) == [50] + [None] * 7
    with db_sessions() as session:
        assert session.get(User, user_id).credits == 50
        _assert_consistent(session, user_id)


# --- races -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("threads", "amount", "balance"), [(20, 10, 100), (50, 1, 10)])
def test_concurrent_reservations_never_overdraw(
    db_sessions: sessionmaker[Session], threads: int, amount: int, balance: int
) -> None:
    """20 × 10 against 100 and 50 × 1 against 10: exactly balance/amount succeed."""
    with db_sessions.begin() as session:
        user_id = make_user(session, credits=balance).id
        job_ids = [make_job(session, user_id, credits=0).id for _ in range(threads)]

    def reserve(index: int) -> int | None:
        with db_sessions.begin() as session:
            return reserve_credits(
                session=session, user_id=user_id, amount=amount, job_id=job_ids[index]
            )

    results = run_in_threads(threads, reserve)
    granted = [balance for balance in results if balance is not None]
    assert len(granted) == balance // amount
    assert all(value >= 0 for value in granted)
    # Every successful reservation saw a distinct balance: they were applied one at a time.
    assert sorted(granted) == list(range(0, balance, amount))
    with db_sessions() as session:
        assert session.get(User, user_id).credits == 0
        held = session.execute(select(func.sum(Job.credits_reserved))).scalar_one()
        assert held == balance
        _assert_consistent(session, user_id)


def test_concurrent_settle_and_refund_take_the_hold_once(
    db_sessions: sessionmaker[Session],
) -> None:
    with db_sessions.begin() as session:
        user_id = make_user(session, credits=10).id
        job_id = make_job(session, user_id, credits=10).id

    def release(index: int) -> int:
        with db_sessions.begin() as session:
            if index % 2:
                return refund_credits(session=session, job_id=job_id)
            return settle_credits(session=session, job_id=job_id, used=4)

    results = run_in_threads(10, release)
    assert sorted(results)[:-1] == [0] * 9
    assert sorted(results)[-1] in (6, 10)  # the settle (6 back) or the refund (10 back) won
    with db_sessions() as session:
        _assert_consistent(session, user_id)


# --- the invariant under random sequences ------------------------------------------------------

_operations = st.lists(
    st.one_of(
        st.tuples(st.just("grant"), st.integers(1, 20)),
        st.tuples(st.just("submit"), st.integers(1, 8)),
        st.tuples(st.just("settle"), st.integers(0, 10)),
        st.tuples(st.just("refund"), st.just(0)),
    ),
    max_size=15,
)


@settings(
    max_examples=25,
    deadline=None,
    database=None,  # no .hypothesis/ example store in the repository
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(operations=_operations, start=st.integers(0, 15))
def test_random_sequences_keep_credits_equal_to_ledger(
    db_sessions: sessionmaker[Session], operations: list[tuple[str, int]], start: int
) -> None:
    with db_sessions.begin() as session:
        user_id = make_user(session, credits=start).id
        jobs: list[uuid.UUID] = []
        for step, (operation, amount) in enumerate(operations):
            if operation == "grant":
                grant_credits(session=session, user_id=user_id, amount=amount, reason="purchase")
            elif operation == "submit":
                jobs.append(make_job(session, user_id, credits=amount).id)
            elif jobs:
                job_id = jobs[step % len(jobs)]  # sometimes a job settled or refunded before
                if operation == "settle":
                    settle_credits(session=session, job_id=job_id, used=amount)
                else:
                    refund_credits(session=session, job_id=job_id)
            _assert_consistent(session, user_id)
