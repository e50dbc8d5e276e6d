"""The job queue as the coordinator sees it: claim, report progress, finish, fail, recover.

State machine (`no_credits` is set at submit, `cancelled` by the owner; see `db.jobs`):

    queued ──claim──▶ processing ──finish──▶ processed        (settle to the clips made)
       ▲                  │
       └──fail(retry)─────┤  while attempts < max_attempts
                          └──fail──────────▶ failed           (refund)

Every transition is a conditional UPDATE on the status the job must be in, so a transition
that lost a race matches no row instead of overwriting the winner. The database also refuses a
second `processing` job for one user (a partial unique index), which keeps claimers racing on
different jobs of the same user honest on PostgreSQL, where `SKIP LOCKED` lets them proceed in
parallel. On SQLite, the engine's `BEGIN IMMEDIATE` makes each claim run alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from db._sql import insert_ignore
from db.credits import refund_credits, settle_credits
from db.errors import JobNotFound, JobStateError
from db.models import Clip, Job, JobStatus
from db.types import utcnow

__all__ = [
    "CLIP_FIELDS",
    "STALE_REASON",
    "claim_next_job",
    "fail_job",
    "finish_job",
    "recover_stale_jobs",
    "update_progress",
]

# The keys `finish_job` accepts per clip; job, upload and user come from the job itself.
CLIP_FIELDS = frozenset({"index", "title", "start", "end", "score", "reason", "storage_key"})
# Recorded in `Job.error` when a job is taken back from a worker that stopped reporting.
STALE_REASON = "interrupted: the worker stopped before finishing"
# A claim loses to another claimer only when that one started a job of the same user, which then
# shows as busy on the next try; a few tries are plenty, and None just means "poll again".
CLAIM_TRIES = 5


def claim_next_job(*, session: Session, worker_id: str) -> Job | None:
    """Start the oldest queued job whose user has nothing processing; None when there is none.

    Sets `processing`, counts the attempt, and records the worker and when this attempt began.
    """
    busy = aliased(Job)
    user_is_busy = (
        select(busy.id)
        .where(busy.user_id == Job.user_id, busy.status == JobStatus.PROCESSING)
        .exists()
    )
    oldest_free = (
        select(Job)
        .where(Job.status == JobStatus.QUEUED, ~user_is_busy)
        .order_by(Job.created_at, Job.id)
        .limit(1)
        # PostgreSQL: concurrent claimers skip each other's candidates instead of queueing up.
        .with_for_update(skip_locked=True, of=Job)
        .execution_options(populate_existing=True)
    )
    for _ in range(CLAIM_TRIES):
        job = session.scalars(oldest_free).first()
        if job is None:
            return None
        now = utcnow()
        try:
            with session.begin_nested():
                claimed = session.execute(
                    update(Job)
                    .where(Job.id == job.id, Job.status == JobStatus.QUEUED)
                    .values(
                        status=JobStatus.PROCESSING,
                        attempts=Job.attempts + 1,
                        claimed_by=worker_id,
                        started_at=now,
                        heartbeat_at=now,
                    )
                    .returning(Job.id)
                ).scalar_one_or_none()
        except IntegrityError:
            continue  # another claimer started a job of this user first
        if claimed is not None:
            return job
    return None


def update_progress(
    *,
    session: Session,
    job_id: uuid.UUID,
    worker_id: str | None = None,
    stage: str | None = None,
    progress: float | None = None,
    clips_done: int | None = None,
) -> Job | None:
    """Record progress and refresh the heartbeat of a processing job.

    None when the job is no longer processing (or no longer `worker_id`'s, when given): it was
    recovered or failed meanwhile, and the worker should stop.
    """
    if progress is not None and not 0.0 <= progress <= 1.0:
        raise ValueError(f"progress must be within 0..1, not {progress}")
    values: dict[str, Any] = {"heartbeat_at": utcnow()}
    for field, value in (("stage", stage), ("progress", progress), ("clips_done", clips_done)):
        if value is not None:
            values[field] = value
    statement = update(Job).where(Job.id == job_id, Job.status == JobStatus.PROCESSING)
    if worker_id is not None:
        statement = statement.where(Job.claimed_by == worker_id)
    updated = session.execute(statement.values(**values).returning(Job.id)).scalar_one_or_none()
    return session.get(Job, updated) if updated is not None else None


def finish_job(*, session: Session, job_id: uuid.UUID, clips: Sequence[Mapping[str, Any]]) -> Job:
    """Store the clips, mark the job processed and settle its credits to `len(clips)`.

    Idempotent: finishing a processed job again changes nothing, and clips are keyed by
    (job, index). Raises `JobStateError` for a job that is not processing.
    """
    for clip in clips:
        unknown = set(clip) - CLIP_FIELDS
        if unknown:
            expected = sorted(CLIP_FIELDS)
            raise ValueError(f"unknown clip fields {sorted(unknown)}; expected {expected}")
    job = _transition(
        session,
        job_id,
        JobStatus.PROCESSED,
        values={"progress": 1.0, "clips_done": len(clips), "finished_at": utcnow()},
    )
    if job is None:
        return _already(session, job_id, JobStatus.PROCESSED, action="finish")
    for clip in clips:
        insert_ignore(
            session,
            Clip,
            {**clip, "job_id": job.id, "upload_id": job.upload_id, "user_id": job.user_id},
            conflict=["job_id", "index"],
            returning=Clip.id,
        )
    settle_credits(session=session, job_id=job_id, used=len(clips))
    return job


def fail_job(*, session: Session, job_id: uuid.UUID, reason: str, retry: bool) -> Job:
    """End the current attempt with `reason`.

    With `retry` and attempts left, the job goes back to `queued` keeping its credits; otherwise
    it becomes `failed` and its credits are refunded. Failing a failed job again is a no-op.
    Raises `JobStateError` for a job in any other state than processing.
    """
    if _end_attempt(session, job_id, reason=reason, retry=retry):
        return _get(session, job_id)
    return _already(session, job_id, JobStatus.FAILED, action="fail")


def recover_stale_jobs(
    *,
    session: Session,
    older_than: timedelta | None = None,
    worker_id: str | None = None,
) -> list[Job]:
    """Take back processing jobs whose worker is gone: requeue them, or fail and refund them.

    `older_than` selects jobs whose heartbeat is older than that; `worker_id` those claimed by
    that worker (e.g. a coordinator's previous incarnation). With neither, every processing job
    is recovered, which is right only when no worker can be alive (a restart of the only
    coordinator). Returns the jobs changed.
    """
    stale: list[ColumnElement[bool]] = []
    if older_than is not None:
        cutoff = utcnow() - older_than
        stale.append(or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < cutoff))
    if worker_id is not None:
        stale.append(Job.claimed_by == worker_id)
    candidates = session.scalars(
        select(Job.id)
        .where(Job.status == JobStatus.PROCESSING, *stale)
        .order_by(Job.created_at, Job.id)
    ).all()
    # The conditions are checked again in each UPDATE: a worker that reports in meanwhile keeps
    # its job.
    return [
        _get(session, job_id)
        for job_id in candidates
        if _end_attempt(session, job_id, reason=STALE_REASON, retry=True, where=stale)
    ]


def _end_attempt(
    session: Session,
    job_id: uuid.UUID,
    *,
    reason: str,
    retry: bool,
    where: Sequence[ColumnElement[bool]] = (),
) -> bool:
    """Requeue or fail a processing job matching `where`; False when no such job."""
    if retry:
        requeued = _transition(
            session,
            job_id,
            JobStatus.QUEUED,
            where=[Job.attempts < Job.max_attempts, *where],
            values={
                "error": reason,
                "claimed_by": None,
                "heartbeat_at": None,
                "stage": None,
                "progress": 0.0,
                "clips_done": 0,
            },
        )
        if requeued is not None:
            return True
    failed = _transition(
        session,
        job_id,
        JobStatus.FAILED,
        where=where,
        values={"error": reason, "finished_at": utcnow()},
    )
    if failed is None:
        return False
    refund_credits(session=session, job_id=job_id)
    return True


def _transition(
    session: Session,
    job_id: uuid.UUID,
    to: JobStatus,
    *,
    values: Mapping[str, Any],
    where: Sequence[ColumnElement[bool]] = (),
) -> Job | None:
    """Move a processing job matching `where` to `to`; None when no row matched."""
    moved = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.PROCESSING, *where)
        .values(status=to, **values)
        .returning(Job.id)
    ).scalar_one_or_none()
    return _get(session, job_id) if moved is not None else None


def _already(session: Session, job_id: uuid.UUID, status: JobStatus, *, action: str) -> Job:
    """A repeated call's answer: the job when it is already `status`, else why it cannot move."""
    job = _get(session, job_id)
    if job.status != status:
        raise JobStateError(job_id, job.status, action)
    return job


def _get(session: Session, job_id: uuid.UUID) -> Job:
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        raise JobNotFound(job_id)
    return job
