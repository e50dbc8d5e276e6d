"""Settings of the service: secrets are checked, and the app refuses to start without one."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipeline.errors import InvalidInput
from pipeline.storage import LocalStorage, S3Storage
from serve.app import create_app
from serve.resources import storage_for
from serve.settings import Settings
from tests.utils.api import TEST_JWT_SECRET


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("change-me", "placeholder"),
        ("CHANGE_ME_to_something_long_and_random_please", "placeholder"),
        ("changethis", "placeholder"),
        ("your-secret-key-goes-here-0123456789abcdef", "placeholder"),
        ("d41d8cd98f00b204e9800998ecf8427", "at least 32 bytes"),
    ],
)
def test_weak_secrets_are_refused_without_echoing_them(secret: str, reason: str) -> None:
    for field in ("jwt_secret", "service_token"):
        with pytest.raises(ValidationError) as refused:
            Settings(**{field: secret})
        assert reason in str(refused.value)
        assert secret not in str(refused.value)


def test_a_random_secret_is_accepted() -> None:
    settings = Settings(jwt_secret="d41d8cd98f00b204e9800998ecf8427e", service_token=None)
    assert settings.jwt_secret is not None
    assert "d41d8" not in repr(settings)


def test_service_defaults() -> None:
    settings = Settings()
    assert settings.database_url == "sqlite:///./clipzz.db"
    assert (settings.jwt_issuer, settings.jwt_ttl_s, settings.bcrypt_cost) == ("clipzz", 3600, 12)
    assert (settings.signup_credits, settings.upload_max_bytes) == (10, 2 * 1024**3)
    assert settings.allowed_upload_types == {
        "mp4": "video/mp4",
        "mov": "video/quicktime",
        "mkv": "video/x-matroska",
        "webm": "video/webm",
    }
    assert (settings.max_active_jobs, settings.max_jobs_per_day) == (5, 100)
    assert (settings.upload_urls_per_minute, settings.login_attempts_per_15min) == (10, 10)
    assert settings.service_token is None


def test_settings_come_from_clipzz_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIPZZ_JWT_SECRET", TEST_JWT_SECRET)
    monkeypatch.setenv("CLIPZZ_ALLOWED_UPLOAD_TYPES", '{".MP4": "Video/MP4"}')
    monkeypatch.setenv("CLIPZZ_MAX_ACTIVE_JOBS", "7")
    settings = Settings()
    assert settings.jwt_secret is not None
    assert settings.jwt_secret.get_secret_value() == TEST_JWT_SECRET
    assert settings.allowed_upload_types == {"mp4": "video/mp4"}
    assert settings.max_active_jobs == 7


def test_s3_backend_needs_credentials() -> None:
    with pytest.raises(ValidationError, match="CLIPZZ_S3_ACCESS_KEY"):
        Settings(storage_backend="s3")


def test_storage_for_picks_the_backend() -> None:
    local = storage_for(Settings(jwt_secret=TEST_JWT_SECRET, public_base_url="http://h:1/"))
    assert isinstance(local, LocalStorage)
    assert local.options.base_url == "http://h:1/files"
    assert local.options.signing_key != TEST_JWT_SECRET.encode()  # derived, not shared
    s3 = storage_for(
        Settings(
            storage_backend="s3",
            s3_endpoint_url="http://127.0.0.1:1",
            s3_access_key="key",
            s3_secret_key="secret",
        )
    )
    assert isinstance(s3, S3Storage)


def test_create_app_refuses_to_start_without_a_jwt_secret() -> None:
    settings = Settings()
    storage = storage_for(Settings(jwt_secret=TEST_JWT_SECRET))
    with pytest.raises(InvalidInput, match="CLIPZZ_JWT_SECRET"):
        create_app(settings, session_factory=None, storage=storage)  # type: ignore[arg-type]
