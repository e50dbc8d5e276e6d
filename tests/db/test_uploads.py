"""Uploads: storage keys, the uploaded mark, owner scoping."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.orm import Session

from db.models import UploadStatus
from db.uploads import create_upload, get_upload, mark_upload_uploaded, storage_key_for
from tests.utils.db import make_user


def test_create_upload_is_pending_under_its_storage_key(db_session: Session) -> None:
    user = make_user(db_session)
    upload = create_upload(
        session=db_session,
        user_id=user.id,
        filename="My Episode 12.MP4",
        content_type="video/mp4",
        size=1234,
    )
    db_session.commit()
    assert upload.status == UploadStatus.PENDING
    assert upload.filename == "My Episode 12.MP4"
    assert upload.storage_key == f"{user.id}/{upload.id}/original.mp4"


@pytest.mark.parametrize("filename", ["noext", "../../etc/passwd", "a.mp4/..", "x.", "clip.m p4"])
def test_storage_key_needs_a_plain_extension(filename: str) -> None:
    with pytest.raises(ValueError, match="needs an extension"):
        storage_key_for(uuid.uuid4(), uuid.uuid4(), filename)


def test_mark_uploaded_is_owner_scoped_and_idempotent(db_session: Session) -> None:
    owner, other = make_user(db_session), make_user(db_session)
    upload = create_upload(
        session=db_session, user_id=owner.id, filename="a.mov", content_type="video/quicktime"
    )
    assert mark_upload_uploaded(session=db_session, upload_id=upload.id, user_id=other.id) is None
    assert upload.status == UploadStatus.PENDING
    marked = mark_upload_uploaded(
        session=db_session, upload_id=upload.id, user_id=owner.id, size=99
    )
    assert marked is upload
    assert (upload.status, upload.size) == (UploadStatus.UPLOADED, 99)
    again = mark_upload_uploaded(session=db_session, upload_id=upload.id, user_id=owner.id)
    assert again is upload
    assert upload.size == 99


def test_get_upload_is_owner_scoped(db_session: Session) -> None:
    owner, other = make_user(db_session), make_user(db_session)
    upload = create_upload(
        session=db_session, user_id=owner.id, filename="a.mp4", content_type="video/mp4"
    )
    assert get_upload(session=db_session, upload_id=upload.id, user_id=owner.id) is upload
    assert get_upload(session=db_session, upload_id=upload.id, user_id=other.id) is None
