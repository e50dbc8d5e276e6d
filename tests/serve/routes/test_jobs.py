"""Jobs: reading, listing, cancelling with refunds, clips, and the Server-Sent Events stream."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from db.credits import ledger_sum
from db.queue import fail_job, finish_job, update_progress
from tests.serve.conftest import MakeApp
from tests.utils.api import (
    ApiUser,
    finish_with_clips,
    live_server,
    set_processing,
    sign_up,
    start_job,
    upload_video,
)


def _new_job(client: httpx.Client, user: ApiUser, *, num_clips: int = 2) -> str:
    upload_id = upload_video(client, user)["upload_id"]
    return start_job(client, user, upload_id, num_clips=num_clips)


def test_read_job(client: TestClient) -> None:
    user = sign_up(client)
    job_id = _new_job(client, user, num_clips=3)
    response = client.get(f"/jobs/{job_id}", headers=user.headers)
    assert response.status_code == 200
    job = response.json()
    assert set(job) == {
        "id",
        "upload_id",
        "status",
        "stage",
        "progress",
        "clips_done",
        "num_clips",
        "min_seconds",
        "max_seconds",
        "error",
        "credits_reserved",
        "credits_charged",
        "created_at",
        "started_at",
        "finished_at",
    }
    assert (job["id"], job["status"], job["num_clips"]) == (job_id, "queued", 3)
    assert (job["credits_reserved"], job["credits_charged"], job["progress"]) == (3, 0, 0)
    assert job["created_at"].endswith("Z")


def test_other_users_job_is_not_found(client: TestClient) -> None:
    owner, other = sign_up(client), sign_up(client)
    job_id = _new_job(client, owner)
    for method, path in [
        ("GET", f"/jobs/{job_id}"),
        ("DELETE", f"/jobs/{job_id}"),
        ("GET", f"/jobs/{job_id}/clips"),
        ("GET", f"/jobs/{job_id}/events"),
        ("GET", f"/jobs/{uuid.uuid4()}"),
    ]:
        response = client.request(method, path, headers=other.headers)
        assert response.status_code == 404, path
        assert response.json() == {"error": "Not found", "message": "No such job"}
    assert client.get("/jobs", headers=other.headers).json() == {"data": [], "count": 0}
    assert client.get(f"/jobs/{job_id}", headers=owner.headers).json()["status"] == "queued"


def test_list_jobs_newest_first(client: TestClient) -> None:
    user = sign_up(client)
    upload_id = upload_video(client, user)["upload_id"]
    ids = [start_job(client, user, upload_id) for _ in range(3)]
    listed = client.get("/jobs", headers=user.headers).json()
    assert ([job["id"] for job in listed["data"]], listed["count"]) == (ids[::-1], 3)
    page = client.get("/jobs?limit=1&offset=1", headers=user.headers).json()
    assert [job["id"] for job in page["data"]] == [ids[1]]
    for query in ("offset=-1", "offset=10000000000000000000000", "limit=0", "limit=101"):
        response = client.get(f"/jobs?{query}", headers=user.headers)
        assert response.status_code == 422, query
        assert [d["field"] for d in response.json()["details"]] == [query.split("=")[0]]


def test_cancel_a_queued_job_refunds_its_credits(
    client: TestClient, db_sessions: sessionmaker[Session]
) -> None:
    user = sign_up(client)
    job_id = _new_job(client, user, num_clips=4)
    assert client.get("/me", headers=user.headers).json()["credits"] == 6
    response = client.delete(f"/jobs/{job_id}", headers=user.headers)
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["credits_reserved"]) == ("cancelled", 0)
    assert client.get("/me", headers=user.headers).json()["credits"] == 10
    again = client.delete(f"/jobs/{job_id}", headers=user.headers)
    assert again.status_code == 200  # cancelling twice changes nothing
    with db_sessions() as session:
        assert ledger_sum(session=session, user_id=user.id) == 10


def test_cancel_a_processing_job_is_a_conflict(
    client: TestClient, db_sessions: sessionmaker[Session]
) -> None:
    user = sign_up(client)
    job_id = _new_job(client, user)
    set_processing(db_sessions, job_id)
    response = client.delete(f"/jobs/{job_id}", headers=user.headers)
    assert response.status_code == 409
    assert response.json() == {"error": "Conflict", "message": "The job is processing"}
    assert client.get("/me", headers=user.headers).json()["credits"] == 8


def test_cancel_a_finished_job_is_a_conflict(
    client: TestClient, db_sessions: sessionmaker[Session]
) -> None:
    user = sign_up(client)
    job_id = _new_job(client, user)
    finish_with_clips(db_sessions, job_id, ["only one"])
    response = client.delete(f"/jobs/{job_id}", headers=user.headers)
    assert response.status_code == 409
    assert client.get("/me", headers=user.headers).json()["credits"] == 9  # one clip charged


def test_job_clips_in_index_order(client: TestClient, db_sessions: sessionmaker[Session]) -> None:
    user = sign_up(client)
    job_id = _new_job(client, user, num_clips=3)
    finish_with_clips(db_sessions, job_id, ["first", "second"])
    clips = client.get(f"/jobs/{job_id}/clips", headers=user.headers).json()
    assert clips["count"] == 2
    assert [(clip["index"], clip["title"]) for clip in clips["data"]] == [
        (0, "first"),
        (1, "second"),
    ]


# --- Server-Sent Events -----------------------------------------------------------------------


def _events(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    """(event, data) pairs from an SSE stream; comments come as ("comment", text)."""
    event, data = "message", []
    for line in lines:
        if line.startswith(":"):
            yield "comment", line[1:].strip()
        elif line.startswith("event:"):
            event = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").strip())
        elif not line and data:
            yield event, json.loads("\n".join(data))
            event, data = "message", []


def test_events_stream_progress_then_done(
    make_app: MakeApp, db_sessions: sessionmaker[Session]
) -> None:
    app = make_app(job_events_poll_s=0.02)
    with live_server(app) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        user = sign_up(client)
        job_id = _new_job(client, user, num_clips=2)
        job_uuid = uuid.UUID(job_id)

        def work() -> None:
            """A worker's updates, each left in place long enough to be seen."""
            time.sleep(0.3)
            set_processing(db_sessions, job_id)
            for stage, progress, clips_done in [("transcribe", 0.3, 0), ("render", 0.7, 1)]:
                time.sleep(0.3)
                with db_sessions() as session, session.begin():
                    update_progress(
                        session=session,
                        job_id=job_uuid,
                        stage=stage,
                        progress=progress,
                        clips_done=clips_done,
                    )
            time.sleep(0.3)
            with db_sessions() as session, session.begin():
                clip = {"title": "t", "start": 0.0, "end": 5.0, "storage_key": "clips/c.mp4"}
                finish_job(
                    session=session,
                    job_id=job_uuid,
                    clips=[{**clip, "index": 0}, {**clip, "index": 1}],
                )

        worker = threading.Thread(target=work)
        worker.start()
        with client.stream("GET", f"/jobs/{job_id}/events", headers=user.headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = [item for item in _events(response.iter_lines()) if item[0] != "comment"]
        worker.join()
    names = [name for name, _ in events]
    progress = [
        (data["status"], data["stage"], data["clips_done"])
        for name, data in events
        if name == "progress"
    ]
    assert progress == [
        ("queued", None, 0),
        ("processing", None, 0),
        ("processing", "transcribe", 0),
        ("processing", "render", 1),
        ("processed", "render", 2),
    ]
    assert [data for name, data in events if name == "clip"] == [
        {"clips_done": 1, "num_clips": 2},
        {"clips_done": 2, "num_clips": 2},
    ]
    assert names[-1] == "done"
    assert events[-1][1]["status"] == "processed"
    assert events[-1][1]["credits_charged"] == 2


@pytest.mark.parametrize(("outcome", "event"), [("failed", "failed"), ("cancelled", "cancelled")])
def test_events_end_with_the_outcome(
    client: TestClient, db_sessions: sessionmaker[Session], outcome: str, event: str
) -> None:
    user = sign_up(client)
    job_id = _new_job(client, user)
    if outcome == "cancelled":
        client.delete(f"/jobs/{job_id}", headers=user.headers)
    else:
        set_processing(db_sessions, job_id)
        with db_sessions() as session, session.begin():
            fail_job(session=session, job_id=uuid.UUID(job_id), reason="boom", retry=False)
    response = client.get(f"/jobs/{job_id}/events", headers=user.headers)
    events = list(_events(response.iter_lines()))
    assert [name for name, _ in events] == ["progress", event]
    assert events[-1][1]["status"] == outcome


def test_events_keep_alive_and_stop_when_the_client_leaves(
    make_app: MakeApp, db_sessions: sessionmaker[Session]
) -> None:
    polls = 0

    def counting_sessions() -> Session:
        nonlocal polls
        polls += 1
        return db_sessions()

    app = make_app(sessions=counting_sessions, job_events_poll_s=0.02, job_events_keepalive_s=0.1)
    with live_server(app) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        user = sign_up(client)
        job_id = _new_job(client, user)  # stays queued: the stream would never end by itself
        with client.stream("GET", f"/jobs/{job_id}/events", headers=user.headers) as response:
            seen = []
            for item in _events(response.iter_lines()):
                seen.append(item)
                if item == ("comment", "keep-alive"):
                    break
        assert seen[0][0] == "progress"
        time.sleep(0.3)  # the server notices the disconnect
        before = polls
        time.sleep(0.3)
        assert polls == before


def test_min_seconds_above_the_default_max_is_a_422_not_a_500(client) -> None:
    """Found by schemathesis: only `min_seconds` sent, above the default `max_seconds`."""
    from tests.utils.api import sign_up, upload_video

    user = sign_up(client)
    upload = upload_video(client, user)
    response = client.post(
        f"/uploads/{upload['upload_id']}/process",
        json={"num_clips": 1, "min_seconds": 61.0},
        headers=user.headers,
    )
    assert response.status_code == 422
    assert response.json()["details"][0]["field"].endswith("max_seconds")
