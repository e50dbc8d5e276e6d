"""Owner-scoped lists: uploads with clip counts and job status, clips grouped by upload."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from db.jobs import cancel_job, create_job
from db.listing import get_clip, list_clip_groups, list_uploads
from db.models import Job, JobStatus, Upload
from db.queue import claim_next_job, finish_job
from tests.utils.db import make_upload, make_user


def _job(session: Session, upload: Upload, *, credits: int = 1) -> Job:
    return create_job(
        session=session,
        user_id=upload.user_id,
        upload_id=upload.id,
        num_clips=credits,
        min_seconds=30,
        max_seconds=60,
        credits=credits,
    )


def _finish(session: Session, job: Job, titles: list[str]) -> None:
    """Claim `job` (it must be the oldest queued one) and finish it with these clips."""
    assert claim_next_job(session=session, worker_id="w") is job
    clips = [
        {"index": i, "title": title, "start": 0.0, "end": 5.0, "storage_key": f"{job.id}/{i}"}
        for i, title in enumerate(titles)
    ]
    finish_job(session=session, job_id=job.id, clips=clips)


def test_list_uploads_newest_first_with_counts_and_newest_job(db_session: Session) -> None:
    user, other = make_user(db_session), make_user(db_session)
    first, second, third = (make_upload(db_session, user.id) for _ in range(3))
    make_upload(db_session, other.id)
    _finish(db_session, _job(db_session, first, credits=2), ["a", "b"])
    cancelled = _job(db_session, second)
    cancel_job(session=db_session, job_id=cancelled.id, user_id=user.id)
    _job(db_session, second)

    summaries, total = list_uploads(session=db_session, user_id=user.id)
    assert total == 3
    assert [(s.upload.id, s.clip_count, s.job_status) for s in summaries] == [
        (third.id, 0, None),
        (second.id, 0, JobStatus.QUEUED),
        (first.id, 2, JobStatus.PROCESSED),
    ]
    page, total = list_uploads(session=db_session, user_id=user.id, offset=2, limit=5)
    assert ([s.upload.id for s in page], total) == ([first.id], 3)
    assert list_uploads(session=db_session, user_id=uuid.uuid4()) == ([], 0)


def test_list_clip_groups_newest_clip_first(db_session: Session) -> None:
    user, other = make_user(db_session), make_user(db_session)
    first, second, empty = (make_upload(db_session, user.id) for _ in range(3))
    _finish(db_session, _job(db_session, first, credits=2), ["a0", "a1"])
    _finish(db_session, _job(db_session, second), ["b0"])
    _finish(db_session, _job(db_session, first, credits=2), ["c0", "c1"])
    _finish(db_session, _job(db_session, make_upload(db_session, other.id)), ["theirs"])

    groups, total = list_clip_groups(session=db_session, user_id=user.id)
    assert total == 2
    assert [(g.upload.id, [c.title for c in g.clips]) for g in groups] == [
        (first.id, ["c0", "c1", "a0", "a1"]),
        (second.id, ["b0"]),
    ]
    assert empty.id not in {g.upload.id for g in groups}
    page, total = list_clip_groups(session=db_session, user_id=user.id, offset=1, limit=1)
    assert ([g.upload.id for g in page], total) == ([second.id], 2)
    assert list_clip_groups(session=db_session, user_id=user.id, offset=2) == ([], 2)


def test_get_clip_is_owner_scoped(db_session: Session) -> None:
    owner, other = make_user(db_session), make_user(db_session)
    _finish(db_session, _job(db_session, make_upload(db_session, owner.id)), ["mine"])
    [group], _ = list_clip_groups(session=db_session, user_id=owner.id)
    clip = group.clips[0]
    assert get_clip(session=db_session, clip_id=clip.id, user_id=owner.id) is clip
    assert get_clip(session=db_session, clip_id=clip.id, user_id=other.id) is None
    assert get_clip(session=db_session, clip_id=uuid.uuid4(), user_id=owner.id) is None
