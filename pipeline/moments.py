"""Moment selection: the best self-contained stretches of a transcript, as ranked clips.

Two selectors propose clips and keep the same rules (the original product's Gemini prompt,
made exact):

- a clip lasts between `min_seconds` and `max_seconds`, preferably at least
  `prefer_min_seconds`;
- it starts at a sentence start and ends at a sentence end: clips are ranges of sentence ids,
  so the boundaries are exact by construction rather than snapped afterwards;
- clips never overlap;
- the content is a question with its answer, or a story;
- a clip never starts or ends on a greeting, a thank-you, a show intro or outro, a sponsor
  read or a call to subscribe, and is never mostly made of them;
- when nothing qualifies the answer is an empty list, not a padded one.

`select_local` (the default, offline and deterministic) scores every window of consecutive
sentences; `select_gemini` asks Gemini for sentence-id ranges. An LLM's answer is never
trusted: `validate_moments` repairs or drops each proposal and says why, and the local
selector relies on the same `TranscriptIndex` statistics, so both agree on what a greeting,
a question or a story opening is.
"""

from __future__ import annotations

import logging
import math
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, pairwise
from typing import Any, TypeVar

from pipeline.errors import InvalidInput
from pipeline.transcribe import Sentence, Transcript

__all__ = [
    "Moment",
    "MomentOptions",
    "MomentSelection",
    "select_moments",
    "validate_moments",
]

logger = logging.getLogger("clipzz.pipeline")

KINDS = ("qa", "story", "other")
SELECTORS = ("auto", "local", "gemini")
MAX_CLIPS = 20
# Short-form platforms cap clips at a few minutes; the bound also keeps the local selector's
# window enumeration O(sentences x window length).
MAX_CLIP_SECONDS = 600.0
MAX_ATTEMPTS = 10
TITLE_CHARS = 60
HOOK_CHARS = 120
REASON_CHARS = 300
# A pleasantry in the middle of an answer is fine; a clip that is mostly pleasantries is not.
MAX_GREETING_SHARE = 0.3
# Pauses between sentences up to this long are ordinary breathing room, not dead air.
NATURAL_PAUSE_S = 1.0

T = TypeVar("T")


@dataclass(frozen=True)
class MomentOptions:
    """How to choose moments.

    Attributes:
        num_clips: how many clips at most (1-20); fewer come back when fewer qualify.
        min_seconds, max_seconds: hard bounds on a clip's duration.
        prefer_min_seconds: clips at least this long rank higher (clamped into the bounds);
            40-60 s is what the original product asked for.
        selector: "local" (offline heuristic), "gemini", or "auto" (Gemini when an API key
            is set, else local).
        gemini_api_key: the Gemini Developer API key; never logged or shown in repr.
        gemini_model: model name, e.g. "gemini-2.5-flash".
        gemini_base_url: API root; None for Google's. Tests point it at a stub server.
        gemini_api_version: pinned explicitly, because google-genai 3.x changed its default
            from "v1beta" to "v1".
        gemini_timeout_s: per-request timeout.
        gemini_attempts: total requests per selection, retries included (1-10); 429, 5xx and
            transport errors are retried with exponential backoff.
        gemini_retry_delay_s: first backoff delay; it doubles per retry (with jitter).
    """

    num_clips: int = 3
    min_seconds: float = 30.0
    max_seconds: float = 60.0
    prefer_min_seconds: float = 40.0
    selector: str = "auto"
    gemini_api_key: str | None = field(default=None, repr=False)
    gemini_model: str = "gemini-2.5-flash"
    gemini_base_url: str | None = None
    gemini_api_version: str = "v1beta"
    gemini_timeout_s: float = 60.0
    gemini_attempts: int = 3
    gemini_retry_delay_s: float = 1.0

    @property
    def preferred_seconds(self) -> float:
        """`prefer_min_seconds` clamped into [min_seconds, max_seconds]."""
        return min(max(self.prefer_min_seconds, self.min_seconds), self.max_seconds)


@dataclass(frozen=True)
class Moment:
    """One clip: a range of whole sentences plus why it was chosen.

    `start`/`end` are source seconds: the start of sentence `first_sentence` and the end of
    sentence `last_sentence` (both inclusive ids into `Transcript.sentences`). `score` is
    0-100 and `score_parts` names what it is made of (selector-specific names, each 0-100).
    """

    start: float
    end: float
    first_sentence: int
    last_sentence: int
    title: str
    hook: str
    reason: str
    kind: str
    score: int
    score_parts: dict[str, int]

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class MomentSelection:
    """The chosen moments, ranked best first, and what produced them.

    Attributes:
        moments: at most `num_clips`, non-overlapping, best first.
        selector: what actually ran: "local" or "gemini:<model>".
        dropped: human-readable notes on proposals that were repaired or dropped.
    """

    moments: list[Moment]
    selector: str
    dropped: list[str] = field(default_factory=list)


def select_moments(transcript: Transcript, options: MomentOptions | None = None) -> MomentSelection:
    """Pick up to `options.num_clips` ranked, non-overlapping moments from `transcript`.

    Raises InvalidInput for bad options, and StageFailed when Gemini keeps failing.
    """
    # 1. Check inputs.
    options = options or MomentOptions()
    check_options(options)
    _check_transcript(transcript)
    # 2. Resolve the selector; a transcript too short for one clip needs no model call.
    selector = options.selector
    if selector == "auto":
        selector = "gemini" if options.gemini_api_key else "local"
    name = f"gemini:{options.gemini_model}" if selector == "gemini" else "local"
    sentences = transcript.sentences
    if not sentences or sentences[-1].end - sentences[0].start < options.min_seconds:
        logger.info("moments: transcript shorter than %.0f s, no clips", options.min_seconds)
        return MomentSelection([], name, [])
    # 3. Run it. Selectors import this module's types, so they are imported here; this also
    #    keeps google-genai off the import path when no key is set.
    if selector == "gemini":
        from pipeline.select_gemini import select_gemini as run
    else:
        from pipeline.select_local import select_local as run
    selection = run(transcript, options)
    logger.info(
        "moments: %s chose %d clip(s), %d note(s) on dropped or repaired proposals",
        selection.selector,
        len(selection.moments),
        len(selection.dropped),
    )
    return selection


def check_options(options: MomentOptions) -> None:
    """Raise InvalidInput with a one-line message when an option is unusable."""
    if not isinstance(options, MomentOptions):
        raise InvalidInput(f"expected MomentOptions, got {type(options).__name__}")
    if not _is_int(options.num_clips) or not 1 <= options.num_clips <= MAX_CLIPS:
        raise InvalidInput(
            f"num_clips must be an integer from 1 to {MAX_CLIPS}, got {options.num_clips!r}"
        )
    for name in ("min_seconds", "max_seconds", "prefer_min_seconds", "gemini_timeout_s"):
        value = getattr(options, name)
        if not _is_number(value) or value <= 0:
            raise InvalidInput(f"{name} must be a positive number of seconds, got {value!r}")
    if options.min_seconds > options.max_seconds:
        raise InvalidInput(
            f"min_seconds ({options.min_seconds:g}) must not exceed "
            f"max_seconds ({options.max_seconds:g})"
        )
    if options.max_seconds > MAX_CLIP_SECONDS:
        raise InvalidInput(
            f"max_seconds must be at most {MAX_CLIP_SECONDS:.0f}, got {options.max_seconds}"
        )
    if options.selector not in SELECTORS:
        raise InvalidInput(
            f"selector must be one of {', '.join(SELECTORS)}; got {options.selector!r}"
        )
    if options.selector == "gemini" and not options.gemini_api_key:
        raise InvalidInput("selector 'gemini' needs gemini_api_key")
    if not _is_int(options.gemini_attempts) or not 1 <= options.gemini_attempts <= MAX_ATTEMPTS:
        raise InvalidInput(
            f"gemini_attempts must be an integer from 1 to {MAX_ATTEMPTS}, "
            f"got {options.gemini_attempts!r}"
        )
    if not _is_number(options.gemini_retry_delay_s) or options.gemini_retry_delay_s < 0:
        raise InvalidInput(
            f"gemini_retry_delay_s must be >= 0, got {options.gemini_retry_delay_s!r}"
        )
    for name in ("gemini_model", "gemini_api_version"):
        value = getattr(options, name)
        if not isinstance(value, str) or not re.fullmatch(r"[\w.\-]+", value):
            raise InvalidInput(
                f"{name} must be a plain name like 'gemini-2.5-flash', got {value!r}"
            )


def _check_transcript(transcript: Transcript) -> None:
    if not isinstance(transcript, Transcript):
        raise InvalidInput(f"expected a Transcript, got {type(transcript).__name__}")
    # Moments address sentences by id, so ids must be their positions.
    if any(s.id != i for i, s in enumerate(transcript.sentences)):
        raise InvalidInput("transcript sentences must be numbered 0..n-1 in order")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --- What a sentence is ----------------------------------------------------------------------

_GREETING = re.compile(
    r"""\b(?:
        welcome\s+(?:back\s+)?to
      | thanks?\s+(?:you\s+)?(?:so\s+much\s+|very\s+much\s+|again\s+)?for\s+
        (?:having|watching|listening|joining|tuning|coming|being\s+(?:here|on))
      | (?:see|catch|talk\s+to)\s+(?:you|ya)\s+(?:all\s+|guys\s+)?
        (?:next|soon|later|then|in\s+the\s+next|on\s+the\s+next)
      | until\s+next\s+time
      | good\s?bye | bye[\s-]bye
      | subscribe | hit\s+(?:the|that)\s+(?:like|bell|notification)
      | (?:leave|drop)\s+(?:us\s+)?a\s+(?:comment|review|rating)
      | (?:hi|hello|hey)\s+(?:everyone|everybody|folks|guys|there|all)
      | my\s+guest\s+today | today\s+on\s+the\s+(?:show|podcast|episode)
      | (?:this|today'?s)\s+episode\s+is\s+(?:brought|sponsored)
      | that'?s\s+(?:all|it)\s+(?:for\s+today|we\s+have\s+time\s+for)
    )\b""",
    re.IGNORECASE | re.VERBOSE,
)
# Short sentences made of a pleasantry ("Thanks.", "Hi Sam!", "Take care.").
_PLEASANTRY = re.compile(
    r"^\W*(?:thanks|thank\s+you|hi|hello|hey|cheers|bye|take\s+care|welcome)\b", re.IGNORECASE
)
_PLEASANTRY_MAX_WORDS = 5
_STORY = re.compile(
    r"""\b(?:
        I\s+remember | I'll\s+never\s+forget | I\s+never\s+forgot
      | when\s+I\s+was | when\s+we\s+were | growing\s+up | I\s+grew\s+up
      | (?:a|the|this|my|funny|true)\s+story | long\s+story\s+short
      | one\s+(?:day|night|morning|time) | back\s+(?:in|then|when)
      | years\s+ago | the\s+first\s+time | once\s+upon | at\s+the\s+time
      | there\s+was\s+this | that\s+(?:night|day|morning) | I\s+realized
    )\b""",
    re.IGNORECASE | re.VERBOSE,
)
# A sentence opening with these continues the previous thought, so it is a poor place to cut.
_CONTINUATION = re.compile(
    r"^\W*(?:and|but|so|because|or|also|which|then|um+|uh+|yeah|right)\b", re.IGNORECASE
)
_CLOSING_QUOTES = "\"')]» "


def is_greeting(text: str) -> bool:
    """True for greetings, thanks, show intros and outros, sponsor reads and calls to subscribe."""
    if _GREETING.search(text):
        return True
    return len(text.split()) <= _PLEASANTRY_MAX_WORDS and bool(_PLEASANTRY.match(text))


def is_question(text: str) -> bool:
    return text.rstrip(_CLOSING_QUOTES).endswith("?")


def ends_statement(text: str) -> bool:
    """True when the sentence ends with a full stop or exclamation mark."""
    return text.rstrip(_CLOSING_QUOTES).endswith((".", "!"))


def has_story_marker(text: str) -> bool:
    return bool(_STORY.search(text))


def is_continuation(text: str) -> bool:
    return bool(_CONTINUATION.match(text))


class TranscriptIndex:
    """Per-sentence flags and prefix sums, so any sentence range's statistics cost O(1).

    Both selectors use it: the local selector to score thousands of windows, and
    `validate_moments` to check and repair an LLM's proposals.
    """

    def __init__(self, transcript: Transcript) -> None:
        sentences = transcript.sentences
        self.sentences: Sequence[Sentence] = sentences
        self.starts = [s.start for s in sentences]
        self.ends = [s.end for s in sentences]
        self.greeting = [is_greeting(s.text) for s in sentences]
        self.question = [is_question(s.text) for s in sentences]
        self.story = [has_story_marker(s.text) for s in sentences]
        self._words = _prefix(s.last_word - s.first_word + 1 for s in sentences)
        self._greeting_s = _prefix(
            s.end - s.start if g else 0.0 for s, g in zip(sentences, self.greeting, strict=True)
        )
        self._questions = _prefix(self.question)
        self._stories = _prefix(self.story)
        # _dead_air[i] sums the silence beyond natural pauses before sentences 1..i.
        self._dead_air = _prefix(
            max(0.0, nxt.start - cur.end - NATURAL_PAUSE_S) for cur, nxt in pairwise(sentences)
        )

    def __len__(self) -> int:
        return len(self.sentences)

    def duration(self, first: int, last: int) -> float:
        return self.ends[last] - self.starts[first]

    def words(self, first: int, last: int) -> int:
        return self._words[last + 1] - self._words[first]

    def words_per_second(self, first: int, last: int) -> float:
        return self.words(first, last) / max(self.duration(first, last), 1e-6)

    def questions(self, first: int, last: int) -> int:
        return self._questions[last + 1] - self._questions[first]

    def stories(self, first: int, last: int) -> int:
        return self._stories[last + 1] - self._stories[first]

    def dead_air(self, first: int, last: int) -> float:
        """Seconds of silence between the range's sentences beyond natural pauses."""
        return self._dead_air[last] - self._dead_air[first]

    def greeting_share(self, first: int, last: int) -> float:
        spoken = self._greeting_s[last + 1] - self._greeting_s[first]
        return spoken / max(self.duration(first, last), 1e-6)

    def fits(self, first: int, last: int, options: MomentOptions) -> bool:
        """Within the duration bounds, and neither edge is a greeting."""
        return (
            options.min_seconds <= self.duration(first, last) <= options.max_seconds
            and not self.greeting[first]
            and not self.greeting[last]
        )

    def opening_question(self, first: int, last: int) -> int | None:
        """The question that opens the range (its first or second sentence), if any."""
        return next((i for i in range(first, min(first + 2, last)) if self.question[i]), None)

    def kind(self, first: int, last: int) -> str:
        """A rough kind from the text alone, for proposals that do not say."""
        if self.opening_question(first, last) is not None:
            return "qa"
        return "story" if self.stories(first, last) else "other"

    def title(self, first: int, last: int) -> str:
        """The question for Q&A, else the story's opening line, else the first sentence."""
        pick = self.opening_question(first, last)
        if pick is None:
            pick = next((i for i in range(first, last + 1) if self.story[i]), first)
        return trim_text(self.sentences[pick].text, TITLE_CHARS)

    def hook(self, first: int, last: int) -> str:
        """The first substantial statement: the line that makes a viewer stay."""
        for i in range(first, last + 1):
            text = self.sentences[i].text
            if not self.question[i] and not self.greeting[i] and len(text.split()) >= 6:
                return trim_text(text, HOOK_CHARS)
        return trim_text(self.sentences[first].text, HOOK_CHARS)

    def reason(self, first: int, last: int, kind: str) -> str:
        label = {"qa": "question and answer", "story": "story"}.get(kind, "self-contained passage")
        return (
            f"{label}, {self.duration(first, last):.0f} s, "
            f"{self.words_per_second(first, last):.1f} words/s"
        )

    def moment(
        self,
        first: int,
        last: int,
        *,
        kind: str,
        score: int,
        score_parts: dict[str, int],
        title: str = "",
        hook: str = "",
        reason: str = "",
    ) -> Moment:
        """Build a Moment for a sentence range, filling empty texts from the transcript."""
        return Moment(
            start=self.starts[first],
            end=self.ends[last],
            first_sentence=first,
            last_sentence=last,
            title=title or self.title(first, last),
            hook=hook or self.hook(first, last),
            reason=reason or self.reason(first, last, kind),
            kind=kind,
            score=score,
            score_parts=score_parts,
        )


def _prefix(values: Iterable[float]) -> list[float]:
    return list(accumulate(values, initial=0))


def trim_text(text: str, limit: int) -> str:
    """Collapse whitespace and cut at a word boundary to at most `limit` characters."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] if " " in text[: limit - 1] else text[: limit - 1]
    return cut.rstrip(" ,;:-") + "…"


def pick_non_overlapping(
    ranked: Iterable[T], span: Callable[[T], tuple[int, int]], limit: int
) -> list[T]:
    """Greedily keep items in rank order whose sentence spans overlap no kept one."""
    kept: list[T] = []
    taken: list[tuple[int, int]] = []
    for item in ranked:
        first, last = span(item)
        if all(last < a or first > b for a, b in taken):
            kept.append(item)
            taken.append((first, last))
            if len(kept) == limit:
                break
    return kept


def rank_key(moment: Moment) -> tuple[int, float, float]:
    """Best first; ties go to the earlier clip so the order is deterministic."""
    return (-moment.score, moment.start, moment.end)


# --- Validation and repair of proposals (an LLM's, or anyone's) --------------------------------


def validate_moments(
    proposals: Iterable[Any], transcript: Transcript, options: MomentOptions
) -> tuple[list[Moment], list[str]]:
    """Turn untrusted clip proposals into valid, ranked, non-overlapping Moments.

    A proposal is a mapping (or pydantic model) with `first_sentence`/`last_sentence` ids, or
    `start`/`end` seconds (snapped to the nearest sentence boundaries), plus optional `title`,
    `hook`, `reason`, `kind`, `score` and `score_parts`. Repairs: ids are clamped into range and
    reversed ranges swapped; greeting sentences are trimmed off the edges; a range that is too
    long loses sentences from its end, one that is too short grows (forward first) when its
    neighbours allow; scores are clamped to 0-100; missing texts are filled from the transcript.
    What cannot be repaired is dropped, and overlaps keep the higher score. Every repair and
    drop adds a note to the returned list.
    """
    check_options(options)
    _check_transcript(transcript)
    index = TranscriptIndex(transcript)
    notes: list[str] = []
    candidates = []
    for number, proposal in enumerate(proposals, 1):
        moment = _repair(proposal, index, options, f"proposal {number}", notes)
        if moment is not None:
            candidates.append((number, moment))
    ranked = sorted(candidates, key=lambda c: rank_key(c[1]))
    kept = pick_non_overlapping(
        ranked, lambda c: (c[1].first_sentence, c[1].last_sentence), options.num_clips
    )
    kept_numbers = {number for number, _ in kept}
    for number, moment in ranked:
        if number in kept_numbers:
            continue
        span = _describe(index, moment.first_sentence, moment.last_sentence)
        overlapping = any(
            moment.first_sentence <= k.last_sentence and k.first_sentence <= moment.last_sentence
            for _, k in kept
        )
        why = (
            "overlaps a higher-scored clip"
            if overlapping
            else f"beyond num_clips={options.num_clips}"
        )
        notes.append(f"proposal {number}: {span} {why}; dropped")
    return [moment for _, moment in kept], notes


def _repair(
    proposal: Any, index: TranscriptIndex, options: MomentOptions, label: str, notes: list[str]
) -> Moment | None:
    fields = _as_mapping(proposal)
    if fields is None:
        notes.append(f"{label}: not an object ({type(proposal).__name__}); dropped")
        return None
    if not len(index):
        notes.append(f"{label}: the transcript has no sentences; dropped")
        return None
    span = _proposed_span(fields, index, label, notes)
    if span is None:
        return None
    fitted = _fit_span(*span, index, options)
    if fitted is None:
        notes.append(
            f"{label}: {_describe(index, *span)} cannot become a {options.min_seconds:g}-"
            f"{options.max_seconds:g} s clip that starts and ends outside greetings; dropped"
        )
        return None
    first, last = fitted
    if fitted != span:
        notes.append(
            f"{label}: {_describe(index, *span)} adjusted to {_describe(index, first, last)}"
        )
    if index.greeting_share(first, last) > MAX_GREETING_SHARE:
        notes.append(f"{label}: {_describe(index, first, last)} is mostly greetings; dropped")
        return None
    return _with_metadata(fields, index, first, last, label, notes)


def _as_mapping(proposal: Any) -> Mapping[str, Any] | None:
    if hasattr(proposal, "model_dump"):
        proposal = proposal.model_dump()
    return proposal if isinstance(proposal, Mapping) else None


def _proposed_span(
    fields: Mapping[str, Any], index: TranscriptIndex, label: str, notes: list[str]
) -> tuple[int, int] | None:
    """The proposal's sentence range, ordered and inside the transcript, or None (noted)."""
    first, last = _as_int(fields.get("first_sentence")), _as_int(fields.get("last_sentence"))
    if first is None or last is None:
        start, end = _as_seconds(fields.get("start")), _as_seconds(fields.get("end"))
        if start is None or end is None:
            notes.append(f"{label}: neither sentence ids nor start/end times; dropped")
            return None
        start, end = min(start, end), max(start, end)
        first, last = _nearest(index.starts, start), _nearest(index.ends, end)
        if first > last:  # a range shorter than one sentence: keep the sentence at its start
            last = first
        notes.append(f"{label}: times {start:.1f}-{end:.1f} s snapped to sentences {first}-{last}")
    if first > last:
        notes.append(f"{label}: reversed range {first}-{last} swapped")
        first, last = last, first
    top = len(index) - 1
    if last < 0 or first > top:
        notes.append(
            f"{label}: sentences {first}-{last} are outside the transcript (0-{top}); dropped"
        )
        return None
    if first < 0 or last > top:
        notes.append(
            f"{label}: sentences {first}-{last} clamped to {max(first, 0)}-{min(last, top)}"
        )
    return max(first, 0), min(last, top)


def _fit_span(
    first: int, last: int, index: TranscriptIndex, options: MomentOptions
) -> tuple[int, int] | None:
    """Move the range's edges until it fits the rules; None when no nearby range does."""
    # Greeting edges go first: a clip never opens or closes on a pleasantry.
    while first <= last and index.greeting[first]:
        first += 1
    while last >= first and index.greeting[last]:
        last -= 1
    if first > last:
        return None
    # Too long: drop sentences from the end, keeping the opening the proposer chose as the hook.
    while last > first and (
        index.duration(first, last) > options.max_seconds or index.greeting[last]
    ):
        last -= 1
    if index.fits(first, last, options):
        return first, last
    return _grow(first, last, index, options)


def _grow(
    first: int, last: int, index: TranscriptIndex, options: MomentOptions
) -> tuple[int, int] | None:
    """The fitting range around [first, last] that moves the start least, then is shortest.

    Growing forward finishes the thought and keeps the proposer's opening line; the start
    moves back only when the following sentences cannot make the clip long enough.
    """
    best: tuple[int, float, int, int] | None = None
    lo = first
    while lo >= 0 and index.duration(lo, last) <= options.max_seconds:
        hi = last
        while hi < len(index) and index.duration(lo, hi) <= options.max_seconds:
            if index.fits(lo, hi, options):
                candidate = (first - lo, index.duration(lo, hi), lo, hi)
                best = candidate if best is None else min(best, candidate)
                break
            hi += 1
        if best is not None:
            break  # any smaller `lo` moves the start further
        lo -= 1
    return None if best is None else (best[2], best[3])


def _with_metadata(
    fields: Mapping[str, Any],
    index: TranscriptIndex,
    first: int,
    last: int,
    label: str,
    notes: list[str],
) -> Moment:
    filled: list[str] = []
    kind = _kind(fields.get("kind"))
    if kind is None:
        filled.append("kind")
        kind = index.kind(first, last)
    parts = _score_parts(fields.get("score_parts"))
    score = _as_number(fields.get("score"))
    if score is None:
        filled.append("score")
        score = sum(parts.values()) / len(parts) if parts else 50.0
    if not 0 <= score <= 100:
        notes.append(f"{label}: score {score:g} clamped to 0-100")
    score = round(min(max(score, 0.0), 100.0))
    texts = {}
    for name, limit in (("title", TITLE_CHARS), ("hook", HOOK_CHARS), ("reason", REASON_CHARS)):
        value = fields.get(name)
        texts[name] = trim_text(str(value), limit) if isinstance(value, str | int | float) else ""
        if not texts[name]:
            filled.append(name)
    if filled:
        notes.append(f"{label}: filled missing {', '.join(filled)}")
    return index.moment(
        first, last, kind=kind, score=score, score_parts=parts or {"overall": score}, **texts
    )


_KIND_SYNONYMS = {
    "q&a": "qa",
    "qna": "qa",
    "question": "qa",
    "question_answer": "qa",
    "question-answer": "qa",
    "anecdote": "story",
    "narrative": "story",
}


def _kind(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    value = _KIND_SYNONYMS.get(value, value)
    return value if value in KINDS else None


def _score_parts(value: Any) -> dict[str, int]:
    """Numeric parts clamped to 0-100; anything else is ignored."""
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if not isinstance(value, Mapping):
        return {}
    parts = {str(k): _as_number(v) for k, v in value.items()}
    return {k: round(min(max(v, 0.0), 100.0)) for k, v in parts.items() if v is not None}


def _as_number(value: Any) -> float | None:
    if isinstance(value, str):
        try:
            value = float(value.strip().rstrip("%"))
        except ValueError:
            return None
    return float(value) if _is_number(value) else None


def _as_int(value: Any) -> int | None:
    """An id written as 12, 12.0, "12" or "[12]"."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*\[?\s*(-?\d+)\s*\]?\s*", value)
        return int(match[1]) if match else None
    number = _as_number(value)
    return int(number) if number is not None and number.is_integer() else None


def _as_seconds(value: Any) -> float | None:
    """Seconds written as 83.4, "83.4", "1:23.4" or "0:01:23"."""
    if isinstance(value, str) and ":" in value:
        pieces = [_as_number(p) for p in value.strip().split(":")]
        if len(pieces) > 3 or any(p is None or p < 0 for p in pieces):
            return None
        return sum(p * 60**i for i, p in enumerate(reversed(pieces)))
    return _as_number(value)


def _nearest(times: Sequence[float], t: float) -> int:
    """Index of the value in sorted `times` closest to `t`."""
    i = bisect_left(times, t)
    if i == 0:
        return 0
    if i == len(times):
        return len(times) - 1
    return i if times[i] - t < t - times[i - 1] else i - 1


def _describe(index: TranscriptIndex, first: int, last: int) -> str:
    return (
        f"sentences {first}-{last} ({index.starts[first]:.1f}-{index.ends[last]:.1f} s, "
        f"{index.duration(first, last):.1f} s)"
    )
