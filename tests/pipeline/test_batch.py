"""Batch clipping on Ray Data: one broken video is reported and does not stop the batch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.assets import AssetOptions
from pipeline.batch import main, read_manifest, run_batch
from pipeline.job import JobOptions
from pipeline.moments import MomentOptions
from pipeline.render import RenderOptions
from pipeline.speakers import SpeakerOptions
from tests.conftest import run_ffmpeg


def test_manifest_lines_are_parsed_and_bad_ones_kept_as_failures(tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        '{"source": "a.mp4", "clips": 2}\n\n[1, 2]\n{"source": "b.mov", "name": "bee"}\n'
    )
    rows = read_manifest(manifest)
    assert [r["name"] for r in rows] == ["0001-a", "0003-invalid", "bee"]
    assert "line 3" in rows[1]["error"]


def test_missing_manifest_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main([str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "out")]) == 1
    assert "manifest not found" in capsys.readouterr().err


@pytest.mark.usefixtures("ray_cluster")
def test_batch_processes_good_videos_and_reports_the_broken_one(
    sample_video: Path, ffmpeg: str, model_dir: Path, tmp_path: Path
) -> None:
    videos = []
    for name, start in (("first", "18"), ("second", "61")):
        path = tmp_path / f"{name}.mp4"
        run_ffmpeg(
            ffmpeg,
            "-ss",
            start,
            "-i",
            sample_video.as_posix(),
            "-t",
            "28",
            "-c",
            "copy",
            path.as_posix(),
        )
        videos.append(path)
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video")
    manifest = tmp_path / "batch.jsonl"
    lines = [
        {"source": str(videos[0]), "clips": 1, "options": {"min_seconds": 10, "max_seconds": 25}},
        {"source": str(broken), "name": "broken"},
        {"source": str(videos[1]), "clips": 1, "options": {"min_seconds": 10, "max_seconds": 25}},
    ]
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    options = JobOptions(
        moments=MomentOptions(selector="local"),
        speakers=SpeakerOptions(model_dir=model_dir, allow_download=False),
        render=RenderOptions(preset="ultrafast"),
        assets=AssetOptions(model_dir=model_dir, allow_download=False),
    )
    out = tmp_path / "out"
    summary = run_batch(manifest, out, options, actors=1, num_cpus=1.0)
    assert summary["ok"] == 2 and summary["failed"] == 1
    by_name = {v["name"]: v for v in summary["videos"]}
    assert by_name["broken"]["status"] == "failed"
    assert "not a readable video file" in by_name["broken"]["error"]
    for name in ("0001-first", "0003-second"):
        assert by_name[name]["status"] == "ok" and by_name[name]["clips"] == 1
        meta = json.loads((out / name / "clips.json").read_text())
        assert (out / name / meta["clips"][0]["file"]).is_file()
    assert json.loads((out / "summary.json").read_text())["failed"] == 1
