"""The offline moment selector: a deterministic heuristic over windows of whole sentences.

With no speaker labels and no language model, a good short clip is recognised from the text
and the timing alone: a question near the start followed by a much longer answer, or a story
opening ("I remember", "years ago"); dense speech without dead air; 40-60 s; and an ending
on a finished statement. Every window of consecutive sentences that fits the duration bounds
is scored 0-100 from those parts, and the best non-overlapping windows win.

Cost is O(n·k) for n sentences and windows of at most k sentences (k is bounded by
`max_seconds`), with O(1) statistics per window from `TranscriptIndex`: a two-hour
transcript (about 2,000 sentences) takes well under a second.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from pipeline.moments import (
    MAX_GREETING_SHARE,
    MomentOptions,
    MomentSelection,
    TranscriptIndex,
    ends_statement,
    is_continuation,
    pick_non_overlapping,
)
from pipeline.transcribe import Transcript

__all__ = ["select_local"]

# How much each part counts; structure (Q&A or story) matters most, as in the original prompt.
WEIGHTS = {"structure": 0.35, "completeness": 0.20, "hook": 0.15, "density": 0.15, "length": 0.15}
# Conversational English runs at about 2.5-3 words/s; slower windows are mostly pauses.
TARGET_WORDS_PER_SECOND = 2.5
# An answer is "substantial" when it is most of the clip and several times the question.
ANSWER_SHARE = 0.6
ANSWER_TO_QUESTION_WORDS = 3
# A safety cap on window length in sentences, on top of the duration bound.
MAX_WINDOW_SENTENCES = 200


class _Window(NamedTuple):
    score: int
    first: int
    last: int
    kind: str
    parts: dict[str, int]


def select_local(transcript: Transcript, options: MomentOptions) -> MomentSelection:
    """Score every fitting window of sentences and keep the best non-overlapping ones."""
    index = TranscriptIndex(transcript)
    windows = sorted(_windows(index, options), key=_rank)
    picked = pick_non_overlapping(windows, lambda w: (w.first, w.last), options.num_clips)
    moments = [
        index.moment(w.first, w.last, kind=w.kind, score=w.score, score_parts=w.parts)
        for w in picked
    ]
    return MomentSelection(moments=moments, selector="local", dropped=[])


def _rank(window: _Window) -> tuple[int, int, int]:
    """Best score first; on a tie the earlier, then the tighter window.

    Without speaker labels a longer tie mostly adds sentences of whatever comes next.
    """
    return (-window.score, window.first, window.last)


def _windows(index: TranscriptIndex, options: MomentOptions) -> Iterator[_Window]:
    """Yield every scored window that fits the rules (bounds, no greeting edges)."""
    n = len(index)
    for first in range(n):
        if index.greeting[first]:
            continue
        for last in range(first, min(n, first + MAX_WINDOW_SENTENCES)):
            if index.duration(first, last) > options.max_seconds:
                break
            if not index.fits(first, last, options):
                continue
            greeting_share = index.greeting_share(first, last)
            if greeting_share > MAX_GREETING_SHARE:
                continue
            kind, structure = _structure(index, first, last)
            parts = {
                "structure": structure,
                "completeness": _completeness(index, first, last),
                "hook": _hook(index, first),
                "density": _density(index, first, last),
                "length": _length(index.duration(first, last), options),
            }
            total = sum(WEIGHTS[name] * value for name, value in parts.items())
            # Pleasantries inside a clip dilute it in proportion to their airtime.
            score = round(total * (1.0 - greeting_share))
            yield _Window(score, first, last, kind, parts)


def _structure(index: TranscriptIndex, first: int, last: int) -> tuple[str, int]:
    """How clearly the window is one question with its answer, or one story (0-100)."""
    qa = 0
    question = index.opening_question(first, last)
    if question is not None:
        answer_words = index.words(question + 1, last)
        answer_share = index.duration(question + 1, last) / index.duration(first, last)
        if answer_share >= ANSWER_SHARE and answer_words >= ANSWER_TO_QUESTION_WORDS * index.words(
            first, question
        ):
            qa = 100 if question == first else 85
            # More questions inside the answer means a back-and-forth, not one answer.
            qa = max(40, qa - 10 * index.questions(question + 1, last))
    markers = index.stories(first, last)
    story = 0
    if markers:
        opens_story = any(index.story[first : first + 2])
        story = min(100, 55 + 15 * markers + (15 if opens_story else 0))
    if qa >= story and qa:
        return "qa", qa
    if story:
        return "story", story
    return "other", 30


def _completeness(index: TranscriptIndex, first: int, last: int) -> int:
    """Does the window begin and end on whole thoughts (0-100)?"""
    closing = index.sentences[last].text
    if index.question[last]:
        score = 10  # ends on an open question
    elif ends_statement(closing):
        score = 100
    else:
        score = 60  # cut at a pause, not at punctuation
    following = last + 1
    if (
        following < len(index)
        and is_continuation(index.sentences[following].text)
        and not index.question[following]  # "So what happened next?" opens a new unit
    ):
        score -= 30  # the next sentence carries the thought on ("And then...")
    if is_continuation(index.sentences[first].text):
        score -= 30  # starts mid-thought
    return max(score, 0)


def _hook(index: TranscriptIndex, first: int) -> int:
    """How strongly the opening line grabs attention (0-100)."""
    opening = index.sentences[first].text
    if index.question[first]:
        score = 90
    elif index.story[first]:
        score = 85
    elif is_continuation(opening):
        score = 35
    else:
        score = 60
    if len(opening.split()) > 30:
        score -= 15  # a rambling first sentence loses viewers
    return score


def _density(index: TranscriptIndex, first: int, last: int) -> int:
    """Speech density: words per second, minus dead air between sentences (0-100)."""
    ratio = min(1.0, index.words_per_second(first, last) / TARGET_WORDS_PER_SECOND)
    return max(0, round(100 * ratio - 10 * index.dead_air(first, last)))


def _length(duration: float, options: MomentOptions) -> int:
    """100 from the preferred minimum up to the maximum, 50 at the hard minimum."""
    preferred = options.preferred_seconds
    if duration >= preferred or preferred <= options.min_seconds:
        return 100
    return round(50 + 50 * (duration - options.min_seconds) / (preferred - options.min_seconds))
