"""The `clipzz` command on real media: the output contract and the bad-input list."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import av
import pytest

from tests.conftest import run_ffmpeg


def clipzz(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "serve.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=900,
    )


def _srt_text(path: Path) -> str:
    lines = path.read_text().splitlines()
    text = [ln for ln in lines if ln.strip() and not ln.strip().isdigit() and "-->" not in ln]
    return " ".join(text)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


@pytest.fixture(scope="module")
def cli_run(
    tmp_path_factory: pytest.TempPathFactory, sample_video: Path, ffmpeg: str, model_dir: Path
):
    """One CLI run on the first 80 s of the sample podcast (short clips, fast preset)."""
    root = tmp_path_factory.mktemp("cli")
    source = root / "podcast80.mp4"
    run_ffmpeg(ffmpeg, "-i", sample_video.as_posix(), "-t", "80", "-c", "copy", source.as_posix())
    out = root / "out"
    proc = clipzz(
        "clip", source, "--clips", "2", "--out", out, "--min-seconds", "10", "--max-seconds", "30",
        "--selector", "local", "--preset", "ultrafast", "--quiet",
        env={"CLIPZZ_MODEL_DIR": str(model_dir), "CLIPZZ_ALLOW_DOWNLOADS": "false"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_cli_writes_the_output_contract(cli_run) -> None:
    out, proc = cli_run
    meta = json.loads((out / "clips.json").read_text())
    assert set(meta) >= {"source", "duration", "language", "clips", "timings"}
    assert meta["language"] == "en"
    assert 1 <= len(meta["clips"]) <= 2
    assert set(meta["timings"]) >= {"transcribe", "moments", "faces", "captions", "render"}
    transcript = json.loads((out / "transcript.json").read_text())
    assert transcript["language"] == "en" and len(transcript["words"]) > 50
    for clip in meta["clips"]:
        i = clip["index"]
        assert clip["file"] == f"clip_{i}.mp4"
        assert {"start", "end", "title", "score", "reason", "captions", "reframe"} <= set(clip)
        assert 10 - 0.01 <= clip["end"] - clip["start"] <= 30 + 0.01
        assert 0 <= clip["score"] <= 100
        for name in (clip["file"], clip["captions"], clip["reframe"], f"clip_{i}.ass"):
            assert (out / name).is_file(), name
    # The summary table names every clip.
    for clip in meta["clips"]:
        assert clip["file"] in proc.stdout


def test_cli_clips_are_vertical_h264_aac_of_the_right_length(cli_run) -> None:
    out, _ = cli_run
    for clip in json.loads((out / "clips.json").read_text())["clips"]:
        with av.open(str(out / clip["file"])) as container:
            video, audio = container.streams.video[0], container.streams.audio[0]
            assert (video.codec_context.width, video.codec_context.height) == (1080, 1920)
            assert video.codec_context.name == "h264"
            assert audio.codec_context.name == "aac"
            duration = container.duration / av.time_base
        assert duration == pytest.approx(clip["end"] - clip["start"], abs=0.2)


def test_cli_captions_match_the_transcript_window(cli_run) -> None:
    out, _ = cli_run
    words = json.loads((out / "transcript.json").read_text())["words"]
    for clip in json.loads((out / "clips.json").read_text())["clips"]:
        inside = [
            w["word"] for w in words if clip["start"] <= (w["start"] + w["end"]) / 2 < clip["end"]
        ]
        assert _norm(_srt_text(out / clip["captions"])) == _norm(" ".join(inside))


def test_cli_reframe_sidecar_covers_every_frame(cli_run) -> None:
    out, _ = cli_run
    for clip in json.loads((out / "clips.json").read_text())["clips"]:
        plan = json.loads((out / clip["reframe"]).read_text())
        assert plan["source_size"] == [1280, 720]
        assert len(plan["frames"]) == pytest.approx(
            (clip["end"] - clip["start"]) * plan["fps"], abs=1
        )
        for f in plan["frames"]:
            assert f["layout"] in {"crop", "letterbox", "split"}
            assert (
                0 <= f["x"] and f["x"] + f["w"] <= 1280 and 0 <= f["y"] and f["y"] + f["h"] <= 720
            )


def test_cli_help_lists_every_option() -> None:
    proc = clipzz("clip", "--help")
    assert proc.returncode == 0
    for option in (
        "--clips",
        "--out",
        "--min-seconds",
        "--max-seconds",
        "--selector",
        "--whisper-model",
        "--preset",
    ):
        assert option in proc.stdout


@pytest.mark.parametrize(
    "kind", ["missing", "empty", "text", "audio_only", "video_only", "corrupt", "directory"]
)
def test_cli_bad_files_give_one_line_errors(
    bad_media: dict[str, Path], tmp_path: Path, kind: str
) -> None:
    proc = clipzz("clip", bad_media[kind], "--out", tmp_path / "out")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("clipzz: error:") and proc.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--clips", "0"], "between 1 and 20"),
        (["--clips", "21"], "between 1 and 20"),
        (["--clips", "three"], "whole number"),
        (["--min-seconds", "50", "--max-seconds", "40"], "must not exceed"),
        (["--preset", "warp"], "invalid choice"),
    ],
)
def test_cli_bad_options_give_one_line_errors(
    sample_video: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    proc = clipzz("clip", sample_video, "--out", tmp_path / "out", *args)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert message in proc.stderr and proc.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


def _speaker_at(turns: list[dict], t: float, grace: float = 0.5) -> str | None:
    """The true speaker at source time t, or None near a turn change or in a pause."""
    for turn in turns:
        if turn["start"] + grace <= t < turn["end"]:
            return turn["speaker"]
    return None


def test_cli_frames_the_person_who_is_speaking(cli_run, sample_video: Path) -> None:
    out, _ = cli_run
    meta = json.loads((out / "clips.json").read_text())
    assert meta["speaker_scorer"] == "lr-asd"
    truth = json.loads(sample_video.with_name("podcast.truth.json").read_text())
    checked = hits = 0
    for clip in meta["clips"]:
        plan = json.loads((out / clip["reframe"]).read_text())
        for frame in plan["frames"]:
            speaker = _speaker_at(truth["turns"], clip["start"] + frame["t"])
            if speaker is None:
                continue
            fx, _, fw, _ = truth["faces"][speaker]
            checked += 1
            inside = frame["x"] <= fx and fx + fw <= frame["x"] + frame["w"]
            hits += frame["layout"] == "crop" and inside
    assert checked > 200
    assert hits / checked >= 0.9, f"framed the speaker on {hits}/{checked} frames"
