"""Credit operations: each is one conditional UPDATE of the balance plus its ledger row(s).

The balance moves only through `_move_balance`, a single statement (`UPDATE users SET credits =
credits + d WHERE id = :id [AND credits >= -d] RETURNING credits`). The database evaluates the
condition and the write together, so concurrent reservations can never overdraw an account, and
no lock is held across Python code. `CHECK (credits >= 0)` backs this up.

Invariants: a user's `credits` equals the sum of their ledger deltas; for each job,
`credits_reserved + credits_charged == -(sum of the job's ledger deltas)`.

Life of a job's credits:
- `reserve_credits` at submit moves credits from the user to the job's hold (`reserve`, −R);
- `settle_credits` when clips exist charges what was used and gives the rest back (`refund`,
  +(R − used), only when positive) and writes a `settle` row of delta 0 that marks the
  settlement in the ledger with the balance at that moment;
- `refund_credits` on failure or cancellation gives the whole hold back (`refund`, +R).
Settling or refunding empties the hold, so repeating either (or the other) is a no-op.

Every function runs in the caller's session and transaction and never commits.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from db._sql import insert_ignore
from db.errors import JobNotFound, UserNotFound
from db.models import CreditLedger, Job, LedgerReason, User

__all__ = ["grant_credits", "ledger_sum", "refund_credits", "reserve_credits", "settle_credits"]

# Reasons a grant may carry; the others belong to the job life cycle above.
GRANT_REASONS = frozenset(
    {LedgerReason.SIGNUP_BONUS, LedgerReason.PURCHASE, LedgerReason.ADJUSTMENT}
)


def grant_credits(
    *,
    session: Session,
    user_id: uuid.UUID,
    amount: int,
    reason: LedgerReason | str,
    idem_key: str | None = None,
    payment_id: uuid.UUID | None = None,
) -> int | None:
    """Add `amount` credits; returns the new balance, or None when `idem_key` was already used.

    A used `idem_key` (e.g. "payment:<id>") means the grant already happened: nothing changes.
    The unique index on `idem_key` decides, so two concurrent deliveries grant once.
    """
    reason = LedgerReason(reason)
    if reason not in GRANT_REASONS:
        raise ValueError(f"grant reason must be one of {sorted(GRANT_REASONS)}, not {reason!r}")
    _require_positive(amount)
    # The balance UPDATE runs first because the ledger row records the new balance; when the
    # key turns out to be used, rolling back to the savepoint undoes it.
    with session.begin_nested() as savepoint:
        balance = _move_balance(session, user_id=user_id, delta=amount)
        if balance is None:
            raise UserNotFound(user_id)
        recorded = _record(
            session,
            user_id=user_id,
            delta=amount,
            reason=reason,
            balance_after=balance,
            payment_id=payment_id,
            idem_key=idem_key,
        )
        if not recorded:
            savepoint.rollback()
            return None
    return balance


def reserve_credits(
    *, session: Session, user_id: uuid.UUID, amount: int, job_id: uuid.UUID
) -> int | None:
    """Hold `amount` of the user's credits for the job; returns the new balance.

    None means the balance is too small: nothing changed. Raises `JobNotFound` when the job is
    not this user's.
    """
    _require_positive(amount)
    owned = select(Job.id).where(Job.id == job_id, Job.user_id == user_id)
    if session.execute(owned).scalar_one_or_none() is None:
        raise JobNotFound(job_id)
    balance = _apply(
        session, user_id=user_id, delta=-amount, reason=LedgerReason.RESERVE, job_id=job_id
    )
    if balance is not None:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(credits_reserved=Job.credits_reserved + amount)
        )
    return balance


def settle_credits(*, session: Session, job_id: uuid.UUID, used: int) -> int:
    """Charge `used` credits (at most the hold) and give the rest back; returns the refund.

    A job with nothing held (already settled or refunded) is left alone and 0 is returned.
    """
    if used < 0:
        raise ValueError(f"used must be >= 0, not {used}")
    taken = _take_hold(session, job_id, used=used)
    if taken is None:
        return 0
    user_id, held, charged = taken
    refund = held - charged
    if refund:
        _apply(session, user_id=user_id, delta=refund, reason=LedgerReason.REFUND, job_id=job_id)
    _apply(session, user_id=user_id, delta=0, reason=LedgerReason.SETTLE, job_id=job_id)
    return refund


def refund_credits(*, session: Session, job_id: uuid.UUID) -> int:
    """Give back everything the job still holds; returns the refund (0 when nothing is held)."""
    taken = _take_hold(session, job_id, used=0)
    if taken is None:
        return 0
    user_id, held, _ = taken
    _apply(session, user_id=user_id, delta=held, reason=LedgerReason.REFUND, job_id=job_id)
    return held


def ledger_sum(*, session: Session, user_id: uuid.UUID) -> int:
    """The sum of the user's ledger deltas: an audit check, always equal to `User.credits`."""
    total = select(func.coalesce(func.sum(CreditLedger.delta), 0)).where(
        CreditLedger.user_id == user_id
    )
    return session.execute(total).scalar_one()


def _require_positive(amount: int) -> None:
    if amount <= 0:
        raise ValueError(f"amount must be > 0, not {amount}")


def _apply(
    session: Session,
    *,
    user_id: uuid.UUID,
    delta: int,
    reason: LedgerReason,
    job_id: uuid.UUID,
) -> int | None:
    """Move a job's credits: the balance changes by `delta` and the ledger records it.

    None (nothing changed) when `delta` is negative and larger than the balance.
    """
    balance = _move_balance(session, user_id=user_id, delta=delta)
    if balance is not None:
        _record(
            session,
            user_id=user_id,
            delta=delta,
            reason=reason,
            balance_after=balance,
            job_id=job_id,
        )
    return balance


def _move_balance(session: Session, *, user_id: uuid.UUID, delta: int) -> int | None:
    """Pattern A: one conditional UPDATE; None when the user is missing or would go negative."""
    statement = update(User).where(User.id == user_id)
    if delta < 0:
        statement = statement.where(User.credits >= -delta)
    return session.execute(
        statement.values(credits=User.credits + delta).returning(User.credits)
    ).scalar_one_or_none()


def _record(
    session: Session,
    *,
    user_id: uuid.UUID,
    delta: int,
    reason: LedgerReason,
    balance_after: int,
    job_id: uuid.UUID | None = None,
    payment_id: uuid.UUID | None = None,
    idem_key: str | None = None,
) -> bool:
    """Insert the ledger row; False when its `idem_key` is already used (nothing inserted)."""
    row = {
        "user_id": user_id,
        "delta": delta,
        "reason": reason,
        "balance_after": balance_after,
        "job_id": job_id,
        "payment_id": payment_id,
        "idem_key": idem_key,
    }
    if idem_key is None:
        session.execute(insert(CreditLedger).values(**row))
        return True
    return (
        insert_ignore(session, CreditLedger, row, conflict=["idem_key"], returning=CreditLedger.id)
        is not None
    )


def _take_hold(
    session: Session, job_id: uuid.UUID, *, used: int
) -> tuple[uuid.UUID, int, int] | None:
    """Empty the job's hold, charging min(used, hold); returns (user id, hold, charged).

    None when nothing is held. A compare-and-set on the hold makes two concurrent settlements
    (or a settlement racing a refund) take it once: the loser re-reads and finds it empty.
    """
    while True:
        row = session.execute(
            select(Job.user_id, Job.credits_reserved).where(Job.id == job_id)
        ).one_or_none()
        if row is None:
            raise JobNotFound(job_id)
        user_id, held = row
        if held == 0:
            return None
        charged = min(used, held)
        taken = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.credits_reserved == held)
            .values(credits_reserved=0, credits_charged=Job.credits_charged + charged)
            .returning(Job.id)
        ).scalar_one_or_none()
        if taken is not None:
            return user_id, held, charged
