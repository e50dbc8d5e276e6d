"""Per-frame "is this face speaking?" scores for face tracks.

The scorer is LR-ASD (`pipeline.lrasd`) with the released `finetuning_TalkSet.model` weights,
fed exactly as in LR-ASD's `Columbia_test.py` (see `shared/notes/asd.md` §1.2 and §1.5):
25 fps grayscale 112x112 crops cut with the Columbia geometry (`face_crop`), and 13 MFCCs from
`python_speech_features` at 100 frames/s on 16 kHz audio. TalkSet fine-tuning is what makes the
model work on crops from a detector other than AVA's, hence this checkpoint.

When the weights cannot be found, verified or downloaded, the scorer falls back to a weight-free
audio-visual heuristic and says so in `SpeakerScorer.name` ("fallback-motion"), so the output of
a run always records which scorer produced it.

Scores are comparable between tracks scored by the same scorer, not across scorers: LR-ASD gives
logits (>= 0 reads as speaking), the fallback gives correlations in [-1, 1]. Smoothing over
frames and the choice of the speaker belong to the reframe stage.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import python_speech_features
import torch

from pipeline.assets import LRASD_TALKSET, AssetOptions, resolve_asset
from pipeline.errors import InvalidInput, ModelUnavailable
from pipeline.lrasd import LRASD, VIDEO_MEAN, VIDEO_STD, checkpoint_to_state_dict

__all__ = [
    "CROP_SIZE",
    "FPS",
    "SAMPLE_RATE",
    "SpeakerOptions",
    "SpeakerScorer",
    "TrackScores",
    "face_crop",
    "make_scorer",
    "resolve_weights",
]

logger = logging.getLogger("clipzz.pipeline")

FPS = 25
SAMPLE_RATE = 16_000
CROP_SIZE = 112
LRASD_NAME = "lr-asd"
FALLBACK_NAME = "fallback-motion"

_SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640
_MFCC_PER_FRAME = 4  # 100 MFCC frames/s against 25 video frames/s
_MFCC_WIN = 0.025
_MFCC_STEP = 0.010
_DOWNLOAD_TIMEOUT_S = 20.0

# Columbia_test.py crop geometry: pad with grey 110, cut a square of side 2.8*s reaching from the
# box top to 0.8*s below it (cropScale 0.4), resize to 224 and keep the centre 112.
_CROP_SCALE = 0.40
_PAD_VALUE = 110
_RESIZED = 224

# YuNet boxes are tighter and taller than the S3FD boxes TalkSet was cropped with. Until the
# S3FD<->YuNet calibration is run (asd.md §3), approximate an S3FD box as a square of side
# 1.1*max(w, h) whose centre sits 10 % of the box height above the YuNet centre.
_YUNET_BOX_SCALE = 1.1
_YUNET_CENTRE_SHIFT = 0.10

# Fallback heuristic: in the Columbia geometry the mouth sits in the lower middle of the crop
# (rows ~55-90, columns ~30-80 of 112 for a frontal face); the ROI is a little larger.
_MOUTH_ROWS = slice(48, 100)
_MOUTH_COLS = slice(24, 88)
_CORR_WINDOW = FPS  # ~1 s
_MIN_STD = 1e-6


@dataclass(frozen=True)
class SpeakerOptions:
    """How speaker scores are computed.

    Attributes:
        model_dir: a directory laid out like `CLIPZZ_MODEL_DIR` (holding
            `lr-asd/finetuning_TalkSet.model`); checked first.
        cache_dir: where a downloaded checkpoint is kept; None uses ~/.cache/clipzz.
        allow_download: fetch the checkpoint from its pinned URL when it is not found locally.
        device: torch device for LR-ASD ("cpu", "cuda", "cuda:1").
        batch_frames: chunk length in video frames; 150 frames = 6 s, the longest context
            `Columbia_test.py` scores in one pass. Every chunk of a track has this length (the
            last one overlaps its predecessor), so chunks of many tracks stack into one batch.
        chunks_per_batch: how many chunks go through the network at once. Larger batches help
            a GPU; the cost is memory, about 1.3 MB of activations per frame at peak (measured:
            ~750 MB for 4 chunks of 150 frames on CPU).
        torch_threads: `torch.set_num_threads` value; 0 leaves torch's default.
    """

    model_dir: Path | None = None
    cache_dir: Path | None = None
    allow_download: bool = True
    device: str = "cpu"
    batch_frames: int = 150
    chunks_per_batch: int = 4
    torch_threads: int = 0


@dataclass(frozen=True)
class TrackScores:
    """Scores for one face track.

    Attributes:
        track_id: the caller's id for the track.
        frame_times: source time in seconds of each scored 25 fps frame.
        scores: float32, one per frame; higher means more likely speaking.
    """

    track_id: int
    frame_times: np.ndarray = field(repr=False)
    scores: np.ndarray = field(repr=False)


def resolve_weights(options: SpeakerOptions) -> Path | None:
    """Return a verified path to `finetuning_TalkSet.model`, or None if there is none.

    Looks in `model_dir`, then `cache_dir`, then downloads (when allowed) from the pinned
    LR-ASD commit; every candidate must match the pinned sha256. Failure is not an error here:
    the caller falls back to the heuristic scorer, so it is logged as a warning.
    """
    asset_options = AssetOptions(
        model_dir=options.model_dir,
        cache_dir=options.cache_dir,
        allow_download=options.allow_download,
        timeout_s=_DOWNLOAD_TIMEOUT_S,
    )
    try:
        return resolve_asset(LRASD_TALKSET, asset_options)
    except ModelUnavailable as exc:
        logger.warning("LR-ASD weights unavailable: %s", exc)
        return None


def make_scorer(options: SpeakerOptions) -> SpeakerScorer:
    """Build the best scorer available: LR-ASD when its weights resolve, else the fallback."""
    return SpeakerScorer(options)


class SpeakerScorer:
    """Scores face tracks; loads the model once, so build one per worker and reuse it.

    `name` is "lr-asd" when the LR-ASD weights were found and loaded, and "fallback-motion"
    otherwise. The fallback needs no weights: for each frame it correlates, over a sliding ~1 s
    window, the mouth-region motion energy (mean absolute difference between consecutive crops
    in the lower middle of the crop, where the Columbia geometry puts the mouth) with the RMS
    envelope of the audio at 25 fps. A mouth that opens and closes with the sound scores near 1,
    a still face scores 0. It cannot tell which of two moving mouths is heard and is fooled by
    head motion, so it exists for tests, ablations and machines without the weights.
    """

    name: str

    def __init__(self, options: SpeakerOptions) -> None:
        if options.batch_frames < 1 or options.chunks_per_batch < 1:
            raise InvalidInput(
                f"batch_frames and chunks_per_batch must be >= 1, got "
                f"{options.batch_frames} and {options.chunks_per_batch}"
            )
        self.options = options
        if options.torch_threads > 0:
            torch.set_num_threads(options.torch_threads)
        self._device = _torch_device(options.device)
        self._net: LRASD | None = None
        self.weights_path = resolve_weights(options)
        if self.weights_path is None:
            self.name = FALLBACK_NAME
            logger.warning("speaker scores come from the %s heuristic, not LR-ASD", self.name)
        else:
            self._net = _load_network(self.weights_path, self._device)
            self.name = LRASD_NAME
            logger.info("loaded LR-ASD from %s on %s", self.weights_path, self._device)

    def score_track(
        self, crops: np.ndarray, audio: np.ndarray, t0: float, track_id: int
    ) -> TrackScores:
        """Score one track.

        Args:
            crops: (T, 112, 112) uint8 grayscale face crops at 25 fps, cut with `face_crop`.
            audio: 16 kHz mono samples covering [t0, t0 + T/25); float in [-1, 1] or int16.
            t0: source time of the first crop, in seconds.
            track_id: copied to the result.
        """
        return self.score_tracks([(crops, audio, t0, track_id)])[0]

    def score_tracks(
        self, items: list[tuple[np.ndarray, np.ndarray, float, int]]
    ) -> list[TrackScores]:
        """Score many tracks, batching equal-length chunks of all of them through the network.

        Each item is `(crops, audio, t0, track_id)` as for `score_track`; results keep the
        order of `items`.
        """
        # 1. Check inputs before any work, so a bad track fails the call up front.
        tracks = [_check_track(crops, audio, track_id) for crops, audio, _, track_id in items]
        times = [
            float(item[2]) + np.arange(len(crops)) / FPS
            for item, (crops, _) in zip(items, tracks, strict=True)
        ]
        # 2. Score with the network, or the heuristic when there are no weights.
        started = time.perf_counter()
        if self._net is None:
            scores = [_motion_scores(crops, audio) for crops, audio in tracks]
        else:
            scores = self._lrasd_scores(tracks)
        frames = sum(len(crops) for crops, _ in tracks)
        elapsed = time.perf_counter() - started
        logger.info(
            "scored %d tracks (%d face-frames) with %s in %.1f s (%.1f ms per face-frame)",
            len(tracks),
            frames,
            self.name,
            elapsed,
            1000 * elapsed / max(frames, 1),
        )
        return [
            TrackScores(track_id=item[3], frame_times=t, scores=s)
            for item, t, s in zip(items, times, scores, strict=True)
        ]

    def _lrasd_scores(self, tracks: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        feats = [_mfcc(audio, len(crops)) for crops, audio in tracks]
        outputs = [np.zeros(len(crops), dtype=np.float32) for crops, _ in tracks]
        groups: dict[int, list[_Chunk]] = defaultdict(list)
        for index, (crops, _) in enumerate(tracks):
            for chunk in _chunks(index, len(crops), self.options.batch_frames):
                groups[chunk.length].append(chunk)
        step = self.options.chunks_per_batch
        with torch.inference_mode():
            for chunks in groups.values():
                for first in range(0, len(chunks), step):
                    batch = chunks[first : first + step]
                    video = np.stack([tracks[c.track][0][c.frames] for c in batch])
                    audio = np.stack([feats[c.track][c.mfcc_frames] for c in batch])
                    for chunk, row in zip(batch, self._forward(audio, video), strict=True):
                        outputs[chunk.track][chunk.scored] = row[chunk.keep :]
        return outputs

    def _forward(self, audio: np.ndarray, video: np.ndarray) -> np.ndarray:
        if self._net is None:  # pragma: no cover - guarded by score_tracks
            raise RuntimeError("LR-ASD is not loaded")
        audio_t = torch.from_numpy(audio).to(self._device, torch.float32)
        # Send uint8 and normalise on the device: a quarter of the bytes over the bus.
        video_t = torch.from_numpy(video).to(self._device).float()
        video_t = (video_t / 255.0 - VIDEO_MEAN) / VIDEO_STD
        return self._net(audio_t, video_t).float().cpu().numpy()


def face_crop(frame_gray: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """Cut the 112x112 uint8 crop LR-ASD expects from a grayscale frame and a YuNet face box.

    `box` is YuNet's `(x, y, w, h)`. TalkSet was cropped around S3FD boxes, so the box is first
    turned into an S3FD-like square (side `1.1*max(w, h)`, centre 10 % of `h` above YuNet's).
    Then `Columbia_test.py`'s geometry applies with half-side `s`: the frame is padded with grey
    110, a square of side 2.8*s spanning rows `cy-s .. cy+1.8s` and columns `cx-1.4s .. cx+1.4s`
    is resized to 224x224 and its centre `[56:168, 56:168]` kept, so the network sees the nose,
    mouth and chin. Parts of the square outside the frame come out grey, as in the reference.

    Columbia smooths the box centre and size over the track (median filter of 13 frames) before
    cropping; that belongs to the tracker, which passes the smoothed box here.
    """
    if frame_gray.ndim != 2 or frame_gray.dtype != np.uint8:
        raise InvalidInput(
            f"face_crop needs a 2-D uint8 grayscale frame, got {frame_gray.dtype} "
            f"{frame_gray.shape}"
        )
    x, y, w, h = (float(v) for v in box)
    if not (np.isfinite([x, y, w, h]).all() and w > 0 and h > 0):
        raise InvalidInput(f"face box must be finite with positive size, got {box}")
    half = _YUNET_BOX_SCALE * max(w, h) / 2
    cx = x + w / 2
    cy = y + h / 2 - _YUNET_CENTRE_SHIFT * h
    return _columbia_crop(frame_gray, cx, cy, half)


def _columbia_crop(frame: np.ndarray, cx: float, cy: float, half: float) -> np.ndarray:
    # Same integer rounding as the reference, which slices a frame padded by `pad` pixels.
    cs = _CROP_SCALE
    pad = int(half * (1 + 2 * cs))
    my, mx = cy + pad, cx + pad
    top, bottom = int(my - half) - pad, int(my + half * (1 + 2 * cs)) - pad
    left, right = int(mx - half * (1 + cs)) - pad, int(mx + half * (1 + cs)) - pad
    if bottom <= top or right <= left:
        raise InvalidInput(f"face box too small to crop (half-side {half:.2f} px)")
    # Copy the part inside the frame into a grey canvas instead of padding the whole frame.
    region = np.full((bottom - top, right - left), _PAD_VALUE, dtype=np.uint8)
    rows, cols = frame.shape
    r0, r1 = max(top, 0), min(bottom, rows)
    c0, c1 = max(left, 0), min(right, cols)
    if r1 > r0 and c1 > c0:
        region[r0 - top : r1 - top, c0 - left : c1 - left] = frame[r0:r1, c0:c1]
    resized = cv2.resize(region, (_RESIZED, _RESIZED))
    lo = (_RESIZED - CROP_SIZE) // 2
    return np.ascontiguousarray(resized[lo : lo + CROP_SIZE, lo : lo + CROP_SIZE])


@dataclass(frozen=True)
class _Chunk:
    track: int  # index into the batch of tracks
    start: int  # first frame of the chunk
    length: int
    keep: int  # scores before this offset come from the previous chunk

    @property
    def stop(self) -> int:
        return self.start + self.length

    @property
    def frames(self) -> slice:
        return slice(self.start, self.stop)

    @property
    def scored(self) -> slice:
        """The frames whose scores this chunk provides."""
        return slice(self.start + self.keep, self.stop)

    @property
    def mfcc_frames(self) -> slice:
        return slice(_MFCC_PER_FRAME * self.start, _MFCC_PER_FRAME * self.stop)


def _chunks(track: int, frames: int, size: int) -> list[_Chunk]:
    """Split a track into chunks of `size` frames; a short remainder becomes a full-size chunk
    ending at the last frame, so it is scored with full context and batches with the rest."""
    if frames <= size:
        return [_Chunk(track, 0, frames, 0)] if frames else []
    chunks = [_Chunk(track, start, size, 0) for start in range(0, frames - size + 1, size)]
    covered = chunks[-1].start + size
    if covered < frames:
        chunks.append(_Chunk(track, frames - size, size, covered - (frames - size)))
    return chunks


def _check_track(
    crops: np.ndarray, audio: np.ndarray, track_id: int
) -> tuple[np.ndarray, np.ndarray]:
    crops = np.asarray(crops)
    audio = np.asarray(audio)
    if crops.ndim != 3 or crops.shape[1:] != (CROP_SIZE, CROP_SIZE) or crops.dtype != np.uint8:
        raise InvalidInput(
            f"track {track_id}: crops must be (T, {CROP_SIZE}, {CROP_SIZE}) uint8, got "
            f"{crops.dtype} {crops.shape}"
        )
    if audio.ndim != 1:
        raise InvalidInput(f"track {track_id}: audio must be 1-D mono, got shape {audio.shape}")
    missing = len(crops) * _SAMPLES_PER_FRAME - len(audio)
    if missing > _SAMPLES_PER_FRAME:
        logger.warning(
            "track %d: audio is %.2f s shorter than its %d frames; padding with silence",
            track_id,
            missing / SAMPLE_RATE,
            len(crops),
        )
    return crops, audio


def _as_int16_scale(audio: np.ndarray) -> np.ndarray:
    """LR-ASD computed MFCCs on int16 samples read by `wavfile.read`; the scale matters (it
    shifts the log-energy coefficient), so float audio in [-1, 1] is brought to that range."""
    if audio.dtype == np.int16:
        return audio
    scaled = np.clip(np.round(audio.astype(np.float64) * 32768.0), -32768, 32767)
    return scaled.astype(np.int16)


def _mfcc(audio: np.ndarray, frames: int) -> np.ndarray:
    """(4*frames, 13) float32 MFCCs, exactly as LR-ASD was trained and evaluated.

    `python_speech_features` frames audio as 25 ms windows every 10 ms, so T/25 s of audio gives
    only 4T-1 frames and `Columbia_test.py` drops the last video frame. Padding 240 samples of
    silence (a window minus a step) yields 4T frames, so every video frame gets a score.
    """
    needed = frames * _SAMPLES_PER_FRAME + int(SAMPLE_RATE * (_MFCC_WIN - _MFCC_STEP))
    samples = _as_int16_scale(audio)[:needed]
    if len(samples) < needed:
        samples = np.pad(samples, (0, needed - len(samples)))
    feats = python_speech_features.mfcc(
        samples, SAMPLE_RATE, numcep=13, winlen=_MFCC_WIN, winstep=_MFCC_STEP
    )
    return np.asarray(feats[: _MFCC_PER_FRAME * frames], dtype=np.float32)


def _motion_scores(crops: np.ndarray, audio: np.ndarray) -> np.ndarray:
    frames = len(crops)
    if frames == 0:
        return np.zeros(0, dtype=np.float32)
    mouth = crops[:, _MOUTH_ROWS, _MOUTH_COLS].astype(np.float32)
    motion = np.zeros(frames, dtype=np.float64)
    if frames > 1:
        motion[1:] = np.abs(np.diff(mouth, axis=0)).mean(axis=(1, 2))
        motion[0] = motion[1]
    return _sliding_correlation(motion, _rms_envelope(audio, frames), _CORR_WINDOW)


def _rms_envelope(audio: np.ndarray, frames: int) -> np.ndarray:
    """RMS of each 40 ms slice of audio (one per video frame); missing audio counts as silence."""
    samples = audio.astype(np.float64)
    if audio.dtype == np.int16:
        samples /= 32768.0
    samples = samples[: frames * _SAMPLES_PER_FRAME]
    samples = np.pad(samples, (0, frames * _SAMPLES_PER_FRAME - len(samples)))
    return np.sqrt((samples.reshape(frames, _SAMPLES_PER_FRAME) ** 2).mean(axis=1))


def _sliding_correlation(a: np.ndarray, b: np.ndarray, window: int) -> np.ndarray:
    """Pearson correlation of `a` and `b` over a centred window (clipped at the ends); 0 where
    either signal is flat, because a still mouth or silence carries no evidence either way."""
    n = len(a)
    half = window // 2
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    count = (hi - lo).astype(np.float64)

    def window_sum(x: np.ndarray) -> np.ndarray:
        cumulative = np.concatenate(([0.0], np.cumsum(x)))
        return cumulative[hi] - cumulative[lo]

    # Centre both signals first so the running sums do not lose precision.
    a = a - a.mean()
    b = b - b.mean()
    mean_a, mean_b = window_sum(a) / count, window_sum(b) / count
    cov = window_sum(a * b) / count - mean_a * mean_b
    var_a = np.maximum(window_sum(a * a) / count - mean_a**2, 0.0)
    var_b = np.maximum(window_sum(b * b) / count - mean_b**2, 0.0)
    std = np.sqrt(var_a * var_b)
    flat = (np.sqrt(var_a) < _MIN_STD) | (np.sqrt(var_b) < _MIN_STD)
    corr = np.where(flat, 0.0, cov / np.where(flat, 1.0, std))
    return np.clip(corr, -1.0, 1.0).astype(np.float32)


def _torch_device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise InvalidInput(f"unknown torch device {name!r}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInput(f"device {name!r} requested but CUDA is not available")
    return device


def _load_network(path: Path, device: torch.device) -> LRASD:
    """Load a verified checkpoint strictly: a key mismatch means a different architecture, which
    must fail loudly rather than score with half-initialised weights."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        net = LRASD()
        net.load_state_dict(checkpoint_to_state_dict(checkpoint), strict=True)
    except (RuntimeError, OSError, ValueError) as exc:
        raise ModelUnavailable(f"cannot load LR-ASD weights from {path}: {exc}") from exc
    return net.to(device).eval()
