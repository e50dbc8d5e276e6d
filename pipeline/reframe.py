"""Reframing a 16:9 moment to 9:16: where the crop window sits on every frame.

This version holds one face-centred window for the whole clip: the face that is seen most often
(clustered by horizontal position) is centred, with the eyes in the upper third when the
source is tall enough to move vertically. With too few faces the clip is letterboxed over a
blurred copy of itself instead of cropping a wall.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.faces import Face

__all__ = ["FrameWindow", "ReframePlan", "crop_size", "plan_static"]

OUTPUT_ASPECT = 9 / 16
# Below this share of sampled frames with a face, a crop would mostly frame nothing.
MIN_FACE_SHARE = 0.3
# Faces closer than this share of the frame width are taken to be the same person.
CLUSTER_WIDTH = 0.12


@dataclass(frozen=True)
class FrameWindow:
    """The source-pixel window shown at clip time `t`."""

    t: float
    x: int
    y: int
    w: int
    h: int
    layout: str  # "crop" | "letterbox" | "split"
    track: int | None


@dataclass(frozen=True)
class ReframePlan:
    fps: float
    source_size: tuple[int, int]
    frames: list[FrameWindow]
    method: str

    def to_json(self) -> dict:
        return {
            "fps": self.fps,
            "source_size": list(self.source_size),
            "method": self.method,
            "frames": [
                {
                    "t": round(f.t, 3),
                    "x": f.x,
                    "y": f.y,
                    "w": f.w,
                    "h": f.h,
                    "layout": f.layout,
                    "track": f.track,
                }
                for f in self.frames
            ],
        }


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def crop_size(width: int, height: int) -> tuple[int, int]:
    """The largest 9:16 window (even sides, as x264 needs) inside a width×height source."""
    if width / height > OUTPUT_ASPECT:
        return _even(height * OUTPUT_ASPECT), _even(height)
    return _even(width), _even(width / OUTPUT_ASPECT)


def _main_face(detections: Sequence[Sequence[Face]], width: int) -> list[Face]:
    """The faces of the person seen most often, clustered by horizontal centre."""
    clusters: list[list[Face]] = []
    for faces in detections:
        for face in faces:
            for cluster in clusters:
                if abs(np.median([f.cx for f in cluster]) - face.cx) < CLUSTER_WIDTH * width:
                    cluster.append(face)
                    break
            else:
                clusters.append([face])
    if not clusters:
        return []
    return max(clusters, key=lambda c: (len(c), np.median([f.w * f.h for f in c])))


def plan_static(
    detections: Sequence[Sequence[Face]],
    *,
    source_size: tuple[int, int],
    duration: float,
    fps: float,
) -> ReframePlan:
    """One window for the whole clip from faces detected on sampled frames."""
    width, height = source_size
    n_frames = max(1, round(duration * fps))
    with_face = sum(1 for faces in detections if faces)
    face_share = with_face / len(detections) if detections else 0.0
    main = _main_face(detections, width) if face_share >= MIN_FACE_SHARE else []
    if not main:
        window = (0, 0, width, height, "letterbox", None)
        method = "letterbox: no face in enough frames"
    else:
        cw, ch = crop_size(width, height)
        cx = float(np.median([f.cx for f in main]))
        cy = float(np.median([f.cy for f in main]))
        x = int(np.clip(round(cx - cw / 2), 0, width - cw))
        # Eyes in the upper third; only matters when the source is taller than the window.
        y = int(np.clip(round(cy - ch / 3), 0, height - ch))
        window = (x, y, cw, ch, "crop", 0)
        method = f"static face crop ({len(main)} detections of the main face)"
    x, y, w, h, layout, track = window
    frames = [FrameWindow(i / fps, x, y, w, h, layout, track) for i in range(n_frames)]
    return ReframePlan(fps=fps, source_size=(width, height), frames=frames, method=method)
