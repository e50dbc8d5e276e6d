"""`POST /process_video`: the seed backend's synchronous endpoint, kept for its callers.

Same request (`{s3_key, num_clips}`), same bearer token, same answers:
`{"status": "success", "clips_processed": N}` or `{"status": "error", "message": ...}`. What
changed is safety: the token is compared in constant time, the key must name an upload
(`{user_id}/{upload_id}/original.{ext}`) that exists, and the call is bounded by
`process_video_timeout_s` (504). It is the one request that holds a connection for the whole
job; the API's own clients submit jobs and follow them instead.
"""

from __future__ import annotations

import logging

import anyio
from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from pipeline.errors import ClipzzError
from serve.deps import Bearer, ProcessVideoDep, SettingsDep, StorageDep
from serve.errors import ProcessVideoError
from serve.schemas import (
    ErrorPublic,
    ProcessVideoErrorPublic,
    ProcessVideoRequest,
    ProcessVideoResult,
)
from serve.security import service_token_matches

__all__ = ["router"]

logger = logging.getLogger("clipzz.serve")


def require_service_token(settings: SettingsDep, credentials: Bearer) -> None:
    """401 unless the bearer token is the configured service token; 503 when none is."""
    if settings.service_token is None:
        raise ProcessVideoError(503, "This endpoint is disabled: no service token is configured")
    if credentials is None or not service_token_matches(
        credentials.credentials, settings.service_token
    ):
        raise ProcessVideoError(
            401, "Invalid or missing bearer token", headers={"WWW-Authenticate": "Bearer"}
        )


_errors = {
    code: {"model": ProcessVideoErrorPublic, "description": description}
    for code, description in {
        401: "Invalid or missing bearer token",
        404: "No stored upload under s3_key",
        500: "Processing failed",
        503: "Disabled (no service token) or no pipeline attached",
        504: "Processing took longer than the timeout",
    }.items()
}
router = APIRouter(
    tags=["process_video"],
    dependencies=[Depends(require_service_token)],
    responses={**_errors, 422: {"model": ErrorPublic, "description": "Invalid body"}},
)


@router.post("/process_video", response_model=ProcessVideoResult)
async def process_video(
    body: ProcessVideoRequest,
    settings: SettingsDep,
    storage: StorageDep,
    run: ProcessVideoDep,
) -> ProcessVideoResult:
    """Cut up to `num_clips` clips from the uploaded video and wait until they are stored."""
    if run is None:
        raise ProcessVideoError(503, "Video processing is not available on this server")
    if not await run_in_threadpool(storage.exists, body.s3_key):
        raise ProcessVideoError(404, f"No uploaded video at {body.s3_key}")
    timeout_s = settings.process_video_timeout_s
    try:
        with anyio.fail_after(timeout_s):
            clips = await run(s3_key=body.s3_key, num_clips=body.num_clips, timeout_s=timeout_s)
    except TimeoutError:
        raise ProcessVideoError(504, "timed out") from None
    except ClipzzError as exc:
        raise ProcessVideoError(500, str(exc)) from exc
    except Exception as exc:
        # Seed callers read `status`; answer in their shape and keep the cause in the log.
        logger.exception("process_video failed for %s", body.s3_key)
        raise ProcessVideoError(500, "An unexpected error occurred") from exc
    return ProcessVideoResult(clips_processed=clips)
