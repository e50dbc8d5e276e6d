from __future__ import annotations

import numpy as np
import pytest

from pipeline.reframe import LETTERBOX, ReframeOptions, choose_speakers, crop_size, plan_reframe
from pipeline.tracks import FaceScan, Track

W, H = 1280, 720
LEFT, RIGHT = (200.0, 130.0, 160.0, 200.0), (920.0, 130.0, 160.0, 200.0)


def _track(track_id: int, box: tuple[float, ...], first: int, last: int) -> Track:
    boxes = np.tile(np.array(box, dtype=np.float32), (last - first + 1, 1))
    return Track(id=track_id, first=first, boxes=boxes, detections=(last - first) // 8 + 1)


def _scan(tracks: list[Track], frames: int, cuts: list[int] | None = None) -> FaceScan:
    return FaceScan(start=0.0, frames=frames, source_size=(W, H), tracks=tracks, cuts=cuts or [])


def _turns(
    frames: int, turns: list[tuple[int, int, int]], noise: float = 0.3
) -> dict[int, np.ndarray]:
    """Scores like LR-ASD's: ~+3 for the speaker, ~-1 for the listener, with noise."""
    rng = np.random.default_rng(7)
    scores = {0: np.full(frames, -1.0), 1: np.full(frames, -1.0)}
    for speaker, a, b in turns:
        scores[speaker][a:b] = 3.0
    return {k: (v + rng.normal(0, noise, frames)).astype(np.float32) for k, v in scores.items()}


def _center_track(plan, i: int) -> int | None:
    return plan.frames[i].track


@pytest.mark.parametrize(
    ("w", "h", "expected"),
    [
        (1920, 1080, (606, 1080)),
        (1280, 720, (404, 720)),
        (1080, 1920, (1080, 1920)),
        (720, 1280, (720, 1280)),
    ],
)
def test_crop_size_is_the_largest_even_9_16_window(
    w: int, h: int, expected: tuple[int, int]
) -> None:
    cw, ch = crop_size(w, h)
    assert (cw, ch) == expected
    assert cw % 2 == 0 and ch % 2 == 0 and cw <= w and ch <= h


def test_switches_within_one_second_of_a_clear_turn() -> None:
    frames = 500
    scan = _scan([_track(0, LEFT, 0, frames - 1), _track(1, RIGHT, 0, frames - 1)], frames)
    scores = _turns(frames, [(0, 0, 250), (1, 250, 500)])
    plan = plan_reframe(scan, scores)
    tracks = [f.track for f in plan.frames]
    switch = next(i for i in range(1, frames) if tracks[i] != tracks[i - 1])
    assert abs(switch - 250) <= 25
    assert tracks[0] == 0 and tracks[-1] == 1
    assert sum(1 for i in range(1, frames) if tracks[i] != tracks[i - 1]) == 1


def test_short_blips_do_not_switch_the_camera() -> None:
    frames = 400
    scan = _scan([_track(0, LEFT, 0, frames - 1), _track(1, RIGHT, 0, frames - 1)], frames)
    # The listener says "mm-hm" for 0.3 s in the middle of a long answer.
    scores = _turns(frames, [(0, 0, 400), (1, 200, 208)])
    scores[0][200:208] = -1.0
    plan = plan_reframe(scan, scores)
    assert {f.track for f in plan.frames} == {0}


def test_windows_stay_inside_the_frame_and_contain_the_face() -> None:
    frames = 300
    edge_left = (0.0, 100.0, 150.0, 190.0)
    edge_right = (W - 150.0, 100.0, 150.0, 190.0)
    scan = _scan(
        [_track(0, edge_left, 0, frames - 1), _track(1, edge_right, 0, frames - 1)], frames
    )
    plan = plan_reframe(scan, _turns(frames, [(0, 0, 150), (1, 150, 300)]))
    for f in plan.frames:
        assert 0 <= f.x and f.x + f.w <= W and 0 <= f.y and f.y + f.h <= H
        box = edge_left if f.track == 0 else edge_right
        assert f.x <= box[0] and box[0] + box[2] <= f.x + f.w


def test_a_still_face_gets_a_still_camera() -> None:
    frames = 250
    rng = np.random.default_rng(3)
    boxes = np.tile(np.array(LEFT, dtype=np.float32), (frames, 1))
    boxes[:, 0] += rng.normal(0, 3, frames)  # detector wobble of a few pixels
    scan = _scan([Track(id=0, first=0, boxes=boxes, detections=30)], frames)
    plan = plan_reframe(scan, {0: np.full(frames, np.nan, dtype=np.float32)})
    assert len({(f.x, f.y) for f in plan.frames}) == 1


def test_the_camera_pans_smoothly_after_a_moving_face() -> None:
    frames = 250
    boxes = np.tile(np.array(LEFT, dtype=np.float32), (frames, 1))
    boxes[:, 0] += np.linspace(0, 300, frames)
    scan = _scan([Track(id=0, first=0, boxes=boxes, detections=30)], frames)
    xs = np.array([f.x for f in plan_reframe(scan, {0: np.zeros(frames, np.float32)}).frames])
    assert xs[-1] - xs[0] > 200
    assert np.abs(np.diff(xs)).max() <= 0.15 * W / 25 + 1  # never faster than the pan cap


def test_no_face_is_letterboxed_and_cuts_are_hard() -> None:
    frames = 200
    scan = _scan([_track(0, LEFT, 0, 99), _track(1, RIGHT, 100, 149)], frames, cuts=[100])
    plan = plan_reframe(scan, {0: np.zeros(100, np.float32), 1: np.zeros(50, np.float32)})
    layouts = [f.layout for f in plan.frames]
    assert layouts[:100] == ["crop"] * 100
    assert layouts[150:] == ["letterbox"] * 50
    assert plan.frames[99].track == 0 and plan.frames[100].track == 1
    assert plan.frames[100].x - plan.frames[99].x > 400  # a cut, not a pan
    assert plan.shot_cuts == [100]


def test_a_wide_shot_with_nobody_clearly_speaking_is_letterboxed() -> None:
    frames = 200
    scan = _scan([_track(0, LEFT, 0, frames - 1), _track(1, RIGHT, 0, frames - 1)], frames)
    rng = np.random.default_rng(1)
    scores = {k: rng.normal(-1.0, 0.05, frames).astype(np.float32) for k in (0, 1)}
    chosen = choose_speakers(scan, scores).framed
    assert set(chosen.tolist()) == {LETTERBOX}


def test_split_layout_for_rapid_turns_when_enabled() -> None:
    frames = 500
    scan = _scan([_track(0, LEFT, 0, frames - 1), _track(1, RIGHT, 0, frames - 1)], frames)
    turns = [(i % 2, a, a + 30) for i, a in enumerate(range(100, 400, 30))]
    scores = _turns(frames, [(0, 0, 100), *turns, (1, 400, 500)])
    assert "split" not in {f.layout for f in plan_reframe(scan, scores).frames}
    plan = plan_reframe(scan, scores, ReframeOptions(split=True, min_hold_s=0.5))
    split = [f for f in plan.frames if f.layout == "split"]
    assert len(split) > 100
    top, bottom = split[0].panes
    assert top[4] == 0 and bottom[4] == 1  # the left person on top
    for x, y, w, h, _ in split[0].panes:
        assert 0 <= x and x + w <= W and 0 <= y and y + h <= H
        assert w / h == pytest.approx(1080 / 960, rel=0.02)


def test_plan_json_has_the_contract_fields() -> None:
    scan = _scan([_track(0, LEFT, 0, 4)], 5)
    data = plan_reframe(scan, {0: np.zeros(5, np.float32)}).to_json()
    assert data["fps"] == 25 and data["source_size"] == [W, H]
    assert set(data["frames"][0]) == {"t", "x", "y", "w", "h", "layout", "track"}
    assert [f["t"] for f in data["frames"]] == [0.0, 0.04, 0.08, 0.12, 0.16]
    assert all(isinstance(f["x"], int) for f in data["frames"])
