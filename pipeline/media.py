"""Probe and decode media with PyAV.

PyAV bundles its own FFmpeg libraries, so probing and decoding need no system ffmpeg. Every
failure of the container or codec layer is turned into a `MediaError` with a one-line reason,
because users hand us arbitrary files and deserve a clear message, not a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from pipeline.errors import MediaError

__all__ = ["MediaInfo", "decode_audio", "iter_frames", "iter_video_frames", "luma", "probe"]

logger = logging.getLogger("clipzz.pipeline")

AUDIO_RATE = 16_000


@dataclass(frozen=True)
class MediaInfo:
    """What a media file holds; only files with both video and audio are usable."""

    path: Path
    duration: float
    width: int
    height: int
    fps: float
    video_codec: str
    audio_codec: str
    audio_rate: int


def probe(path: str | Path) -> MediaInfo:
    """Check that `path` is a readable video with an audio track and describe it."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"file not found: {path}")
    if not path.is_file():
        raise MediaError(f"not a file: {path}")
    if path.stat().st_size == 0:
        raise MediaError(f"file is empty: {path}")
    try:
        with av.open(str(path)) as container:
            return _describe(path, container)
    except av.error.FFmpegError as exc:
        raise MediaError(f"not a readable video file ({_reason(exc)}): {path}") from exc


def _describe(path: Path, container: av.container.InputContainer) -> MediaInfo:
    # Cover art in audio files shows up as a one-frame video stream: ignore attached pictures.
    videos = [
        s
        for s in container.streams.video
        if not (s.disposition & av.stream.Disposition.attached_pic)
    ]
    audios = list(container.streams.audio)
    if not videos:
        raise MediaError(f"file has no video stream: {path}")
    if not audios:
        raise MediaError(f"file has no audio stream: {path}")
    video, audio = videos[0], audios[0]
    duration = _duration(container, video)
    if duration <= 0:
        raise MediaError(f"cannot determine the duration of: {path}")
    fps = float(video.average_rate or video.base_rate or 0) or 25.0
    if not video.codec_context.width or not video.codec_context.height:
        raise MediaError(f"video stream has no picture size: {path}")
    # Decode one frame so a container with a broken video payload fails here, not mid-job.
    try:
        next(container.decode(video=0))
    except (StopIteration, av.error.FFmpegError) as exc:
        raise MediaError(f"video stream cannot be decoded: {path}") from exc
    return MediaInfo(
        path=path,
        duration=duration,
        width=video.codec_context.width,
        height=video.codec_context.height,
        fps=fps,
        video_codec=video.codec_context.name,
        audio_codec=audio.codec_context.name,
        audio_rate=audio.codec_context.sample_rate or 0,
    )


def _duration(container: av.container.InputContainer, video: av.VideoStream) -> float:
    if container.duration:
        return container.duration / av.time_base
    if video.duration and video.time_base:
        return float(video.duration * video.time_base)
    return 0.0


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or type(exc).__name__


def decode_audio(path: str | Path, *, rate: int = AUDIO_RATE) -> np.ndarray:
    """Decode the first audio track to mono float32 samples at `rate` Hz."""
    chunks: list[np.ndarray] = []
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except (av.error.FFmpegError, IndexError) as exc:
        raise MediaError(f"audio cannot be decoded ({_reason(exc)}): {path}") from exc
    if not chunks:
        raise MediaError(f"audio track is empty: {path}")
    return np.concatenate(chunks).astype(np.float32, copy=False)


def iter_video_frames(
    path: str | Path, start: float, end: float
) -> Iterator[tuple[float, av.VideoFrame]]:
    """Yield `(t, frame)` for decoded frames with start <= t < end, unconverted.

    Converting a frame to an array costs more than decoding it, so callers convert only the
    frames they use, and only to the format they need (`luma` is almost free).
    """
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if start > 0:
                container.seek(int(start / stream.time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.time is None or frame.time < start - 1e-6:
                    continue
                if frame.time >= end:
                    break
                yield frame.time, frame
    except av.error.FFmpegError as exc:
        raise MediaError(f"video cannot be decoded ({_reason(exc)}): {path}") from exc


def luma(frame: av.VideoFrame) -> np.ndarray:
    """The frame as 8-bit grayscale; for YUV sources this is a copy of the Y plane."""
    if frame.format.name in ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "nv12"):
        plane = frame.planes[0]
        rows = np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, plane.line_size)
        return rows[:, : plane.width].copy()
    return frame.to_ndarray(format="gray")


def iter_frames(
    path: str | Path,
    start: float,
    end: float,
    *,
    step: float = 0.0,
    width: int | None = None,
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield `(t, bgr)` for frames with start <= t < end, at most one per `step` seconds.

    `width` scales kept frames down for analysis.
    """
    import cv2

    next_t = start
    for t, frame in iter_video_frames(path, start, end):
        if t + 1e-6 < next_t:
            continue
        next_t = t + step
        image = frame.to_ndarray(format="bgr24")
        if width and image.shape[1] > width:
            height = round(image.shape[0] * width / image.shape[1])
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        yield t, image
