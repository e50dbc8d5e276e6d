"""Clips: the user's clips grouped by upload, and presigned URLs to play or download one."""

from __future__ import annotations

import re
import uuid
from pathlib import PurePosixPath
from typing import Annotated

from fastapi import APIRouter, Query

from db.listing import get_clip, list_clip_groups
from db.models import Clip
from serve.deps import CurrentUser, PageDep, SessionDep, SettingsDep, StorageDep
from serve.errors import NotFound
from serve.schemas import (
    ClipGroupPublic,
    ClipGroupsPublic,
    ClipPublic,
    ClipURL,
    error_responses,
)

__all__ = ["router"]

router = APIRouter(prefix="/clips", tags=["clips"], responses=error_responses(401, 422))

MAX_DOWNLOAD_TITLE_CHARS = 80


@router.get("", response_model=ClipGroupsPublic)
def read_clips(user: CurrentUser, session: SessionDep, page: PageDep) -> ClipGroupsPublic:
    """The user's clips grouped by upload, the upload with the newest clip first; `offset` and
    `limit` count uploads."""
    groups, count = list_clip_groups(
        session=session, user_id=user.id, offset=page.offset, limit=page.limit
    )
    return ClipGroupsPublic(
        data=[
            ClipGroupPublic(
                upload_id=group.upload.id,
                filename=group.upload.filename,
                clips=[ClipPublic.model_validate(clip) for clip in group.clips],
            )
            for group in groups
        ],
        count=count,
    )


@router.get("/{clip_id}/url", response_model=ClipURL, responses=error_responses(404))
def read_clip_url(
    clip_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    download: Annotated[
        bool, Query(description="Make the browser save the file instead of playing it")
    ] = False,
) -> ClipURL:
    """A presigned GET URL for the clip, valid for `expires_in` seconds."""
    clip = get_clip(session=session, clip_id=clip_id, user_id=user.id)
    if clip is None:
        raise NotFound("No such clip")
    url = storage.presign_get(
        clip.storage_key,
        settings.clip_url_ttl_s,
        download_name=download_name(clip) if download else None,
    )
    return ClipURL(url=url, expires_in=settings.clip_url_ttl_s)


def download_name(clip: Clip) -> str:
    """`"{title}.mp4"`, shortened; `content_disposition` makes it header-safe when signing.

    Slashes become dashes first: a title is not a path, and `content_disposition` would keep
    only what follows the last one.
    """
    title = " ".join(re.sub(r"[/\\]+", "-", clip.title).split())
    title = title[:MAX_DOWNLOAD_TITLE_CHARS].strip()
    suffix = PurePosixPath(clip.storage_key).suffix or ".mp4"
    return f"{title or f'clip {clip.index + 1}'}{suffix}"
