"""HTTP errors of the API, and the handlers that turn every exception into a JSON answer.

Routes raise `ApiError` subclasses; errors from lower layers keep their own types and are mapped
here, at the edge, so `pipeline/` and `db/` stay free of HTTP:

    ClipzzError (pipeline.errors)
    ├── ApiError                   an answer chosen by a route: status, title, message
    │   ├── Unauthorized           401, with `WWW-Authenticate: Bearer`
    │   ├── Forbidden              403
    │   ├── NotFound               404 (also for other users' things: ids are not revealed)
    │   ├── Conflict               409
    │   ├── InsufficientCredits    402
    │   ├── PayloadTooLarge        413, with `details` naming the field
    │   ├── InvalidFields          422, with `details` naming the fields
    │   ├── RateLimited            429, with `Retry-After`
    │   └── ProcessVideoError      the seed's `{"status": "error", "message"}` shape, any status
    ├── InvalidInput               422 (its message is meant for the user)
    ├── storage.ObjectNotFound     404
    ├── storage.StorageError       502 (details logged, not returned)
    ├── ModelUnavailable           503
    └── anything else              500 with the error's one-line message
    db.DbError: JobNotFound, UserNotFound → 404; JobStateError → 409
    billing.BillingError: UnknownPack → 400 (`details` naming `pack`);
        PaymentVerificationFailed → 400; PaymentProviderError → 502 (details logged, not
        returned); BillingNotConfigured → 503
    RequestValidationError         422 `{"error": "Validation failed", "details": [...]}`
    HTTPException (Starlette)      its status (unknown route 404, wrong method 405, ...), but
                                   a body that is not UTF-8 gets 422 like any non-JSON body
    any other exception            500 `{"error": "Internal server error", ...}`, no details

Error bodies are `{"error": <title>, "message": <sentence>}`, plus `details:
[{"field", "message"}]` when fields are at fault.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from billing.errors import (
    BillingError,
    BillingNotConfigured,
    PaymentProviderError,
    PaymentVerificationFailed,
    UnknownPack,
)
from db.errors import DbError, JobNotFound, JobStateError, UserNotFound
from pipeline.errors import ClipzzError, InvalidInput, ModelUnavailable
from pipeline.storage import ObjectNotFound, StorageError

__all__ = [
    "ApiError",
    "Conflict",
    "FieldError",
    "Forbidden",
    "InsufficientCredits",
    "InvalidFields",
    "NotFound",
    "PayloadTooLarge",
    "ProcessVideoError",
    "RateLimited",
    "Unauthorized",
    "error_response",
    "install_error_handlers",
]

logger = logging.getLogger("clipzz.serve")

VALIDATION_FAILED = "Validation failed"
FieldError = dict[str, str]  # {"field": ..., "message": ...}


class ApiError(ClipzzError):
    """An HTTP answer decided by a route. Subclasses fix the status and the title."""

    status_code: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"

    def __init__(
        self,
        message: str,
        *,
        details: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.title, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class Unauthorized(ApiError):
    status_code = 401
    title = "Unauthorized"

    def __init__(self, message: str = "Invalid or missing authentication token") -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    status_code = 403
    title = "Forbidden"


class NotFound(ApiError):
    status_code = 404
    title = "Not found"


class Conflict(ApiError):
    status_code = 409
    title = "Conflict"


class InsufficientCredits(ApiError):
    status_code = 402
    title = "Insufficient credits"


class PayloadTooLarge(ApiError):
    status_code = 413
    title = "Payload too large"


class InvalidFields(ApiError):
    """Fields that passed the schema but not a rule that needs settings or the database."""

    status_code = 422
    title = VALIDATION_FAILED

    def __init__(self, *details: FieldError) -> None:
        super().__init__(_summary(details), details=details)


class RateLimited(ApiError):
    status_code = 429
    title = "Too many requests"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        # Retry-After takes whole seconds; rounding up never invites an early retry.
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        super().__init__(message, headers={"Retry-After": str(self.retry_after_s)})


class ProcessVideoError(ApiError):
    """An error of the seed-compatible `POST /process_video`, in the seed's body shape."""

    def __init__(
        self, status_code: int, message: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message, headers=headers)
        self.status_code = status_code  # type: ignore[misc]

    def body(self) -> dict[str, Any]:
        return {"status": "error", "message": self.message}


# One title per status, whoever raised it (a route, Starlette's router, a middleware).
_TITLES = {
    error.status_code: error.title
    for error in (
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        InsufficientCredits,
        PayloadTooLarge,
        RateLimited,
    )
}


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error as JSON (see the module docstring for the mapping)."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(DbError, _db_error)
    app.add_exception_handler(BillingError, _billing_error)
    app.add_exception_handler(ClipzzError, _clipzz_error)
    # Starlette sends this from its outermost middleware and re-raises, so the server still logs
    # the traceback; the client learns nothing about the cause.
    app.add_exception_handler(Exception, _unexpected_error)


def error_response(
    status_code: int,
    message: str,
    *,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    title = title or _TITLES.get(status_code) or HTTPStatus(status_code).phrase
    return JSONResponse(
        {"error": title, "message": message},
        status_code=status_code,
        headers=headers,
    )


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"field": _field_name(error.get("loc", ())), "message": _message(error)}
        for error in exc.errors()
    ]
    body = {"error": VALIDATION_FAILED, "message": _summary(details), "details": details}
    return JSONResponse(body, status_code=422)


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI's answer to a body that is not even UTF-8; invalid JSON gets 422, so this does.
        detail = {"field": "body", "message": "The body is not valid JSON"}
        return await _api_error(request, InvalidFields(detail))
    phrase = HTTPStatus(exc.status_code).phrase
    message = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else phrase
    return error_response(exc.status_code, message, headers=exc.headers)


async def _db_error(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, JobNotFound | UserNotFound):
        return error_response(404, "The resource does not exist", title=NotFound.title)
    if isinstance(exc, JobStateError):
        return error_response(409, f"The job is {exc.status}", title=Conflict.title)
    return await _unexpected_error(_request, exc)


async def _billing_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, UnknownPack):
        detail = {"field": "pack", "message": str(exc)}
        return await _api_error(request, ApiError(str(exc), details=[detail]))
    if isinstance(exc, PaymentVerificationFailed):
        # The reason only (signature, timestamp): never the body, which carries personal data.
        logger.warning("%s", exc)
        return await _api_error(request, ApiError(str(exc)))
    if isinstance(exc, PaymentProviderError):
        logger.error("%s", exc)
        return error_response(502, f"{exc.provider} did not answer as expected; try again later")
    if isinstance(exc, BillingNotConfigured):
        return error_response(503, str(exc))
    return await _unexpected_error(request, exc)


async def _clipzz_error(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, InvalidInput):
        return error_response(422, str(exc), title=VALIDATION_FAILED)
    if isinstance(exc, ObjectNotFound):
        return error_response(404, "The stored file does not exist", title=NotFound.title)
    if isinstance(exc, StorageError):
        logger.error("storage failed: %s", exc)
        return error_response(502, "The storage service failed; try again later")
    if isinstance(exc, ModelUnavailable):
        return error_response(503, str(exc))
    return error_response(500, str(exc), title="Internal server error")


async def _unexpected_error(_request: Request, _exc: Exception) -> JSONResponse:
    return error_response(500, "An unexpected error occurred", title="Internal server error")


def _field_name(loc: Sequence[int | str]) -> str:
    """`("body", "num_clips")` -> "num_clips"; the whole body (bad JSON, missing) -> "body"."""
    parts = [str(part) for part in loc[1:] if isinstance(part, str)] if len(loc) > 1 else []
    return ".".join(parts) or (str(loc[0]) if loc else "body")


def _message(error: Mapping[str, Any]) -> str:
    if error.get("type") == "json_invalid":
        return "The body is not valid JSON"
    if error.get("type") == "missing":
        return "This field is required"
    return str(error.get("msg", "Invalid value")).removeprefix("Value error, ")


def _summary(details: Sequence[FieldError]) -> str:
    fields = ", ".join(dict.fromkeys(detail["field"] for detail in details))
    return f"Invalid request: check {fields}" if fields else "Invalid request"
