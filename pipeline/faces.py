"""Face detection with YuNet (`cv2.FaceDetectorYN`).

YuNet is small (317 KB, Apache-2.0), runs in ~20 ms on a 640 px frame on two CPU cores, and
gives five landmarks. Frames are scaled to ~640 px wide before detection because the cost grows
with the pixel count while podcast faces stay far above YuNet's minimum size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DETECT_WIDTH", "Face", "FaceDetector"]

DETECT_WIDTH = 640
MIN_SCORE = 0.8  # 0.6 gave false positives on star fields (notes/libraries.md §11)
NMS_THRESHOLD = 0.3


@dataclass(frozen=True)
class Face:
    """A face box in source pixels, with YuNet's confidence and landmarks."""

    x: float
    y: float
    w: float
    h: float
    score: float
    landmarks: tuple[tuple[float, float], ...] = ()

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


class FaceDetector:
    """YuNet loaded once; `detect` takes full-size BGR frames and returns source-pixel boxes."""

    def __init__(self, model_path: Path, *, min_score: float = MIN_SCORE) -> None:
        import cv2

        self._cv2 = cv2
        # OpenCV 5 warns that YuNet's graph ignores setPreferableTarget on every load: noise.
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        self._net = cv2.FaceDetectorYN.create(
            str(model_path), "", (DETECT_WIDTH, DETECT_WIDTH), min_score, NMS_THRESHOLD, 5000
        )
        self._size: tuple[int, int] | None = None

    def detect(self, frame: np.ndarray) -> list[Face]:
        height, width = frame.shape[:2]
        scale = min(1.0, DETECT_WIDTH / width)
        small = frame
        if scale < 1.0:
            size = (round(width * scale), round(height * scale))
            small = self._cv2.resize(frame, size, interpolation=self._cv2.INTER_AREA)
        size = (small.shape[1], small.shape[0])
        if size != self._size:
            self._net.setInputSize(size)
            self._size = size
        _, raw = self._net.detect(small)
        if raw is None:
            return []
        faces = []
        for row in raw:
            x, y, w, h = (float(v) / scale for v in row[:4])
            marks = tuple(
                (float(row[4 + 2 * i]) / scale, float(row[5 + 2 * i]) / scale) for i in range(5)
            )
            faces.append(Face(x, y, w, h, float(row[14]), marks))
        return faces
