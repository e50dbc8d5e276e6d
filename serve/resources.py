"""Database sessions and object storage built from settings (one place for both)."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

import db
from pipeline.errors import InvalidInput
from pipeline.storage import LocalOptions, S3Options, Storage, make_storage
from serve.settings import Settings

__all__ = ["session_factory_for", "storage_for"]


@lru_cache(maxsize=8)
def _factory(url: str) -> sessionmaker[Session]:
    return db.make_session_factory(db.make_engine(url))


def session_factory_for(settings: Settings) -> sessionmaker[Session]:
    return _factory(settings.database_url)


def storage_for(settings: Settings) -> Storage:
    if settings.storage_backend == "s3":
        return make_storage(
            S3Options(
                endpoint_url=settings.s3_endpoint_url,
                bucket=settings.s3_bucket,
                access_key=settings.s3_access_key,
                secret_key=settings.s3_secret_key,
                region=settings.s3_region,
                public_endpoint_url=settings.s3_public_endpoint_url,
            )
        )
    if settings.jwt_secret is None:
        raise InvalidInput("local storage signs its URLs with CLIPZZ_JWT_SECRET, which is not set")
    # Local URLs are signed with a key derived from the JWT secret: one secret to manage.
    key = hmac.new(
        settings.jwt_secret.get_secret_value().encode(), b"clipzz local storage", hashlib.sha256
    ).digest()
    return make_storage(
        LocalOptions(
            root=Path(settings.local_storage_dir),
            base_url=f"{settings.public_base_url.rstrip('/')}/files",
            signing_key=key,
        )
    )
