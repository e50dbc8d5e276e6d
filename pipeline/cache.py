"""Stage outputs cached under deterministic keys, so a retried job skips finished stages.

A key is a hash of what determines the output: the source file's identity (its size and a hash
of its first and last megabyte, cheap even for a 2 GB upload; not its path or mtime, so a copy
downloaded again for a retried job still hits) plus the stage's options.
Entries are JSON, written atomically; a corrupt or unreadable entry counts as a miss.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from pipeline.moments import Moment
from pipeline.transcribe import Transcript, Word, build_sentences

__all__ = ["StageCache", "moments_from_json", "source_fingerprint", "transcript_from_json"]

logger = logging.getLogger("clipzz.pipeline")

_EDGE_BYTES = 1 << 20


def source_fingerprint(path: Path) -> str:
    """Identity of a media file that changes when the file does."""
    stat = path.stat()
    digest = hashlib.sha256(str(stat.st_size).encode())
    with path.open("rb") as f:
        digest.update(f.read(_EDGE_BYTES))
        if stat.st_size > 2 * _EDGE_BYTES:
            f.seek(-_EDGE_BYTES, os.SEEK_END)
            digest.update(f.read(_EDGE_BYTES))
    return digest.hexdigest()[:32]


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items() if "api_key" not in k}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


class StageCache:
    """A directory of JSON entries: `<root>/<stage>/<key>.json`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @staticmethod
    def key(*parts: Any) -> str:
        blob = json.dumps(_plain(list(parts)), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def get(self, stage: str, key: str) -> Any | None:
        path = self.root / stage / f"{key}.json"
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            logger.warning("ignoring unreadable cache entry %s: %s", path, exc)
            return None

    def put(self, stage: str, key: str, data: Any) -> None:
        folder = self.root / stage
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(data, f)
            os.replace(tmp, folder / f"{key}.json")
        finally:
            Path(tmp).unlink(missing_ok=True)


def transcript_to_json(transcript: Transcript) -> dict:
    return {
        "language": transcript.language,
        "duration": transcript.duration,
        "model": transcript.model,
        "words": [[w.word, w.start, w.end, w.probability] for w in transcript.words],
    }


def transcript_from_json(data: dict) -> Transcript:
    words = [Word(w, s, e, p) for w, s, e, p in data["words"]]
    return Transcript(
        language=data["language"],
        duration=data["duration"],
        words=words,
        sentences=build_sentences(words),
        model=data["model"],
    )


def moments_to_json(moments: list[Moment]) -> list[dict]:
    return [dataclasses.asdict(m) for m in moments]


def moments_from_json(data: list[dict]) -> list[Moment]:
    return [Moment(**m) for m in data]
