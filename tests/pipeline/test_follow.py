from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.faces import FaceDetector
from pipeline.follow import follow_speaker
from pipeline.media import decode_audio
from pipeline.speakers import SpeakerOptions, SpeakerScorer


def test_follow_with_the_fallback_scorer_when_no_weights(
    sample_video: Path, model_dir: Path, tmp_path: Path
) -> None:
    """With no LR-ASD weights reachable the fallback runs, says so, and still follows turns."""
    start, end = 55.0, 75.0
    scorer = SpeakerScorer(
        SpeakerOptions(model_dir=tmp_path, cache_dir=tmp_path, allow_download=False)
    )
    assert scorer.name == "fallback-motion"
    audio = decode_audio(sample_video)[int(start * 16000) : int(end * 16000)]
    detector = FaceDetector(model_dir / "yunet" / "yunet_n_640_640.onnx")
    result = follow_speaker(sample_video, start, end, audio, detector=detector, scorer=scorer)
    assert "fallback-motion" in result.plan.method
    assert len(result.plan.frames) == 500
    truth = json.loads(sample_video.with_name("podcast.truth.json").read_text())
    left = min(result.scan.tracks, key=lambda t: t.boxes[0][0]).id
    hits = checked = 0
    for frame in result.plan.frames:
        t = start + frame.t
        turn = next((x for x in truth["turns"] if x["start"] + 0.5 <= t < x["end"]), None)
        if turn is None:
            continue
        checked += 1
        hits += (frame.track == left) == (turn["speaker"] == "A")
    assert checked > 300
    assert hits / checked == pytest.approx(1.0, abs=0.15)
