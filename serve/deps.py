"""Dependencies of the route handlers, as `Annotated` aliases: declare `session: SessionDep` or
`user: CurrentUser` and FastAPI provides it.

Everything comes from `app.state`, filled by `create_app`, so nothing here is global and one
process can hold several apps (the tests do).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Annotated, NamedTuple

import anyio
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from db.models import User
from db.users import get_user
from pipeline.storage import Storage
from serve.errors import Unauthorized
from serve.ratelimit import RateLimiter
from serve.security import InvalidToken, read_access_token
from serve.settings import Settings

__all__ = [
    "Bearer",
    "CurrentUser",
    "DbSlotsDep",
    "Page",
    "PageDep",
    "ProcessVideoDep",
    "ProcessVideoFn",
    "RateLimiterDep",
    "SessionDep",
    "SessionFactoryDep",
    "SettingsDep",
    "StorageDep",
    "Wake",
    "WakeDep",
    "client_address",
]

ProcessVideoFn = Callable[..., Awaitable[int]]
Wake = Callable[[], None]

MAX_PAGE = 100
# Far beyond any real list, and small enough for every database's OFFSET.
MAX_OFFSET = 1_000_000


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_storage(request: Request) -> Storage:
    return request.app.state.storage


def get_session_factory(request: Request) -> sessionmaker[Session]:
    return request.app.state.session_factory


def get_rate_limiter(request: Request) -> RateLimiter:
    return request.app.state.rate_limiter


def get_db_slots(request: Request) -> anyio.Semaphore:
    return request.app.state.db_slots


def get_wake(request: Request) -> Wake | None:
    return request.app.state.wake


def get_process_video(request: Request) -> ProcessVideoFn | None:
    return request.app.state.process_video


SettingsDep = Annotated[Settings, Depends(get_settings)]
StorageDep = Annotated[Storage, Depends(get_storage)]
SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_session_factory)]
RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]
DbSlotsDep = Annotated[anyio.Semaphore, Depends(get_db_slots)]
WakeDep = Annotated[Wake | None, Depends(get_wake)]
ProcessVideoDep = Annotated[ProcessVideoFn | None, Depends(get_process_video)]


async def _db_slot(slots: DbSlotsDep) -> AsyncIterator[None]:
    async with slots:
        yield


def get_session(
    sessions: SessionFactoryDep, _slot: Annotated[None, Depends(_db_slot, scope="function")]
) -> Iterator[Session]:
    """One session per request: committed when the handler returns, rolled back when it raises.

    Scoped to the handler (see `SessionDep`), so the commit happens before the response is
    sent: a client never sees success for a change that then failed to commit, and a SQLite
    write lock is not held while the response streams.

    A request's transaction spans several threadpool calls (the auth dependency, the handler,
    this commit). Were every thread taken by requests waiting for a lock (SQLite's write lock,
    a PostgreSQL row lock) or a pool connection, the request holding it could never get the
    thread it needs to commit. So a request first waits, on the event loop, for one of
    `db_max_sessions` slots, kept well below the thread count.
    """
    with sessions() as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="An access token from POST /auth/login")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def get_current_user(session: SessionDep, settings: SettingsDep, credentials: Bearer) -> User:
    """The user named by a valid access token; 401 for anything else, with one message, so a
    client learns nothing about why (expired, forged, deleted user)."""
    if credentials is None or settings.jwt_secret is None:
        raise Unauthorized()
    try:
        user_id = read_access_token(
            credentials.credentials, secret=settings.jwt_secret, issuer=settings.jwt_issuer
        )
    except InvalidToken:
        raise Unauthorized() from None
    user = get_user(session=session, user_id=user_id)
    if user is None:
        raise Unauthorized()
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def client_address(request: Request) -> str:
    """The peer's address, the key of per-IP limits. Behind a proxy it is the proxy's, unless
    the server rewrites it from forwarding headers it trusts; never read them here, since any
    client can send them."""
    return request.client.host if request.client else "unknown"


class Page(NamedTuple):
    offset: int
    limit: int


def get_page(
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items to return")] = MAX_PAGE,
) -> Page:
    return Page(offset, limit)


PageDep = Annotated[Page, Depends(get_page)]
