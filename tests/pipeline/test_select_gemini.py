"""The Gemini selector, driving the real google-genai client against a loopback stub."""

from __future__ import annotations

import dataclasses
import json
import logging
import socket

import pytest
from google.genai import errors as genai_errors

from pipeline.errors import StageFailed
from pipeline.moments import MomentOptions, select_moments
from pipeline.select_gemini import parse_proposals
from tests.utils.gemini_stub import GeminiStub
from tests.utils.transcripts import (
    QUESTION_AND_ANSWER,
    assert_follows_rules,
    make_transcript,
    sample_podcast,
)

KEY = "test-key-0123456789"
MODEL = "gemini-2.5-flash"


@pytest.fixture(scope="module")
def podcast():
    return sample_podcast()


@pytest.fixture
def gemini():
    """Start stubs with `gemini(reply=..., fail_times=...)`; all stop after the test."""
    stubs: list[GeminiStub] = []

    def start(**kwargs) -> GeminiStub:
        stub = GeminiStub(**kwargs).start()
        stubs.append(stub)
        return stub

    yield start
    for stub in stubs:
        stub.stop()


def _options(stub: GeminiStub, **changes) -> MomentOptions:
    options = MomentOptions(
        selector="gemini",
        gemini_api_key=KEY,
        gemini_base_url=stub.base_url,
        gemini_timeout_s=5.0,
        gemini_retry_delay_s=0.0,
    )
    return dataclasses.replace(options, **changes)


def _clip(first: int, last: int, score: int = 80, kind: str = "qa") -> dict:
    """A proposal that matches the response schema exactly."""
    return {
        "first_sentence": first,
        "last_sentence": last,
        "title": f"Clip {first}-{last}",
        "hook": "A hook that makes people stay.",
        "reason": "It is a complete thought.",
        "kind": kind,
        "score": score,
        "score_parts": {"hook": 70, "structure": 90, "completeness": 85, "value": 75},
    }


def _good_reply(podcast) -> dict:
    qa, story = podcast.question_and_answer, podcast.story
    return {
        "clips": [
            _clip(qa.start, qa.stop - 2, 90, "qa"),
            _clip(story.start, story.stop - 1, 85, "story"),
        ]
    }


def test_request_is_what_the_sdk_sends(podcast, gemini):
    stub = gemini(reply=_good_reply(podcast))
    select_moments(podcast.transcript, _options(stub, num_clips=2))

    (request,) = stub.requests
    assert request.path == f"/v1beta/models/{MODEL}:generateContent"
    assert request.headers["x-goog-api-key"] == KEY
    body = request.json()
    system = body["systemInstruction"]["parts"][0]["text"]
    assert "30 to 60 seconds; prefer 40 to 60 seconds" in system
    assert "Return up to 5 clips" in system  # num_clips plus spares
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["temperature"] == 0.2
    clip_schema = config["responseSchema"]["properties"]["clips"]["items"]
    assert {"first_sentence", "last_sentence", "kind", "score"} <= set(clip_schema["required"])
    for s in podcast.transcript.sentences:
        assert f"[{s.id}] ({s.start:.1f}-{s.end:.1f}) {s.text}\n" in request.prompt + "\n"


def test_valid_reply_gives_validated_moments(podcast, gemini):
    stub = gemini(reply=_good_reply(podcast))
    options = _options(stub, num_clips=2)

    selection = select_moments(podcast.transcript, options)

    assert selection.selector == f"gemini:{MODEL}"
    assert selection.dropped == []
    qa, story = podcast.question_and_answer, podcast.story
    assert [(m.first_sentence, m.last_sentence, m.kind, m.score) for m in selection.moments] == [
        (qa.start, qa.stop - 2, "qa", 90),
        (story.start, story.stop - 1, "story", 85),
    ]
    assert selection.moments[0].score_parts == {
        "hook": 70,
        "structure": 90,
        "completeness": 85,
        "value": 75,
    }
    assert_follows_rules(selection.moments, podcast.transcript, options, podcast.greetings)


def test_auto_selector_uses_gemini_when_a_key_is_set(podcast, gemini):
    stub = gemini(reply=_good_reply(podcast))
    selection = select_moments(podcast.transcript, _options(stub, selector="auto"))
    assert selection.selector == f"gemini:{MODEL}"
    assert len(stub.requests) == 1


def test_adversarial_reply_is_repaired(podcast, gemini):
    qa, story = podcast.question_and_answer, podcast.story
    clips = [
        _clip(qa.stop - 2, qa.start, 150),  # reversed, score out of range
        _clip(qa.start + 1, qa.stop - 1, 60),  # overlaps the first
        {"start": 126.0, "end": 167.0, "kind": "anecdote"},  # seconds, missing fields
        _clip(0, 2, 99),  # the intro greetings
        _clip(400, 420, 99),  # hallucinated ids
    ]
    stub = gemini(reply="Sure! Here you go:\n```json\n" + json.dumps(clips) + "\n```")
    options = _options(stub, num_clips=3)

    selection = select_moments(podcast.transcript, options)

    assert [(m.first_sentence, m.last_sentence, m.score) for m in selection.moments] == [
        (qa.start, qa.stop - 2, 100),
        (story.start, story.stop - 1, 50),
    ]
    assert selection.moments[1].kind == "story"
    notes = "\n".join(selection.dropped)
    for expected in (
        "proposal 1: reversed range",
        "proposal 1: score 150 clamped",
        "proposal 2: sentences 10-18",
        "overlaps a higher-scored clip",
        "proposal 3: times 126.0-167.0 s snapped",
        "proposal 4: sentences 0-2",
        "proposal 5: sentences 400-420 are outside the transcript",
    ):
        assert expected in notes
    assert_follows_rules(selection.moments, podcast.transcript, options, podcast.greetings)


def test_fenced_json_reply_is_parsed(podcast, gemini):
    stub = gemini(reply="```json\n" + json.dumps(_good_reply(podcast)) + "\n```")
    selection = select_moments(podcast.transcript, _options(stub))
    assert len(selection.moments) == 2


def test_empty_clip_list_gives_an_empty_selection(podcast, gemini):
    stub = gemini(reply={"clips": []})
    selection = select_moments(podcast.transcript, _options(stub))
    assert (selection.moments, selection.dropped) == ([], [])


def test_non_json_reply_fails_the_stage(podcast, gemini):
    stub = gemini(reply="I'm sorry, I can't pick clips from this transcript.")
    with pytest.raises(StageFailed, match="reply is not JSON clips") as excinfo:
        select_moments(podcast.transcript, _options(stub))
    assert excinfo.value.stage == "moments"
    assert isinstance(excinfo.value.__cause__, ValueError)


def test_reply_without_text_fails_the_stage(podcast, gemini):
    stub = gemini(reply="")
    with pytest.raises(StageFailed, match=r"Gemini returned no text \(.*STOP\)"):
        select_moments(podcast.transcript, _options(stub))


def test_server_errors_are_retried_then_succeed(podcast, gemini):
    stub = gemini(reply=_good_reply(podcast), fail_status=503, fail_times=2)
    selection = select_moments(podcast.transcript, _options(stub, gemini_attempts=3))
    assert len(selection.moments) == 2
    assert len(stub.requests) == 3


def test_persistent_server_errors_fail_after_bounded_attempts(podcast, gemini):
    stub = gemini(fail_status=503, fail_times=None)
    with pytest.raises(StageFailed, match="answered 503 UNAVAILABLE") as excinfo:
        select_moments(podcast.transcript, _options(stub, gemini_attempts=3))
    assert len(stub.requests) == 3
    assert isinstance(excinfo.value.__cause__, genai_errors.ServerError)


def test_client_errors_are_not_retried(podcast, gemini):
    stub = gemini(fail_status=400, fail_times=None)
    with pytest.raises(StageFailed, match="answered 400 INVALID_ARGUMENT") as excinfo:
        select_moments(podcast.transcript, _options(stub, gemini_attempts=3))
    assert len(stub.requests) == 1
    assert isinstance(excinfo.value.__cause__, genai_errors.ClientError)
    assert KEY not in str(excinfo.value)


def test_timeout_fails_the_stage(podcast, gemini):
    stub = gemini(reply=_good_reply(podcast), delay_s=1.0)
    options = _options(stub, gemini_timeout_s=0.2, gemini_attempts=1)
    with pytest.raises(
        StageFailed, match=r"Gemini request timed out \(0.2 s\) after 1 attempt\(s\): \w*Timeout"
    ):
        select_moments(podcast.transcript, options)


def test_unreachable_server_fails_the_stage(podcast):
    with socket.socket() as sock:  # a port that nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    options = MomentOptions(
        selector="gemini",
        gemini_api_key=KEY,
        gemini_base_url=f"http://127.0.0.1:{port}",
        gemini_attempts=1,
    )
    with pytest.raises(StageFailed, match="Gemini request failed after 1 attempt"):
        select_moments(podcast.transcript, options)


def test_short_transcript_makes_no_request(gemini):
    stub = gemini(reply={"clips": []})
    transcript = make_transcript([(text, None, 0.33) for text in QUESTION_AND_ANSWER[:3]])
    selection = select_moments(transcript, _options(stub))
    assert selection.moments == []
    assert selection.selector == f"gemini:{MODEL}"
    assert stub.requests == []


def test_api_key_and_transcript_stay_out_of_logs(podcast, gemini, caplog):
    caplog.set_level(logging.DEBUG)
    stub = gemini(reply=_good_reply(podcast))
    select_moments(podcast.transcript, _options(stub))
    failing = gemini(fail_status=403, fail_times=None)
    with pytest.raises(StageFailed):
        select_moments(podcast.transcript, _options(failing))
    assert "moments: asking gemini-2.5-flash" in caplog.text
    assert KEY not in caplog.text
    assert QUESTION_AND_ANSWER[1] not in caplog.text


# --- parsing a reply's text ---------------------------------------------------------------------

CLIP = {"first_sentence": 1, "last_sentence": 4}


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"clips": [CLIP]}),
        json.dumps({"moments": [CLIP]}),
        json.dumps([CLIP]),
        json.dumps(CLIP),
        "```json\n" + json.dumps({"clips": [CLIP]}) + "\n```",
        "```\n" + json.dumps([CLIP]) + "\n```",
        "Here are the clips (see [1] and [4]):\n" + json.dumps([CLIP]) + "\nEnjoy!",
    ],
    ids=["object", "moments-key", "list", "single", "fenced-json", "fenced", "prose"],
)
def test_parse_proposals_finds_the_clips(text):
    assert parse_proposals(text) == [CLIP]


def test_parse_proposals_accepts_an_empty_list():
    assert parse_proposals('{"clips": []}') == []
    assert parse_proposals("[]") == []


@pytest.mark.parametrize(
    "text",
    ["", "no clips here", "42", '"a string"', '{"answer": "none"}', "```json\n{broken\n```"],
)
def test_parse_proposals_rejects_non_clip_text(text):
    with pytest.raises(ValueError):
        parse_proposals(text)
