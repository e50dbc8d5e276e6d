"""Jobs as their owner sees them: read, list, cancel, their clips, and live progress (SSE).

Another user's job answers 404, like a missing one, so ids cannot be probed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlalchemy.orm import Session, sessionmaker

from db.jobs import cancel_job, get_job, list_job_clips, list_jobs
from db.models import Job, JobStatus
from serve.deps import (
    CurrentUser,
    DbSlotsDep,
    PageDep,
    SessionDep,
    SessionFactoryDep,
    SettingsDep,
)
from serve.errors import NotFound
from serve.schemas import ClipPublic, ClipsPublic, JobPublic, JobsPublic, error_responses

__all__ = ["TERMINAL_EVENTS", "router"]

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=error_responses(401, 422))

# The last event of a stream, by the job's final status.
TERMINAL_EVENTS = {
    JobStatus.PROCESSED: "done",
    JobStatus.FAILED: "failed",
    JobStatus.NO_CREDITS: "failed",
    JobStatus.CANCELLED: "cancelled",
}


def owned_job(job_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Job:
    job = get_job(session=session, job_id=job_id, user_id=user.id)
    if job is None:
        raise NotFound("No such job")
    return job


OwnedJob = Annotated[Job, Depends(owned_job)]


@router.get("", response_model=JobsPublic)
def read_jobs(user: CurrentUser, session: SessionDep, page: PageDep) -> JobsPublic:
    """The user's jobs, newest first."""
    jobs, count = list_jobs(session=session, user_id=user.id, offset=page.offset, limit=page.limit)
    return JobsPublic(data=[JobPublic.model_validate(job) for job in jobs], count=count)


@router.get("/{job_id}", response_model=JobPublic, responses=error_responses(404))
def read_job(job: OwnedJob) -> Job:
    """One job: status, stage, progress and credits."""
    return job


@router.delete("/{job_id}", response_model=JobPublic, responses=error_responses(404, 409))
def delete_job(job_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Job:
    """Cancel a queued job and refund its credits; 409 once it is running or over."""
    job = cancel_job(session=session, job_id=job_id, user_id=user.id)
    if job is None:
        raise NotFound("No such job")
    return job


@router.get("/{job_id}/clips", response_model=ClipsPublic, responses=error_responses(404))
def read_job_clips(job_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> ClipsPublic:
    """The job's clips in index order."""
    clips = list_job_clips(session=session, job_id=job_id, user_id=user.id)
    if clips is None:
        raise NotFound("No such job")
    return ClipsPublic(data=[ClipPublic.model_validate(clip) for clip in clips], count=len(clips))


# The stream's errors are JSON like all others; FastAPI would document them as event streams.
_JSON_ERRORS = {
    code: {
        "description": HTTPStatus(code).phrase,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorPublic"}}},
    }
    for code in (401, 404, 422)
}


@router.get("/{job_id}/events", response_class=EventSourceResponse, responses=_JSON_ERRORS)
async def job_events(
    job: OwnedJob, sessions: SessionFactoryDep, slots: DbSlotsDep, settings: SettingsDep
) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events while the job runs, ending with its outcome.

    Events: `progress` `{status, stage, progress, clips_done}` whenever one of them changes;
    `clip` `{clips_done, num_clips}` when another clip is finished; and last `done`, `failed`
    or `cancelled` with the whole job, after which the stream closes. A `: keep-alive`
    comment goes out when nothing else did for a while, so proxies keep the connection.
    """
    # The job row is read afresh on each poll, each time in a new, short session taken like a
    # request's (see deps.get_session): the request's own session closed when streaming began.
    last_progress: dict[str, Any] | None = None
    clips_seen = 0
    last_sent = time.monotonic()
    while True:
        async with slots:
            current = await run_in_threadpool(_read_job, sessions, job.id)
        if current is None:  # deleted meanwhile
            return
        progress = current.model_dump(include={"status", "stage", "progress", "clips_done"})
        if progress != last_progress:
            last_progress, last_sent = progress, time.monotonic()
            yield ServerSentEvent(event="progress", data=progress)
        if current.clips_done > clips_seen:
            clips_seen, last_sent = current.clips_done, time.monotonic()
            yield ServerSentEvent(
                event="clip", data={"clips_done": clips_seen, "num_clips": current.num_clips}
            )
        if current.status in TERMINAL_EVENTS:
            yield ServerSentEvent(event=TERMINAL_EVENTS[current.status], data=current)
            return
        if time.monotonic() - last_sent >= settings.job_events_keepalive_s:
            last_sent = time.monotonic()
            yield ServerSentEvent(comment="keep-alive")
        await anyio.sleep(settings.job_events_poll_s)


def _read_job(sessions: sessionmaker[Session], job_id: uuid.UUID) -> JobPublic | None:
    with sessions() as session:
        job = session.get(Job, job_id)
        return JobPublic.model_validate(job) if job is not None else None
