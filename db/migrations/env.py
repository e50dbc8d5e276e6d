"""Alembic environment: the URL comes from the Config built by `db.migrate.alembic_config`.

`render_as_batch` lets later revisions alter tables on SQLite (which rebuilds them); it changes
nothing on PostgreSQL. Migrations use a plain engine, without the app's SQLite pragmas:
enforcing foreign keys would break SQLite's table rebuilds.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from db.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(**options: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        **options,
    )


def run_migrations_offline() -> None:
    """Print the SQL instead of running it (`alembic upgrade --sql`)."""
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run_with(connection)
    engine.dispose()


def _run_with(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
