from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from pipeline.errors import InvalidInput, StageFailed
from pipeline.reframe import FrameWindow, ReframePlan
from pipeline.render import RenderOptions, build_argv, render_clip


def _plan(layout: str = "crop") -> ReframePlan:
    frames = [FrameWindow(i / 25, 100, 0, 404, 720, layout, 0) for i in range(25)]
    return ReframePlan(fps=25, source_size=(1280, 720), frames=frames, method="test")


def test_argv_is_one_pass_with_fast_seek_crop_scale_captions_and_encoder(tmp_path: Path) -> None:
    argv = build_argv(
        Path("in put.mp4"), 12.5, 47.25, _plan(), tmp_path / "c.ass", tmp_path / "out.mp4",
        RenderOptions(ffmpeg="/bin/ffmpeg", preset="veryfast", crf=23),
    )  # fmt: skip
    assert argv[0] == "/bin/ffmpeg"
    # Seek and duration come before -i (input seeking), and the path stays one argument.
    assert argv.index("-ss") < argv.index("-i")
    assert argv[argv.index("-ss") + 1] == "12.500"
    assert argv[argv.index("-t") + 1] == "34.750"
    assert argv[argv.index("-i") + 1] == "in put.mp4"
    graph = argv[argv.index("-filter_complex") + 1]
    assert graph.startswith("[0:v]crop=404:720:100:0,scale=1080:1920")
    assert "ass=" in graph and "fontsdir=" in graph
    pairs = dict(itertools.pairwise(argv))
    assert pairs["-c:v"] == "libx264" and pairs["-preset"] == "veryfast" and pairs["-crf"] == "23"
    assert pairs["-c:a"] == "aac" and pairs["-b:a"] == "128k"
    assert pairs["-movflags"] == "+faststart" and pairs["-pix_fmt"] == "yuv420p"
    assert argv.count("-i") == 1


def test_letterbox_graph_blurs_the_background(tmp_path: Path) -> None:
    argv = build_argv(
        Path("a.mp4"),
        0,
        10,
        _plan("letterbox"),
        tmp_path / "c.ass",
        tmp_path / "o.mp4",
        RenderOptions(),
    )
    graph = argv[argv.index("-filter_complex") + 1]
    assert "boxblur" in graph and "overlay" in graph and "crop=404" not in graph


@pytest.mark.parametrize(("preset", "crf"), [("warp", 23), ("veryfast", 60), ("veryfast", -1)])
def test_bad_encoder_options_are_refused(preset: str, crf: int) -> None:
    with pytest.raises(InvalidInput):
        RenderOptions(preset=preset, crf=crf)


def test_failed_render_leaves_no_file_under_the_final_name(
    tmp_path: Path, bad_media: dict[str, Path]
) -> None:
    out = tmp_path / "clip_0.mp4"
    ass = tmp_path / "c.ass"
    ass.write_text("")
    with pytest.raises(StageFailed, match="render"):
        render_clip(bad_media["corrupt"], 0, 2, _plan(), ass, out, RenderOptions())
    assert list(tmp_path.iterdir()) == [ass]
