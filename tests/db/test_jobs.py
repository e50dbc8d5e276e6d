"""Jobs as the owner sees them: submit, owner-scoped reads, cancel, limits' counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from db.errors import JobStateError
from db.jobs import (
    cancel_job,
    count_active_jobs,
    count_jobs_since,
    create_job,
    get_job,
    list_job_clips,
    list_jobs,
)
from db.models import JobStatus
from db.queue import claim_next_job, finish_job
from db.types import utcnow
from tests.utils.db import make_job, make_upload, make_user


def test_create_job_reserves_its_credits(db_session: Session) -> None:
    user = make_user(db_session, credits=10)
    upload = make_upload(db_session, user.id)
    job = create_job(
        session=db_session,
        user_id=user.id,
        upload_id=upload.id,
        num_clips=3,
        min_seconds=30,
        max_seconds=60,
        credits=3,
    )
    db_session.commit()
    assert job.status == JobStatus.QUEUED
    assert (job.credits_reserved, job.attempts, job.max_attempts, job.progress) == (3, 0, 2, 0)
    assert job.created_at.tzinfo is not None
    assert user.credits == 7


def test_create_job_without_enough_credits_is_no_credits(db_session: Session) -> None:
    user = make_user(db_session, credits=2)
    job = make_job(db_session, user.id, credits=3)
    db_session.commit()
    assert job.status == JobStatus.NO_CREDITS
    assert job.finished_at is not None
    assert (job.credits_reserved, user.credits) == (0, 2)
    assert claim_next_job(session=db_session, worker_id="w1") is None


def test_get_job_is_owner_scoped(db_session: Session) -> None:
    owner, other = make_user(db_session), make_user(db_session)
    job = make_job(db_session, owner.id)
    assert get_job(session=db_session, job_id=job.id, user_id=owner.id) is job
    assert get_job(session=db_session, job_id=job.id, user_id=other.id) is None


def test_list_jobs_newest_first_with_total(db_session: Session) -> None:
    owner, other = make_user(db_session), make_user(db_session)
    jobs = [make_job(db_session, owner.id, credits=1) for _ in range(3)]
    make_job(db_session, other.id)
    page, total = list_jobs(session=db_session, user_id=owner.id, limit=2)
    assert total == 3
    assert page == [jobs[2], jobs[1]]


def test_list_job_clips_is_owner_scoped(db_session: Session) -> None:
    owner, other = make_user(db_session), make_user(db_session)
    job = make_job(db_session, owner.id)
    claim_next_job(session=db_session, worker_id="w1")
    clips = [
        {"index": i, "title": f"t{i}", "start": 10.0 * i, "end": 10.0 * i + 5, "storage_key": "k"}
        for i in (1, 0)
    ]
    finish_job(session=db_session, job_id=job.id, clips=clips)
    mine = list_job_clips(session=db_session, job_id=job.id, user_id=owner.id)
    assert [clip.index for clip in mine] == [0, 1]
    assert list_job_clips(session=db_session, job_id=job.id, user_id=other.id) is None


def test_cancel_queued_job_refunds(db_session: Session) -> None:
    user = make_user(db_session, credits=10)
    job = make_job(db_session, user.id, credits=4)
    cancelled = cancel_job(session=db_session, job_id=job.id, user_id=user.id)
    assert cancelled is job
    assert (job.status, job.credits_reserved, user.credits) == (JobStatus.CANCELLED, 0, 10)
    assert job.finished_at is not None
    # Cancelling again answers with the cancelled job and refunds nothing more.
    assert cancel_job(session=db_session, job_id=job.id, user_id=user.id) is job
    assert user.credits == 10


def test_cancel_processing_job_raises(db_session: Session) -> None:
    user = make_user(db_session, credits=10)
    job = make_job(db_session, user.id, credits=4)
    claim_next_job(session=db_session, worker_id="w1")
    with pytest.raises(JobStateError, match=r"cannot cancel job .*: it is processing") as info:
        cancel_job(session=db_session, job_id=job.id, user_id=user.id)
    assert info.value.status == JobStatus.PROCESSING
    assert (job.credits_reserved, user.credits) == (4, 6)


def test_cancel_another_users_job_returns_none(db_session: Session) -> None:
    owner, other = make_user(db_session), make_user(db_session)
    job = make_job(db_session, owner.id)
    assert cancel_job(session=db_session, job_id=job.id, user_id=other.id) is None
    assert job.status == JobStatus.QUEUED


def test_counts_for_limits(db_session: Session) -> None:
    user = make_user(db_session, credits=10)
    before = utcnow()
    queued = make_job(db_session, user.id, credits=1)
    make_job(db_session, user.id, credits=1)
    claim_next_job(session=db_session, worker_id="w1")  # one processing, one queued
    cancelled = make_job(db_session, user.id, credits=1)
    cancel_job(session=db_session, job_id=cancelled.id, user_id=user.id)
    make_job(db_session, user.id, credits=50)  # no_credits
    assert count_active_jobs(session=db_session, user_id=user.id) == 2
    assert count_jobs_since(session=db_session, user_id=user.id, since=before) == 4
    later = queued.created_at + timedelta(microseconds=1)
    assert count_jobs_since(session=db_session, user_id=user.id, since=later) == 3
    assert count_jobs_since(session=db_session, user_id=user.id, since=utcnow()) == 0
