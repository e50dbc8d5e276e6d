"""Users: creation with the signup bonus, and lookups."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from db._sql import insert_ignore
from db.credits import grant_credits
from db.models import LedgerReason, User

__all__ = ["create_user", "get_user", "get_user_by_email", "normalize_email"]


def normalize_email(email: str) -> str:
    """The form emails are stored and looked up in, so uniqueness ignores case."""
    return email.strip().lower()


def create_user(
    *,
    session: Session,
    email: str,
    password_hash: str | None,
    name: str | None = None,
    signup_credits: int = 0,
) -> User | None:
    """Create a user with `signup_credits` granted as a `signup_bonus` ledger row.

    Returns None when the email is taken; the unique index decides, so two concurrent sign-ups
    with one address create one user.
    """
    user_id = insert_ignore(
        session,
        User,
        {
            "email": normalize_email(email),
            "password_hash": password_hash,
            "name": name,
            "credits": 0,
        },
        conflict=["email"],
        returning=User.id,
    )
    if user_id is None:
        return None
    if signup_credits:
        grant_credits(
            session=session,
            user_id=user_id,
            amount=signup_credits,
            reason=LedgerReason.SIGNUP_BONUS,
            idem_key=f"signup:{user_id}",
        )
    return session.get(User, user_id)


def get_user(*, session: Session, user_id: uuid.UUID) -> User | None:
    return session.get(User, user_id)


def get_user_by_email(*, session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == normalize_email(email))).first()
