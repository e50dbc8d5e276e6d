"""Clips: grouped listing and presigned URLs to play or download (local and real S3)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.models import Clip
from pipeline.storage import S3Storage, Storage
from tests.serve.conftest import MakeApp
from tests.utils.api import ApiUser, finish_with_clips, sign_up, start_job, upload_video

CLIP_BYTES = b"rendered clip bytes" * 10


def _clip_of(
    client: httpx.Client,
    user: ApiUser,
    sessions: sessionmaker[Session],
    title: str,
    *,
    filename: str = "episode.mp4",
) -> Clip:
    """One finished one-clip job on a new upload; returns its clip."""
    upload_id = upload_video(client, user, filename=filename)["upload_id"]
    job_id = start_job(client, user, upload_id)
    finish_with_clips(sessions, job_id, [title])
    with sessions() as session:
        return session.scalars(select(Clip).where(Clip.job_id == uuid.UUID(job_id))).one()


def _store(storage: Storage, clip: Clip, tmp_path: Path) -> None:
    source = tmp_path / "clip.mp4"
    source.write_bytes(CLIP_BYTES)
    storage.put_file(clip.storage_key, source)


def test_clips_are_grouped_by_upload_newest_first(
    client: TestClient, db_sessions: sessionmaker[Session]
) -> None:
    user = sign_up(client)
    first = upload_video(client, user, filename="first.mp4")["upload_id"]
    second = upload_video(client, user, filename="second.mp4")["upload_id"]
    older = start_job(client, user, first, num_clips=2)
    finish_with_clips(db_sessions, older, ["a0", "a1"])
    finish_with_clips(db_sessions, start_job(client, user, second), ["b0"])
    newer = start_job(client, user, first, num_clips=2)
    finish_with_clips(db_sessions, newer, ["c0", "c1"])

    listed = client.get("/clips", headers=user.headers).json()
    assert listed["count"] == 2
    groups = [
        (group["upload_id"], group["filename"], [clip["title"] for clip in group["clips"]])
        for group in listed["data"]
    ]
    assert groups == [
        (first, "first.mp4", ["c0", "c1", "a0", "a1"]),
        (second, "second.mp4", ["b0"]),
    ]
    clip = listed["data"][1]["clips"][0]
    assert set(clip) == {
        "id",
        "job_id",
        "upload_id",
        "index",
        "title",
        "start",
        "end",
        "score",
        "reason",
        "created_at",
    }
    page = client.get("/clips?offset=1", headers=user.headers).json()
    assert ([group["upload_id"] for group in page["data"]], page["count"]) == ([second], 2)


def test_clip_url_plays_and_downloads(
    make_app: MakeApp, db_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    app = make_app()
    with TestClient(app) as client:
        user = sign_up(client)
        clip = _clip_of(client, user, db_sessions, 'Why "AI" / won\'t\nreplace you')
        _store(app.state.storage, clip, tmp_path)

        play = client.get(f"/clips/{clip.id}/url", headers=user.headers).json()
        assert play["expires_in"] == 3600
        played = client.get(play["url"])
        assert played.status_code == 200
        assert played.content == CLIP_BYTES
        assert played.headers["content-type"] == "video/mp4"
        assert "content-disposition" not in played.headers

        save = client.get(f"/clips/{clip.id}/url?download=1", headers=user.headers).json()
        saved = client.get(save["url"])
        assert saved.status_code == 200
        disposition = saved.headers["content-disposition"]
        assert disposition == (
            'attachment; filename="Why _AI_ - won_t replace you.mp4"; '
            "filename*=UTF-8''Why%20%22AI%22%20-%20won%27t%20replace%20you.mp4"
        )


def test_other_users_clip_is_not_found(
    client: TestClient, db_sessions: sessionmaker[Session]
) -> None:
    owner, other = sign_up(client), sign_up(client)
    clip = _clip_of(client, owner, db_sessions, "mine")
    for clip_id in (clip.id, uuid.uuid4()):
        response = client.get(f"/clips/{clip_id}/url", headers=other.headers)
        assert response.status_code == 404
        assert response.json() == {"error": "Not found", "message": "No such clip"}
    assert client.get("/clips", headers=other.headers).json() == {"data": [], "count": 0}


def test_clip_url_from_s3(
    make_app: MakeApp,
    db_sessions: sessionmaker[Session],
    s3_storage: S3Storage,
    tmp_path: Path,
) -> None:
    with TestClient(make_app(storage=s3_storage)) as client:
        user = sign_up(client)
        clip = _clip_of(client, user, db_sessions, "From S3")
        _store(s3_storage, clip, tmp_path)
        save = client.get(f"/clips/{clip.id}/url?download=true", headers=user.headers).json()
    response = httpx.get(save["url"])
    assert response.status_code == 200
    assert response.content == CLIP_BYTES
    assert response.headers["content-disposition"].startswith('attachment; filename="From S3.mp4"')
    tampered = save["url"].replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert httpx.get(tampered).status_code == 403
