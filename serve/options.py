"""Settings and per-request choices mapped onto the pipeline's typed option objects.

The CLI, the job coordinator and the seed-compatible `/process_video` all build their
`JobOptions` here, so a setting means the same thing everywhere.
"""

from __future__ import annotations

from pipeline.assets import AssetOptions
from pipeline.errors import InvalidInput
from pipeline.job import JobOptions
from pipeline.moments import MomentOptions
from pipeline.reframe import ReframeOptions
from pipeline.render import RenderOptions
from pipeline.speakers import SpeakerOptions
from pipeline.transcribe import TranscribeOptions
from serve.settings import Settings

__all__ = ["build_job_options"]


def build_job_options(
    settings: Settings,
    *,
    num_clips: int,
    min_seconds: float = 30.0,
    max_seconds: float = 60.0,
    selector: str = "auto",
    whisper_model: str | None = None,
    language: str | None = None,
    preset: str = "veryfast",
    crf: int = 23,
    split: bool = False,
) -> JobOptions:
    if min_seconds > max_seconds:
        raise InvalidInput(
            f"min_seconds ({min_seconds:g}) must not exceed max_seconds ({max_seconds:g})"
        )
    key = settings.gemini_api_key.get_secret_value() if settings.gemini_api_key else None
    assets = AssetOptions(
        model_dir=settings.model_dir,
        cache_dir=settings.cache_dir,
        allow_download=settings.allow_downloads,
    )
    return JobOptions(
        transcribe=TranscribeOptions(
            model=whisper_model or settings.whisper_model,
            language=language,
            device=settings.whisper_device,
            compute_type=settings.whisper_compute_type,
        ),
        moments=MomentOptions(
            num_clips=num_clips,
            min_seconds=min_seconds,
            max_seconds=max_seconds,
            prefer_min_seconds=min(max(40.0, min_seconds), max_seconds),
            selector=selector,
            gemini_api_key=key,
            gemini_model=settings.gemini_model,
            gemini_base_url=settings.gemini_base_url,
        ),
        speakers=SpeakerOptions(
            model_dir=settings.model_dir,
            cache_dir=settings.cache_dir,
            allow_download=settings.allow_downloads,
        ),
        reframe=ReframeOptions(split=split),
        render=RenderOptions(ffmpeg=settings.ffmpeg, preset=preset, crf=crf),
        assets=assets,
    )
