"""The Alembic revisions build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, Connection, create_engine, inspect

from db.migrate import downgrade, upgrade
from db.models import Base
from tests.utils.db import BACKENDS, empty_database


def _schema_diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "target_metadata": Base.metadata}
    )
    return compare_metadata(context, Base.metadata)


def _named_constraints(connection: Connection) -> dict[str, set[str]]:
    """CHECK constraint and index names per table: what compare_metadata does not compare."""
    inspector = inspect(connection)
    return {
        table: {c["name"] for c in inspector.get_check_constraints(table)}
        # PostgreSQL also lists the indexes behind UNIQUE constraints; those are compared above.
        | {i["name"] for i in inspector.get_indexes(table) if "duplicates_constraint" not in i}
        for table in Base.metadata.tables
    }


def _model_constraints() -> dict[str, set[str]]:
    named: dict[str, set[str]] = {}
    for table in Base.metadata.sorted_tables:
        checks = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
        named[table.name] = checks | {index.name for index in table.indexes}
    return named


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_from_empty_matches_models(backend: str, tmp_path: Path) -> None:
    with empty_database(backend, tmp_path) as url:
        upgrade(url)
        engine = create_engine(url)
        with engine.connect() as connection:
            assert _schema_diff(connection) == []
            assert _named_constraints(connection) == _model_constraints()
            processing = next(
                index
                for index in inspect(connection).get_indexes("jobs")
                if index["name"] == "uq_jobs_user_id_processing"
            )
            assert processing["unique"]
            assert "processing" in str(processing["dialect_options"][f"{backend}_where"])
        engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_downgrade_to_base_and_up_again(backend: str, tmp_path: Path) -> None:
    with empty_database(backend, tmp_path) as url:
        upgrade(url)
        downgrade(url, "base")
        engine = create_engine(url)
        with engine.connect() as connection:
            assert inspect(connection).get_table_names() == ["alembic_version"]
        upgrade(url)
        with engine.connect() as connection:
            assert _schema_diff(connection) == []
        engine.dispose()
