"""Every test in tests/db runs on PostgreSQL and on SQLite (see tests/utils/db.py)."""

from tests.utils.db import db_engine, db_session, db_sessions, db_url

__all__ = ["db_engine", "db_session", "db_sessions", "db_url"]
