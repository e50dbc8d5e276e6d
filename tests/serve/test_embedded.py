"""`clipzz serve`: the embedded service (SQLite, local storage, local Ray) answers over HTTP and
turns an upload into a downloadable clip."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import av
import httpx
import pytest

from tests.conftest import run_ffmpeg
from tests.utils.api import PASSWORD


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(base: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"clipzz serve exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/docs", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    pytest.fail("clipzz serve did not answer in time")


def test_clipzz_serve_runs_the_whole_service(
    tmp_path: Path, model_dir: Path, sample_video: Path, ffmpeg: str
) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CLIPZZ_RAY_DASHBOARD": "false",
        "CLIPZZ_RAY_TEMP_DIR": "/tmp/clipzz-ray-embedded",
        "CLIPZZ_BCRYPT_COST": "4",
        "CLIPZZ_RESOURCE_PROFILE": "cpu",
        "CLIPZZ_MODEL_DIR": str(model_dir),
        "CLIPZZ_ALLOW_DOWNLOADS": "false",
        "RAY_AUTH_MODE": "disabled",
    }
    env.pop("RAY_ADDRESS", None)
    data = tmp_path / "data"
    command = [
        sys.executable,
        "-m",
        "serve.cli",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data),
    ]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_up(base, process, timeout=120)
        assert (data / "clipzz.db").is_file() and (data / "jwt-secret").stat().st_mode & 0o077 == 0
        video = tmp_path / "v.mp4"
        run_ffmpeg(
            ffmpeg,
            "-ss",
            "61",
            "-i",
            sample_video.as_posix(),
            "-t",
            "30",
            "-c",
            "copy",
            video.as_posix(),
        )
        with httpx.Client(base_url=base, timeout=30) as client:
            email = "Host@Example.com"
            assert (
                client.post("/auth/signup", json={"email": email, "password": PASSWORD}).status_code
                == 201
            )
            token = client.post("/auth/login", json={"email": email.lower(), "password": PASSWORD})
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            body = video.read_bytes()
            ticket = client.post(
                "/uploads",
                json={"filename": "ep.mp4", "content_type": "video/mp4", "size": len(body)},
                headers=headers,
            ).json()
            assert ticket["upload_url"].startswith(f"{base}/files/")
            assert (
                httpx.put(ticket["upload_url"], content=body, headers=ticket["headers"]).status_code
                == 200
            )
            job = client.post(
                f"/uploads/{ticket['upload_id']}/process",
                json={"num_clips": 1, "min_seconds": 10, "max_seconds": 25},
                headers=headers,
            ).json()
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                state = client.get(f"/jobs/{job['job_id']}", headers=headers).json()
                if state["status"] in ("processed", "failed"):
                    break
                time.sleep(1)
            assert state["status"] == "processed", state
            (group,) = client.get("/clips", headers=headers).json()["data"]
            clip = group["clips"][0]
            url = client.get(f"/clips/{clip['id']}/url", headers=headers).json()["url"]
            out = tmp_path / "clip.mp4"
            out.write_bytes(httpx.get(url, timeout=30).content)
            with av.open(str(out)) as container:
                stream = container.streams.video[0]
                assert (stream.codec_context.width, stream.codec_context.height) == (1080, 1920)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
