"""clipzz's database layer: SQLAlchemy 2 models, engines, Alembic migrations, and the data
functions the service calls (keyword-only, HTTP-free, returning rows or None).

Modules: `engine` (engines and sessions), `models`, `migrate` (Alembic from code), `users`,
`credits` (race-free credit operations and the ledger), `uploads`, `jobs` (the owner's view),
`queue` (the coordinator's view), `errors`. Nothing here imports other clipzz packages or reads
the environment.
"""

from db.credits import grant_credits, ledger_sum, refund_credits, reserve_credits, settle_credits
from db.engine import make_engine, make_session_factory
from db.errors import DbError, JobNotFound, JobStateError, UserNotFound
from db.jobs import (
    cancel_job,
    count_active_jobs,
    count_jobs_since,
    create_job,
    get_job,
    list_job_clips,
    list_jobs,
)
from db.models import (
    Clip,
    CreditLedger,
    Job,
    JobStatus,
    LedgerReason,
    Payment,
    PaymentProvider,
    PaymentStatus,
    Upload,
    UploadStatus,
    User,
    WebhookEvent,
    WebhookStatus,
)
from db.payments import (
    create_payment,
    credit_payment,
    fail_payment,
    get_payment,
    list_ledger,
    list_payments,
    record_event,
)
from db.queue import claim_next_job, fail_job, finish_job, recover_stale_jobs, update_progress
from db.uploads import create_upload, get_upload, mark_upload_uploaded
from db.users import create_user, get_user, get_user_by_email, normalize_email

__all__ = [
    "Clip",
    "CreditLedger",
    "DbError",
    "Job",
    "JobNotFound",
    "JobStateError",
    "JobStatus",
    "LedgerReason",
    "Payment",
    "PaymentProvider",
    "PaymentStatus",
    "Upload",
    "UploadStatus",
    "User",
    "UserNotFound",
    "WebhookEvent",
    "WebhookStatus",
    "cancel_job",
    "claim_next_job",
    "count_active_jobs",
    "count_jobs_since",
    "create_job",
    "create_payment",
    "create_upload",
    "create_user",
    "credit_payment",
    "fail_job",
    "fail_payment",
    "finish_job",
    "get_job",
    "get_payment",
    "get_upload",
    "get_user",
    "get_user_by_email",
    "grant_credits",
    "ledger_sum",
    "list_job_clips",
    "list_jobs",
    "list_ledger",
    "list_payments",
    "make_engine",
    "make_session_factory",
    "mark_upload_uploaded",
    "normalize_email",
    "record_event",
    "recover_stale_jobs",
    "refund_credits",
    "reserve_credits",
    "settle_credits",
    "update_progress",
]
