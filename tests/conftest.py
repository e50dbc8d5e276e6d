"""Shared fixtures: the ffmpeg binary, the model directory, the sample video and generated media."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.utils.s3 import S3Server, start_seaweedfs

REPO = Path(__file__).resolve().parents[1]
SAMPLE_VIDEO = REPO / "bench" / "sample" / "podcast.mp4"


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The directory with yunet/ and lr-asd/ model files (shared/assets on team machines)."""
    path = Path(os.environ.get("CLIPZZ_MODEL_DIR", REPO.parent / "shared" / "assets"))
    if not (path / "yunet" / "yunet_n_640_640.onnx").is_file():
        pytest.fail(f"model files not found under {path}; set CLIPZZ_MODEL_DIR")
    return path


@pytest.fixture(scope="session")
def sample_video() -> Path:
    assert SAMPLE_VIDEO.is_file(), "bench/sample/podcast.mp4 is missing"
    return SAMPLE_VIDEO


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3 server (SeaweedFS) on loopback that verifies SigV4 and presigned URLs."""
    with start_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """One local Ray for the whole run: 4 declared CPUs (so clips can overlap on 2 cores) and
    2 declared GPUs (to test fractional packing; nothing runs on them)."""
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(
        address="local",
        num_cpus=4,
        num_gpus=2,
        include_dashboard=False,
        object_store_memory=256 * 1024**2,
        log_to_driver=False,
        _temp_dir="/tmp/clipzz-ray-test",
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def sample_80s(tmp_path_factory: pytest.TempPathFactory, sample_video: Path, ffmpeg: str) -> Path:
    """The first 80 s of the sample podcast: an intro and one question with its answer."""
    out = tmp_path_factory.mktemp("sample80") / "podcast80.mp4"
    run_ffmpeg(ffmpeg, "-i", sample_video.as_posix(), "-t", "80", "-c", "copy", out.as_posix())
    return out


def run_ffmpeg(ffmpeg: str, *args: str) -> None:
    subprocess.run(
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", *args],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="session")
def bad_media(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str) -> dict[str, Path]:
    """Files that must be refused with a clear error, each made on the spot."""
    root = tmp_path_factory.mktemp("bad_media")
    files = {
        "missing": root / "does-not-exist.mp4",
        "empty": root / "empty.mp4",
        "text": root / "notes.mp4",
        "audio_only": root / "audio_only.m4a",
        "video_only": root / "video_only.mp4",
        "corrupt": root / "corrupt.mp4",
        "directory": root,
    }
    files["empty"].touch()
    files["text"].write_text("this is not a video\n" * 50)
    run_ffmpeg(
        ffmpeg, "-f", "lavfi", "-i", "sine=frequency=440:duration=2", files["audio_only"].as_posix()
    )
    run_ffmpeg(
        ffmpeg,
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        files["video_only"].as_posix(),
    )  # fmt: skip
    good = root / "good.mp4"
    run_ffmpeg(
        ffmpeg,
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=3",
        "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
        good.as_posix(),
    )  # fmt: skip
    # A header with the index cut away: the container cannot be opened.
    files["corrupt"].write_bytes(good.read_bytes()[:2000])
    return files
