"""Run the Alembic migrations from code (`clipzz db upgrade` calls `upgrade`).

The URL is passed in; nothing is read from an alembic.ini or the environment. To write a new
revision from a database at head: `alembic.command.revision(alembic_config(url),
message="...", autogenerate=True)`, then read and tidy the generated file.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL, make_url

__all__ = ["MIGRATIONS_DIR", "alembic_config", "downgrade", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | URL) -> Config:
    """An Alembic config for `url` pointing at db/migrations."""
    config = Config()
    config.set_main_option("script_location", MIGRATIONS_DIR.as_posix())
    # ConfigParser treats "%" as interpolation; percent-encoded passwords need it doubled.
    rendered = make_url(url).render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision` (creating every table from empty)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | URL, revision: str) -> None:
    """Migrate down to `revision` ("base" drops everything the migrations created)."""
    command.downgrade(alembic_config(url), revision)
