"""Face tracks over a clip: YuNet on every k-th frame, shot cuts, IoU tracking, gap filling.

Everything here runs on a 25 fps timeline (the rate LR-ASD was trained at), whatever the
source rate: frame i of a scan is the source frame shown at `start + i / 25`.

Detection costs ~20 ms a frame on two cores, so faces are detected every `detect_every` frames
(and on the first frame after a cut) and boxes in between are interpolated. Shot cuts come from
the mean absolute difference of tiny grayscale thumbnails of consecutive frames, which costs
almost nothing and is what matters for podcasts: hard cuts between camera angles. Tracks never
cross a cut, so a face in one camera angle is never confused with a face in the next.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from pipeline.faces import Face, FaceDetector
from pipeline.media import iter_video_frames, luma

__all__ = [
    "FPS",
    "FaceScan",
    "ScanOptions",
    "Track",
    "build_tracks",
    "iter_frames_25",
    "scan_faces",
]

FPS = 25
_THUMB = (64, 36)


@dataclass(frozen=True)
class ScanOptions:
    """How faces are found and followed.

    Attributes:
        detect_every: run the detector on every k-th frame (8 → ~3 detections a second;
            podcast faces move slowly and boxes between detections are interpolated).
        cut_threshold: mean absolute thumbnail difference (0–255) that marks a shot cut;
            camera drift and talking stay under ~5, a cut between angles is 30+.
        min_iou: overlap needed to continue a track from its last box.
        max_gap: frames a track may go undetected before it ends (gaps are bridged).
        min_detections: shorter tracks are dropped as false positives.
        smooth: median-filter width, in detections, for box centres and sizes.
    """

    detect_every: int = 8
    cut_threshold: float = 24.0
    min_iou: float = 0.3
    max_gap: int = 24
    min_detections: int = 3
    smooth: int = 5


@dataclass(frozen=True)
class Track:
    """One face followed through one shot: a box for every frame in [first, last]."""

    id: int
    first: int
    boxes: np.ndarray = field(repr=False)  # (n, 4) float32 x, y, w, h per frame
    detections: int = 0

    @property
    def last(self) -> int:
        return self.first + len(self.boxes) - 1

    def covers(self, frame: int) -> bool:
        return self.first <= frame <= self.last

    def box(self, frame: int) -> np.ndarray:
        return self.boxes[frame - self.first]


@dataclass(frozen=True)
class FaceScan:
    """Face tracks and shot cuts of one clip on the 25 fps timeline."""

    start: float
    frames: int
    source_size: tuple[int, int]
    tracks: list[Track]
    cuts: list[int]  # frame indices where a new shot begins (0 is implied, not listed)
    detector_runs: int = 0

    def visible(self, frame: int) -> list[Track]:
        return [t for t in self.tracks if t.covers(frame)]

    def shots(self) -> list[tuple[int, int]]:
        """Half-open frame ranges of the shots."""
        edges = [0, *self.cuts, self.frames]
        return [(a, b) for a, b in itertools.pairwise(edges) if b > a]


def iter_frames_25(path: Path, start: float, end: float) -> Iterator[tuple[int, av.VideoFrame]]:
    """Yield `(i, bgr)` for each 25 fps slot in [start, end), repeating or skipping source frames
    so that any source rate maps onto the timeline LR-ASD expects."""
    total = round((end - start) * FPS)
    slot = 0
    previous: av.VideoFrame | None = None
    for t, image in iter_video_frames(path, start, end):
        index = min(round((t - start) * FPS), total)
        fill = previous if previous is not None else image
        while slot < index:
            yield slot, fill
            slot += 1
        if slot == index < total:
            yield slot, image
            slot += 1
        previous = image
    while slot < total and previous is not None:
        yield slot, previous
        slot += 1


def scan_faces(
    path: Path,
    start: float,
    end: float,
    detector: FaceDetector,
    options: ScanOptions | None = None,
) -> FaceScan:
    """Detect, cut and track faces in the clip [start, end) of `path`."""
    import cv2

    options = options or ScanOptions()
    detections: dict[int, list[Face]] = {}
    cuts: list[int] = []
    previous_thumb: np.ndarray | None = None
    size = (0, 0)
    frames = 0
    since_detect = options.detect_every
    for index, frame in iter_frames_25(path, start, end):
        frames = index + 1
        size = (frame.width, frame.height)
        # Subsample before resizing: a cut shows at any resolution, and this is per frame.
        gray = luma(frame)
        stride = max(1, gray.shape[1] // (4 * _THUMB[0]))
        small = gray[::stride, ::stride]
        thumb = cv2.resize(small, _THUMB, interpolation=cv2.INTER_AREA).astype(np.int16)
        cut = (
            previous_thumb is not None
            and float(np.abs(thumb - previous_thumb).mean()) > options.cut_threshold
        )
        previous_thumb = thumb
        if cut:
            cuts.append(index)
            since_detect = options.detect_every
        if since_detect >= options.detect_every:
            detections[index] = detector.detect(frame.to_ndarray(format="bgr24"))
            since_detect = 0
        since_detect += 1
    tracks = build_tracks(detections, cuts, frames, options)
    return FaceScan(start, frames, size, tracks, cuts, detector_runs=len(detections))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def build_tracks(
    detections: dict[int, list[Face]],
    cuts: list[int],
    frames: int,
    options: ScanOptions | None = None,
) -> list[Track]:
    """Link detections into tracks within each shot; fill gaps and smooth the boxes."""
    options = options or ScanOptions()
    edges = [0, *cuts, frames]
    raw: list[list[tuple[int, np.ndarray]]] = []
    for shot_start, shot_end in itertools.pairwise(edges):
        raw.extend(_link(detections, shot_start, shot_end, options))
    tracks = []
    for points in raw:
        if len(points) < options.min_detections:
            continue
        shot_end = next(e for e in edges[1:] if e > points[0][0])
        tracks.append(_fill(len(tracks), points, shot_end, options))
    return tracks


def _link(
    detections: dict[int, list[Face]], shot_start: int, shot_end: int, options: ScanOptions
) -> list[list[tuple[int, np.ndarray]]]:
    open_tracks: list[list[tuple[int, np.ndarray]]] = []
    closed: list[list[tuple[int, np.ndarray]]] = []
    for frame in sorted(f for f in detections if shot_start <= f < shot_end):
        for track in [t for t in open_tracks if frame - t[-1][0] > options.max_gap]:
            open_tracks.remove(track)
            closed.append(track)
        boxes = [np.array([f.x, f.y, f.w, f.h], dtype=np.float32) for f in detections[frame]]
        # Greedy matching, best overlaps first: podcasts have few faces, so this is exact enough.
        pairs = sorted(
            (
                (_iou(t[-1][1], b), ti, bi)
                for ti, t in enumerate(open_tracks)
                for bi, b in enumerate(boxes)
            ),
            reverse=True,
        )
        used_tracks: set[int] = set()
        used_boxes: set[int] = set()
        for iou, ti, bi in pairs:
            if iou < options.min_iou or ti in used_tracks or bi in used_boxes:
                continue
            open_tracks[ti].append((frame, boxes[bi]))
            used_tracks.add(ti)
            used_boxes.add(bi)
        open_tracks.extend([(frame, b)] for bi, b in enumerate(boxes) if bi not in used_boxes)
    return closed + open_tracks


def _median_smooth(values: np.ndarray, width: int) -> np.ndarray:
    if width <= 1 or len(values) < 3:
        return values
    half = width // 2
    padded = np.pad(values, ((half, half), (0, 0)), mode="edge")
    return np.stack([np.median(padded[i : i + width], axis=0) for i in range(len(values))])


def _fill(
    track_id: int, points: list[tuple[int, np.ndarray]], shot_end: int, options: ScanOptions
) -> Track:
    frames = np.array([p[0] for p in points])
    boxes = np.stack([p[1] for p in points])
    # Smooth centre and size rather than corners, so a box never shrinks towards one side.
    centres = np.column_stack(
        [boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2, boxes[:, 2], boxes[:, 3]]
    )
    centres = _median_smooth(centres, options.smooth)
    # Extend past the last detection up to the next detection slot, within the shot.
    last = min(int(frames[-1]) + options.detect_every - 1, shot_end - 1)
    span = np.arange(int(frames[0]), last + 1)
    filled = np.column_stack([np.interp(span, frames, centres[:, k]) for k in range(4)])
    out = np.column_stack(
        [
            filled[:, 0] - filled[:, 2] / 2,
            filled[:, 1] - filled[:, 3] / 2,
            filled[:, 2],
            filled[:, 3],
        ]
    ).astype(np.float32)
    return Track(id=track_id, first=int(frames[0]), boxes=out, detections=len(points))
