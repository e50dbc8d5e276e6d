"""The local storage's presigned URLs, served by the API (included only with `LocalStorage`).

`LocalStorage.presign_put/presign_get` sign URLs under `{public_base_url}/files/`; these routes
check the signature as S3 would (method, key, expiry, the signed content type and length, the
download name) and answer 403 when it does not hold. The body is streamed to a temporary file
beside its target and renamed into place, so a partial upload never shows under the key.
"""

from __future__ import annotations

import mimetypes
import os
import tempfile
from pathlib import Path
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse

from pipeline.storage import LocalStorage, content_disposition, verify_local_signature
from serve.deps import SettingsDep, StorageDep
from serve.errors import ApiError, Forbidden, NotFound, PayloadTooLarge
from serve.schemas import error_responses

__all__ = ["router"]

router = APIRouter(prefix="/files", tags=["files"], responses=error_responses(403, 404, 422))


def local_storage(storage: StorageDep) -> LocalStorage:
    assert isinstance(storage, LocalStorage), "the files routes serve LocalStorage only"
    return storage


LocalStorageDep = Annotated[LocalStorage, Depends(local_storage)]


@router.put("/{key:path}", responses=error_responses(400, 413))
async def put_file(
    key: str, request: Request, storage: LocalStorageDep, settings: SettingsDep
) -> Response:
    """Store the body under `key`, as a presigned PUT allows."""
    declared = _content_length(request)
    query = dict(request.query_params)
    content_type = request.headers.get("content-type")
    if not verify_local_signature(
        storage.options, "PUT", key, query, content_type, content_length=declared
    ):
        raise Forbidden("The upload URL is invalid or has expired")
    # A signed length is exact (the signature check compared it with Content-Length).
    exact = int(query["len"]) if "len" in query else None
    await _receive(request, storage.path_for(key), exact=exact, limit=settings.upload_max_bytes)
    return Response(status_code=200)


@router.get("/{key:path}", response_class=FileResponse)
async def get_file(key: str, request: Request, storage: LocalStorageDep) -> FileResponse:
    """The object under `key`, as a presigned GET allows; ranges are supported (seeking)."""
    query = dict(request.query_params)
    if not verify_local_signature(storage.options, "GET", key, query, None):
        raise Forbidden("The download URL is invalid or has expired")
    path = storage.path_for(key)
    if not await anyio.Path(path).is_file():
        raise NotFound("No such file")
    headers = {"Content-Disposition": content_disposition(query["dl"])} if "dl" in query else None
    media_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, headers=headers)


def _content_length(request: Request) -> int | None:
    try:
        return int(request.headers["content-length"])
    except (KeyError, ValueError):
        return None


async def _receive(request: Request, target: Path, *, exact: int | None, limit: int) -> None:
    """Stream the body into `target`: exactly `exact` bytes when given, else at most `limit`."""
    most = exact if exact is not None else limit
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    received = 0
    try:
        async with await anyio.open_file(fd, "wb") as out:
            async for chunk in request.stream():
                received += len(chunk)
                if received > most:
                    raise PayloadTooLarge(f"The body must be at most {most} bytes")
                await out.write(chunk)
        if exact is not None and received != exact:
            raise ApiError(f"The body has {received} bytes; the URL was signed for {exact}")
        os.replace(tmp_name, target)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
