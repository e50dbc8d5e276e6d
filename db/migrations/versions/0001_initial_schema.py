"""Initial schema: users, credit ledger, uploads, jobs, clips, payments, webhook events.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

Names are spelled out with `op.f` so they never depend on the naming convention in force when a
later release runs this file. Status columns are VARCHAR + CHECK (non-native enums), the same on
PostgreSQL and SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _status(table: str, column: str, *values: str) -> sa.Column:
    """A non-native enum column whose CHECK constraint is named ck_<table>_<column>."""
    enum = sa.Enum(
        *values,
        name=op.f(f"ck_{table}_{column}"),
        native_enum=False,
        create_constraint=True,
        length=16,
    )
    return sa.Column(column, enum, nullable=False)


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("credits", sa.Integer(), nullable=False),
        _timestamp("created_at"),
        sa.CheckConstraint("credits >= 0", name=op.f("ck_users_credits_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        _status("webhook_events", "provider", "stripe", "razorpay"),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=127), nullable=False),
        _status("webhook_events", "status", "processed", "failed", "ignored"),
        sa.Column("reason", sa.Text(), nullable=True),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint(
            "provider", "event_id", name=op.f("uq_webhook_events_provider_event_id")
        ),
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        _status("payments", "provider", "stripe", "razorpay"),
        sa.Column("provider_payment_id", sa.String(length=255), nullable=False),
        sa.Column("pack", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        _status("payments", "status", "created", "paid", "failed"),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        _timestamp("created_at"),
        _timestamp("paid_at", nullable=True),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_payments_amount_non_negative")),
        sa.CheckConstraint("credits > 0", name=op.f("ck_payments_credits_positive")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_payments_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint(
            "provider",
            "provider_payment_id",
            name=op.f("uq_payments_provider_provider_payment_id"),
        ),
    )
    op.create_index(op.f("ix_payments_user_id"), "payments", ["user_id"])

    op.create_table(
        "uploads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=127), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        _status("uploads", "status", "pending", "uploaded"),
        _timestamp("created_at"),
        sa.CheckConstraint("size >= 0", name=op.f("ck_uploads_size_non_negative")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_uploads_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_uploads_storage_key")),
    )
    op.create_index(op.f("ix_uploads_user_id"), "uploads", ["user_id"])

    op.create_table(
        "jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("upload_id", sa.Uuid(), nullable=False),
        _status(
            "jobs",
            "status",
            "queued",
            "processing",
            "processed",
            "failed",
            "no_credits",
            "cancelled",
        ),
        sa.Column("num_clips", sa.Integer(), nullable=False),
        sa.Column("min_seconds", sa.Float(), nullable=False),
        sa.Column("max_seconds", sa.Float(), nullable=False),
        sa.Column("credits_reserved", sa.Integer(), nullable=False),
        sa.Column("credits_charged", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("stage", sa.String(length=32), nullable=True),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("clips_done", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=255), nullable=True),
        _timestamp("heartbeat_at", nullable=True),
        _timestamp("created_at"),
        _timestamp("started_at", nullable=True),
        _timestamp("finished_at", nullable=True),
        sa.CheckConstraint("num_clips >= 1", name=op.f("ck_jobs_num_clips_positive")),
        sa.CheckConstraint(
            "min_seconds > 0 AND min_seconds <= max_seconds", name=op.f("ck_jobs_seconds_range")
        ),
        sa.CheckConstraint(
            "credits_reserved >= 0", name=op.f("ck_jobs_credits_reserved_non_negative")
        ),
        sa.CheckConstraint(
            "credits_charged >= 0", name=op.f("ck_jobs_credits_charged_non_negative")
        ),
        sa.CheckConstraint(
            "attempts >= 0 AND max_attempts >= 1", name=op.f("ck_jobs_attempts_range")
        ),
        sa.CheckConstraint("progress >= 0 AND progress <= 1", name=op.f("ck_jobs_progress_range")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_jobs_user_id_users")),
        sa.ForeignKeyConstraint(
            ["upload_id"], ["uploads.id"], name=op.f("fk_jobs_upload_id_uploads")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index(op.f("ix_jobs_upload_id"), "jobs", ["upload_id"])
    op.create_index(op.f("ix_jobs_status_created_at"), "jobs", ["status", "created_at"])
    op.create_index(op.f("ix_jobs_user_id_created_at"), "jobs", ["user_id", "created_at"])
    op.create_index(
        op.f("uq_jobs_user_id_processing"),
        "jobs",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text("status = 'processing'"),
        sqlite_where=sa.text("status = 'processing'"),
    )

    op.create_table(
        "clips",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("upload_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("start", sa.Float(), nullable=False),
        sa.Column("end", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        _timestamp("created_at"),
        sa.CheckConstraint('"index" >= 0', name=op.f("ck_clips_index_non_negative")),
        sa.CheckConstraint('start >= 0 AND "end" > start', name=op.f("ck_clips_time_range")),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_clips_job_id_jobs")),
        sa.ForeignKeyConstraint(
            ["upload_id"], ["uploads.id"], name=op.f("fk_clips_upload_id_uploads")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_clips_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clips")),
        sa.UniqueConstraint("job_id", "index", name=op.f("uq_clips_job_id_index")),
    )
    op.create_index(op.f("ix_clips_upload_id"), "clips", ["upload_id"])
    op.create_index(op.f("ix_clips_user_id"), "clips", ["user_id"])

    op.create_table(
        "credit_ledger",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        _status(
            "credit_ledger",
            "reason",
            "signup_bonus",
            "purchase",
            "reserve",
            "settle",
            "refund",
            "adjustment",
        ),
        sa.Column("balance_after", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("idem_key", sa.String(length=255), nullable=True),
        _timestamp("created_at"),
        sa.CheckConstraint(
            "balance_after >= 0", name=op.f("ck_credit_ledger_balance_after_non_negative")
        ),
        sa.CheckConstraint(
            "delta <> 0 OR reason = 'settle'", name=op.f("ck_credit_ledger_delta_non_zero")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_credit_ledger_user_id_users")
        ),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_credit_ledger_job_id_jobs")),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_credit_ledger_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_ledger")),
        sa.UniqueConstraint("idem_key", name=op.f("uq_credit_ledger_idem_key")),
    )
    op.create_index(op.f("ix_credit_ledger_user_id"), "credit_ledger", ["user_id"])
    op.create_index(op.f("ix_credit_ledger_job_id"), "credit_ledger", ["job_id"])
    op.create_index(op.f("ix_credit_ledger_payment_id"), "credit_ledger", ["payment_id"])


def downgrade() -> None:
    # Children first; a table's indexes go with it.
    for table in (
        "credit_ledger",
        "clips",
        "jobs",
        "uploads",
        "payments",
        "webhook_events",
        "users",
    ):
        op.drop_table(table)
