"""The queue: claims (also under concurrency), progress, finish, fail with retry, recovery."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.errors import JobNotFound, JobStateError
from db.models import Clip, Job, JobStatus
from db.queue import (
    STALE_REASON,
    claim_next_job,
    fail_job,
    finish_job,
    recover_stale_jobs,
    update_progress,
)
from db.types import utcnow
from tests.utils.db import make_job, make_user, run_in_threads


def _clips(count: int) -> list[dict[str, object]]:
    return [
        {
            "index": i,
            "title": f"Moment {i}",
            "start": 60.0 * i,
            "end": 60.0 * i + 45,
            "score": 80.0,
            "reason": "question and answer",
            "storage_key": f"clips/{i}.mp4",
        }
        for i in range(count)
    ]


# --- claims ------------------------------------------------------------------------------------


def test_claim_takes_oldest_queued_job_and_marks_it(db_session: Session) -> None:
    first_user, second_user = make_user(db_session), make_user(db_session)
    first = make_job(db_session, first_user.id)
    second = make_job(db_session, second_user.id)
    before = utcnow()
    claimed = claim_next_job(session=db_session, worker_id="w1")
    assert claimed is first
    assert claimed.status == JobStatus.PROCESSING
    assert (claimed.attempts, claimed.claimed_by) == (1, "w1")
    assert claimed.started_at >= before
    assert claimed.heartbeat_at == claimed.started_at
    assert claim_next_job(session=db_session, worker_id="w1") is second
    assert claim_next_job(session=db_session, worker_id="w1") is None


def test_claim_skips_users_with_a_processing_job(db_session: Session) -> None:
    busy, free = make_user(db_session), make_user(db_session)
    make_job(db_session, busy.id)
    waiting = make_job(db_session, busy.id)
    other = make_job(db_session, free.id)
    claim_next_job(session=db_session, worker_id="w1")
    assert claim_next_job(session=db_session, worker_id="w1") is other
    assert claim_next_job(session=db_session, worker_id="w1") is None
    assert waiting.status == JobStatus.QUEUED


def test_concurrent_claimers_never_share_a_job_or_a_user(
    db_sessions: sessionmaker[Session],
) -> None:
    """8 claimers race over 3 jobs each of 6 users: 6 claims, one per user, none twice."""
    with db_sessions.begin() as session:
        users = [make_user(session, credits=10).id for _ in range(6)]
        for _ in range(3):
            for user_id in users:
                make_job(session, user_id, credits=1)

    def claim(index: int) -> list[uuid.UUID]:
        claimed = []
        while True:
            with db_sessions.begin() as session:
                job = claim_next_job(session=session, worker_id=f"w{index}")
                if job is None:
                    return claimed
                claimed.append(job.id)

    claims = [job_id for batch in run_in_threads(8, claim) for job_id in batch]
    assert len(claims) == len(set(claims)) == 6
    with db_sessions() as session:
        processing = session.scalars(select(Job).where(Job.status == JobStatus.PROCESSING)).all()
        assert sorted(job.id for job in processing) == sorted(claims)
        assert Counter(job.user_id for job in processing) == Counter(users)
        assert all(job.attempts == 1 for job in processing)


def test_claimers_racing_on_one_user_start_one_job(db_sessions: sessionmaker[Session]) -> None:
    with db_sessions.begin() as session:
        user_id = make_user(session, credits=10).id
        for _ in range(8):
            make_job(session, user_id, credits=1)

    def claim(index: int) -> uuid.UUID | None:
        with db_sessions.begin() as session:
            job = claim_next_job(session=session, worker_id=f"w{index}")
            return job.id if job else None

    claimed = [job_id for job_id in run_in_threads(8, claim) if job_id is not None]
    assert len(claimed) == 1
    with db_sessions() as session:
        processing = select(func.count()).where(Job.status == JobStatus.PROCESSING)
        assert session.execute(processing.select_from(Job)).scalar_one() == 1


# --- progress ----------------------------------------------------------------------------------


def test_update_progress_records_stage_and_heartbeat(db_session: Session) -> None:
    user = make_user(db_session)
    job = make_job(db_session, user.id)
    claim_next_job(session=db_session, worker_id="w1")
    started = job.heartbeat_at
    updated = update_progress(
        session=db_session,
        job_id=job.id,
        worker_id="w1",
        stage="transcribe",
        progress=0.25,
        clips_done=0,
    )
    assert updated is job
    assert (job.stage, job.progress) == ("transcribe", 0.25)
    assert job.heartbeat_at >= started
    assert update_progress(session=db_session, job_id=job.id, worker_id="w2") is None
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        update_progress(session=db_session, job_id=job.id, progress=1.5)


def test_update_progress_of_a_job_not_processing_returns_none(db_session: Session) -> None:
    user = make_user(db_session)
    job = make_job(db_session, user.id)
    assert update_progress(session=db_session, job_id=job.id, progress=0.5) is None
    assert job.progress == 0


# --- finish ------------------------------------------------------------------------------------


def test_finish_stores_clips_and_settles_to_their_number(db_session: Session) -> None:
    user = make_user(db_session, credits=10)
    job = make_job(db_session, user.id, credits=3)
    claim_next_job(session=db_session, worker_id="w1")
    finished = finish_job(session=db_session, job_id=job.id, clips=_clips(2))
    db_session.commit()
    assert finished is job
    assert (job.status, job.progress, job.clips_done) == (JobStatus.PROCESSED, 1.0, 2)
    assert (job.credits_reserved, job.credits_charged, user.credits) == (0, 2, 8)
    assert job.finished_at is not None
    clips = db_session.scalars(select(Clip).where(Clip.job_id == job.id)).all()
    assert sorted(clip.index for clip in clips) == [0, 1]
    assert {(clip.user_id, clip.upload_id) for clip in clips} == {(user.id, job.upload_id)}


def test_finish_twice_creates_no_duplicates_and_charges_once(db_session: Session) -> None:
    user = make_user(db_session, credits=10)
    job = make_job(db_session, user.id, credits=3)
    claim_next_job(session=db_session, worker_id="w1")
    finish_job(session=db_session, job_id=job.id, clips=_clips(3))
    again = finish_job(session=db_session, job_id=job.id, clips=_clips(3))
    assert again is job
    count = db_session.execute(select(func.count()).select_from(Clip)).scalar_one()
    assert count == 3
    assert (job.credits_charged, user.credits) == (3, 7)


def test_finish_with_zero_clips_refunds_everything(db_session: Session) -> None:
    user = make_user(db_session, credits=10)
    job = make_job(db_session, user.id, credits=3)
    claim_next_job(session=db_session, worker_id="w1")
    finish_job(session=db_session, job_id=job.id, clips=[])
    assert (job.status, job.credits_charged, user.credits) == (JobStatus.PROCESSED, 0, 10)


def test_finish_refuses_queued_jobs_and_unknown_fields(db_session: Session) -> None:
    user = make_user(db_session)
    job = make_job(db_session, user.id)
    with pytest.raises(JobStateError, match=r"cannot finish job .*: it is queued"):
        finish_job(session=db_session, job_id=job.id, clips=_clips(1))
    with pytest.raises(ValueError, match=r"unknown clip fields \['hook'\]"):
        finish_job(session=db_session, job_id=job.id, clips=[{**_clips(1)[0], "hook": "x"}])
    with pytest.raises(JobNotFound):
        finish_job(session=db_session, job_id=uuid.uuid4(), clips=[])


# --- failure and retry -------------------------------------------------------------------------


def test_fail_with_retry_requeues_then_fails_and_refunds(db_session: Session) -> None:
    user = make_user(db_session, credits=10)
    job = make_job(db_session, user.id, credits=3)
    claim_next_job(session=db_session, worker_id="w1")
    update_progress(session=db_session, job_id=job.id, stage="render", progress=0.5)

    fail_job(session=db_session, job_id=job.id, reason="ffmpeg exited 1", retry=True)
    assert (job.status, job.error, job.claimed_by) == (JobStatus.QUEUED, "ffmpeg exited 1", None)
    assert (job.stage, job.progress, job.credits_reserved, user.credits) == (None, 0, 3, 7)

    assert claim_next_job(session=db_session, worker_id="w2") is job
    assert job.attempts == 2
    fail_job(session=db_session, job_id=job.id, reason="ffmpeg exited 1 again", retry=True)
    assert (job.status, job.error) == (JobStatus.FAILED, "ffmpeg exited 1 again")
    assert (job.credits_reserved, job.credits_charged, user.credits) == (0, 0, 10)
    assert job.finished_at is not None

    # Failing a failed job again is a no-op; failing a queued one is a mistake.
    assert fail_job(session=db_session, job_id=job.id, reason="late", retry=False) is job
    assert (job.error, user.credits) == ("ffmpeg exited 1 again", 10)
    queued = make_job(db_session, user.id)
    with pytest.raises(JobStateError, match=r"cannot fail job .*: it is queued"):
        fail_job(session=db_session, job_id=queued.id, reason="x", retry=False)


def test_fail_without_retry_fails_at_once(db_session: Session) -> None:
    user = make_user(db_session, credits=10)
    job = make_job(db_session, user.id, credits=3)
    claim_next_job(session=db_session, worker_id="w1")
    fail_job(session=db_session, job_id=job.id, reason="not a video", retry=False)
    assert (job.status, job.attempts, user.credits) == (JobStatus.FAILED, 1, 10)


# --- recovery ----------------------------------------------------------------------------------


def _age(session: Session, job: Job, seconds: float) -> None:
    job.heartbeat_at = utcnow() - timedelta(seconds=seconds)
    session.flush()


def test_recover_requeues_stale_jobs_and_spares_live_ones(db_session: Session) -> None:
    stale_user, live_user = make_user(db_session), make_user(db_session)
    stale = make_job(db_session, stale_user.id)
    live = make_job(db_session, live_user.id)
    claim_next_job(session=db_session, worker_id="w1")
    claim_next_job(session=db_session, worker_id="w2")
    _age(db_session, stale, 600)
    _age(db_session, live, 5)

    recovered = recover_stale_jobs(session=db_session, older_than=timedelta(minutes=2))
    assert recovered == [stale]
    assert (stale.status, stale.error, stale.claimed_by) == (JobStatus.QUEUED, STALE_REASON, None)
    assert live.status == JobStatus.PROCESSING


def test_recover_fails_and_refunds_jobs_out_of_attempts(db_session: Session) -> None:
    user = make_user(db_session, credits=10)
    job = make_job(db_session, user.id, credits=3)
    for worker in ("w1", "w2"):
        claim_next_job(session=db_session, worker_id=worker)
        recovered = recover_stale_jobs(session=db_session, worker_id=worker)
        assert recovered == [job]
    assert (job.status, job.attempts, job.error) == (JobStatus.FAILED, 2, STALE_REASON)
    assert (job.credits_reserved, user.credits) == (0, 10)


def test_recover_by_worker_and_everything(db_session: Session) -> None:
    users = [make_user(db_session) for _ in range(3)]
    jobs = [make_job(db_session, user.id) for user in users]
    for worker in ("old", "old", "new"):
        claim_next_job(session=db_session, worker_id=worker)
    assert recover_stale_jobs(session=db_session, worker_id="old") == jobs[:2]
    assert jobs[2].status == JobStatus.PROCESSING
    # With no filter every processing job is taken back: nothing stays processing for ever.
    assert recover_stale_jobs(session=db_session) == [jobs[2]]
    remaining = select(func.count()).select_from(Job).where(Job.status == JobStatus.PROCESSING)
    assert db_session.execute(remaining).scalar_one() == 0
    assert recover_stale_jobs(session=db_session) == []
    assert [user.credits for user in users] == [97, 97, 97]  # requeued jobs keep their credits
