"""Uploads: the source videos, stored under `{user_id}/{upload_id}/original.{ext}`."""

from __future__ import annotations

import re
import uuid
from pathlib import PurePosixPath

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import Upload, UploadStatus

__all__ = ["create_upload", "get_upload", "mark_upload_uploaded", "storage_key_for"]

# The extension is the only part of the user's filename that reaches the storage key.
_EXTENSION = re.compile(r"[a-z0-9]{1,8}")


def storage_key_for(user_id: uuid.UUID, upload_id: uuid.UUID, filename: str) -> str:
    """`{user_id}/{upload_id}/original.{ext}`, with ext the lower-cased suffix of `filename`."""
    ext = PurePosixPath(filename.replace("\\", "/")).suffix.lower().removeprefix(".")
    if not _EXTENSION.fullmatch(ext):
        raise ValueError(f"filename {filename!r} needs an extension such as .mp4")
    return f"{user_id}/{upload_id}/original.{ext}"


def create_upload(
    *,
    session: Session,
    user_id: uuid.UUID,
    filename: str,
    content_type: str,
    size: int | None = None,
) -> Upload:
    """Record an upload as `pending` and choose its storage key."""
    upload_id = uuid.uuid4()
    upload = Upload(
        id=upload_id,
        user_id=user_id,
        filename=filename,
        content_type=content_type,
        size=size,
        storage_key=storage_key_for(user_id, upload_id, filename),
    )
    session.add(upload)
    session.flush()
    return upload


def get_upload(*, session: Session, upload_id: uuid.UUID, user_id: uuid.UUID) -> Upload | None:
    """The upload if it belongs to `user_id`; another user's upload is None, like a missing one."""
    return session.scalars(
        select(Upload).where(Upload.id == upload_id, Upload.user_id == user_id)
    ).first()


def mark_upload_uploaded(
    *, session: Session, upload_id: uuid.UUID, user_id: uuid.UUID, size: int | None = None
) -> Upload | None:
    """Mark the bytes as stored (idempotent); `size` replaces the declared size when given."""
    values: dict[str, object] = {"status": UploadStatus.UPLOADED}
    if size is not None:
        values["size"] = size
    updated = session.execute(
        update(Upload)
        .where(Upload.id == upload_id, Upload.user_id == user_id)
        .values(**values)
        .returning(Upload.id)
    ).scalar_one_or_none()
    return session.get(Upload, updated) if updated is not None else None
