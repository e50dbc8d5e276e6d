"""Errors raised by db/ when a request cannot be honoured; lookups that miss return None instead.

    DbError
     ├── UserNotFound       credits granted to a user id that does not exist
     ├── JobNotFound        a coordinator-side call named a job id that does not exist
     └── JobStateError      the job exists but its status does not allow the action

Misuse (a negative amount, a naive datetime, an unknown clip field) raises `ValueError`. After any
exception the caller rolls its transaction back, as with any SQLAlchemy error. The serve layer
maps this tree to HTTP status codes; db/ itself knows nothing of HTTP.
"""

from __future__ import annotations

import uuid

__all__ = ["DbError", "JobNotFound", "JobStateError", "UserNotFound"]


class DbError(Exception):
    """Base class of the errors db/ raises on purpose."""


class UserNotFound(DbError):
    def __init__(self, user_id: uuid.UUID) -> None:
        super().__init__(f"user {user_id} does not exist")
        self.user_id = user_id


class JobNotFound(DbError):
    def __init__(self, job_id: uuid.UUID) -> None:
        super().__init__(f"job {job_id} does not exist")
        self.job_id = job_id


class JobStateError(DbError):
    """E.g. cancelling a job that is already processing; `status` is what the job is now."""

    def __init__(self, job_id: uuid.UUID, status: str, action: str) -> None:
        super().__init__(f"cannot {action} job {job_id}: it is {status}")
        self.job_id = job_id
        self.status = status
        self.action = action
