"""The clipzz HTTP API: a FastAPI app built by `create_app` with everything injected.

Ray Serve wraps it (`serve.ingress(lambda: create_app(...))`); tests run it in-process. The
database sessions, the storage, the coordinator's wake-up call and the synchronous pipeline of
`/process_video` all come in as arguments, so the app itself holds no global state.
"""

from __future__ import annotations

import anyio
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.errors import InvalidInput
from pipeline.storage import LocalStorage, Storage
from serve.billing_options import razorpay_options, stripe_options
from serve.deps import ProcessVideoFn, Wake
from serve.errors import error_response, install_error_handlers
from serve.ratelimit import RateLimiter
from serve.routes import api_router, files_router
from serve.settings import Settings

__all__ = ["JSON_BODY_LIMIT", "BodyLimitMiddleware", "create_app"]

# Every JSON body of the API is small; refusing big ones early keeps memory bounded. Uploads to
# local storage (PUT /files/...) have their own limit, `upload_max_bytes`.
JSON_BODY_LIMIT = 64 * 1024
FILES_PREFIX = "/files/"

DESCRIPTION = """\
Turn long podcast videos into short vertical clips.

1. `POST /auth/signup`, then `POST /auth/login` for a bearer token.
2. `POST /uploads` for a presigned URL, PUT the video there with the headers given, then
   `POST /uploads/{id}/complete`.
3. `POST /uploads/{id}/process` queues a job (one credit per clip, reserved now); follow it with
   `GET /jobs/{id}/events` (Server-Sent Events) or `GET /jobs/{id}`.
4. `GET /clips` lists the clips by upload; `GET /clips/{id}/url` gives a link to play or save one.
5. More credits: `GET /billing/packs`, then `POST /billing/stripe/checkout` or
   `POST /billing/razorpay/orders`; the provider's webhook grants them once paid.
"""


def create_app(
    settings: Settings,
    *,
    session_factory: sessionmaker[Session],
    storage: Storage,
    wake: Wake | None = None,
    process_video: ProcessVideoFn | None = None,
    rate_limiter: RateLimiter | None = None,
) -> FastAPI:
    """Build the API.

    Args:
        settings: must carry `jwt_secret`; each payment provider's keys are all set or none
            (`serve.billing_options`).
        session_factory: sessions on the service database (`db.make_session_factory`).
        storage: where uploads and clips live; with `LocalStorage` the app also serves its
            presigned URLs under `/files` (so `settings.public_base_url` must reach this app).
        wake: called after a job is committed, to have the coordinator look at the queue now.
        process_video: `await process_video(s3_key=..., num_clips=..., timeout_s=...)` runs a
            whole job and returns the number of clips; without it `/process_video` answers 503.
        rate_limiter: the in-memory limiter (tests pass one with their own clock).
    """
    if settings.jwt_secret is None:
        raise InvalidInput(
            "CLIPZZ_JWT_SECRET is not set; the API needs it to sign access tokens "
            "(generate one with `openssl rand -hex 32`)"
        )
    app = FastAPI(
        title="clipzz", description=DESCRIPTION, generate_unique_id_function=_operation_id
    )
    app.state.settings = settings
    app.state.session_factory = session_factory
    app.state.storage = storage
    app.state.wake = wake
    app.state.process_video = process_video
    app.state.rate_limiter = rate_limiter or RateLimiter()
    app.state.db_slots = anyio.Semaphore(settings.db_max_sessions)
    # A half-configured provider stops the app here, not at the first payment.
    app.state.stripe_options = stripe_options(settings)
    app.state.razorpay_options = razorpay_options(settings)
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, upload_limit=settings.upload_max_bytes)
    app.include_router(api_router)
    if isinstance(storage, LocalStorage):
        app.include_router(files_router)
    return app


class BodyLimitMiddleware:
    """413 for request bodies over `JSON_BODY_LIMIT`, or `upload_limit` under `/files/`.

    A declared Content-Length over the limit is refused before the body is read; a chunked
    body is cut off once it passes the limit. (FastAPI's own `max_body_size` answers in plain
    text; this one answers JSON like every other error.)
    """

    def __init__(self, app: ASGIApp, *, upload_limit: int) -> None:
        self.app = app
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_limit if scope["path"].startswith(FILES_PREFIX) else JSON_BODY_LIMIT
        message = f"The request body is over the limit of {limit} bytes"
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await error_response(413, message)(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message_in = await receive()
            received += len(message_in.get("body", b""))
            if received > limit:
                raise HTTPException(413, message)
            return message_in

        await self.app(scope, limited_receive, send)


def _operation_id(route: APIRoute) -> str:
    """Operation ids like `uploads-create_upload_url` instead of FastAPI's path-derived ones,
    so generated clients read well."""
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name
