"""Speaker scoring: LR-ASD weights load strictly, both scorers rank a talking face above a still
one, weights are resolved offline and verified, and face crops follow the Columbia geometry.

The talking face is the public-domain astronaut from scikit-image with a dark ellipse for a mouth
that opens with a speech-like audio envelope (asd.md §6.3: TalkSet LR-ASD ranks such a face above
a still one, although both stay below the 0 threshold).
"""

from __future__ import annotations

import logging
import urllib.error
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from scipy import signal
from skimage import data

from pipeline.errors import InvalidInput
from pipeline.lrasd import LRASD, checkpoint_to_state_dict
from pipeline.speakers import (
    FPS,
    SAMPLE_RATE,
    SpeakerOptions,
    SpeakerScorer,
    TrackScores,
    face_crop,
    make_scorer,
    resolve_weights,
)

WEIGHTS = "lr-asd/finetuning_TalkSet.model"
MODEL_PARAMS = 836_640  # LR-ASD without its classifier, from the checkpoint (asd.md §1.1)
CLASSIFIER_PARAMS = 258  # FC 128 -> 2

# YuNet on skimage's astronaut: face box (x, y, w, h) and the midpoint of the mouth corners.
ASTRONAUT_BOX = (178.1, 65.0, 91.4, 111.4)
ASTRONAUT_MOUTH = (224, 144)
MOUTH_HALF_WIDTH = 19
CLIP_SECONDS = 4.0


def speech_like_audio(seconds: float, seed: int = 0) -> np.ndarray:
    """Vowel-like syllables at 4 Hz (a 120 Hz sawtooth through two formant resonators) in
    1.5 s phrases separated by 0.5 s pauses, over faint noise: 16 kHz float32."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    pitch = 120 + 15 * np.sin(2 * np.pi * 0.7 * t)
    source = signal.sawtooth(2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE)
    source += 0.05 * rng.standard_normal(n)
    vowels = [(700, 1200), (300, 2300), (500, 1000), (400, 1900)]
    out = np.zeros(n)
    for k, start in enumerate(np.arange(0.0, seconds, 0.25)):
        if start % 2.0 >= 1.5:
            continue
        a, b = int(start * SAMPLE_RATE), min(int((start + 0.2) * SAMPLE_RATE), n)
        syllable = np.zeros(b - a)
        for freq, bandwidth in zip(vowels[k % 4], (80, 120), strict=True):
            r = np.exp(-np.pi * bandwidth / SAMPLE_RATE)
            theta = 2 * np.pi * freq / SAMPLE_RATE
            syllable += signal.lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], source[a:b])
        out[a:b] += syllable * np.sin(np.linspace(0, np.pi, b - a)) ** 2 * rng.uniform(0.5, 1)
    out = 0.3 * out / np.abs(out).max() + 0.002 * rng.standard_normal(n)
    return out.astype(np.float32)


def frame_envelope(audio: np.ndarray, frames: int) -> np.ndarray:
    """Audio RMS per 25 fps frame, scaled to [0, 1]."""
    per_frame = SAMPLE_RATE // FPS
    rms = np.sqrt((audio[: frames * per_frame].reshape(frames, per_frame) ** 2).mean(axis=1))
    return rms / rms.max()


def face_track(openings: np.ndarray) -> np.ndarray:
    """Crops of the astronaut whose dark elliptical mouth is opened by `openings` (0..1)."""
    base = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    crops = []
    for opening in openings:
        frame = base.copy()
        axes = (MOUTH_HALF_WIDTH, max(1, round(1 + 11 * opening)))
        cv2.ellipse(frame, ASTRONAUT_MOUTH, axes, 0, 0, 360, 30, thickness=-1)
        crops.append(face_crop(frame, ASTRONAUT_BOX))
    return np.stack(crops)


@pytest.fixture(scope="module")
def clip() -> dict[str, np.ndarray]:
    frames = int(CLIP_SECONDS * FPS)
    audio = speech_like_audio(CLIP_SECONDS)
    return {
        "audio": audio,
        "talking": face_track(frame_envelope(audio, frames)),
        "still": face_track(np.zeros(frames)),
    }


@pytest.fixture(scope="module")
def lrasd_scorer(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> SpeakerScorer:
    options = SpeakerOptions(
        model_dir=model_dir,
        cache_dir=tmp_path_factory.mktemp("cache"),
        allow_download=False,
    )
    return make_scorer(options)


@pytest.fixture
def offline(tmp_path: Path) -> SpeakerOptions:
    """Options under which no weights can be found: empty directories, no downloads."""
    (tmp_path / "models").mkdir()
    return SpeakerOptions(
        model_dir=tmp_path / "models", cache_dir=tmp_path / "cache", allow_download=False
    )


def test_released_weights_load_strictly(model_dir: Path) -> None:
    checkpoint = torch.load(model_dir / WEIGHTS, map_location="cpu", weights_only=True)
    assert any(key.startswith("lossV.") for key in checkpoint)  # dropped: training-only head
    net = LRASD()
    result = net.load_state_dict(checkpoint_to_state_dict(checkpoint), strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    total = sum(p.numel() for p in net.parameters())
    classifier = sum(p.numel() for p in net.classifier.parameters())
    assert (total - classifier, classifier) == (MODEL_PARAMS, CLASSIFIER_PARAMS)
    assert torch.equal(net.classifier.weight, checkpoint["lossAV.FC.weight"])


def test_network_returns_one_logit_per_frame() -> None:
    net = LRASD().eval()
    with torch.inference_mode():
        out = net(torch.randn(2, 4 * 7, 13), torch.randn(2, 7, 112, 112))
    assert out.shape == (2, 7)
    with pytest.raises(ValueError, match="expected"):
        net(torch.randn(1, 20, 13), torch.randn(1, 7, 112, 112))


def test_lrasd_ranks_talking_face_above_still_face(
    lrasd_scorer: SpeakerScorer, clip: dict[str, np.ndarray]
) -> None:
    assert lrasd_scorer.name == "lr-asd"
    talking, still = lrasd_scorer.score_tracks(
        [(clip["talking"], clip["audio"], 10.0, 1), (clip["still"], clip["audio"], 10.0, 2)]
    )
    assert isinstance(talking, TrackScores)
    assert (talking.track_id, still.track_id) == (1, 2)
    frames = len(clip["talking"])
    assert talking.scores.shape == (frames,) and talking.scores.dtype == np.float32
    np.testing.assert_allclose(talking.frame_times, 10.0 + np.arange(frames) / FPS)
    assert np.isfinite(talking.scores).all() and np.isfinite(still.scores).all()
    assert talking.scores.mean() > still.scores.mean() + 0.1


def test_lrasd_chunks_and_batches_consistently(
    model_dir: Path, tmp_path: Path, clip: dict[str, np.ndarray]
) -> None:
    # 60 frames in chunks of 25: [0, 25), [25, 50) and a tail chunk [35, 60) for the last 10.
    options = SpeakerOptions(
        model_dir=model_dir, cache_dir=tmp_path, allow_download=False, batch_frames=25
    )
    scorer = SpeakerScorer(options)
    crops, audio = clip["talking"][:60], clip["audio"][: 60 * SAMPLE_RATE // FPS]
    alone = scorer.score_track(crops, audio, 0.0, 7)
    batched = scorer.score_tracks([(crops, audio, 0.0, 7), (clip["still"][:60], audio, 0.0, 8)])
    assert alone.scores.shape == (60,) and np.isfinite(alone.scores).all()
    np.testing.assert_allclose(batched[0].scores, alone.scores, atol=1e-4)
    assert not np.allclose(batched[1].scores, alone.scores)


def test_fallback_ranks_talking_face_above_still_face(
    offline: SpeakerOptions, clip: dict[str, np.ndarray]
) -> None:
    scorer = make_scorer(offline)
    assert scorer.name == "fallback-motion"
    talking, still = scorer.score_tracks(
        [(clip["talking"], clip["audio"], 0.0, 1), (clip["still"], clip["audio"], 0.0, 2)]
    )
    assert talking.scores.shape == still.scores.shape == (len(clip["talking"]),)
    assert talking.scores.dtype == np.float32
    assert talking.scores.mean() > still.scores.mean() + 0.2


def test_resolve_weights_offline_without_files_returns_none(offline: SpeakerOptions) -> None:
    assert resolve_weights(offline) is None


def test_resolve_weights_rejects_a_corrupt_file(
    offline: SpeakerOptions, caplog: pytest.LogCaptureFixture
) -> None:
    assert offline.model_dir is not None
    bad = offline.model_dir / WEIGHTS
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not the LR-ASD checkpoint" * 100)
    with caplog.at_level(logging.WARNING, logger="clipzz.pipeline"):
        assert resolve_weights(offline) is None
    assert "sha256" in caplog.text
    assert make_scorer(offline).name == "fallback-motion"


def test_resolve_weights_finds_the_model_dir_file(model_dir: Path, tmp_path: Path) -> None:
    options = SpeakerOptions(model_dir=model_dir, cache_dir=tmp_path, allow_download=False)
    assert resolve_weights(options) == model_dir / WEIGHTS


def test_failed_download_falls_back_cleanly(
    offline: SpeakerOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("urllib.request.urlopen", unreachable)
    options = SpeakerOptions(
        model_dir=offline.model_dir, cache_dir=offline.cache_dir, allow_download=True
    )
    assert resolve_weights(options) is None
    assert offline.cache_dir is not None
    assert not any(offline.cache_dir.rglob("*.part"))


def test_score_track_rejects_bad_crops(offline: SpeakerOptions) -> None:
    scorer = SpeakerScorer(offline)
    with pytest.raises(InvalidInput, match="crops must be"):
        scorer.score_track(np.zeros((5, 64, 64), np.uint8), np.zeros(3200, np.float32), 0.0, 1)


def test_face_crop_follows_the_columbia_geometry() -> None:
    # Box (150, 150, 100, 100): S3FD-like half-side s = 55, centre (200, 190). The crop spans
    # columns cx +- 0.7s and rows cy - 0.3s .. cy + 1.1s, so the centre lands at (24, 56).
    frame = np.zeros((400, 400), np.uint8)
    frame[188:193, 198:203] = 255
    crop = face_crop(frame, (150.0, 150.0, 100.0, 100.0))
    assert crop.shape == (112, 112) and crop.dtype == np.uint8
    rows, cols = np.nonzero(crop > 128)
    assert rows.mean() == pytest.approx(24, abs=1.5)
    assert cols.mean() == pytest.approx(56, abs=1.5)


def test_face_crop_pads_boxes_at_the_frame_border() -> None:
    frame = np.full((200, 300), 200, np.uint8)
    for box in [(-20.0, -30.0, 60.0, 60.0), (260.0, 170.0, 60.0, 50.0), (-500.0, 0.0, 40.0, 40.0)]:
        crop = face_crop(frame, box)
        assert crop.shape == (112, 112) and crop.dtype == np.uint8
        assert set(np.unique(crop)) <= set(range(110, 201))
    # Top-left box: the top-left corner of the crop is padding (110), the rest is frame (200).
    crop = face_crop(frame, (-20.0, -30.0, 60.0, 60.0))
    assert crop[0, 0] == 110 and crop[-1, -1] == 200


def test_face_crop_rejects_bad_input() -> None:
    with pytest.raises(InvalidInput, match="grayscale"):
        face_crop(np.zeros((100, 100, 3), np.uint8), (10.0, 10.0, 50.0, 50.0))
    with pytest.raises(InvalidInput, match="positive size"):
        face_crop(np.zeros((100, 100), np.uint8), (10.0, 10.0, 0.0, 50.0))
