"""Errors raised by the pipeline.

    ClipzzError                 base of everything we raise on purpose
    ├── InvalidInput            the caller gave us something we cannot use (bad file, bad option)
    │   └── MediaError          the media file is missing, empty, corrupt or lacks a needed stream
    ├── ModelUnavailable        a model file could not be found, downloaded or verified
    └── StageFailed             a stage failed on valid input (ffmpeg crashed, the LLM kept failing)

Every error carries a one-line, user-facing message; the CLI prints it without a traceback
and `serve/` maps the tree to HTTP status codes.
"""

from __future__ import annotations

__all__ = ["ClipzzError", "InvalidInput", "MediaError", "ModelUnavailable", "StageFailed"]


class ClipzzError(Exception):
    """Base class for errors that carry a message meant for the user."""


class InvalidInput(ClipzzError):
    """The input or an option is unusable; retrying will not help."""


class MediaError(InvalidInput):
    """The media file is missing, empty, corrupt, or lacks a required stream."""


class ModelUnavailable(ClipzzError):
    """A model file could not be located, downloaded, or verified."""


class StageFailed(ClipzzError):
    """A pipeline stage failed on valid input."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"{stage}: {message}")
        self.stage = stage
