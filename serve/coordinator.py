"""The job coordinator: a named, detached Ray actor that turns queued jobs into clips.

The database is the source of truth. The coordinator claims queued jobs (one running job per
user, `FOR UPDATE SKIP LOCKED` on PostgreSQL), runs each through the pipeline on Ray in a
thread of its own, writes progress, stores the clips and their rows, and settles credits to the
clips actually made (the rest of the reservation is refunded). A failed attempt is retried once;
input that can never work (a corrupt video) fails at once with its reason and a refund.

When the actor (re)starts it first takes back every job left `processing` by its previous life:
requeued while attempts remain, else failed and refunded. Nothing stays "processing" forever.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ray

import db
from pipeline.errors import InvalidInput
from pipeline.job import ProgressEvent
from serve.options import build_job_options
from serve.resources import session_factory_for, storage_for
from serve.runner import run_stored_video
from serve.settings import Settings

__all__ = ["JobCoordinator", "get_coordinator", "overall_progress"]

logger = logging.getLogger("clipzz.serve")

NAMESPACE = "clipzz"
# Where the stages of a job sit in its overall progress bar.
_STAGE_SPAN = {
    "probe": (0.0, 0.02),
    "audio": (0.02, 0.05),
    "transcribe": (0.05, 0.35),
    "moments": (0.35, 0.4),
}


def overall_progress(event: ProgressEvent, clip_fractions: dict[int, float], clips: int) -> float:
    """One 0–1 number for a job from its stage events (clips share the last 60 %)."""
    if event.clip is None:
        lo, hi = _STAGE_SPAN.get(event.stage, (0.0, 0.0))
        return lo + (hi - lo) * event.fraction
    if event.stage == "render":
        clip_fractions[event.clip] = 0.2 + 0.8 * event.fraction
    elif event.stage == "clip" and event.fraction >= 1.0:
        clip_fractions[event.clip] = 1.0
    done = sum(clip_fractions.values()) / max(clips, 1)
    return 0.4 + 0.6 * min(1.0, done)


class JobCoordinator:
    """Claims and runs jobs; `start()` launches the loop, `wake()` nudges it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.worker_id = f"coordinator-{uuid.uuid4().hex[:8]}"
        self.sessions = session_factory_for(settings)
        self.storage = storage_for(settings)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._running: set[uuid.UUID] = set()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=settings.max_concurrent_jobs)
        self._thread: threading.Thread | None = None
        self._recover()
        # Started here, not only in start(): Ray re-runs __init__ when it restarts the actor.
        self.start()

    def _recover(self) -> None:
        with self.sessions() as session:
            jobs = db.recover_stale_jobs(session=session)
            session.commit()
        for job in jobs:
            logger.warning("recovered job %s left processing: now %s", job.id, job.status)

    def start(self) -> str:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="coordinator", daemon=True)
            self._thread.start()
        return self.worker_id

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def running(self) -> list[str]:
        with self._lock:
            return [str(j) for j in self._running]

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._claim()
            except Exception:  # the loop must survive a database hiccup
                logger.exception("claiming jobs failed; retrying")
            self._wake.wait(self.settings.coordinator_poll_s)
            self._wake.clear()

    def _claim(self) -> None:
        while True:
            with self._lock:
                if len(self._running) >= self.settings.max_concurrent_jobs:
                    return
            with self.sessions() as session:
                job = db.claim_next_job(session=session, worker_id=self.worker_id)
                session.commit()
            if job is None:
                return
            with self._lock:
                self._running.add(job.id)
            self._pool.submit(self._run, job.id)

    def _run(self, job_id: uuid.UUID) -> None:
        try:
            self._attempt(job_id)
        except Exception:
            logger.exception("job %s: unexpected coordinator error", job_id)
        finally:
            with self._lock:
                self._running.discard(job_id)
            self._wake.set()

    def _attempt(self, job_id: uuid.UUID) -> None:
        with self.sessions() as session:
            job = session.get(db.Job, job_id)
            upload = session.get(db.Upload, job.upload_id)
            user_id, upload_id, source_key = job.user_id, upload.id, upload.storage_key
            num_clips, lo, hi = job.num_clips, job.min_seconds, job.max_seconds
        progress = self._progress_writer(job_id, num_clips)
        try:
            options = build_job_options(
                self.settings, num_clips=num_clips, min_seconds=lo, max_seconds=hi
            )
            clips = run_stored_video(
                self.storage,
                source_key,
                f"{user_id}/{upload_id}/clips/{job_id}/",
                options,
                cache_dir=Path(self.settings.work_dir) / "cache",
                profile=self.settings.resource_profile,
                job_id=str(job_id)[:8],
                progress=progress,
            )
        except InvalidInput as exc:
            self._fail(job_id, str(exc), retry=False)
            return
        except Exception as exc:  # any other failure gets the one retry the job allows
            logger.exception("job %s failed", job_id)
            self._fail(job_id, f"{type(exc).__name__}: {exc}"[:500], retry=True)
            return
        with self.sessions() as session:
            db.finish_job(session=session, job_id=job_id, clips=[c.as_row() for c in clips])
            session.commit()
        logger.info("job %s processed: %d clips", job_id, len(clips))

    def _fail(self, job_id: uuid.UUID, reason: str, *, retry: bool) -> None:
        with self.sessions() as session:
            job = db.fail_job(session=session, job_id=job_id, reason=reason, retry=retry)
            session.commit()
        logger.warning("job %s attempt failed (%s): now %s", job_id, reason, job.status)

    def _progress_writer(self, job_id: uuid.UUID, clips: int):
        fractions: dict[int, float] = {}
        state = {"written": 0.0, "stage": None, "done": 0}

        def write(event: ProgressEvent) -> None:
            value = overall_progress(event, fractions, clips)
            done = sum(1 for f in fractions.values() if f >= 1.0)
            now = time.monotonic()
            changed = event.stage != state["stage"] or done != state["done"]
            if not changed and now - state["written"] < 1.0:
                return
            state.update(written=now, stage=event.stage, done=done)
            with self.sessions() as session:
                db.update_progress(
                    session=session,
                    job_id=job_id,
                    worker_id=self.worker_id,
                    stage=event.stage,
                    progress=round(value, 3),
                    clips_done=done,
                )
                session.commit()

        return write


def get_coordinator(settings: Settings) -> ray.actor.ActorHandle:
    """The one coordinator of the cluster, created on first use and restarted if it dies."""
    actor_class = ray.remote(JobCoordinator)
    handle = actor_class.options(
        name=settings.coordinator_name,
        namespace=NAMESPACE,
        lifetime="detached",
        get_if_exists=True,
        num_cpus=0,
        max_restarts=-1,
        max_concurrency=4,
    ).remote(settings)
    ray.get(handle.start.remote())
    return handle
