"""Faces → speakers → reframe for one clip: the plan that keeps the active speaker in frame.

1. `scan_faces` finds face tracks and shot cuts (one decode, detection every k-th frame).
2. Where two or more faces are on screen, their 112×112 mouth-and-chin crops are cut in a
   second decode and scored by LR-ASD (or the fallback scorer) against the clip's audio.
   Frames with one face need no score: that face is framed.
3. `plan_reframe` picks the speaker per frame and moves the virtual camera.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.faces import FaceDetector
from pipeline.media import luma
from pipeline.reframe import ReframeOptions, ReframePlan, plan_reframe, speech_frames
from pipeline.speakers import SpeakerScorer, face_crop
from pipeline.tracks import FPS, FaceScan, ScanOptions, iter_frames_25, scan_faces

__all__ = ["Crops", "FollowResult", "cut_face_crops", "follow_speaker", "score_crops"]

AUDIO_RATE = 16_000


@dataclass(frozen=True)
class FollowResult:
    plan: ReframePlan
    scan: FaceScan
    scores: dict[int, np.ndarray] = field(repr=False)
    scorer: str
    timings: dict[str, float]


def _multi_face_runs(scan: FaceScan) -> dict[int, list[tuple[int, int]]]:
    """Per track, the frame runs during which at least one other face is also visible."""
    counts = np.zeros(scan.frames, dtype=np.int32)
    for track in scan.tracks:
        counts[track.first : track.last + 1] += 1
    runs: dict[int, list[tuple[int, int]]] = {}
    for track in scan.tracks:
        busy = counts[track.first : track.last + 1] > 1
        edges = np.flatnonzero(np.diff(np.concatenate([[0], busy.astype(np.int8), [0]])))
        runs[track.id] = [
            (track.first + int(a), track.first + int(b))
            for a, b in zip(edges[::2], edges[1::2], strict=True)
        ]
    return runs


Crops = dict[tuple[int, int], np.ndarray]


def cut_face_crops(source: Path, start: float, end: float, scan: FaceScan) -> Crops:
    """LR-ASD crops keyed by (track id, first frame) for every run where a track shares the
    screen with another face, cut in one more decode of the clip."""
    runs = _multi_face_runs(scan)
    wanted: dict[int, list[tuple[int, tuple[int, int]]]] = {}
    for track_id, track_runs in runs.items():
        for run in track_runs:
            for frame in range(*run):
                wanted.setdefault(frame, []).append((track_id, run))
    crops: dict[tuple[int, int], list[np.ndarray]] = {}
    tracks = {t.id: t for t in scan.tracks}
    if not wanted:
        return {}
    for index, frame in iter_frames_25(source, start, end):
        if index not in wanted:
            continue
        gray = luma(frame)
        for track_id, run in wanted[index]:
            box = tracks[track_id].box(index)
            crops.setdefault((track_id, run[0]), []).append(face_crop(gray, tuple(box)))
    return {key: np.stack(value) for key, value in crops.items()}


def score_crops(
    crops: Crops, scan: FaceScan, audio: np.ndarray, scorer: SpeakerScorer
) -> dict[int, np.ndarray]:
    """Per track, a score for each of its frames (NaN where it was alone on screen).

    `audio` is the clip's 16 kHz mono audio, starting at the scan's start.
    """
    keys = list(crops)
    items = []
    for track_id, first in keys:
        stack = crops[(track_id, first)]
        a = round(first * AUDIO_RATE / FPS)
        b = a + round(len(stack) * AUDIO_RATE / FPS)
        clip_audio = audio[a:b]
        if len(clip_audio) < b - a:
            clip_audio = np.pad(clip_audio, (0, b - a - len(clip_audio)))
        items.append((stack, clip_audio, scan.start + first / FPS, track_id))
    results = scorer.score_tracks(items) if items else []
    tracks = {t.id: t for t in scan.tracks}
    scores = {t.id: np.full(len(t.boxes), np.nan, dtype=np.float32) for t in scan.tracks}
    for (track_id, first), result in zip(keys, results, strict=True):
        offset = first - tracks[track_id].first
        scores[track_id][offset : offset + len(result.scores)] = result.scores
    return scores


def follow_speaker(
    source: Path,
    start: float,
    end: float,
    audio: np.ndarray,
    *,
    detector: FaceDetector,
    scorer: SpeakerScorer,
    scan_options: ScanOptions | None = None,
    reframe_options: ReframeOptions | None = None,
) -> FollowResult:
    """Plan the 9:16 framing of `source[start:end]`; `audio` is the clip's 16 kHz mono audio."""
    timings: dict[str, float] = {}
    began = time.perf_counter()
    scan = scan_faces(source, start, end, detector, scan_options)
    crops = cut_face_crops(source, start, end, scan)
    timings["faces"] = time.perf_counter() - began
    began = time.perf_counter()
    scores = score_crops(crops, scan, audio, scorer)
    timings["speakers"] = time.perf_counter() - began
    began = time.perf_counter()
    speech = speech_frames(audio, scan.frames)
    plan = plan_reframe(scan, scores, reframe_options, scorer=scorer.name, speech=speech)
    timings["reframe"] = time.perf_counter() - began
    return FollowResult(plan=plan, scan=scan, scores=scores, scorer=scorer.name, timings=timings)
