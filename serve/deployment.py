"""The clipzz HTTP API as a Ray Serve application.

`build_app(args)` is the import path Serve configs name (`serve.deployment:build_app`): it
reads settings from the environment, applies the config's `args` on top, and binds the
`ClipzzAPI` ingress. Each replica builds the FastAPI app in `__serve_build_asgi_app__`, after
its constructor has connected the database, the storage and the job coordinator (a detached
actor shared by every replica). Long work never holds a request, except the seed-compatible
synchronous `POST /process_video`, which awaits a Ray task up to its timeout.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import PurePosixPath
from typing import Any

import ray
from ray import serve
from ray.serve import Application

from serve.options import build_job_options
from serve.resources import session_factory_for, storage_for
from serve.runner import run_stored_video
from serve.settings import Settings

__all__ = ["ClipzzAPI", "build_app", "process_stored_video"]

logger = logging.getLogger("clipzz.serve")


@ray.remote(num_cpus=0, max_retries=0)
def process_stored_video(settings: Settings, s3_key: str, num_clips: int) -> int:
    """The seed's synchronous job: clips go next to the source as `clip_<i>.mp4`."""
    from pathlib import Path

    options = build_job_options(settings, num_clips=num_clips)
    prefix = f"{PurePosixPath(s3_key).parent}/"
    clips = run_stored_video(
        storage_for(settings),
        s3_key,
        prefix,
        options,
        cache_dir=Path(settings.work_dir) / "cache",
        profile=settings.resource_profile,
    )
    return len(clips)


@serve.deployment(ray_actor_options={"num_cpus": 0.1}, max_ongoing_requests=100)
@serve.ingress()
class ClipzzAPI:
    """The FastAPI app, with the database, storage and coordinator it needs."""

    def __init__(self, settings: Settings) -> None:
        from serve.coordinator import get_coordinator

        self.settings = settings
        self.sessions = session_factory_for(settings)
        self.storage = storage_for(settings)
        self.coordinator = get_coordinator(settings)

    def __serve_build_asgi_app__(self) -> Any:
        from serve.app import create_app

        return create_app(
            self.settings,
            session_factory=self.sessions,
            storage=self.storage,
            wake=self._wake,
            process_video=self._process_video,
        )

    def _wake(self) -> None:
        self.coordinator.wake.remote()

    async def _process_video(self, *, s3_key: str, num_clips: int, timeout_s: float) -> int:
        ref = process_stored_video.remote(self.settings, s3_key, num_clips)
        try:
            return await asyncio.wait_for(ref, timeout=timeout_s)
        except TimeoutError:
            ray.cancel(ref, force=True)
            raise
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            raise (cause if isinstance(cause, Exception) else exc) from exc


def build_app(args: dict[str, Any] | None = None) -> Application:
    """Serve config entry point; `args` override settings read from the environment."""
    settings = Settings(**(args or {}))
    return ClipzzAPI.bind(settings)
