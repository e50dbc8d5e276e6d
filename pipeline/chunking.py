"""Long audio split at silences for parallel transcription, and the pieces merged back.

Chunks are cut at the quietest 100 ms window near each target boundary, so a cut falls in a
pause between words rather than through one. Merging keeps each word in the chunk that holds
its midpoint, which removes the duplicates Whisper can produce at a join when it stretches a
timestamp past the end of its audio.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.transcribe import SAMPLE_RATE, Transcript, Word, build_sentences

__all__ = ["merge_transcripts", "split_at_silences"]

_WINDOW_S = 0.1


def split_at_silences(
    audio: np.ndarray,
    chunk_seconds: float,
    *,
    search_seconds: float = 15.0,
    rate: int = SAMPLE_RATE,
) -> list[tuple[int, int]]:
    """Sample ranges [a, b) covering `audio`, each about `chunk_seconds` long."""
    total = len(audio)
    target = int(chunk_seconds * rate)
    if target <= 0 or total <= target * 1.25:
        return [(0, total)]
    window = int(_WINDOW_S * rate)
    frames = total // window
    energy = np.sqrt(np.mean(audio[: frames * window].reshape(frames, window) ** 2, axis=1))
    cuts = [0]
    while total - cuts[-1] > target * 1.25:
        goal = cuts[-1] + target
        lo = max(cuts[-1] + target // 2, goal - int(search_seconds * rate)) // window
        hi = min(frames - 1, (goal + int(search_seconds * rate)) // window)
        if hi <= lo:
            break
        quietest = lo + int(np.argmin(energy[lo:hi]))
        cuts.append(quietest * window + window // 2)
    return [(a, b) for a, b in zip(cuts, [*cuts[1:], total], strict=True)]


def merge_transcripts(
    parts: Sequence[tuple[tuple[int, int], Transcript]],
    *,
    duration: float,
    rate: int = SAMPLE_RATE,
) -> Transcript:
    """One transcript from chunk transcripts whose word times are already source times."""
    words: list[Word] = []
    for (a, b), part in sorted(parts, key=lambda p: p[0][0]):
        lo, hi = a / rate, b / rate
        words.extend(w for w in part.words if lo <= (w.start + w.end) / 2 < hi)
    words.sort(key=lambda w: (w.start, w.end))
    first = parts[0][1]
    languages = [p.language for _, p in parts]
    return Transcript(
        language=max(set(languages), key=languages.count),
        duration=duration,
        words=words,
        sentences=build_sentences(words),
        model=first.model,
        options=first.options,
    )
