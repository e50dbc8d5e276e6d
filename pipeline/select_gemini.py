"""The Gemini moment selector: the model proposes sentence ranges, our rules decide.

Gemini reads the transcript as numbered sentences with times (`[12] (83.4-88.9) text`) and
answers, through structured output, with clips as sentence-id ranges plus a title, hook,
reason, kind and score. Ids rather than seconds make clip boundaries exact by construction;
answers given in seconds anyway are snapped to sentences. Nothing the model says is trusted:
every proposal goes through `validate_moments`, which repairs or drops it and says why.

A reply that is not JSON at all raises StageFailed instead of returning no clips: "no clips"
would tell the user the video has no good moments, when really the model misbehaved, and a
failed stage is retried by the job runner (the model samples differently on the next call).
A JSON reply with no usable proposal returns an empty selection with notes.

Transport-level retries (429, 5xx, connection errors, timeouts) are bounded by
`gemini_attempts`, with exponential backoff inside google-genai. Errors are translated into
StageFailed at this edge; the API key and the transcript never reach a log or a message.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from pydantic import BaseModel, Field

from pipeline.errors import StageFailed
from pipeline.moments import (
    HOOK_CHARS,
    MAX_CLIPS,
    TITLE_CHARS,
    MomentOptions,
    MomentSelection,
    validate_moments,
)
from pipeline.transcribe import Transcript

__all__ = ["ClipPlan", "ClipProposal", "parse_proposals", "select_gemini"]

logger = logging.getLogger("clipzz.pipeline")

TEMPERATURE = 0.2
# Ask for a few spare clips, so repairs and drops still leave `num_clips` good ones.
SPARE_CLIPS = 3
# How far into a messy reply to look for the start of the JSON (bounds the scan).
MAX_JSON_STARTS = 50


def _transport_errors() -> tuple[type[Exception], ...]:
    """httpx-family errors raised below google-genai (it moved from httpx to the httpx2 fork)."""
    found: list[type[Exception]] = []
    for name in ("httpx2", "httpx"):
        try:
            found.append(importlib.import_module(name).HTTPError)
        except ImportError:
            continue
    return tuple(found)


_TRANSPORT_ERRORS = _transport_errors()


class ScoreParts(BaseModel):
    """What the model's score is made of, each 0-100."""

    hook: int = Field(ge=0, le=100, description="How strongly the first seconds grab attention.")
    structure: int = Field(
        ge=0, le=100, description="How clearly it is one question and its answer, or one story."
    )
    completeness: int = Field(
        ge=0, le=100, description="Self-contained: understandable alone, ends on the payoff."
    )
    value: int = Field(ge=0, le=100, description="Insight, emotion or humour a viewer gets.")


class ClipProposal(BaseModel):
    """One clip as the model proposes it (the response schema sent to Gemini)."""

    first_sentence: int = Field(description="Id of the clip's first sentence.")
    last_sentence: int = Field(description="Id of the clip's last sentence (inclusive).")
    title: str = Field(description=f"Catchy title, at most {TITLE_CHARS} characters.")
    hook: str = Field(description=f"The opening line that hooks, at most {HOOK_CHARS} characters.")
    reason: str = Field(description="One sentence on why this works as a short clip.")
    kind: Literal["qa", "story", "other"]
    score: int = Field(ge=0, le=100, description="Overall quality as a short clip, 0-100.")
    score_parts: ScoreParts


class ClipPlan(BaseModel):
    """The whole answer: clips, best first."""

    clips: list[ClipProposal]


_SYSTEM_INSTRUCTION = """\
You choose moments from a podcast transcript to publish as short vertical video clips.
The transcript is given as numbered sentences: [id] (start-end seconds) text.

Return up to {wanted} clips, best first. Rules:
- A clip is a range of consecutive sentences, given by first_sentence and last_sentence ids
  (inclusive). Its duration is the end of its last sentence minus the start of its first.
- Every clip lasts {min_s:g} to {max_s:g} seconds; prefer {prefer_s:g} to {max_s:g} seconds.
- Pick self-contained moments: a question together with its complete answer, or a complete
  story. Start on the question or on the story's first line; end when the answer or the story
  ends, never on an open question.
- Never start or end a clip on a greeting, a thank-you, an introduction of the show or guest,
  a sponsor read, a call to like or subscribe, or a goodbye, and never pick a clip that is
  mostly such talk.
- Clips must not overlap: no sentence may belong to two clips.
- kind is "qa" for a question and answer, "story" for a story, otherwise "other".
- score (0-100) rates the clip as a standalone short; score_parts explain it.
- If nothing qualifies, return an empty list of clips.
"""


def select_gemini(transcript: Transcript, options: MomentOptions) -> MomentSelection:
    """Ask Gemini for clips as sentence ranges, then validate and rank them.

    Raises StageFailed when the API keeps failing, times out, or answers with no JSON.
    """
    wanted = min(options.num_clips + SPARE_CLIPS, MAX_CLIPS)
    logger.info(
        "moments: asking %s for up to %d clips from %d sentences",
        options.gemini_model,
        wanted,
        len(transcript.sentences),
    )
    reply = _generate(transcript, options, wanted)
    moments, notes = validate_moments(reply, transcript, options)
    for note in notes:
        logger.debug("moments: %s", note)
    selector = f"gemini:{options.gemini_model}"
    return MomentSelection(moments=moments, selector=selector, dropped=notes)


def _generate(transcript: Transcript, options: MomentOptions, wanted: int) -> list[Any]:
    """One structured-output call (retries inside the SDK); returns the raw proposals."""
    config = types.GenerateContentConfig(
        system_instruction=_SYSTEM_INSTRUCTION.format(
            wanted=wanted,
            min_s=options.min_seconds,
            max_s=options.max_seconds,
            prefer_s=options.preferred_seconds,
        ),
        response_mime_type="application/json",
        response_schema=ClipPlan,
        temperature=TEMPERATURE,
        # No tools are declared; this only keeps the SDK from announcing AFC on every call.
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    with _gemini_errors(options), _client(options) as client:
        response = client.models.generate_content(
            model=options.gemini_model, contents=_prompt(transcript), config=config
        )
    if isinstance(response.parsed, ClipPlan):
        return list(response.parsed.clips)
    text = response.text
    if not text:
        raise StageFailed("moments", f"Gemini returned no text ({_why_empty(response)})")
    try:
        return parse_proposals(text)
    except ValueError as exc:
        raise StageFailed("moments", f"Gemini's reply is not JSON clips ({exc})") from exc


def _why_empty(response: types.GenerateContentResponse) -> str:
    """Finish reasons, or the prompt's block reason, for a reply without text."""
    reasons = sorted({str(c.finish_reason) for c in response.candidates or ()})
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        reasons.append(f"prompt blocked: {feedback.block_reason}")
    return ", ".join(reasons) or "no candidates"


def _client(options: MomentOptions) -> genai.Client:
    delay = options.gemini_retry_delay_s
    return genai.Client(
        api_key=options.gemini_api_key,
        http_options=types.HttpOptions(
            base_url=options.gemini_base_url,
            api_version=options.gemini_api_version,
            timeout=round(options.gemini_timeout_s * 1000),
            retry_options=types.HttpRetryOptions(
                attempts=options.gemini_attempts,
                initial_delay=delay,
                max_delay=delay * 8,
                jitter=delay,
            ),
        ),
    )


def _prompt(transcript: Transcript) -> str:
    lines = [f"[{s.id}] ({s.start:.1f}-{s.end:.1f}) {s.text}" for s in transcript.sentences]
    return (
        f"Transcript ({transcript.duration:.0f} s, language {transcript.language}, "
        f"{len(lines)} sentences):\n" + "\n".join(lines)
    )


@contextmanager
def _gemini_errors(options: MomentOptions) -> Iterator[None]:
    """Translate google-genai and transport errors into StageFailed, chained."""
    try:
        yield
    except genai_errors.APIError as exc:
        message = _redact(str(exc.message or ""), options)[:200]
        raise StageFailed(
            "moments", f"Gemini {options.gemini_model} answered {exc.code} {exc.status}: {message}"
        ) from exc
    except genai_errors.UnknownApiResponseError as exc:
        raise StageFailed("moments", "Gemini's response was not valid JSON") from exc
    except _TRANSPORT_ERRORS as exc:
        name = type(exc).__name__
        what = f"timed out ({options.gemini_timeout_s:g} s)" if "Timeout" in name else "failed"
        raise StageFailed(
            "moments",
            f"Gemini request {what} after {options.gemini_attempts} attempt(s): {name}",
        ) from exc


def _redact(text: str, options: MomentOptions) -> str:
    key = options.gemini_api_key
    return text.replace(key, "***") if key else text


_FENCE = re.compile(r"^\s*```[\w-]*\s*\n?|\n?\s*```\s*$")


def parse_proposals(text: str) -> list[Any]:
    """Find the clip list in a model's reply text, however it was wrapped.

    Accepts `{"clips": [...]}` (or "moments"), a bare list, or a single clip object, inside
    ``` fences or surrounded by prose. Raises ValueError when there is no JSON to find.
    """
    stripped = _FENCE.sub("", text.strip())
    try:
        data = json.loads(stripped)
    except ValueError:
        data = _first_json_value(stripped)
    if isinstance(data, dict):
        for key in ("clips", "moments"):
            if isinstance(data.get(key), list):
                return data[key]
        if {"first_sentence", "start"} & data.keys():
            return [data]
        raise ValueError(f"a JSON object without a clip list (keys: {sorted(data)[:5]})")
    if isinstance(data, list):
        return data
    raise ValueError(f"JSON {type(data).__name__}, not a clip list")


def _first_json_value(text: str) -> Any:
    """The first JSON object, or list of objects, embedded in `text`.

    Prose around a reply often holds brackets too ("see [12]"), so a value counts only when
    it could be clips: an object, or a list whose items are all objects.
    """
    decoder = json.JSONDecoder()
    starts = [m.start() for m in re.finditer(r"[\[{]", text)][:MAX_JSON_STARTS]
    for start in starts:
        try:
            value = decoder.raw_decode(text, start)[0]
        except ValueError:
            continue
        if isinstance(value, dict) or (
            isinstance(value, list) and all(isinstance(item, dict) for item in value)
        ):
            return value
    raise ValueError(f"no JSON found in {len(text)} characters")
