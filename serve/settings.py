"""Settings from the environment: the only place clipzz reads environment variables.

Lower layers (`pipeline/`, `db/`, `billing/`) receive typed option objects built here.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLIPZZ_", extra="ignore")

    # Directory laid out like shared/assets (yunet/…, lr-asd/…); checked before any download.
    model_dir: Path | None = None
    # Where downloaded model files are cached; None means ~/.cache/clipzz.
    cache_dir: Path | None = None
    allow_downloads: bool = True
    # ffmpeg binary; None uses the static build shipped by imageio-ffmpeg.
    ffmpeg: str | None = None
    whisper_model: str = "bundled:tiny.en"
    whisper_device: str = "cpu"
    whisper_compute_type: str = "int8"

    # Ray: join RAY_ADDRESS when set, else the CLI starts a private local cluster.
    ray_address: str | None = Field(
        default=None, validation_alias=AliasChoices("RAY_ADDRESS", "CLIPZZ_RAY_ADDRESS")
    )
    # Short on purpose: Ray's socket paths under it must stay below 107 bytes.
    ray_temp_dir: str = "/tmp/clipzz-ray"  # noqa: S108
    resource_profile: str = "auto"

    gemini_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("GEMINI_API_KEY", "CLIPZZ_GEMINI_API_KEY")
    )
    gemini_model: str = "gemini-2.5-flash"
    gemini_base_url: str | None = None


@lru_cache
def get_settings() -> Settings:
    return Settings()
