"""Settings from the environment: the only place clipzz reads environment variables.

Lower layers (`pipeline/`, `db/`, `billing/`) receive typed option objects built here.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["MIN_SECRET_BYTES", "Settings", "get_settings"]

# HS256 keys shorter than the hash output weaken the MAC (RFC 7518 §3.2); PyJWT warns below it.
MIN_SECRET_BYTES = 32
# Values copied from examples and templates; a secret that starts like one was never changed.
_PLACEHOLDER_PREFIXES = ("changeme", "changethis", "replaceme", "yoursecret", "secret", "example")
_UPLOAD_TYPES = {
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "mkv": "video/x-matroska",
    "webm": "video/webm",
}


class Settings(BaseSettings):
    # Inputs stay out of validation errors: an environment variable may hold a secret.
    model_config = SettingsConfigDict(
        env_prefix="CLIPZZ_", extra="ignore", hide_input_in_errors=True, populate_by_name=True
    )

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
    # `clipzz serve` starts the Ray dashboard on 127.0.0.1 with the local cluster.
    ray_dashboard: bool = True

    gemini_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("GEMINI_API_KEY", "CLIPZZ_GEMINI_API_KEY")
    )
    gemini_model: str = "gemini-2.5-flash"
    gemini_base_url: str | None = None

    # --- the HTTP service (serve/app.py) ---
    database_url: str = "sqlite:///./clipzz.db"
    # Requests holding a database session at once, per replica; the others wait without taking
    # a thread. Keep it below the engine's pool (SQLAlchemy: 5 + 10 overflow) and the threadpool
    # (40 threads): see serve/deps.py `get_session` for the starvation this prevents.
    db_max_sessions: int = Field(default=10, ge=1)
    # Signs access tokens (HS256) and, derived, local storage URLs. No default: the API refuses
    # to start without one (`create_app`); the CLI's `clip` command does not need it.
    jwt_secret: SecretStr | None = None
    jwt_issuer: str = "clipzz"
    jwt_ttl_s: int = Field(default=3600, ge=60)
    # bcrypt work factor: 12 costs ~0.4 s per hash here (notes/libraries.md §6); tests use 4.
    bcrypt_cost: int = Field(default=12, ge=4, le=31)
    signup_credits: int = Field(default=10, ge=0)

    storage_backend: Literal["local", "s3"] = "local"
    local_storage_dir: Path = Path("./clipzz-data/storage")
    # The URL browsers reach the API at; local presigned URLs point at `{public_base_url}/files`.
    public_base_url: str = "http://127.0.0.1:8000"
    s3_endpoint_url: str | None = None
    # The S3 endpoint browsers reach, when it differs from `s3_endpoint_url` (signed into URLs).
    s3_public_endpoint_url: str | None = None
    s3_bucket: str = "clipzz"
    s3_access_key: str | None = None
    s3_secret_key: SecretStr | None = None
    s3_region: str = "us-east-1"

    upload_max_bytes: int = Field(default=2 * 1024**3, ge=1)
    # Extension (lower case, no dot) -> the one content type accepted for it.
    allowed_upload_types: dict[str, str] = Field(default_factory=lambda: dict(_UPLOAD_TYPES))
    upload_url_ttl_s: int = Field(default=600, ge=1)
    clip_url_ttl_s: int = Field(default=3600, ge=1)

    # Limits. The per-minute ones are counted in memory, per replica (serve/ratelimit.py); the
    # job limits are counted in the database, so they hold across replicas.
    upload_urls_per_minute: int = Field(default=10, ge=1)
    max_active_jobs: int = Field(default=5, ge=1)
    max_jobs_per_day: int = Field(default=100, ge=1)
    login_attempts_per_15min: int = Field(default=10, ge=1)

    # Bearer token of the seed-compatible POST /process_video; unset disables it (503).
    service_token: SecretStr | None = None
    process_video_timeout_s: float = Field(default=900, gt=0)

    # The job coordinator (serve/coordinator.py).
    # Scratch space for jobs and the stage cache that lets a retried job skip finished stages.
    work_dir: Path = Path("./clipzz-data/work")
    max_concurrent_jobs: int = Field(default=2, ge=1)
    # One coordinator per name and cluster; separate deployments on one cluster need their own.
    coordinator_name: str = "clipzz-coordinator"
    coordinator_poll_s: float = Field(default=2.0, gt=0)

    # Billing. Unset keys disable a provider (its routes answer 503).
    stripe_secret_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("STRIPE_SECRET_KEY", "CLIPZZ_STRIPE_SECRET_KEY")
    )
    stripe_webhook_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("STRIPE_WEBHOOK_SECRET", "CLIPZZ_STRIPE_WEBHOOK_SECRET"),
    )
    stripe_price_small: str | None = Field(
        default=None,
        validation_alias=AliasChoices("STRIPE_SMALL_CREDIT_PACK", "CLIPZZ_STRIPE_PRICE_SMALL"),
    )
    stripe_price_medium: str | None = Field(
        default=None,
        validation_alias=AliasChoices("STRIPE_MEDIUM_CREDIT_PACK", "CLIPZZ_STRIPE_PRICE_MEDIUM"),
    )
    stripe_price_large: str | None = Field(
        default=None,
        validation_alias=AliasChoices("STRIPE_LARGE_CREDIT_PACK", "CLIPZZ_STRIPE_PRICE_LARGE"),
    )
    stripe_api_base: str | None = None
    # Checkout return pages; relative paths are joined to public_base_url.
    stripe_success_url: str = "/billing/success"
    stripe_cancel_url: str = "/billing/cancel"
    razorpay_key_id: str | None = Field(
        default=None, validation_alias=AliasChoices("RAZORPAY_KEY_ID", "CLIPZZ_RAZORPAY_KEY_ID")
    )
    razorpay_key_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("RAZORPAY_KEY_SECRET", "CLIPZZ_RAZORPAY_KEY_SECRET"),
    )
    razorpay_webhook_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("RAZORPAY_WEBHOOK_SECRET", "CLIPZZ_RAZORPAY_WEBHOOK_SECRET"),
    )
    razorpay_base_url: str | None = None

    # GET /jobs/{id}/events: how often the job row is read, and the idle keep-alive interval.
    job_events_poll_s: float = Field(default=0.5, gt=0)
    job_events_keepalive_s: float = Field(default=15, gt=0)

    @field_validator("jwt_secret", "service_token")
    @classmethod
    def _reject_weak_secret(cls, value: SecretStr | None) -> SecretStr | None:
        """Refuse template placeholders and short secrets, naming the rule that failed."""
        if value is None:
            return None
        secret = value.get_secret_value()
        letters = re.sub(r"[^a-z]", "", secret.lower())
        if letters.startswith(_PLACEHOLDER_PREFIXES):
            raise ValueError("is a placeholder; generate one with `openssl rand -hex 32`")
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"must be at least {MIN_SECRET_BYTES} bytes; generate one with "
                "`openssl rand -hex 32`"
            )
        return value

    @field_validator("allowed_upload_types")
    @classmethod
    def _normalise_upload_types(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("must allow at least one upload type")
        return {ext.lower().lstrip("."): kind.lower() for ext, kind in value.items()}

    @model_validator(mode="after")
    def _check_s3_credentials(self) -> Settings:
        if self.storage_backend == "s3" and not (self.s3_access_key and self.s3_secret_key):
            raise ValueError(
                "storage_backend 's3' needs CLIPZZ_S3_ACCESS_KEY and CLIPZZ_S3_SECRET_KEY"
            )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
