"""Rendering a clip: ONE ffmpeg process that seeks, crops, scales, burns captions and encodes.

Doing everything in one pass means one decode and one encode per clip (the original product cut,
re-encoded, cropped and burned subtitles in separate passes). The output is written under a
temporary name and renamed when ffmpeg succeeds, so a failed run never leaves a half-written
file under a final clip name.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.captions import ass_filter, font_dir
from pipeline.errors import InvalidInput, StageFailed
from pipeline.reframe import ReframePlan

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
OUT_W, OUT_H = 1080, 1920


@dataclass(frozen=True)
class RenderOptions:
    """Encoder settings.

    Attributes:
        ffmpeg: path to the ffmpeg binary; None uses the static build from imageio-ffmpeg.
        preset: x264 preset; veryfast is ~0.4–0.8× real time per clip on two cores.
        crf: x264 constant rate factor (lower is better and bigger).
        audio_bitrate: AAC bitrate.
    """

    ffmpeg: str | None = None
    preset: str = "veryfast"
    crf: int = 23
    audio_bitrate: str = "128k"

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise InvalidInput(
                f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}"
            )
        if not 0 <= self.crf <= 51:
            raise InvalidInput(f"crf must be between 0 and 51, got {self.crf}")


def ffmpeg_exe(override: str | None = None) -> str:
    if override:
        return override
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _video_graph(plan: ReframePlan, captions: str) -> str:
    first = plan.frames[0]
    if first.layout == "letterbox":
        # Blur a small copy: a big box blur on 1080×1920 costs more than the encode.
        return (
            "[0:v]split=2[bg][fg];"
            "[bg]scale=270:480:force_original_aspect_ratio=increase,crop=270:480,"
            f"boxblur=10:2,scale={OUT_W}:{OUT_H}[bgb];"
            f"[fg]scale={OUT_W}:-2:flags=lanczos[fgs];"
            f"[bgb][fgs]overlay=(W-w)/2:(H-h)/2,setsar=1,{captions}[v]"
        )
    return (
        f"[0:v]crop={first.w}:{first.h}:{first.x}:{first.y},"
        f"scale={OUT_W}:{OUT_H}:flags=lanczos,setsar=1,{captions}[v]"
    )


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
        "-c:v", "libx264",
        "-preset", options.preset,
        "-crf", str(options.crf),
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
    partial = output.with_name(f".{output.name}.part")
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
