"""WhisperX transcription for GPU hosts: batched Whisper plus wav2vec2 word alignment.

Installed with the `[gpu]` extra (it brings CUDA torch 2.8, ~7 GB). Word times come from the
forced alignment, which is tighter than Whisper's own word timestamps; words the aligner cannot
place (numbers, symbols) get times interpolated from their neighbours so captions stay whole.
Alignment models are downloaded by WhisperX on first use per language, so a GPU host needs
network access or a warm `TORCH_HOME`/`HF_HOME` cache.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from pipeline.errors import ModelUnavailable, StageFailed
from pipeline.transcribe import (
    SAMPLE_RATE,
    TranscribeOptions,
    Transcriber,
    Transcript,
    Word,
    build_sentences,
    resolve_model,
)

__all__ = ["WhisperXTranscriber", "make_transcriber", "whisperx_available"]

logger = logging.getLogger("clipzz.pipeline")


def whisperx_available() -> bool:
    try:
        import whisperx  # noqa: F401
    except ImportError:
        return False
    return True


def make_transcriber(options: TranscribeOptions) -> Transcriber | WhisperXTranscriber:
    """The transcriber the options ask for ("auto" prefers WhisperX when it is installed)."""
    backend = options.backend
    if backend == "auto":
        backend = "whisperx" if whisperx_available() else "faster-whisper"
    if backend == "whisperx":
        return WhisperXTranscriber(options)
    if backend != "faster-whisper":
        raise ModelUnavailable(f"unknown transcription backend {options.backend!r}")
    return Transcriber(options)


def _fill_missing_times(raw: list[dict[str, Any]]) -> list[tuple[str, float, float, float]]:
    """(word, start, end, score) for every word, interpolating times the aligner left out."""
    known = [i for i, w in enumerate(raw) if "start" in w and "end" in w]
    if not known:
        return []
    starts = np.interp(range(len(raw)), known, [raw[i]["start"] for i in known])
    ends = np.interp(range(len(raw)), known, [raw[i]["end"] for i in known])
    return [
        (
            w["word"].strip(),
            float(starts[i]),
            float(max(ends[i], starts[i])),
            float(w.get("score", 0.0)),
        )
        for i, w in enumerate(raw)
        if w["word"].strip()
    ]


class WhisperXTranscriber:
    """Loads the WhisperX model once; alignment models load once per language."""

    def __init__(self, options: TranscribeOptions) -> None:
        try:
            import whisperx
        except ImportError as exc:
            raise ModelUnavailable("WhisperX is not installed; install the [gpu] extra") from exc
        self._whisperx = whisperx
        self.options = options
        self._device = "cuda" if options.device == "auto" else options.device
        self._model = whisperx.load_model(
            resolve_model(options.model),
            self._device,
            compute_type=options.compute_type,
            language=options.language,
            vad_method="pyannote",
            threads=options.cpu_threads or 4,
        )
        self._aligners: dict[str, tuple[Any, Any]] = {}

    def _aligner(self, language: str) -> tuple[Any, Any]:
        if language not in self._aligners:
            self._aligners[language] = self._whisperx.load_align_model(
                language_code=language, device=self._device
            )
        return self._aligners[language]

    def transcribe(self, audio: np.ndarray, *, offset: float = 0.0) -> Transcript:
        try:
            result = self._model.transcribe(
                audio, batch_size=self.options.batch_size, language=self.options.language
            )
            language = result.get("language") or self.options.language or "en"
            model, metadata = self._aligner(language)
            aligned = self._whisperx.align(
                result["segments"],
                model,
                metadata,
                audio,
                self._device,
                return_char_alignments=False,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise StageFailed("transcribe", f"WhisperX failed: {exc}") from exc
        raw = [w for segment in aligned["segments"] for w in segment.get("words", [])]
        words = [
            Word(text, round(start + offset, 3), round(end + offset, 3), score)
            for text, start, end, score in _fill_missing_times(raw)
        ]
        return Transcript(
            language=language,
            duration=len(audio) / SAMPLE_RATE,
            words=words,
            sentences=build_sentences(words),
            model=f"whisperx:{self.options.model}",
            options=self.options,
        )
