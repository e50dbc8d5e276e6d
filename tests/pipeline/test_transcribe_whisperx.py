"""WhisperX runs only where the [gpu] extra is installed; elsewhere this is reported skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.transcribe import TranscribeOptions
from pipeline.transcribe_whisperx import _fill_missing_times, make_transcriber, whisperx_available


def test_auto_backend_falls_back_to_faster_whisper_without_whisperx() -> None:
    if whisperx_available():
        pytest.skip("WhisperX is installed here")
    transcriber = make_transcriber(TranscribeOptions(backend="auto", cpu_threads=1))
    assert type(transcriber).__name__ == "Transcriber"


def test_words_without_alignment_get_interpolated_times() -> None:
    raw = [
        {"word": "it", "start": 1.0, "end": 1.2, "score": 0.9},
        {"word": "cost", "start": 1.3, "end": 1.6, "score": 0.9},
        {"word": "50"},
        {"word": "dollars", "start": 2.2, "end": 2.6, "score": 0.8},
    ]
    words = _fill_missing_times(raw)
    assert [w[0] for w in words] == ["it", "cost", "50", "dollars"]
    assert 1.3 < words[2][1] < 2.2 and words[2][2] >= words[2][1]


def test_whisperx_transcribes_the_sample_with_aligned_words(sample_video: Path) -> None:
    pytest.importorskip("whisperx", reason="WhisperX is the [gpu] extra; not installed here")
    import torch

    from pipeline.media import decode_audio

    device = "cuda" if torch.cuda.is_available() else "cpu"
    options = TranscribeOptions(
        backend="whisperx", device=device, compute_type="float16" if device == "cuda" else "int8"
    )
    transcript = make_transcriber(options).transcribe(decode_audio(sample_video)[: 16_000 * 60])
    truth = json.loads(sample_video.with_name("podcast.truth.json").read_text())
    spoken = " ".join(t["text"] for t in truth["turns"] if t["end"] <= 60).lower()
    heard = [w.word.lower().strip(".,?!") for w in transcript.words]
    assert sum(1 for w in heard if w in spoken) / len(heard) > 0.9
    assert all(w.end >= w.start for w in transcript.words)
