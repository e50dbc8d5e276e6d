"""Run a video that lives in storage through the pipeline and store its clips.

Shared by the job coordinator and the seed-compatible `POST /process_video`: download the
source to a private temporary directory, run the Ray DAG, upload every clip (mp4 + srt) under
a prefix, and return what the database needs to know about each clip. Stage outputs are cached
in a directory that outlives the attempt, so a retried job skips the stages it finished.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from pipeline.distributed import run_job_on_ray
from pipeline.job import JobOptions, ProgressFn
from pipeline.storage import Storage

__all__ = ["StoredClip", "run_stored_video"]

logger = logging.getLogger("clipzz.serve")


@dataclass(frozen=True)
class StoredClip:
    index: int
    title: str
    start: float
    end: float
    score: float
    reason: str
    storage_key: str

    def as_row(self) -> dict:
        return {
            "index": self.index,
            "title": self.title,
            "start": self.start,
            "end": self.end,
            "score": self.score,
            "reason": self.reason,
            "storage_key": self.storage_key,
        }


def run_stored_video(
    storage: Storage,
    source_key: str,
    clip_prefix: str,
    options: JobOptions,
    *,
    cache_dir: Path,
    profile: str = "auto",
    job_id: str | None = None,
    progress: ProgressFn | None = None,
) -> list[StoredClip]:
    """Clip `source_key` and upload `clip_<i>.mp4` and `clip_<i>.srt` under `clip_prefix`."""
    suffix = PurePosixPath(source_key).suffix or ".mp4"
    with tempfile.TemporaryDirectory(prefix="clipzz-job-") as tmp:
        source = storage.get_file(source_key, Path(tmp) / f"source{suffix}")
        out = Path(tmp) / "out"
        result = run_job_on_ray(
            source,
            out,
            replace(options, cache_dir=cache_dir),
            profile=profile,
            job_id=job_id,
            progress=progress,
        )
        stored = []
        for clip in result.clips:
            key = f"{clip_prefix}{clip.file}"
            storage.put_file(key, out / clip.file, "video/mp4")
            storage.put_file(f"{clip_prefix}{clip.captions}", out / clip.captions, "text/plain")
            moment = clip.moment
            stored.append(
                StoredClip(
                    index=clip.index,
                    title=moment.title,
                    start=moment.start,
                    end=moment.end,
                    score=float(moment.score),
                    reason=moment.reason,
                    storage_key=key,
                )
            )
    logger.info("stored %d clips of %s under %s", len(stored), source_key, clip_prefix)
    return stored
