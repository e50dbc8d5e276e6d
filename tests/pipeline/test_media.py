from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import MediaError
from pipeline.media import decode_audio, iter_frames, probe

BAD = {
    "missing": "file not found",
    "empty": "file is empty",
    "text": "not a readable video file",
    "audio_only": "no video stream",
    "video_only": "no audio stream",
    "corrupt": "not a readable video file",
    "directory": "not a file",
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_probe_rejects_bad_media_with_a_clear_message(
    bad_media: dict[str, Path], kind: str
) -> None:
    with pytest.raises(MediaError, match=BAD[kind]):
        probe(bad_media[kind])


def test_probe_describes_the_sample(sample_video: Path) -> None:
    info = probe(sample_video)
    assert (info.width, info.height) == (1280, 720)
    assert info.fps == pytest.approx(25, abs=0.01)
    assert 100 < info.duration < 200
    assert info.video_codec == "h264"
    assert info.audio_codec == "aac"


def test_decode_audio_is_16k_mono_float(sample_video: Path) -> None:
    audio = decode_audio(sample_video)
    info = probe(sample_video)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) / 16_000 == pytest.approx(info.duration, abs=0.2)
    assert 0.01 < float(np.abs(audio).max()) <= 1.0


def test_iter_frames_respects_range_and_step(sample_video: Path) -> None:
    frames = list(iter_frames(sample_video, 10.0, 12.0, step=0.5))
    times = [t for t, _ in frames]
    assert len(frames) == 4
    assert times[0] == pytest.approx(10.0, abs=0.05)
    assert all(b - a == pytest.approx(0.5, abs=0.05) for a, b in itertools.pairwise(times))
    assert frames[0][1].shape == (720, 1280, 3)
    small = next(iter_frames(sample_video, 0.0, 1.0, width=640))[1]
    assert small.shape == (360, 640, 3)
