"""Engine setup and the UTC datetime type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from db.engine import make_engine
from db.models import User
from tests.utils.db import make_user


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_make_engine_refuses_in_memory_sqlite(url: str) -> None:
    with pytest.raises(ValueError, match="file database"):
        make_engine(url)


def test_make_engine_refuses_other_databases() -> None:
    with pytest.raises(ValueError, match="unsupported database 'mysql"):
        make_engine("mysql+pymysql://localhost/clipzz")


def test_make_engine_picks_psycopg_for_plain_postgresql_urls() -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:5432/clipzz")  # connects lazily
    assert engine.url.drivername == "postgresql+psycopg"
    assert engine.pool._pre_ping


def test_sqlite_connections_enforce_foreign_keys_in_wal_mode(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'clipzz.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    engine.dispose()


def test_datetimes_come_back_aware_utc(db_session: Session) -> None:
    user = make_user(db_session)
    ist = timezone(timedelta(hours=5, minutes=30))
    user.created_at = datetime(2026, 1, 2, 8, 0, 0, 123456, tzinfo=ist)
    db_session.commit()
    db_session.expire_all()
    stored = db_session.scalars(select(User.created_at).where(User.id == user.id)).one()
    assert stored == datetime(2026, 1, 2, 2, 30, 0, 123456, tzinfo=UTC)
    assert stored.tzinfo is UTC
    # Comparisons with aware values work on both (SQLite compares the stored UTC text).
    found = db_session.scalars(
        select(User.id).where(User.created_at > datetime(2026, 1, 2, 2, 0, tzinfo=UTC))
    ).all()
    assert found == [user.id]


def test_naive_datetimes_are_refused(db_session: Session) -> None:
    user = make_user(db_session)
    user.created_at = datetime(2026, 1, 2, 8, 0)
    with pytest.raises(StatementError, match="naive datetime"):
        db_session.flush()
