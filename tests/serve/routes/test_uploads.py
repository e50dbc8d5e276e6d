"""Uploads: presigned PUTs (local and real S3), validation, listing, and submitting jobs."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.credits import ledger_sum
from db.models import Job, User
from pipeline.storage import S3Storage
from serve.ratelimit import RateLimiter
from tests.serve.conftest import MakeApp
from tests.utils.api import (
    VIDEO,
    ApiUser,
    finish_with_clips,
    live_server,
    sign_up,
    start_job,
    upload_video,
)


def _ask(client: TestClient, user: ApiUser, **body: Any) -> httpx.Response:
    fields = {"filename": "episode.mp4", "content_type": "video/mp4", "size": 1000, **body}
    return client.post("/uploads", json=fields, headers=user.headers)


def _fields(response: httpx.Response) -> list[str]:
    return [detail["field"] for detail in response.json()["details"]]


# --- presigned URLs ---------------------------------------------------------------------------


def test_upload_url_signs_type_and_exact_size(client: TestClient) -> None:
    user = sign_up(client)
    response = _ask(client, user, size=len(VIDEO))
    assert response.status_code == 201
    ticket = response.json()
    assert ticket["storage_key"] == f"{user.id}/{ticket['upload_id']}/original.mp4"
    assert (ticket["method"], ticket["expires_in"]) == ("PUT", 600)
    assert ticket["headers"] == {"Content-Type": "video/mp4", "Content-Length": str(len(VIDEO))}
    assert ticket["upload_url"].startswith("http://testserver/files/")
    stored = client.put(ticket["upload_url"], content=VIDEO, headers=ticket["headers"])
    assert stored.status_code == 200
    done = client.post(f"/uploads/{ticket['upload_id']}/complete", headers=user.headers)
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["size"]) == ("uploaded", len(VIDEO))


@pytest.mark.parametrize(
    ("filename", "shown"),
    [
        ("../../etc/passwd.mp4", "passwd.mp4"),
        ("..\\..\\windows\\system.mp4", "system.mp4"),
        ("/abs/path/talk.MP4", "talk.MP4"),
        ("bad\x00na\u202eme\n.mp4", "badname.mp4"),
    ],
)
def test_filename_is_display_only(client: TestClient, filename: str, shown: str) -> None:
    user = sign_up(client)
    ticket = _ask(client, user, filename=filename).json()
    assert ticket["storage_key"] == f"{user.id}/{ticket['upload_id']}/original.mp4"
    listed = client.get("/uploads", headers=user.headers).json()
    assert listed["data"][0]["filename"] == shown


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content_type": "application/x-sh"}, "content_type"),
        ({"content_type": "video/webm"}, "content_type"),  # .mp4 with the webm type
        ({"filename": "episode.avi", "content_type": "video/mp4"}, "filename"),
        ({"filename": "episode"}, "filename"),
        ({"filename": "../"}, "filename"),
        ({"filename": "x" * 300 + ".mp4"}, "filename"),
        ({"size": 0}, "size"),
        ({"size": -5}, "size"),
        ({"size": "1000"}, "size"),
        ({"size": 10.5}, "size"),
        ({"size": None}, "size"),
    ],
)
def test_upload_url_rejects_bad_input(client: TestClient, body: dict[str, Any], field: str) -> None:
    user = sign_up(client)
    response = _ask(client, user, **body)
    assert response.status_code == 422
    assert response.json()["error"] == "Validation failed"
    assert _fields(response) == [field]


def test_upload_url_rejects_missing_fields(client: TestClient) -> None:
    user = sign_up(client)
    response = client.post("/uploads", json={}, headers=user.headers)
    assert response.status_code == 422
    assert sorted(_fields(response)) == ["content_type", "filename", "size"]


def test_upload_url_accepts_each_allowed_type(client: TestClient) -> None:
    user = sign_up(client)
    for name, kind in [("a.mov", "video/quicktime"), ("b.MKV", "video/x-matroska")]:
        ticket = _ask(client, user, filename=name, content_type=kind).json()
        assert ticket["storage_key"].endswith(f"original.{name.rsplit('.', 1)[1].lower()}")


def test_upload_url_refuses_oversize_files(make_app: MakeApp) -> None:
    with TestClient(make_app(upload_max_bytes=1000)) as client:
        user = sign_up(client)
        response = _ask(client, user, size=1001)
        assert response.status_code == 413
        assert response.json()["error"] == "Payload too large"
        assert _fields(response) == ["size"]
        assert _ask(client, user, size=1000).status_code == 201


def test_upload_urls_are_limited_per_minute(make_app: MakeApp) -> None:
    now = [0.0]
    with TestClient(make_app(rate_limiter=RateLimiter(clock=lambda: now[0]))) as client:
        user, other = sign_up(client), sign_up(client)
        for _ in range(10):
            assert _ask(client, user).status_code == 201
            now[0] += 1
        refused = _ask(client, user)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "50"
        assert _ask(client, other).status_code == 201  # counted per user
        now[0] += 50
        assert _ask(client, user).status_code == 201


def test_complete_before_the_put_is_a_conflict(client: TestClient) -> None:
    user = sign_up(client)
    ticket = _ask(client, user).json()
    response = client.post(f"/uploads/{ticket['upload_id']}/complete", headers=user.headers)
    assert response.status_code == 409
    assert "not finished" in response.json()["message"]


def test_other_users_upload_is_not_found(client: TestClient) -> None:
    owner, other = sign_up(client), sign_up(client)
    upload_id = upload_video(client, owner)["upload_id"]
    for path in (f"/uploads/{upload_id}/complete", f"/uploads/{uuid.uuid4()}/complete"):
        response = client.post(path, headers=other.headers)
        assert response.status_code == 404
        assert response.json() == {"error": "Not found", "message": "No such upload"}
    response = client.post(
        f"/uploads/{upload_id}/process", json={"num_clips": 1}, headers=other.headers
    )
    assert response.status_code == 404
    assert client.get("/uploads", headers=other.headers).json() == {"data": [], "count": 0}


def test_list_uploads_newest_first_with_clip_counts(
    client: TestClient, db_sessions: sessionmaker[Session]
) -> None:
    user = sign_up(client)
    first = upload_video(client, user, filename="first.mp4")["upload_id"]
    second = upload_video(client, user, filename="second.mp4")["upload_id"]
    pending = _ask(client, user, filename="third.mp4").json()["upload_id"]
    finish_with_clips(db_sessions, start_job(client, user, first, num_clips=2), ["a", "b"])
    start_job(client, user, second)
    listed = client.get("/uploads", headers=user.headers).json()
    assert listed["count"] == 3
    rows = [
        (row["id"], row["filename"], row["status"], row["clip_count"], row["job_status"])
        for row in listed["data"]
    ]
    assert rows == [
        (pending, "third.mp4", "pending", 0, None),
        (second, "second.mp4", "uploaded", 0, "queued"),
        (first, "first.mp4", "uploaded", 2, "processed"),
    ]
    page = client.get("/uploads?offset=1&limit=1", headers=user.headers).json()
    assert ([row["id"] for row in page["data"]], page["count"]) == ([second], 3)


# --- submitting jobs --------------------------------------------------------------------------


def test_process_reserves_credits_and_wakes_the_coordinator(make_app: MakeApp) -> None:
    woken: list[bool] = []
    with TestClient(make_app(wake=lambda: woken.append(True))) as client:
        user = sign_up(client)
        upload_id = upload_video(client, user)["upload_id"]
        response = client.post(
            f"/uploads/{upload_id}/process",
            json={"num_clips": 3, "min_seconds": 20, "max_seconds": 45.5},
            headers=user.headers,
        )
        assert response.status_code == 202
        assert response.json()["status"] == "queued"
        assert woken == [True]
        job = client.get(f"/jobs/{response.json()['job_id']}", headers=user.headers).json()
        assert (job["num_clips"], job["min_seconds"], job["max_seconds"]) == (3, 20, 45.5)
        assert job["credits_reserved"] == 3
        assert client.get("/me", headers=user.headers).json()["credits"] == 7


def test_process_succeeds_when_waking_the_coordinator_fails(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_wake() -> None:
        raise ConnectionError("coordinator unreachable")

    with TestClient(make_app(wake=broken_wake)) as client:
        user = sign_up(client)
        job_id = start_job(client, user, upload_video(client, user)["upload_id"])
        assert client.get(f"/jobs/{job_id}", headers=user.headers).json()["status"] == "queued"
    assert "could not wake the job coordinator" in caplog.text


def test_process_confirms_an_upload_that_was_not_completed(client: TestClient) -> None:
    user = sign_up(client)
    upload_id = upload_video(client, user, complete=False)["upload_id"]
    assert start_job(client, user, upload_id)
    listed = client.get("/uploads", headers=user.headers).json()["data"]
    assert listed[0]["status"] == "uploaded"


def test_process_before_the_upload_finished_is_a_conflict(client: TestClient) -> None:
    user = sign_up(client)
    upload_id = _ask(client, user).json()["upload_id"]
    response = client.post(
        f"/uploads/{upload_id}/process", json={"num_clips": 1}, headers=user.headers
    )
    assert response.status_code == 409
    assert response.json()["message"].startswith("The upload is not finished")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"num_clips": 0}, "num_clips"),
        ({"num_clips": -1}, "num_clips"),
        ({"num_clips": 1000}, "num_clips"),
        ({"num_clips": 21}, "num_clips"),
        ({"num_clips": "3"}, "num_clips"),
        ({"num_clips": 2.5}, "num_clips"),
        ({"num_clips": True}, "num_clips"),
        ({"num_clips": None}, "num_clips"),
        ({}, "num_clips"),
        ({"num_clips": 1, "min_seconds": 50, "max_seconds": 40}, "max_seconds"),
        ({"num_clips": 1, "min_seconds": 0}, "min_seconds"),
        ({"num_clips": 1, "max_seconds": 601}, "max_seconds"),
        ({"num_clips": 1, "min_seconds": "30"}, "min_seconds"),
        ({"num_clips": 1, "numClips": 3}, "numClips"),
    ],
)
def test_process_rejects_bad_input(client: TestClient, body: dict[str, Any], field: str) -> None:
    user = sign_up(client)
    upload_id = upload_video(client, user)["upload_id"]
    response = client.post(f"/uploads/{upload_id}/process", json=body, headers=user.headers)
    assert response.status_code == 422
    assert _fields(response) == [field]
    assert client.get("/me", headers=user.headers).json()["credits"] == 10


def test_process_rejects_a_body_that_is_not_json(client: TestClient) -> None:
    user = sign_up(client)
    upload_id = upload_video(client, user)["upload_id"]
    response = client.post(
        f"/uploads/{upload_id}/process",
        content=b"num_clips=3",
        headers={**user.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["details"] == [
        {"field": "body", "message": "The body is not valid JSON"}
    ]


def test_process_unknown_upload_is_not_found(client: TestClient) -> None:
    user = sign_up(client)
    response = client.post(
        f"/uploads/{uuid.uuid4()}/process", json={"num_clips": 1}, headers=user.headers
    )
    assert response.status_code == 404


def test_process_without_enough_credits_is_402_and_records_nothing(
    client: TestClient, db_sessions: sessionmaker[Session]
) -> None:
    user = sign_up(client)
    upload_id = upload_video(client, user)["upload_id"]
    response = client.post(
        f"/uploads/{upload_id}/process", json={"num_clips": 11}, headers=user.headers
    )
    assert response.status_code == 402
    assert response.json() == {
        "error": "Insufficient credits",
        "message": "This job needs 11 credits; your balance is 10",
    }
    assert client.get("/jobs", headers=user.headers).json() == {"data": [], "count": 0}
    with db_sessions() as session:
        assert session.get(User, user.id).credits == 10  # type: ignore[union-attr]


def test_process_limits_active_jobs(make_app: MakeApp) -> None:
    with TestClient(make_app(max_active_jobs=2)) as client:
        user = sign_up(client)
        upload_id = upload_video(client, user)["upload_id"]
        first = start_job(client, user, upload_id)
        start_job(client, user, upload_id)
        refused = client.post(
            f"/uploads/{upload_id}/process", json={"num_clips": 1}, headers=user.headers
        )
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 0
        assert "2 jobs queued or processing" in refused.json()["message"]
        assert client.delete(f"/jobs/{first}", headers=user.headers).status_code == 200
        assert start_job(client, user, upload_id)


def test_process_limits_jobs_per_day(make_app: MakeApp) -> None:
    with TestClient(make_app(max_jobs_per_day=2)) as client:
        user = sign_up(client)
        upload_id = upload_video(client, user)["upload_id"]
        for _ in range(2):  # cancelled jobs still count for the day
            job_id = start_job(client, user, upload_id)
            client.delete(f"/jobs/{job_id}", headers=user.headers)
        refused = client.post(
            f"/uploads/{upload_id}/process", json={"num_clips": 1}, headers=user.headers
        )
        assert refused.status_code == 429
        assert "last 24 hours" in refused.json()["message"]


def test_concurrent_submissions_never_overdraw(
    make_app: MakeApp, db_sessions: sessionmaker[Session]
) -> None:
    """50 simultaneous one-clip jobs from a user with 10 credits: exactly 10 are accepted."""
    app = make_app(max_active_jobs=100)
    with live_server(app) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
        user = sign_up(client)
        upload_id = upload_video(client, user)["upload_id"]

        def submit(_: int) -> int:
            return client.post(
                f"/uploads/{upload_id}/process",
                json={"num_clips": 1},
                headers=user.headers,
            ).status_code

        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = list(pool.map(submit, range(50)))
    assert sorted(statuses) == [202] * 10 + [402] * 40
    with db_sessions() as session:
        assert session.get(User, user.id).credits == 0  # type: ignore[union-attr]
        assert ledger_sum(session=session, user_id=user.id) == 0
        jobs = session.execute(select(func.count()).select_from(Job)).scalar_one()
        assert jobs == 10


# --- real S3 ----------------------------------------------------------------------------------


def test_presigned_put_to_s3_then_complete(make_app: MakeApp, s3_storage: S3Storage) -> None:
    with TestClient(make_app(storage=s3_storage)) as client:
        user = sign_up(client)
        ticket = _ask(client, user, size=len(VIDEO)).json()
        assert ticket["upload_url"].startswith(s3_storage.options.endpoint_url)
        early = client.post(f"/uploads/{ticket['upload_id']}/complete", headers=user.headers)
        assert early.status_code == 409
        stored = httpx.put(ticket["upload_url"], content=VIDEO, headers=ticket["headers"])
        assert stored.status_code == 200, stored.text
        done = client.post(f"/uploads/{ticket['upload_id']}/complete", headers=user.headers)
        assert done.json()["status"] == "uploaded"
        assert start_job(client, user, ticket["upload_id"])
        assert "/files/{key}" not in client.get("/openapi.json").json()["paths"]


def _tampered(url: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    signature = query["X-Amz-Signature"]
    query["X-Amz-Signature"] = ("0" if signature[0] != "0" else "1") + signature[1:]
    return urlunsplit(parts._replace(query=urlencode(query)))


@pytest.mark.parametrize("case", ["tampered signature", "other content type", "other size"])
def test_s3_refuses_a_put_that_does_not_match_the_signature(
    make_app: MakeApp, s3_storage: S3Storage, case: str
) -> None:
    with TestClient(make_app(storage=s3_storage)) as client:
        user = sign_up(client)
        ticket = _ask(client, user, size=len(VIDEO)).json()
    url, headers, body = ticket["upload_url"], dict(ticket["headers"]), VIDEO
    if case == "tampered signature":
        url = _tampered(url)
    elif case == "other content type":
        headers["Content-Type"] = "video/webm"
    else:
        body, headers["Content-Length"] = VIDEO + b"more", str(len(VIDEO) + 4)
    response = httpx.put(url, content=body, headers=headers)
    assert response.status_code == 403
    assert not s3_storage.exists(ticket["storage_key"])


def test_s3_refuses_an_expired_put(make_app: MakeApp, s3_storage: S3Storage) -> None:
    with TestClient(make_app(storage=s3_storage, upload_url_ttl_s=1)) as client:
        user = sign_up(client)
        ticket = _ask(client, user, size=len(VIDEO)).json()
    assert ticket["expires_in"] == 1
    time.sleep(2.5)
    response = httpx.put(ticket["upload_url"], content=VIDEO, headers=ticket["headers"])
    assert response.status_code == 403
    assert "expired" in response.text.lower()
