"""Moment selection: option checks, the local selector, and repair of untrusted proposals."""

from __future__ import annotations

import dataclasses
import random

import pytest

from pipeline.errors import InvalidInput
from pipeline.moments import (
    MomentOptions,
    is_greeting,
    select_moments,
    validate_moments,
)
from tests.utils.transcripts import (
    INTRO,
    OUTRO,
    QUESTION_AND_ANSWER,
    SMALL_TALK,
    STORY,
    assert_follows_rules,
    make_transcript,
    sample_podcast,
)

LOCAL = MomentOptions(selector="local")


@pytest.fixture(scope="module")
def podcast():
    return sample_podcast()


# --- options and inputs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"num_clips": 0}, "num_clips must be an integer from 1 to 20, got 0"),
        ({"num_clips": 21}, "num_clips must be an integer from 1 to 20"),
        ({"num_clips": True}, "num_clips must be an integer"),
        ({"num_clips": 2.0}, "num_clips must be an integer"),
        ({"min_seconds": 0}, "min_seconds must be a positive number"),
        ({"max_seconds": float("nan")}, "max_seconds must be a positive number"),
        ({"min_seconds": 70.0}, "min_seconds (70) must not exceed max_seconds (60)"),
        ({"max_seconds": 900.0}, "max_seconds must be at most 600"),
        ({"prefer_min_seconds": -1.0}, "prefer_min_seconds must be a positive number"),
        ({"selector": "gpt"}, "selector must be one of auto, local, gemini; got 'gpt'"),
        ({"selector": "gemini"}, "selector 'gemini' needs gemini_api_key"),
        ({"gemini_attempts": 0}, "gemini_attempts must be an integer from 1 to 10"),
        ({"gemini_timeout_s": 0}, "gemini_timeout_s must be a positive number"),
        ({"gemini_retry_delay_s": -1}, "gemini_retry_delay_s must be >= 0"),
        ({"gemini_model": "../x"}, "gemini_model must be a plain name"),
        ({"gemini_api_version": ""}, "gemini_api_version must be a plain name"),
    ],
)
def test_select_moments_rejects_bad_options(podcast, changes, message):
    options = dataclasses.replace(LOCAL, **changes)
    with pytest.raises(InvalidInput) as excinfo:
        select_moments(podcast.transcript, options)
    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_validate_moments_checks_options_too(podcast):
    with pytest.raises(InvalidInput, match="num_clips"):
        validate_moments([], podcast.transcript, dataclasses.replace(LOCAL, num_clips=0))


def test_select_moments_rejects_misnumbered_sentences(podcast):
    transcript = podcast.transcript
    shuffled = dataclasses.replace(transcript, sentences=transcript.sentences[::-1])
    with pytest.raises(InvalidInput, match=r"numbered 0\.\.n-1"):
        select_moments(shuffled, LOCAL)


def test_select_moments_rejects_non_transcript():
    with pytest.raises(InvalidInput, match="expected a Transcript, got dict"):
        select_moments({"words": []}, LOCAL)  # type: ignore[arg-type]


def test_select_moments_rejects_non_options(podcast):
    with pytest.raises(InvalidInput, match="expected MomentOptions, got dict"):
        select_moments(podcast.transcript, {"num_clips": 3})  # type: ignore[arg-type]


def test_options_repr_hides_api_key():
    assert "sekrit" not in repr(MomentOptions(gemini_api_key="sekrit"))


def test_auto_selector_without_key_runs_local(podcast):
    selection = select_moments(podcast.transcript, MomentOptions())
    assert selection.selector == "local"
    assert selection.moments


# --- what counts as a greeting ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        *INTRO,
        *OUTRO,
        "Welcome to episode ninety of the podcast.",
        "Thank you so much for joining us.",
        "Thanks.",
        "Hi Sam!",
        "Take care.",
        "Don't forget to hit the like button.",
        "This episode is sponsored by a mattress company.",
        "Bye-bye everyone.",
    ],
)
def test_greetings_are_recognised(text):
    assert is_greeting(text)


@pytest.mark.parametrize(
    "text",
    [
        *QUESTION_AND_ANSWER,
        *STORY,
        *SMALL_TALK,
        "You have to take care of your team before anything else.",
        "Thanks to that order we could hire two engineers in the spring.",
        "The welcome screen confused every single user we tested.",
    ],
)
def test_content_is_not_a_greeting(text):
    assert not is_greeting(text)


# --- the local selector -------------------------------------------------------------------------


def test_local_picks_the_question_and_answer_and_the_story(podcast):
    selection = select_moments(podcast.transcript, dataclasses.replace(LOCAL, num_clips=2))

    assert selection.selector == "local"
    assert selection.dropped == []
    by_kind = {m.kind: m for m in selection.moments}
    assert set(by_kind) == {"qa", "story"}
    qa, story = by_kind["qa"], by_kind["story"]
    assert qa.first_sentence == podcast.question_and_answer.start
    assert qa.last_sentence in podcast.question_and_answer
    assert qa.title.startswith("What made you quit your job")
    assert qa.reason.startswith("question and answer, ")
    assert story.first_sentence == podcast.story.start
    assert story.last_sentence in podcast.story
    assert set(qa.score_parts) == {"structure", "completeness", "hook", "density", "length"}


@pytest.mark.parametrize(
    "options",
    [
        dataclasses.replace(LOCAL, num_clips=5),
        dataclasses.replace(LOCAL, num_clips=20, min_seconds=15, max_seconds=30),
        dataclasses.replace(LOCAL, num_clips=3, min_seconds=45, max_seconds=90),
    ],
    ids=["default-bounds", "short-clips", "long-clips"],
)
def test_local_moments_follow_the_rules(podcast, options):
    selection = select_moments(podcast.transcript, options)
    assert selection.moments
    assert_follows_rules(selection.moments, podcast.transcript, options, podcast.greetings)


def test_local_never_cuts_on_a_greeting_next_to_good_content():
    # Greetings glued to both ends of an answer: the best window would love to include them.
    lines = ["Thanks so much for having me on the show.", *QUESTION_AND_ANSWER]
    lines += ["Thank you so much for sharing that.", "See you next time."]
    transcript = make_transcript([(text, None, 0.33) for text in lines])
    options = dataclasses.replace(LOCAL, num_clips=3)

    moments = select_moments(transcript, options).moments

    assert [(m.first_sentence, m.kind) for m in moments] == [(1, "qa")]
    greetings = frozenset({0, len(lines) - 2, len(lines) - 1})
    assert_follows_rules(moments, transcript, options, greetings)


def test_local_prefers_dense_speech_to_dead_air():
    # The same question and answer twice; the first time with long silences between sentences.
    spec, t = [], 0.0
    for text in QUESTION_AND_ANSWER[:7]:
        spec.append((text, t, 0.33))
        t += len(text.split()) * 0.33 + 2.5
    spec += [(text, None, 0.6) for text in SMALL_TALK]
    spec += [(text, None, 0.33) for text in QUESTION_AND_ANSWER]
    transcript = make_transcript(spec)
    options = dataclasses.replace(LOCAL, num_clips=2)

    first, second = select_moments(transcript, options).moments

    assert (first.kind, first.first_sentence) == ("qa", 7 + len(SMALL_TALK))
    assert first.score_parts["density"] == 100
    assert second.first_sentence == 0
    assert second.score_parts["density"] < first.score_parts["density"]


def test_local_is_deterministic(podcast):
    options = dataclasses.replace(LOCAL, num_clips=5)
    assert select_moments(podcast.transcript, options) == select_moments(
        podcast.transcript, options
    )


def test_local_ranks_best_first(podcast):
    moments = select_moments(podcast.transcript, dataclasses.replace(LOCAL, num_clips=5)).moments
    assert len(moments) >= 3
    assert [m.score for m in moments] == sorted((m.score for m in moments), reverse=True)
    assert {moments[0].kind, moments[1].kind} == {"qa", "story"}


def test_short_transcript_gives_no_moments():
    transcript = make_transcript([(text, None, 0.33) for text in QUESTION_AND_ANSWER[:5]])
    assert transcript.sentences[-1].end < 30
    assert select_moments(transcript, LOCAL).moments == []


def test_empty_transcript_gives_no_moments():
    selection = select_moments(make_transcript([]), LOCAL)
    assert selection.moments == []
    assert selection.selector == "local"


def test_greetings_only_gives_no_moments():
    lines = (INTRO + OUTRO) * 4
    transcript = make_transcript([(text, None, 0.33) for text in lines])
    assert transcript.sentences[-1].end > 60
    assert select_moments(transcript, LOCAL).moments == []


def test_local_handles_a_two_hour_transcript():
    rng = random.Random(7)
    pool = QUESTION_AND_ANSWER + STORY + SMALL_TALK + INTRO
    transcript = make_transcript([(rng.choice(pool), None, 0.33) for _ in range(2000)])
    assert len(transcript.words) > 20_000
    assert transcript.duration > 2 * 3600
    options = dataclasses.replace(LOCAL, num_clips=20)

    moments = select_moments(transcript, options).moments

    assert len(moments) == 20
    greetings = frozenset(s.id for s in transcript.sentences if s.text in INTRO)
    assert_follows_rules(moments, transcript, options, greetings)


# --- validation and repair of untrusted proposals -----------------------------------------------


def _validate(podcast, proposals, **changes):
    options = dataclasses.replace(LOCAL, **changes)
    moments, notes = validate_moments(proposals, podcast.transcript, options)
    assert_follows_rules(moments, podcast.transcript, options, podcast.greetings)
    return moments, notes


def _span(moment):
    return moment.first_sentence, moment.last_sentence


def test_validate_keeps_a_good_proposal_as_given(podcast):
    qa = podcast.question_and_answer
    proposal = {
        "first_sentence": qa.start,
        "last_sentence": qa.stop - 2,
        "title": "Why I quit banking",
        "hook": "I felt nothing at all.",
        "reason": "A clear question and a complete answer.",
        "kind": "qa",
        "score": 87,
        "score_parts": {"hook": 80, "structure": 95},
    }
    moments, notes = _validate(podcast, [proposal])
    assert notes == []
    (moment,) = moments
    assert _span(moment) == (qa.start, qa.stop - 2)
    assert (moment.title, moment.hook, moment.kind, moment.score) == (
        "Why I quit banking",
        "I felt nothing at all.",
        "qa",
        87,
    )
    assert moment.score_parts == {"hook": 80, "structure": 95}


def test_validate_empty_list(podcast):
    assert _validate(podcast, []) == ([], [])


def test_validate_overlap_keeps_the_higher_score(podcast):
    qa = podcast.question_and_answer
    low = {"first_sentence": qa.start, "last_sentence": qa.stop - 2, "score": 60}
    high = {"first_sentence": qa.start + 1, "last_sentence": qa.stop - 1, "score": 90}
    moments, notes = _validate(podcast, [low, high])
    assert [(_span(m), m.score) for m in moments] == [((qa.start + 1, qa.stop - 1), 90)]
    assert any(n.startswith("proposal 1: ") and "overlaps a higher-scored clip" in n for n in notes)


def test_validate_clamps_ids_into_range(podcast):
    last_id = len(podcast.transcript.sentences) - 1
    moments, notes = _validate(podcast, [{"first_sentence": -4, "last_sentence": 8}])
    (moment,) = moments
    assert moment.first_sentence == 3  # 0-2 are the intro greetings
    assert any("sentences -4-8 clamped to 0-8" in n for n in notes)
    moments, notes = _validate(podcast, [{"first_sentence": 30, "last_sentence": 999}])
    (moment,) = moments
    assert moment.first_sentence == 30
    assert any(f"clamped to 30-{last_id}" in n for n in notes)


def test_validate_drops_ranges_outside_the_transcript(podcast):
    moments, notes = _validate(podcast, [{"first_sentence": 500, "last_sentence": 510}])
    assert moments == []
    assert notes == ["proposal 1: sentences 500-510 are outside the transcript (0-42); dropped"]


def test_validate_swaps_reversed_ranges(podcast):
    qa = podcast.question_and_answer
    moments, notes = _validate(
        podcast, [{"first_sentence": qa.stop - 2, "last_sentence": qa.start}]
    )
    assert [_span(m) for m in moments] == [(qa.start, qa.stop - 2)]
    assert f"proposal 1: reversed range {qa.stop - 2}-{qa.start} swapped" in notes


@pytest.mark.parametrize(
    ("start", "end"),
    [(46.0, 86.4), (45.0, 87.0), ("0:46", "1:26.4"), ("46.0", "86.4"), (86.4, 46.0)],
)
def test_validate_snaps_times_to_sentences(podcast, start, end):
    qa = podcast.question_and_answer
    sentences = podcast.transcript.sentences
    assert sentences[qa.start].start == pytest.approx(46.0, abs=0.1)
    assert sentences[qa.stop - 2].end == pytest.approx(86.4, abs=0.1)
    moments, notes = _validate(podcast, [{"start": start, "end": end, "score": 70}])
    assert [_span(m) for m in moments] == [(qa.start, qa.stop - 2)]
    assert any("snapped to sentences" in n for n in notes)


def test_validate_trims_a_long_range_from_the_end(podcast):
    qa, story = podcast.question_and_answer, podcast.story
    moments, notes = _validate(podcast, [{"first_sentence": qa.start, "last_sentence": story[-1]}])
    (moment,) = moments
    assert moment.first_sentence == qa.start
    assert moment.duration <= 60
    assert moment.last_sentence + 1 < story[-1]
    assert any("adjusted to" in n for n in notes)


def test_validate_trims_greetings_off_the_edges(podcast):
    moments, notes = _validate(podcast, [{"first_sentence": 0, "last_sentence": 8}])
    (moment,) = moments
    assert moment.first_sentence == 3
    assert any("sentences 0-8" in n and "adjusted to sentences 3-" in n for n in notes)


def test_validate_grows_a_short_range_forward(podcast):
    qa = podcast.question_and_answer
    moments, notes = _validate(
        podcast, [{"first_sentence": qa.start, "last_sentence": qa.start + 2}]
    )
    (moment,) = moments
    assert moment.first_sentence == qa.start
    assert moment.duration >= 30
    assert moment.last_sentence > qa.start + 2
    assert any("adjusted to" in n for n in notes)


def test_validate_grows_backward_when_only_greetings_follow(podcast):
    # The last small-talk sentences are followed by the outro, so the clip must grow backward.
    last_talk = min(podcast.greetings - {0, 1, 2}) - 1
    moments, _ = _validate(podcast, [{"first_sentence": last_talk - 1, "last_sentence": last_talk}])
    (moment,) = moments
    assert moment.last_sentence == last_talk
    assert moment.first_sentence < last_talk - 1


def test_validate_drops_greeting_only_ranges(podcast):
    outro = sorted(podcast.greetings)[-3:]
    moments, notes = _validate(podcast, [{"first_sentence": outro[0], "last_sentence": outro[-1]}])
    assert moments == []
    assert "starts and ends outside greetings; dropped" in notes[0]


@pytest.mark.parametrize(
    ("given", "expected"), [(150, 100), (-5, 0), (72.6, 73), ("88", 88), ("91%", 91)]
)
def test_validate_clamps_scores(podcast, given, expected):
    qa = podcast.question_and_answer
    proposal = {"first_sentence": qa.start, "last_sentence": qa.stop - 2, "score": given}
    proposal["score_parts"] = {"hook": 250, "structure": -3, "value": "n/a"}
    (moment,), _ = _validate(podcast, [proposal])
    assert moment.score == expected
    assert moment.score_parts == {"hook": 100, "structure": 0}


def test_validate_fills_missing_fields(podcast):
    story = podcast.story
    (moment,), notes = _validate(
        podcast, [{"first_sentence": story.start, "last_sentence": story.stop - 1, "kind": "odd"}]
    )
    assert moment.kind == "story"
    assert moment.title.startswith("I remember the first time")
    assert moment.hook and moment.reason.startswith("story, ")
    assert moment.score == 50
    assert notes == ["proposal 1: filled missing kind, score, title, hook, reason"]


def test_validate_accepts_ids_as_strings_and_floats(podcast):
    qa = podcast.question_and_answer
    proposal = {"first_sentence": f"[{qa.start}]", "last_sentence": float(qa.stop - 2)}
    moments, _ = _validate(podcast, [proposal])
    assert [_span(m) for m in moments] == [(qa.start, qa.stop - 2)]


@pytest.mark.parametrize(
    "junk",
    ["not a clip", 42, None, ["first_sentence", 9], {"title": "no range"}, {"first_sentence": 9}],
)
def test_validate_drops_malformed_proposals(podcast, junk):
    moments, notes = _validate(podcast, [junk])
    assert moments == []
    assert len(notes) == 1 and notes[0].startswith("proposal 1: ")
    assert notes[0].endswith("dropped")


def test_validate_keeps_at_most_num_clips(podcast):
    qa, story = podcast.question_and_answer, podcast.story
    proposals = [
        {"first_sentence": qa.start, "last_sentence": qa.stop - 2, "score": 80},
        {"first_sentence": story.start, "last_sentence": story.stop - 1, "score": 90},
        {"first_sentence": 3, "last_sentence": 8, "score": 20},
    ]
    moments, notes = _validate(podcast, proposals, num_clips=2)
    assert [m.score for m in moments] == [90, 80]
    assert notes[-1].startswith("proposal 3: sentences 3-8")
    assert notes[-1].endswith("beyond num_clips=2; dropped")
