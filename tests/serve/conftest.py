"""Every API test runs on PostgreSQL and on SQLite (see tests/utils/db.py), against the real app
built by `create_app`, with local storage in a temporary directory unless it asks for S3."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from pipeline.storage import S3Options, S3Storage, Storage
from serve.app import create_app
from serve.resources import storage_for
from tests.utils.api import api_settings
from tests.utils.db import db_engine, db_session, db_sessions, db_url
from tests.utils.s3 import S3Server

__all__ = ["db_engine", "db_session", "db_sessions", "db_url"]

MakeApp = Callable[..., FastAPI]


@pytest.fixture
def make_app(db_sessions: sessionmaker[Session], tmp_path: Path) -> MakeApp:
    """`make_app(storage=..., wake=..., rate_limiter=..., **settings)` builds an app on the
    test database; without `storage`, local storage under `tmp_path`."""

    def make(
        *,
        storage: Storage | None = None,
        sessions: sessionmaker[Session] | None = None,
        **overrides: Any,
    ) -> FastAPI:
        injected = {
            name: overrides.pop(name)
            for name in ("wake", "process_video", "rate_limiter")
            if name in overrides
        }
        settings = api_settings(local_storage_dir=tmp_path / "storage", **overrides)
        return create_app(
            settings,
            session_factory=sessions or db_sessions,
            storage=storage or storage_for(settings),
            **injected,
        )

    return make


@pytest.fixture
def client(make_app: MakeApp) -> Iterator[TestClient]:
    with TestClient(make_app()) as test_client:
        yield test_client


@pytest.fixture
def s3_storage(s3_server: S3Server) -> S3Storage:
    return S3Storage(
        S3Options(
            endpoint_url=s3_server.endpoint,
            bucket=s3_server.bucket,
            access_key=s3_server.access_key,
            secret_key=s3_server.secret_key,
            region=s3_server.region,
        )
    )
