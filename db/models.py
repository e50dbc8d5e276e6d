"""SQLAlchemy 2 models: users, the credit ledger, uploads, jobs, clips, payments, webhook events.

Only portable types are used (`Uuid`, `String`, `Integer`, `Float`, `UtcDateTime`, non-native
enums, `CheckConstraint`), so the same Alembic revisions run on PostgreSQL and SQLite. Statuses are
`StrEnum`s stored as short strings guarded by CHECK constraints, never PostgreSQL ENUM types, which
would need their own migrations to grow. Every constraint is named by `NAMING_CONVENTION`, so later
revisions can address them by name on both databases.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db.types import UtcDateTime, utcnow

__all__ = [
    "NAMING_CONVENTION",
    "Base",
    "Clip",
    "CreditLedger",
    "Job",
    "JobStatus",
    "LedgerReason",
    "Payment",
    "PaymentProvider",
    "PaymentStatus",
    "Upload",
    "UploadStatus",
    "User",
    "WebhookEvent",
    "WebhookStatus",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UploadStatus(StrEnum):
    PENDING = "pending"  # storage key handed out, bytes not confirmed yet
    UPLOADED = "uploaded"


class JobStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    PROCESSED = "processed"
    FAILED = "failed"
    NO_CREDITS = "no_credits"  # refused at submit: the reservation failed, nothing was charged
    CANCELLED = "cancelled"


class LedgerReason(StrEnum):
    SIGNUP_BONUS = "signup_bonus"
    PURCHASE = "purchase"
    RESERVE = "reserve"  # held for a job at submit (negative delta)
    SETTLE = "settle"  # marks a job's settlement (delta 0); the unused part is a REFUND row
    REFUND = "refund"  # held credits given back (positive delta)
    ADJUSTMENT = "adjustment"  # manual grant by an operator


class PaymentProvider(StrEnum):
    STRIPE = "stripe"
    RAZORPAY = "razorpay"


class PaymentStatus(StrEnum):
    CREATED = "created"
    PAID = "paid"
    FAILED = "failed"


class WebhookStatus(StrEnum):
    PROCESSED = "processed"
    FAILED = "failed"
    IGNORED = "ignored"


def _status(enum: type[StrEnum], name: str) -> Enum:
    """A VARCHAR column with a CHECK constraint listing the enum's values (not a PG ENUM type)."""
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


def _created_at() -> Mapped[datetime]:
    return mapped_column(UtcDateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("credits >= 0", name="credits_non_negative"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Stored normalised (stripped, lower-case) so the unique index is case-insensitive.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    # Always equal to the sum of the user's ledger deltas; changed only by db.credits.
    credits: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = _created_at()


class CreditLedger(Base):
    """One row per credit change; `balance_after` is the user's balance right after it."""

    __tablename__ = "credit_ledger"
    __table_args__ = (
        CheckConstraint("balance_after >= 0", name="balance_after_non_negative"),
        CheckConstraint("delta <> 0 OR reason = 'settle'", name="delta_non_zero"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    delta: Mapped[int] = mapped_column(Integer)
    reason: Mapped[LedgerReason] = mapped_column(_status(LedgerReason, "reason"))
    balance_after: Mapped[int] = mapped_column(Integer)
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id"), index=True)
    payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payments.id"), index=True)
    # Makes a grant happen at most once (e.g. "payment:<id>", "signup:<user id>").
    idem_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = _created_at()


class Upload(Base):
    __tablename__ = "uploads"
    __table_args__ = (CheckConstraint("size >= 0", name="size_non_negative"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))  # display name, never part of a path
    content_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int | None] = mapped_column(BigInteger)  # bytes; known for sure once uploaded
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[UploadStatus] = mapped_column(
        _status(UploadStatus, "status"), default=UploadStatus.PENDING
    )
    created_at: Mapped[datetime] = _created_at()


class Job(Base):
    """A request to cut clips from an upload, and the queue entry the coordinator claims.

    Credits: `credits_reserved` is what the job holds right now (taken from the user at submit),
    `credits_charged` what it finally cost; settlement or refund moves the hold to zero. So for
    every job, `credits_reserved + credits_charged == -(sum of its ledger deltas)`.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("num_clips >= 1", name="num_clips_positive"),
        CheckConstraint("min_seconds > 0 AND min_seconds <= max_seconds", name="seconds_range"),
        CheckConstraint("credits_reserved >= 0", name="credits_reserved_non_negative"),
        CheckConstraint("credits_charged >= 0", name="credits_charged_non_negative"),
        CheckConstraint("attempts >= 0 AND max_attempts >= 1", name="attempts_range"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress_range"),
        # The queue picks the oldest queued job; this keeps that scan short.
        Index("ix_jobs_status_created_at", "status", "created_at"),
        Index("ix_jobs_user_id_created_at", "user_id", "created_at"),
        # One running job per user, enforced by the database so two claimers racing on different
        # jobs of the same user cannot both win (the second gets an IntegrityError).
        Index(
            "uq_jobs_user_id_processing",
            "user_id",
            unique=True,
            postgresql_where=text("status = 'processing'"),
            sqlite_where=text("status = 'processing'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    upload_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("uploads.id"), index=True)
    status: Mapped[JobStatus] = mapped_column(
        _status(JobStatus, "status"), default=JobStatus.QUEUED
    )
    num_clips: Mapped[int] = mapped_column(Integer)
    min_seconds: Mapped[float] = mapped_column(Float)
    max_seconds: Mapped[float] = mapped_column(Float)
    credits_reserved: Mapped[int] = mapped_column(Integer, default=0)
    credits_charged: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=2)  # 2 = one retry
    error: Mapped[str | None] = mapped_column(Text)  # why the last attempt failed
    stage: Mapped[str | None] = mapped_column(String(32))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    clips_done: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = _created_at()
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Clip(Base):
    __tablename__ = "clips"
    __table_args__ = (
        # A retried or re-finished job writes the same indexes again; this makes that a no-op.
        UniqueConstraint("job_id", "index"),
        CheckConstraint('"index" >= 0', name="index_non_negative"),
        CheckConstraint('start >= 0 AND "end" > start', name="time_range"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id"))
    upload_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("uploads.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(255))
    start: Mapped[float] = mapped_column(Float)  # seconds in the source video
    end: Mapped[float] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)
    storage_key: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = _created_at()


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        # The provider's id (Stripe Checkout session id, Razorpay order id) is unique per provider.
        UniqueConstraint("provider", "provider_payment_id"),
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        CheckConstraint("credits > 0", name="credits_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    provider: Mapped[PaymentProvider] = mapped_column(_status(PaymentProvider, "provider"))
    provider_payment_id: Mapped[str] = mapped_column(String(255))
    pack: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(Integer)  # minor units (cents, paise)
    currency: Mapped[str] = mapped_column(String(3))
    credits: Mapped[int] = mapped_column(Integer)
    status: Mapped[PaymentStatus] = mapped_column(
        _status(PaymentStatus, "status"), default=PaymentStatus.CREATED
    )
    failure_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WebhookEvent(Base):
    """A provider event already handled; the unique key makes redelivery a no-op."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    provider: Mapped[PaymentProvider] = mapped_column(_status(PaymentProvider, "provider"))
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(127))
    status: Mapped[WebhookStatus] = mapped_column(_status(WebhookStatus, "status"))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
