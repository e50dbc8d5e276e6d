"""The whole service on Ray Serve, over real HTTP, with the real coordinator and pipeline.

PostgreSQL + SeaweedFS (S3): sign up → presigned PUT of a generated video → process → SSE
events until processed → the clip URL downloads a valid 1080×1920 mp4 and credits are settled.
Then: a corrupt upload fails with a reason and a refund; a coordinator killed mid-job is
restarted, takes the job back and finishes it; the seed's synchronous `/process_video` clips a
stored video next to it.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
import ray
from ray import serve

from db.migrate import upgrade
from serve.deployment import build_app
from tests.conftest import run_ffmpeg
from tests.utils.api import PASSWORD, ApiUser
from tests.utils.db import empty_database, random_email
from tests.utils.s3 import S3Server

pytestmark = pytest.mark.usefixtures("ray_cluster")

JOB_TIMEOUT_S = 600


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def service(
    s3_server: S3Server, model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The app on Serve against a fresh PostgreSQL database and the S3 server."""
    work = tmp_path_factory.mktemp("flow")
    with empty_database("postgresql", work) as url:
        upgrade(url)
        port = _free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        bucket = f"flow-{secrets.token_hex(4)}"
        import boto3
        from botocore.config import Config

        boto3.client(
            "s3",
            endpoint_url=s3_server.endpoint,
            aws_access_key_id=s3_server.access_key,
            aws_secret_access_key=s3_server.secret_key,
            region_name="us-east-1",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        ).create_bucket(Bucket=bucket)
        token = secrets.token_hex(32)
        args = {
            "database_url": url,
            "storage_backend": "s3",
            "s3_endpoint_url": s3_server.endpoint,
            "s3_bucket": bucket,
            "s3_access_key": s3_server.access_key,
            "s3_secret_key": s3_server.secret_key,
            "jwt_secret": secrets.token_hex(32),
            "service_token": token,
            "bcrypt_cost": 4,
            "public_base_url": f"http://127.0.0.1:{port}",
            "resource_profile": "cpu",
            "model_dir": str(model_dir),
            "allow_downloads": False,
            "work_dir": str(work / "work"),
            "coordinator_name": f"coordinator-{secrets.token_hex(4)}",
            "coordinator_poll_s": 0.5,
            "max_concurrent_jobs": 1,
            "job_events_poll_s": 0.2,
        }
        serve.run(build_app(args), name="flow", route_prefix="/")
        try:
            yield {"base": f"http://127.0.0.1:{port}", "token": token, "args": args}
        finally:
            serve.delete("flow")
            coordinator = ray.get_actor(args["coordinator_name"], namespace="clipzz")
            ray.kill(coordinator, no_restart=True)
            serve.shutdown()


@pytest.fixture(scope="module")
def video(sample_video: Path, ffmpeg: str, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """48 s of the sample: one question and its 42 s answer."""
    out = tmp_path_factory.mktemp("flowvideo") / "episode.mp4"
    run_ffmpeg(
        ffmpeg, "-ss", "18", "-i", sample_video.as_posix(), "-t", "48", "-c", "copy", out.as_posix()
    )
    return out.read_bytes()


def _user(client: httpx.Client) -> ApiUser:
    email = random_email()
    assert (
        client.post("/auth/signup", json={"email": email, "password": PASSWORD}).status_code == 201
    )
    login = client.post("/auth/login", json={"email": email, "password": PASSWORD}).json()
    me = client.get("/me", headers={"Authorization": f"Bearer {login['access_token']}"}).json()
    return ApiUser(id=me["id"], email=email, password=PASSWORD, token=login["access_token"])


def _upload(client: httpx.Client, user: ApiUser, data: bytes) -> dict:
    ticket = client.post(
        "/uploads",
        json={"filename": "My Episode.mp4", "content_type": "video/mp4", "size": len(data)},
        headers=user.headers,
    )
    assert ticket.status_code == 201, ticket.text
    body = ticket.json()
    put = httpx.put(body["upload_url"], content=data, headers=body["headers"])  # straight to S3
    assert put.status_code == 200, put.text
    return body


def _submit(client: httpx.Client, user: ApiUser, upload_id: str, **extra: Any) -> str:
    response = client.post(
        f"/uploads/{upload_id}/process", json={"num_clips": 2, **extra}, headers=user.headers
    )
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def _wait(client: httpx.Client, user: ApiUser, job_id: str, statuses: set[str]) -> dict:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}", headers=user.headers).json()
        if job["status"] in statuses:
            return job
        time.sleep(0.5)
    pytest.fail(f"job {job_id} never reached {statuses}: {job}")


def test_upload_process_events_and_download(service: dict, video: bytes, tmp_path: Path) -> None:
    with httpx.Client(base_url=service["base"], timeout=30) as client:
        user = _user(client)
        upload = _upload(client, user, video)
        job_id = _submit(client, user, upload["upload_id"])
        assert client.get("/me", headers=user.headers).json()["credits"] == 8  # 2 reserved
        events: list[tuple[str, dict]] = []
        with client.stream(
            "GET", f"/jobs/{job_id}/events", headers=user.headers, timeout=JOB_TIMEOUT_S
        ) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            name = None
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and name:
                    events.append((name, json.loads(line.split(":", 1)[1])))
        names = [n for n, _ in events]
        assert names[-1] == "done", events[-3:]
        progress = [d["progress"] for n, d in events if n == "progress" and "progress" in d]
        assert len(progress) >= 3 and progress == sorted(progress)
        stages = {d.get("stage") for n, d in events if n == "progress"}
        assert "render" in stages and len(stages) >= 3, stages

        job = client.get(f"/jobs/{job_id}", headers=user.headers).json()
        assert job["status"] == "processed" and job["error"] is None
        clips = client.get("/clips", headers=user.headers).json()["data"]
        (group,) = clips
        made = len(group["clips"])
        assert 1 <= made <= 2
        # Settled to the clips actually made; the rest of the reservation came back.
        assert client.get("/me", headers=user.headers).json()["credits"] == 10 - made
        clip = group["clips"][0]
        assert clip["title"] and 30 <= clip["end"] - clip["start"] <= 60
        link = client.get(f"/clips/{clip['id']}/url?download=1", headers=user.headers).json()
        downloaded = httpx.get(link["url"])
        assert downloaded.status_code == 200
        assert "attachment" in downloaded.headers.get("content-disposition", "")
        path = tmp_path / "clip.mp4"
        path.write_bytes(downloaded.content)
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert (stream.codec_context.width, stream.codec_context.height) == (1080, 1920)
            assert container.streams.audio[0].codec_context.name == "aac"
        # Another user sees none of it.
        other = _user(client)
        assert client.get(f"/jobs/{job_id}", headers=other.headers).status_code == 404
        assert client.get(f"/clips/{clip['id']}/url", headers=other.headers).status_code == 404


def test_a_broken_video_fails_with_a_reason_and_a_refund(service: dict) -> None:
    with httpx.Client(base_url=service["base"], timeout=30) as client:
        user = _user(client)
        upload = _upload(client, user, b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 500)
        job_id = _submit(client, user, upload["upload_id"])
        job = _wait(client, user, job_id, {"failed", "processed"})
        assert job["status"] == "failed"
        assert "not a readable video file" in job["error"]
        assert client.get("/me", headers=user.headers).json()["credits"] == 10
        ledger = client.get("/billing/ledger", headers=user.headers)
        if ledger.status_code == 200:  # the billing routes may not be mounted in older builds
            reasons = [row["reason"] for row in ledger.json()["data"]]
            assert "refund" in reasons and "reserve" in reasons


def test_a_coordinator_killed_mid_job_comes_back_and_finishes_it(
    service: dict, video: bytes
) -> None:
    with httpx.Client(base_url=service["base"], timeout=30) as client:
        user = _user(client)
        upload = _upload(client, user, video)
        job_id = _submit(client, user, upload["upload_id"], num_clips=1)
        _wait(client, user, job_id, {"processing"})
        coordinator = ray.get_actor(service["args"]["coordinator_name"], namespace="clipzz")
        ray.kill(coordinator, no_restart=False)  # Ray restarts it (max_restarts=-1)
        job = _wait(client, user, job_id, {"processed", "failed"})
        assert job["status"] == "processed", job
        credits = client.get("/me", headers=user.headers).json()["credits"]
        assert credits == 10 - job["clips_done"]


def test_seed_process_video_clips_a_stored_video(service: dict, video: bytes) -> None:
    with httpx.Client(base_url=service["base"], timeout=JOB_TIMEOUT_S) as client:
        user = _user(client)
        upload = _upload(client, user, video)
        key = upload["storage_key"]
        wrong = client.post(
            "/process_video", json={"s3_key": key}, headers={"Authorization": "Bearer nope"}
        )
        assert wrong.status_code == 401
        done = client.post(
            "/process_video",
            json={"s3_key": key, "num_clips": 1},
            headers={"Authorization": f"Bearer {service['token']}"},
        )
        assert done.status_code == 200, done.text
        assert done.json() == {"status": "success", "clips_processed": 1}
