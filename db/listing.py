"""Owner-scoped reads for the API's lists: uploads with their clip counts, clips grouped by
upload, and single clips. Another user's rows are invisible, exactly like missing ones.

Functions are keyword-only and never commit, like the rest of db/.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Clip, Job, JobStatus, Upload

__all__ = ["ClipGroup", "UploadSummary", "get_clip", "list_clip_groups", "list_uploads"]


@dataclass(frozen=True)
class UploadSummary:
    """An upload with what a list shows beside it."""

    upload: Upload
    clip_count: int
    job_status: JobStatus | None  # the newest job's status; None before the first job


@dataclass(frozen=True)
class ClipGroup:
    """The clips of one upload: newest job first, then in index order."""

    upload: Upload
    clips: list[Clip]


def list_uploads(
    *, session: Session, user_id: uuid.UUID, offset: int = 0, limit: int = 100
) -> tuple[list[UploadSummary], int]:
    """The user's uploads, newest first, and how many there are in all."""
    clip_count = select(func.count(Clip.id)).where(Clip.upload_id == Upload.id).scalar_subquery()
    newest_job_status = (
        select(Job.status)
        .where(Job.upload_id == Upload.id)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    mine = Upload.user_id == user_id
    total = session.execute(select(func.count()).select_from(Upload).where(mine)).scalar_one()
    rows = session.execute(
        select(Upload, clip_count, newest_job_status)
        .where(mine)
        .order_by(Upload.created_at.desc(), Upload.id)
        .offset(offset)
        .limit(limit)
    ).all()
    summaries = [
        UploadSummary(upload, count, JobStatus(status) if status is not None else None)
        for upload, count, status in rows
    ]
    return summaries, total


def list_clip_groups(
    *, session: Session, user_id: uuid.UUID, offset: int = 0, limit: int = 100
) -> tuple[list[ClipGroup], int]:
    """The user's clips grouped by upload, the upload with the newest clip first; `offset` and
    `limit` count groups. Also returns how many uploads have clips in all."""
    mine = Clip.user_id == user_id
    newest = func.max(Clip.created_at)
    upload_ids = session.scalars(
        select(Clip.upload_id)
        .where(mine)
        .group_by(Clip.upload_id)
        .order_by(newest.desc(), Clip.upload_id)
        .offset(offset)
        .limit(limit)
    ).all()
    total = session.execute(
        select(func.count(func.distinct(Clip.upload_id))).where(mine)
    ).scalar_one()
    if not upload_ids:
        return [], total
    uploads = {
        upload.id: upload
        for upload in session.scalars(select(Upload).where(Upload.id.in_(upload_ids)))
    }
    clips: dict[uuid.UUID, list[Clip]] = {upload_id: [] for upload_id in upload_ids}
    for clip in session.scalars(
        select(Clip)
        .join(Job, Job.id == Clip.job_id)
        .where(mine, Clip.upload_id.in_(upload_ids))
        .order_by(Job.created_at.desc(), Job.id, Clip.index)
    ):
        clips[clip.upload_id].append(clip)
    return [ClipGroup(uploads[upload_id], clips[upload_id]) for upload_id in upload_ids], total


def get_clip(*, session: Session, clip_id: uuid.UUID, user_id: uuid.UUID) -> Clip | None:
    return session.scalars(select(Clip).where(Clip.id == clip_id, Clip.user_id == user_id)).first()
