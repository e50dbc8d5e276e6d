"""Request and response bodies of the API, in families per resource.

`…Create` is what a client sends, `…Public` what it gets back (built from ORM rows with
`from_attributes`, so table-only fields such as `password_hash` never leave), and `…sPublic`
the list wrapper `{data, count}`. Request bodies forbid unknown fields, so a misspelt option
(`numClips`) is an error instead of a silent default; numbers are strict, so `"3"` is not 3.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationInfo,
    field_validator,
)

from db.models import JobStatus, LedgerReason, PaymentProvider, PaymentStatus, UploadStatus
from db.users import normalize_email
from serve.security import BCRYPT_MAX_BYTES

__all__ = [
    "MAX_CLIPS",
    "MAX_CLIP_SECONDS",
    "CheckoutPublic",
    "ClipGroupPublic",
    "ClipGroupsPublic",
    "ClipPublic",
    "ClipURL",
    "ClipsPublic",
    "ErrorPublic",
    "JobAccepted",
    "JobCreate",
    "JobPublic",
    "JobsPublic",
    "LedgerEntriesPublic",
    "LedgerEntryPublic",
    "LoginRequest",
    "OrderPublic",
    "PackPublic",
    "PacksPublic",
    "PaymentPublic",
    "PaymentsPublic",
    "PricePublic",
    "ProcessVideoErrorPublic",
    "ProcessVideoRequest",
    "ProcessVideoResult",
    "PurchaseCreate",
    "RazorpayWebhookAck",
    "StripeWebhookAck",
    "Token",
    "UploadCreate",
    "UploadPublic",
    "UploadSummaryPublic",
    "UploadTicket",
    "UploadsPublic",
    "UserCreate",
    "UserPublic",
    "display_filename",
    "error_responses",
]

MAX_CLIPS = 20
MAX_CLIP_SECONDS = 600.0
MIN_PASSWORD_CHARS = 8
MAX_FILENAME_CHARS = 255  # the column's width

# Deliberately simple: one @, no blanks or control characters, a dot in the domain.
# Deliverability is not checked (that would be a network call per sign-up).
_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f.]+")
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# How db.create_upload names a source video: `{user_id}/{upload_id}/original.{ext}`.
_UPLOAD_KEY = re.compile(rf"{_UUID}/{_UUID}/original\.[a-z0-9]{{1,8}}")


def _email(value: str) -> str:
    email = normalize_email(value)
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        raise ValueError("Enter a valid email address")
    return email


def _new_password(value: str) -> str:
    if len(value) < MIN_PASSWORD_CHARS:
        raise ValueError(f"Password must be at least {MIN_PASSWORD_CHARS} characters")
    if len(value.encode()) > BCRYPT_MAX_BYTES:
        raise ValueError(f"Password must be at most {BCRYPT_MAX_BYTES} bytes in UTF-8")
    return value


def _visible(value: str) -> str:
    """`value` without control and format characters (e.g. U+202E, which can reverse how an
    extension displays), stripped of surrounding blanks."""
    return "".join(ch for ch in value if unicodedata.category(ch)[0] != "C").strip()


def display_filename(value: str) -> str:
    """The name shown to the user: the last path segment of `value`, without control
    characters. It never reaches a storage key (only its extension does)."""
    name = _visible(re.split(r"[/\\]", value)[-1])
    if not name or name in (".", ".."):
        raise ValueError("Filename is empty once directories and control characters are removed")
    if len(name) > MAX_FILENAME_CHARS:
        raise ValueError(f"Filename must be at most {MAX_FILENAME_CHARS} characters")
    return name


def _optional_name(value: str | None) -> str | None:
    """A blank name is no name."""
    if value is None:
        return None
    return _visible(value) or None


def _upload_key(value: str) -> str:
    if not _UPLOAD_KEY.fullmatch(value):
        raise ValueError("Must be an upload key: {user_id}/{upload_id}/original.{ext}")
    return value


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Row(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- users and tokens -------------------------------------------------------------------------


class UserCreate(_Request):
    """Sign-up: the email is stored lower-cased; the password is 8 characters to 72 bytes."""

    email: Annotated[str, Field(max_length=320), AfterValidator(_email)]
    password: Annotated[str, Field(max_length=256), AfterValidator(_new_password)]
    name: Annotated[str | None, Field(max_length=255), AfterValidator(_optional_name)] = None


class LoginRequest(_Request):
    email: Annotated[str, Field(max_length=320)]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class UserPublic(_Row):
    id: uuid.UUID
    email: str
    name: str | None
    credits: int


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a scheme name, not a secret)
    expires_in: int = Field(description="Seconds until the token expires")


# --- uploads ----------------------------------------------------------------------------------


class UploadCreate(_Request):
    """What the browser knows about the file it is about to upload."""

    filename: Annotated[str, Field(min_length=1, max_length=1024), AfterValidator(display_filename)]
    content_type: Annotated[str, Field(min_length=1, max_length=127)]
    size: Annotated[StrictInt, Field(ge=1, description="Bytes; the upload must be exactly this")]


class UploadTicket(BaseModel):
    """A presigned PUT: send the file with exactly these headers before it expires."""

    upload_id: uuid.UUID
    upload_url: str
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str]
    storage_key: str
    expires_in: int


class UploadPublic(_Row):
    id: uuid.UUID
    filename: str
    content_type: str
    size: int | None
    status: UploadStatus
    created_at: datetime


class UploadSummaryPublic(UploadPublic):
    """An upload as lists show it."""

    clip_count: int
    job_status: JobStatus | None = Field(description="Status of the upload's newest job")


class UploadsPublic(BaseModel):
    data: list[UploadSummaryPublic]
    count: int


# --- jobs -------------------------------------------------------------------------------------


class JobCreate(_Request):
    """How many clips to cut and how long each may be; each clip costs one credit."""

    num_clips: Annotated[StrictInt, Field(ge=1, le=MAX_CLIPS)]
    min_seconds: Annotated[float, Field(gt=0, le=MAX_CLIP_SECONDS, strict=True)] = 30.0
    # validate_default: the check below must also run when only min_seconds is sent.
    max_seconds: Annotated[
        float, Field(gt=0, le=MAX_CLIP_SECONDS, strict=True, validate_default=True)
    ] = 60.0

    @field_validator("max_seconds")
    @classmethod
    def _not_below_min(cls, value: float, info: ValidationInfo) -> float:
        minimum = info.data.get("min_seconds")
        if minimum is not None and value < minimum:
            raise ValueError(f"max_seconds ({value:g}) must not be below min_seconds ({minimum:g})")
        return value


class JobAccepted(BaseModel):
    job_id: uuid.UUID
    status: JobStatus


class JobPublic(_Row):
    id: uuid.UUID
    upload_id: uuid.UUID
    status: JobStatus
    stage: str | None
    progress: float
    clips_done: int
    num_clips: int
    min_seconds: float
    max_seconds: float
    error: str | None
    credits_reserved: int
    credits_charged: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobsPublic(BaseModel):
    data: list[JobPublic]
    count: int


# --- clips ------------------------------------------------------------------------------------


class ClipPublic(_Row):
    id: uuid.UUID
    job_id: uuid.UUID
    upload_id: uuid.UUID
    index: int
    title: str
    start: float = Field(description="Seconds into the source video")
    end: float
    score: float | None
    reason: str | None
    created_at: datetime


class ClipsPublic(BaseModel):
    data: list[ClipPublic]
    count: int


class ClipGroupPublic(BaseModel):
    """The clips cut from one upload: newest job first, then in index order."""

    upload_id: uuid.UUID
    filename: str
    clips: list[ClipPublic]


class ClipGroupsPublic(BaseModel):
    data: list[ClipGroupPublic]
    count: int = Field(description="Uploads with clips, over all pages")


class ClipURL(BaseModel):
    url: str
    expires_in: int


# --- billing ----------------------------------------------------------------------------------


class PricePublic(BaseModel):
    amount: int = Field(description="In the currency's minor unit (cents, paise)")
    currency: str = Field(description="ISO 4217 code, upper case")


class PackPublic(BaseModel):
    """A credit pack and what it costs with each provider (null where the provider is off)."""

    name: str
    credits: int
    stripe: PricePublic | None
    razorpay: PricePublic | None


class PacksPublic(BaseModel):
    data: list[PackPublic]
    count: int


class PurchaseCreate(_Request):
    """The pack to buy: `small`, `medium` or `large` (see `GET /billing/packs`)."""

    pack: Annotated[str, Field(min_length=1, max_length=32)]


class CheckoutPublic(BaseModel):
    """A Stripe Checkout Session: send the buyer to `url`."""

    url: str
    session_id: str


class OrderPublic(BaseModel):
    """A Razorpay order: open the browser's Razorpay Checkout with these."""

    key_id: str
    order_id: str
    amount: int = Field(description="In the currency's minor unit (paise)")
    currency: str


class PaymentPublic(_Row):
    id: uuid.UUID
    provider: PaymentProvider
    provider_payment_id: str = Field(description="Stripe Checkout Session id or Razorpay order id")
    pack: str
    amount: int = Field(description="In the currency's minor unit (cents, paise)")
    currency: str
    credits: int
    status: PaymentStatus
    failure_reason: str | None
    created_at: datetime
    paid_at: datetime | None


class PaymentsPublic(BaseModel):
    data: list[PaymentPublic]
    count: int


class LedgerEntryPublic(_Row):
    """One credit change; `balance_after` is the balance right after it."""

    id: int
    delta: int
    reason: LedgerReason
    balance_after: int
    job_id: uuid.UUID | None
    payment_id: uuid.UUID | None
    created_at: datetime


class LedgerEntriesPublic(BaseModel):
    data: list[LedgerEntryPublic]
    count: int


class StripeWebhookAck(BaseModel):
    """What Stripe gets for every verified delivery, whatever became of it."""

    received: Literal[True] = True


class RazorpayWebhookAck(BaseModel):
    status: Literal["ok"] = "ok"


# --- errors and the seed-compatible endpoint ----------------------------------------------------


class FieldErrorPublic(BaseModel):
    field: str
    message: str


class ErrorPublic(BaseModel):
    """Every error of the API (except `/process_video`'s); `details` when fields are at fault."""

    error: str
    message: str
    details: list[FieldErrorPublic] | None = None


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route answers, all shaped as `ErrorPublic`."""
    return {code: {"model": ErrorPublic, "description": HTTPStatus(code).phrase} for code in codes}


class ProcessVideoRequest(BaseModel):
    """The seed's body, unchanged (extra fields are ignored as the seed did)."""

    s3_key: Annotated[str, Field(max_length=255), AfterValidator(_upload_key)]
    num_clips: Annotated[int, Field(ge=1, le=MAX_CLIPS)] = 3


class ProcessVideoResult(BaseModel):
    status: Literal["success"] = "success"
    clips_processed: int


class ProcessVideoErrorPublic(BaseModel):
    status: Literal["error"] = "error"
    message: str
