"""Uploads: presigned PUT URLs, confirming the bytes arrived, listing, and starting a job.

The browser sends the video straight to storage with the presigned PUT, which signs the
content type and the exact size declared here, so storage refuses any other body. The
filename is only displayed: the storage key is `{user_id}/{upload_id}/original.{ext}`.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from pathlib import PurePosixPath

from fastapi import APIRouter
from sqlalchemy.orm import Session

from db.jobs import count_active_jobs, count_jobs_since, create_job
from db.listing import UploadSummary, list_uploads
from db.models import JobStatus, Upload, UploadStatus, User
from db.types import utcnow
from db.uploads import create_upload, get_upload, mark_upload_uploaded
from pipeline.storage import Storage
from serve.deps import (
    CurrentUser,
    PageDep,
    RateLimiterDep,
    SessionDep,
    SettingsDep,
    StorageDep,
    WakeDep,
)
from serve.errors import (
    Conflict,
    InsufficientCredits,
    InvalidFields,
    NotFound,
    PayloadTooLarge,
    RateLimited,
)
from serve.schemas import (
    JobAccepted,
    JobCreate,
    UploadCreate,
    UploadPublic,
    UploadsPublic,
    UploadSummaryPublic,
    UploadTicket,
    error_responses,
)
from serve.settings import Settings

__all__ = ["router"]

logger = logging.getLogger("clipzz.serve")

router = APIRouter(prefix="/uploads", tags=["uploads"], responses=error_responses(401, 422))

# When to try again after a job limit: a running job takes minutes; the day frees up slowly.
ACTIVE_JOBS_RETRY_S = 60
DAILY_JOBS_RETRY_S = 3600


@router.post(
    "",
    status_code=201,
    response_model=UploadTicket,
    responses=error_responses(413, 429),
)
def create_upload_url(
    body: UploadCreate,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    limiter: RateLimiterDep,
) -> UploadTicket:
    """Record an upload and return the presigned PUT that stores its bytes."""
    content_type = _checked_content_type(body, settings)
    if body.size > settings.upload_max_bytes:
        limit = settings.upload_max_bytes
        raise PayloadTooLarge(
            f"The file is {body.size} bytes; the limit is {limit}",
            details=[{"field": "size", "message": f"Must be at most {limit} bytes"}],
        )
    limiter.hit(
        "upload-urls",
        str(user.id),
        limit=settings.upload_urls_per_minute,
        window_s=60,
        what="upload URLs",
    )
    upload = create_upload(
        session=session,
        user_id=user.id,
        filename=body.filename,
        content_type=content_type,
        size=body.size,
    )
    ticket = storage.presign_put(
        upload.storage_key, content_type, settings.upload_url_ttl_s, content_length=body.size
    )
    return UploadTicket(
        upload_id=upload.id,
        upload_url=ticket.url,
        headers=ticket.headers,
        storage_key=upload.storage_key,
        expires_in=settings.upload_url_ttl_s,
    )


@router.get("", response_model=UploadsPublic)
def read_uploads(user: CurrentUser, session: SessionDep, page: PageDep) -> UploadsPublic:
    """The user's uploads, newest first, with their clip counts and newest job's status."""
    summaries, count = list_uploads(
        session=session, user_id=user.id, offset=page.offset, limit=page.limit
    )
    return UploadsPublic(data=[_summary_public(summary) for summary in summaries], count=count)


@router.post(
    "/{upload_id}/complete", response_model=UploadPublic, responses=error_responses(404, 409)
)
def complete_upload(
    upload_id: uuid.UUID, user: CurrentUser, session: SessionDep, storage: StorageDep
) -> Upload:
    """Confirm the PUT finished: the stored object must exist with the declared size."""
    upload = _owned_upload(session, upload_id, user)
    _confirm_stored(session, storage, upload)
    return upload


@router.post(
    "/{upload_id}/process",
    status_code=202,
    response_model=JobAccepted,
    responses=error_responses(402, 404, 409, 429),
)
def process_upload(
    upload_id: uuid.UUID,
    body: JobCreate,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    wake: WakeDep,
) -> JobAccepted:
    """Queue a job cutting `num_clips` clips; their credits are reserved now.

    402 when the balance is short: then nothing is recorded, not even a refused job.
    """
    upload = _owned_upload(session, upload_id, user)
    _confirm_stored(session, storage, upload)
    _check_job_limits(session, user, settings)
    job = create_job(
        session=session,
        user_id=user.id,
        upload_id=upload.id,
        num_clips=body.num_clips,
        min_seconds=body.min_seconds,
        max_seconds=body.max_seconds,
        credits=body.num_clips,
    )
    if job.status == JobStatus.NO_CREDITS:
        session.refresh(user)
        # Raising rolls the session back, so the refused job leaves no row.
        raise InsufficientCredits(
            f"This job needs {body.num_clips} credits; your balance is {user.credits}"
        )
    # Commit before waking the coordinator, or it may look before the job exists.
    session.commit()
    if wake is not None:
        try:
            wake()
        except Exception:
            # The job is safely queued; the coordinator also polls, so it starts a bit later.
            logger.warning("could not wake the job coordinator", exc_info=True)
    return JobAccepted(job_id=job.id, status=job.status)


def _checked_content_type(body: UploadCreate, settings: Settings) -> str:
    """The content type, when allowed and matching the filename's extension."""
    allowed = settings.allowed_upload_types
    content_type = body.content_type.strip().lower()
    if content_type not in allowed.values():
        kinds = ", ".join(sorted(set(allowed.values())))
        raise InvalidFields({"field": "content_type", "message": f"Must be one of: {kinds}"})
    extension = PurePosixPath(body.filename).suffix.lower().removeprefix(".")
    if extension not in allowed:
        extensions = ", ".join(f".{ext}" for ext in sorted(allowed))
        raise InvalidFields({"field": "filename", "message": f"Must end in {extensions}"})
    if allowed[extension] != content_type:
        raise InvalidFields(
            {
                "field": "content_type",
                "message": f"{content_type} does not match the .{extension} extension "
                f"(expected {allowed[extension]})",
            }
        )
    return content_type


def _owned_upload(session: Session, upload_id: uuid.UUID, user: User) -> Upload:
    upload = get_upload(session=session, upload_id=upload_id, user_id=user.id)
    if upload is None:
        raise NotFound("No such upload")
    return upload


def _confirm_stored(session: Session, storage: Storage, upload: Upload) -> None:
    """Mark a pending upload uploaded once storage holds its bytes; 409 until then."""
    if upload.status == UploadStatus.UPLOADED:
        return
    size = storage.size(upload.storage_key)
    if size is None:
        raise Conflict("The upload is not finished: the file has not been stored yet")
    if upload.size is not None and size != upload.size:
        raise Conflict(f"The stored file has {size} bytes, not the {upload.size} declared")
    mark_upload_uploaded(session=session, upload_id=upload.id, user_id=upload.user_id, size=size)


def _check_job_limits(session: Session, user: User, settings: Settings) -> None:
    """At most `max_active_jobs` queued or running, and `max_jobs_per_day` in 24 hours.

    Counted before the insert, so concurrent submissions may pass the limit by a few; the
    credit reservation, not this, is what must be exact.
    """
    active = count_active_jobs(session=session, user_id=user.id)
    if active >= settings.max_active_jobs:
        limit = settings.max_active_jobs
        raise RateLimited(
            f"You have {active} jobs queued or processing; the limit is {limit}",
            retry_after_s=ACTIVE_JOBS_RETRY_S,
        )
    today = count_jobs_since(session=session, user_id=user.id, since=utcnow() - timedelta(days=1))
    if today >= settings.max_jobs_per_day:
        raise RateLimited(
            f"You submitted {today} jobs in the last 24 hours; the limit is "
            f"{settings.max_jobs_per_day}",
            retry_after_s=DAILY_JOBS_RETRY_S,
        )


def _summary_public(summary: UploadSummary) -> UploadSummaryPublic:
    return UploadSummaryPublic.model_validate(
        {
            **UploadPublic.model_validate(summary.upload).model_dump(),
            "clip_count": summary.clip_count,
            "job_status": summary.job_status,
        }
    )
