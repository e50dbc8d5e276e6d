"""Helpers for tests of the HTTP API: settings, users with tokens, stored uploads, finished jobs,
and a real uvicorn server in a thread.

    settings = api_settings(max_active_jobs=100)
    app = create_app(settings, session_factory=sessions, storage=storage)
    with TestClient(app) as client:
        user = sign_up(client)
        upload_id = upload_video(client, user)
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from db.models import Job, JobStatus
from db.queue import finish_job
from serve.settings import Settings
from tests.utils.db import random_email

__all__ = [
    "PASSWORD",
    "TEST_BASE_URL",
    "TEST_JWT_SECRET",
    "VIDEO",
    "ApiUser",
    "api_settings",
    "finish_with_clips",
    "live_server",
    "set_processing",
    "sign_up",
    "start_job",
    "upload_video",
]

TEST_JWT_SECRET = "test-jwt-" + "0123456789abcdef" * 3
PASSWORD = "correct horse battery"
TEST_BASE_URL = "http://testserver"  # TestClient's host
VIDEO = b"\x00\x00\x00\x18ftypmp42" + b"not really a video" * 8


def api_settings(**overrides: Any) -> Settings:
    """Settings for tests: cheap bcrypt, a fixed secret; everything else as in production."""
    values: dict[str, Any] = {
        "jwt_secret": TEST_JWT_SECRET,
        "bcrypt_cost": 4,
        "public_base_url": TEST_BASE_URL,
        **overrides,
    }
    return Settings(**values)


@dataclass(frozen=True)
class ApiUser:
    id: uuid.UUID
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def sign_up(client: httpx.Client, *, email: str | None = None, password: str = PASSWORD) -> ApiUser:
    """Sign up through the API and log in."""
    email = email or random_email()
    created = client.post("/auth/signup", json={"email": email, "password": password})
    assert created.status_code == 201, created.text
    login = client.post("/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    return ApiUser(
        id=uuid.UUID(created.json()["id"]),
        email=email,
        password=password,
        token=login.json()["access_token"],
    )


def upload_video(
    client: httpx.Client,
    user: ApiUser,
    *,
    data: bytes = VIDEO,
    filename: str = "episode.mp4",
    complete: bool = True,
) -> dict[str, Any]:
    """Ask for an upload URL, PUT `data` there with the headers given, and (by default)
    confirm it. Returns the upload ticket."""
    ticket = client.post(
        "/uploads",
        json={"filename": filename, "content_type": "video/mp4", "size": len(data)},
        headers=user.headers,
    )
    assert ticket.status_code == 201, ticket.text
    body = ticket.json()
    url = body["upload_url"]
    if url.startswith(TEST_BASE_URL):
        # Local storage, served by the app: send it to this client's server, whatever its URL.
        stored = client.put(url.removeprefix(TEST_BASE_URL), content=data, headers=body["headers"])
    else:  # S3: straight to the storage server, as a browser would
        stored = httpx.put(url, content=data, headers=body["headers"])
    assert stored.status_code == 200, stored.text
    if complete:
        done = client.post(f"/uploads/{body['upload_id']}/complete", headers=user.headers)
        assert done.status_code == 200, done.text
    return body


def start_job(client: httpx.Client, user: ApiUser, upload_id: str, *, num_clips: int = 1) -> str:
    """Submit a job on a stored upload; returns its id."""
    response = client.post(
        f"/uploads/{upload_id}/process", json={"num_clips": num_clips}, headers=user.headers
    )
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def set_processing(sessions: sessionmaker[Session], job_id: str | uuid.UUID) -> None:
    """Put a queued job in the state a worker's claim leaves it (whatever else is queued)."""
    with sessions() as session, session.begin():
        session.execute(
            update(Job)
            .where(Job.id == uuid.UUID(str(job_id)))
            .values(status=JobStatus.PROCESSING, attempts=1, claimed_by="test-worker")
        )


def finish_with_clips(
    sessions: sessionmaker[Session], job_id: str | uuid.UUID, titles: list[str]
) -> None:
    """Run a queued job to `processed` with one clip per title, as a worker would."""
    set_processing(sessions, job_id)
    clips = [
        {
            "index": index,
            "title": title,
            "start": 10.0 * index,
            "end": 10.0 * index + 5,
            "score": 50.0,
            "reason": "test",
            "storage_key": f"clips/{job_id}/clip_{index}.mp4",
        }
        for index, title in enumerate(titles)
    ]
    with sessions() as session, session.begin():
        finish_job(session=session, job_id=uuid.UUID(str(job_id)), clips=clips)


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port in a thread; yields the base URL.

    More realistic than TestClient for concurrency (requests really overlap) and streaming.
    """
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
