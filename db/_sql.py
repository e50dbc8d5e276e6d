"""Statements whose spelling differs between PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import QueryableAttribute, Session

from db.models import Base


def insert_ignore(
    session: Session,
    model: type[Base],
    values: Mapping[str, Any],
    *,
    conflict: Sequence[str],
    returning: QueryableAttribute[Any],
) -> Any | None:
    """INSERT … ON CONFLICT (conflict) DO NOTHING RETURNING returning: None when the row existed.

    The unique index decides, so two transactions inserting the same key concurrently cannot both
    succeed (on PostgreSQL the second waits for the first to commit, then does nothing).
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(model).values(**values).on_conflict_do_nothing(index_elements=list(conflict))
    return session.execute(statement.returning(returning)).scalar_one_or_none()
