"""Jobs as their owner sees them: submit, read, list, cancel, and the counts behind the limits.

Reads are owner-scoped: another user's job is None, exactly like a missing one, so a caller
cannot learn which ids exist. The worker side of a job's life is in `db.queue`.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db.credits import refund_credits, reserve_credits
from db.errors import JobStateError
from db.models import Clip, Job, JobStatus
from db.types import utcnow

__all__ = [
    "ACTIVE_STATUSES",
    "cancel_job",
    "count_active_jobs",
    "count_jobs_since",
    "create_job",
    "get_job",
    "list_job_clips",
    "list_jobs",
]

# Jobs that count against a user's concurrent-job limit.
ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.PROCESSING)


def create_job(
    *,
    session: Session,
    user_id: uuid.UUID,
    upload_id: uuid.UUID,
    num_clips: int,
    min_seconds: float,
    max_seconds: float,
    credits: int,
    max_attempts: int = 2,
) -> Job:
    """Queue a job and reserve its `credits` (the price, decided by the billing rules).

    When the balance is too small the job is kept as `no_credits` (finished, nothing reserved,
    nothing charged), the record the seed app also kept; a caller that wants no record at all
    rolls back instead. The caller checks the upload belongs to the user.
    """
    job = Job(
        user_id=user_id,
        upload_id=upload_id,
        num_clips=num_clips,
        min_seconds=min_seconds,
        max_seconds=max_seconds,
        max_attempts=max_attempts,
    )
    session.add(job)
    session.flush()
    if (
        credits
        and reserve_credits(session=session, user_id=user_id, amount=credits, job_id=job.id) is None
    ):
        job.status = JobStatus.NO_CREDITS
        job.finished_at = utcnow()
        session.flush()
    return job


def get_job(*, session: Session, job_id: uuid.UUID, user_id: uuid.UUID) -> Job | None:
    return session.scalars(select(Job).where(Job.id == job_id, Job.user_id == user_id)).first()


def list_jobs(
    *, session: Session, user_id: uuid.UUID, offset: int = 0, limit: int = 100
) -> tuple[list[Job], int]:
    """The user's jobs, newest first, and how many there are in all (for `JobsPublic`)."""
    mine = Job.user_id == user_id
    count = session.execute(select(func.count()).select_from(Job).where(mine)).scalar_one()
    jobs = session.scalars(
        select(Job).where(mine).order_by(Job.created_at.desc(), Job.id).offset(offset).limit(limit)
    ).all()
    return list(jobs), count


def list_job_clips(*, session: Session, job_id: uuid.UUID, user_id: uuid.UUID) -> list[Clip] | None:
    """The job's clips in index order; None when the job is not the user's."""
    if get_job(session=session, job_id=job_id, user_id=user_id) is None:
        return None
    return list(session.scalars(select(Clip).where(Clip.job_id == job_id).order_by(Clip.index)))


def cancel_job(*, session: Session, job_id: uuid.UUID, user_id: uuid.UUID) -> Job | None:
    """Cancel a queued job and refund its credits; a cancelled job is returned as it is.

    None when the job is not the user's. Raises `JobStateError` once a worker has claimed it
    (or it has ended otherwise): work in progress is not interrupted.
    """
    job = get_job(session=session, job_id=job_id, user_id=user_id)
    if job is None:
        return None
    # Conditional on `queued`: a claim that commits first wins, and this matches no row.
    cancelled = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
        .values(status=JobStatus.CANCELLED, finished_at=utcnow())
        .returning(Job.id)
    ).scalar_one_or_none()
    session.refresh(job)
    if cancelled is None and job.status != JobStatus.CANCELLED:
        raise JobStateError(job_id, job.status, "cancel")
    refund_credits(session=session, job_id=job_id)
    return job


def count_active_jobs(*, session: Session, user_id: uuid.UUID) -> int:
    """Queued plus processing jobs of the user."""
    return session.execute(
        select(func.count())
        .select_from(Job)
        .where(Job.user_id == user_id, Job.status.in_(ACTIVE_STATUSES))
    ).scalar_one()


def count_jobs_since(*, session: Session, user_id: uuid.UUID, since: datetime) -> int:
    """Jobs the user submitted at or after `since` (any status), for a daily limit."""
    return session.execute(
        select(func.count()).select_from(Job).where(Job.user_id == user_id, Job.created_at >= since)
    ).scalar_one()
