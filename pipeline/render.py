"""Rendering a clip: ONE ffmpeg process that seeks, crops, scales, burns captions and encodes.

Doing everything in one pass means one decode and one encode per clip (the original product cut,
re-encoded, cropped and burned subtitles in separate passes). The output is written under a
temporary name and renamed when ffmpeg succeeds, so a failed run never leaves a half-written
file under a final clip name.
"""

from __future__ import annotations

import logging
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.captions import ass_filter, font_dir
from pipeline.errors import InvalidInput, StageFailed
from pipeline.reframe import FrameWindow, ReframePlan

__all__ = ["PRESETS", "RenderOptions", "build_argv", "ffmpeg_exe", "render_clip"]

logger = logging.getLogger("clipzz.pipeline")

PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)
ENCODERS = ("libx264", "h264_nvenc")
OUT_W, OUT_H = 1080, 1920


@dataclass(frozen=True)
class RenderOptions:
    """Encoder settings.

    Attributes:
        ffmpeg: path to the ffmpeg binary; None uses the static build from imageio-ffmpeg.
        encoder: "libx264", or "h264_nvenc" on a GPU host (the preset then maps to p1–p7 and
            crf to NVENC's constant-quality value).
        preset: x264 preset; veryfast is ~0.4–0.8× real time per clip on two cores.
        crf: x264 constant rate factor (lower is better and bigger).
        audio_bitrate: AAC bitrate.
    """

    ffmpeg: str | None = None
    encoder: str = "libx264"
    preset: str = "veryfast"
    crf: int = 23
    audio_bitrate: str = "128k"

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise InvalidInput(
                f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}"
            )
        if self.encoder not in ENCODERS:
            raise InvalidInput(f"unknown encoder {self.encoder!r}; choose {' or '.join(ENCODERS)}")
        if not 0 <= self.crf <= 51:
            raise InvalidInput(f"crf must be between 0 and 51, got {self.crf}")


def ffmpeg_exe(override: str | None = None) -> str:
    if override:
        return override
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


# A window jump larger than this between two frames is a cut, not part of a pan.
_JUMP_PX = 24.0
# Linear pieces of the camera path may deviate from the planned pixels by this much.
_PATH_TOLERANCE_PX = 1.0


def _path_expression(values: list[float], fps: float) -> str:
    """An ffmpeg expression of `t` that reproduces a per-frame camera coordinate.

    The path is a start value plus one term per cut (a step) and per pan (a linear ramp), so a
    still camera is a constant and a few pans stay short, while `crop` evaluates it per frame.
    """
    terms = [f"{values[0]:.2f}"]
    half = 0.5 / fps
    anchor = 0
    k = 1
    while k < len(values):
        if abs(values[k] - values[k - 1]) > _JUMP_PX:
            if k - 1 > anchor:
                terms.append(_ramp(values, anchor, k - 1, fps))
            terms.append(f"{values[k] - values[k - 1]:.2f}*gte(t,{k / fps - half:.4f})")
            anchor = k
        elif not _fits_line(values, anchor, k):
            if k - 1 > anchor:
                terms.append(_ramp(values, anchor, k - 1, fps))
            anchor = k - 1
            continue
        k += 1
    if len(values) - 1 > anchor:
        terms.append(_ramp(values, anchor, len(values) - 1, fps))
    return "+".join(t for t in terms if t)


def _fits_line(values: list[float], i: int, j: int) -> bool:
    if j - i < 2:
        return True
    line = np.linspace(values[i], values[j], j - i + 1)
    return bool(np.abs(np.asarray(values[i : j + 1]) - line).max() <= _PATH_TOLERANCE_PX)


def _ramp(values: list[float], i: int, j: int, fps: float) -> str:
    delta = values[j] - values[i]
    if abs(delta) < 1e-6:
        return ""
    return f"{delta:.2f}*clip((t-{i / fps:.4f})/{(j - i) / fps:.4f},0,1)"


def _crop_chain(frames: list[FrameWindow], fps: float) -> str:
    first = frames[0]
    x = _path_expression([f.x for f in frames], fps)
    y = _path_expression([f.y for f in frames], fps)
    return f"crop=w={first.w}:h={first.h}:x='{x}':y='{y}',scale={OUT_W}:{OUT_H}:flags=lanczos"


def _letterbox_chain(label: str) -> str:
    # Blur a small copy: a big box blur on 1080×1920 costs more than the encode.
    return (
        f"split=2[{label}bg][{label}fg];"
        f"[{label}bg]scale=270:480:force_original_aspect_ratio=increase,crop=270:480,"
        f"boxblur=10:2,scale={OUT_W}:{OUT_H}[{label}bgb];"
        f"[{label}fg]scale={OUT_W}:-2:flags=lanczos[{label}fgs];"
        f"[{label}bgb][{label}fgs]overlay=(W-w)/2:(H-h)/2"
    )


def _split_chain(frame: FrameWindow, label: str) -> str:
    (tx, ty, tw, th, _), (bx, by, bw, bh, _) = frame.panes
    half = OUT_H // 2
    return (
        f"split=2[{label}a][{label}b];"
        f"[{label}a]crop={tw}:{th}:{tx}:{ty},scale={OUT_W}:{half}:flags=lanczos[{label}top];"
        f"[{label}b]crop={bw}:{bh}:{bx}:{by},scale={OUT_W}:{half}:flags=lanczos[{label}bot];"
        f"[{label}top][{label}bot]vstack"
    )


def _runs(plan: ReframePlan) -> list[tuple[int, int]]:
    """Frame ranges with one layout (and one pane set), end exclusive."""
    runs, start = [], 0
    frames = plan.frames
    for i in range(1, len(frames) + 1):
        if i == len(frames) or (frames[i].layout, frames[i].panes) != (
            frames[start].layout,
            frames[start].panes,
        ):
            runs.append((start, i))
            start = i
    return runs


def _chain(plan: ReframePlan, a: int, b: int, label: str) -> str:
    frames = plan.frames[a:b]
    layout = frames[0].layout
    if layout == "letterbox":
        return _letterbox_chain(label)
    if layout == "split":
        return _split_chain(frames[0], label)
    return _crop_chain(frames, plan.fps)


def _video_graph(plan: ReframePlan, captions: str) -> str:
    """One filter graph for the whole clip: a chain per layout run, joined by concat."""
    if not plan.frames:
        raise InvalidInput("the reframe plan has no frames")
    runs = _runs(plan)
    if len(runs) == 1:
        return f"[0:v]{_chain(plan, 0, len(plan.frames), 'r0')},setsar=1,{captions}[v]"
    parts = ["[0:v]split=" + str(len(runs)) + "".join(f"[p{i}]" for i in range(len(runs)))]
    for i, (a, b) in enumerate(runs):
        bounds = ([f"start={a / plan.fps:.4f}"] if a else []) + (
            [f"end={b / plan.fps:.4f}"] if b < len(plan.frames) else []
        )
        parts.append(
            f"[p{i}]trim={':'.join(bounds)},setpts=PTS-STARTPTS,"
            f"{_chain(plan, a, b, f'r{i}')},setsar=1[s{i}]"
        )
    joined = "".join(f"[s{i}]" for i in range(len(runs)))
    parts.append(f"{joined}concat=n={len(runs)}:v=1:a=0,{captions}[v]")
    return ";".join(parts)


def _encoder_args(options: RenderOptions) -> list[str]:
    if options.encoder == "h264_nvenc":
        nvenc_preset = f"p{min(7, max(1, PRESETS.index(options.preset) - 1))}"
        return ["-c:v", "h264_nvenc", "-preset", nvenc_preset, "-cq", str(options.crf)]
    return ["-c:v", "libx264", "-preset", options.preset, "-crf", str(options.crf)]


def build_argv(
    source: Path,
    start: float,
    end: float,
    plan: ReframePlan,
    ass_path: Path,
    output: Path,
    options: RenderOptions,
) -> list[str]:
    """The ffmpeg command line for one clip (an argv list: no shell ever sees it)."""
    graph = _video_graph(plan, ass_filter(ass_path, font_dir()))
    return [
        ffmpeg_exe(options.ffmpeg),
        "-hide_banner",
        "-nostdin",
        "-y",
        "-loglevel", "error",
        "-progress", "pipe:1",
        "-nostats",
        # -ss before -i seeks the input quickly; re-encoding keeps the cut frame-accurate.
        "-ss", f"{start:.3f}",
        "-t", f"{end - start:.3f}",
        "-i", str(source),
        "-filter_complex", graph,
        "-map", "[v]",
        "-map", "0:a:0",
        *_encoder_args(options),
        "-pix_fmt", "yuv420p",
        "-c:a", "aac",
        "-b:a", options.audio_bitrate,
        "-movflags", "+faststart",
        "-f", "mp4",
        str(output),
    ]  # fmt: skip


def render_clip(
    source: Path,
    start: float,
    end: float,
    plan: ReframePlan,
    ass_path: Path,
    output: Path,
    options: RenderOptions | None = None,
    progress: Callable[[float], None] | None = None,
) -> Path:
    """Render one clip to `output`; `progress` gets the done fraction as ffmpeg reports it."""
    options = options or RenderOptions()
    # A unique name: a retried render must not share a file with an orphaned ffmpeg.
    partial = output.with_name(f".{output.name}.{uuid.uuid4().hex[:8]}.part")
    argv = build_argv(source, start, end, plan, ass_path, partial, options)
    duration = end - start
    logger.debug("render: %s", argv)
    try:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            if progress and line.startswith("out_time_us=") and line[12:].strip().isdigit():
                progress(min(1.0, int(line[12:]) / 1e6 / duration))
        stderr = proc.stderr.read() if proc.stderr else ""
        code = proc.wait()
        if code != 0:
            last = stderr.strip().splitlines()[-1:] or [f"exit code {code}"]
            raise StageFailed("render", f"ffmpeg failed: {last[0]}")
        partial.replace(output)
    except OSError as exc:
        raise StageFailed("render", f"cannot run ffmpeg: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return output
