from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.faces import Face, FaceDetector
from pipeline.tracks import ScanOptions, build_tracks, scan_faces
from tests.conftest import run_ffmpeg


def _face(x: float, y: float = 100, size: float = 150) -> Face:
    return Face(x, y, size, size, 0.95)


def test_tracks_follow_two_faces_and_bridge_short_gaps() -> None:
    detections = {f: [_face(100 + f * 0.5), _face(900)] for f in range(0, 200, 8)}
    # The right face is missed on two detections in a row (~1 s without it): bridged.
    for f in (80, 88):
        detections[f] = [_face(100 + f * 0.5)]
    tracks = build_tracks(detections, [], 200, ScanOptions())
    assert len(tracks) == 2
    right = max(tracks, key=lambda t: t.boxes[0][0])
    assert (right.first, right.last) == (0, 199)
    assert right.box(84)[0] == pytest.approx(900, abs=1)
    left = min(tracks, key=lambda t: t.boxes[0][0])
    assert left.box(101)[0] == pytest.approx(
        100 + 101 * 0.5, abs=2
    )  # interpolated between detections


def test_tracks_end_after_a_long_gap() -> None:
    detections = {f: [_face(500)] for f in range(0, 80, 8)}
    detections.update({f: [_face(500)] for f in range(160, 240, 8)})
    tracks = build_tracks(detections, [], 240, ScanOptions())
    assert [(t.first, t.last) for t in tracks] == [(0, 79), (160, 239)]


def test_tracks_never_cross_a_cut() -> None:
    detections = {f: [_face(500)] for f in range(0, 240, 8)}
    detections[100] = [_face(500)]
    tracks = build_tracks(detections, [100], 240, ScanOptions())
    assert [(t.first, t.last) for t in tracks] == [(0, 99), (100, 239)]


def test_one_off_false_detections_are_dropped() -> None:
    detections = {f: [_face(500)] for f in range(0, 200, 8)}
    detections[64] = [_face(500), _face(1500, 600, 40)]
    tracks = build_tracks(detections, [], 200, ScanOptions())
    assert len(tracks) == 1


def test_smoothing_removes_a_single_outlier_box() -> None:
    detections = {f: [_face(500)] for f in range(0, 200, 8)}
    detections[96] = [_face(530)]
    (track,) = build_tracks(detections, [], 200, ScanOptions())
    assert np.abs(track.boxes[:, 0] - 500).max() < 1


@pytest.fixture(scope="module")
def two_angle_video(
    tmp_path_factory: pytest.TempPathFactory, sample_video: Path, ffmpeg: str
) -> Path:
    """2 s of the wide two-person shot, then a hard cut to a close-up of the left person."""
    out = tmp_path_factory.mktemp("cut") / "cut.mp4"
    run_ffmpeg(
        ffmpeg, "-ss", "30", "-t", "4", "-i", sample_video.as_posix(),
        "-filter_complex",
        "[0:v]split[a][b];[a]trim=0:2,setpts=PTS-STARTPTS[w];"
        "[b]trim=2:4,setpts=PTS-STARTPTS,crop=640:360:0:40,scale=1280:720[c];[w][c]concat=n=2:v=1[v]",
        "-map", "[v]", "-map", "0:a", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
        out.as_posix(),
    )  # fmt: skip
    return out


def test_scan_finds_the_cut_and_splits_tracks(two_angle_video: Path, model_dir: Path) -> None:
    detector = FaceDetector(model_dir / "yunet" / "yunet_n_640_640.onnx")
    scan = scan_faces(two_angle_video, 0.0, 4.0, detector)
    assert scan.frames == 100
    assert scan.cuts == [50]
    assert scan.shots() == [(0, 50), (50, 100)]
    before = [t for t in scan.tracks if t.last < 50]
    after = [t for t in scan.tracks if t.first >= 50]
    assert len(before) == 2 and len(after) == 1
    assert all(t.last < 50 or t.first >= 50 for t in scan.tracks)
    # The close-up face is about twice as wide as in the wide shot.
    assert after[0].boxes[:, 2].mean() > 1.6 * np.mean([t.boxes[:, 2].mean() for t in before])
