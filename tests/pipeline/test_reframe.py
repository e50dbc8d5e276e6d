from __future__ import annotations

import pytest

from pipeline.faces import Face
from pipeline.reframe import crop_size, plan_static


def _face(cx: float, cy: float, size: float = 160) -> Face:
    return Face(cx - size / 2, cy - size / 2, size, size, 0.95)


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


def test_static_plan_centres_the_face_seen_most() -> None:
    detections = [
        [_face(300, 300), _face(1000, 320)] if i % 3 else [_face(300, 300)] for i in range(12)
    ]
    plan = plan_static(detections, source_size=(1280, 720), duration=2.0, fps=25)
    assert len(plan.frames) == 50
    first = plan.frames[0]
    assert first.layout == "crop"
    assert first.x + first.w / 2 == pytest.approx(300, abs=2)
    assert {(f.x, f.y, f.w, f.h) for f in plan.frames} == {(first.x, first.y, first.w, first.h)}


@pytest.mark.parametrize("cx", [0.0, 40.0, 1270.0, 1280.0])
def test_static_plan_window_stays_inside_the_frame(cx: float) -> None:
    plan = plan_static([[_face(cx, 360)]] * 5, source_size=(1280, 720), duration=1.0, fps=25)
    for f in plan.frames:
        assert 0 <= f.x and f.x + f.w <= 1280 and 0 <= f.y and f.y + f.h <= 720


def test_static_plan_letterboxes_without_enough_faces() -> None:
    detections = [[]] * 9 + [[_face(600, 300)]]
    plan = plan_static(detections, source_size=(1280, 720), duration=1.0, fps=25)
    assert {f.layout for f in plan.frames} == {"letterbox"}
    assert plan.frames[0].track is None


def test_plan_json_has_the_contract_fields() -> None:
    plan = plan_static([[_face(600, 300)]], source_size=(1280, 720), duration=0.2, fps=25)
    data = plan.to_json()
    assert data["fps"] == 25 and data["source_size"] == [1280, 720]
    assert set(data["frames"][0]) == {"t", "x", "y", "w", "h", "layout", "track"}
    assert [f["t"] for f in data["frames"]] == [0.0, 0.04, 0.08, 0.12, 0.16]
