from __future__ import annotations

import itertools
from pathlib import Path

import av
import numpy as np
import pytest

from pipeline.captions import write_captions
from pipeline.errors import InvalidInput, StageFailed
from pipeline.reframe import FrameWindow, ReframePlan
from pipeline.render import RenderOptions, _path_expression, build_argv, render_clip
from pipeline.transcribe import Word
from tests.conftest import run_ffmpeg


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
    assert graph.startswith("[0:v]crop=w=404:h=720:x='100.00':y='0.00',scale=1080:1920")
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


def _evaluate(expression: str, t: float) -> float:
    """Evaluate the subset of ffmpeg's expression language the path builder emits."""
    return float(
        eval(
            expression,
            {"__builtins__": {}},
            {
                "t": t,
                "gte": lambda a, b: float(a >= b),
                "clip": lambda x, lo, hi: min(max(x, lo), hi),
            },
        )
    )


def test_path_expression_reproduces_holds_pans_and_cuts() -> None:
    hold = [100.0] * 30
    pan = list(np.linspace(100, 220, 40))
    after_cut = [800.0] * 20
    ease = [800 + 60 * (1 - np.cos(np.pi * k / 30)) / 2 for k in range(30)]
    values = hold + pan + after_cut + ease
    expression = _path_expression(values, 25.0)
    assert expression.count("gte(") == 1  # one cut
    for k, value in enumerate(values):
        assert _evaluate(expression, k / 25) == pytest.approx(value, abs=1.0), k
    assert _path_expression([42.0] * 100, 25.0) == "42.00"


def test_mixed_layout_plan_renders_to_the_right_length(tmp_path: Path, ffmpeg: str) -> None:
    source = tmp_path / "src.mp4"
    run_ffmpeg(
        ffmpeg, "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=3",
        "-f", "lavfi", "-i", "sine=frequency=300:duration=3",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
        source.as_posix(),
    )  # fmt: skip
    frames = [FrameWindow(i / 25, 10 + 2 * i, 0, 202, 360, "crop", 0) for i in range(25)]
    frames += [FrameWindow(i / 25, 0, 0, 640, 360, "letterbox", None) for i in range(25, 50)]
    panes = ((0, 0, 200, 178, 0), (400, 100, 200, 178, 1))
    frames += [FrameWindow(i / 25, 0, 0, 600, 278, "split", None, panes) for i in range(50, 75)]
    plan = ReframePlan(fps=25, source_size=(640, 360), frames=frames, method="test")
    ass = tmp_path / "c.ass"
    write_captions(
        [Word("hello", 0.2, 0.6), Word("world", 2.0, 2.5)], 0.0, 3.0, ass, tmp_path / "c.srt"
    )
    out = render_clip(
        source, 0.0, 3.0, plan, ass, tmp_path / "clip.mp4", RenderOptions(preset="ultrafast")
    )
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (1080, 1920)
        decoded = sum(1 for _ in container.decode(stream))
    assert decoded == 75
