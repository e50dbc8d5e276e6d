"""Column types that behave the same on PostgreSQL and SQLite.

SQLite has no time zone type: `DateTime(timezone=True)` stores a naive string there and returns
naive datetimes, while PostgreSQL returns aware ones in the session's time zone. `UtcDateTime`
hides the difference so every datetime that enters or leaves the database is aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Dialect
from sqlalchemy.types import DateTime, TypeDecorator

__all__ = ["UtcDateTime", "utcnow"]


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the only clock db/ uses)."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """`DateTime(timezone=True)` that accepts only aware datetimes and always returns UTC.

    Naive input is refused rather than guessed at: a naive value is a bug in the caller.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: db/ stores aware UTC datetimes only")
        # SQLite's DATETIME drops the offset when it formats the value, so convert first.
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite: stored as UTC by process_bind_param
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
