"""Users: normalised unique emails and the signup bonus in the ledger."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.credits import ledger_sum
from db.models import CreditLedger, LedgerReason
from db.users import create_user, get_user, get_user_by_email


def test_create_user_grants_signup_bonus_as_ledger_row(db_session: Session) -> None:
    user = create_user(
        session=db_session,
        email="  Ada@Example.COM ",
        password_hash="hash",
        name="Ada",
        signup_credits=10,
    )
    db_session.commit()
    assert user is not None
    assert user.email == "ada@example.com"
    assert user.credits == 10
    rows = db_session.scalars(select(CreditLedger).where(CreditLedger.user_id == user.id)).all()
    assert [(r.reason, r.delta, r.balance_after) for r in rows] == [
        (LedgerReason.SIGNUP_BONUS, 10, 10)
    ]
    assert rows[0].idem_key == f"signup:{user.id}"
    assert ledger_sum(session=db_session, user_id=user.id) == 10


def test_create_user_without_bonus_writes_no_ledger_row(db_session: Session) -> None:
    user = create_user(session=db_session, email="b@example.com", password_hash=None)
    assert user is not None
    assert user.credits == 0
    assert db_session.scalars(select(CreditLedger)).all() == []


def test_create_user_duplicate_email_any_case_returns_none(db_session: Session) -> None:
    first = create_user(session=db_session, email="c@example.com", password_hash="h")
    db_session.commit()
    again = create_user(
        session=db_session, email="C@EXAMPLE.com", password_hash="h", signup_credits=10
    )
    assert first is not None
    assert again is None
    db_session.commit()
    assert get_user(session=db_session, user_id=first.id).credits == 0


def test_get_user_by_email_ignores_case(db_session: Session) -> None:
    user = create_user(session=db_session, email="d@example.com", password_hash="h")
    assert get_user_by_email(session=db_session, email=" D@Example.com") is user
    assert get_user_by_email(session=db_session, email="nobody@example.com") is None
