"""Transcripts built in code: exact word times, no audio, no model."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.moments import Moment, MomentOptions
from pipeline.transcribe import Transcript, Word, build_sentences

__all__ = ["GAP_S", "SamplePodcast", "assert_follows_rules", "make_transcript", "sample_podcast"]

# Pause between consecutive sentences when a spec gives no start time.
GAP_S = 0.3


def make_transcript(
    spec: Sequence[tuple[str, float | None, float]], *, language: str = "en"
) -> Transcript:
    """Build a Transcript from `(sentence text, start, seconds per word)` triples.

    Words are evenly spaced from `start`; a start of None continues `GAP_S` after the previous
    sentence. Each text should end with terminal punctuation so `build_sentences` splits the
    words back into exactly these sentences.
    """
    words: list[Word] = []
    cursor = 0.0
    for text, start, seconds_per_word in spec:
        t = cursor + (GAP_S if words else 0.0) if start is None else start
        for token in text.split():
            words.append(Word(token, round(t, 3), round(t + seconds_per_word * 0.9, 3)))
            t += seconds_per_word
        cursor = words[-1].end
    return Transcript(
        language=language,
        duration=cursor + 1.0 if words else 0.0,
        words=words,
        sentences=build_sentences(words),
        model="test",
    )


# A small podcast: greetings, slow small talk, one question with its answer, more small talk,
# one story, small talk again, and an outro. Speech runs at about 2.8 words/s; the small talk
# is slower (1.6 words/s), as idle chatter is.
INTRO = [
    "Hey everyone, welcome back to the show.",
    "My guest today is a founder who left banking to build robots.",
    "Thanks for having me, it is great to be here.",
]
SMALL_TALK = [
    "We recorded this on a rainy afternoon in the city.",
    "The coffee here is honestly not that good today.",
    "There is a lot of noise from the street outside.",
    "Our producer is waving at us from the other room.",
    "The microphones were moved around a bit this morning.",
    "Some listeners wrote in about the audio last week.",
]
QUESTION_AND_ANSWER = [
    "What made you quit your job at the bank to start a robotics company?",
    "Honestly it was a slow realisation that built up over several years of work.",
    "I spent my days moving money between spreadsheets and felt nothing at all.",
    "Meanwhile my weekends were full of motors, sensors and broken prototypes.",
    "A friend showed one of those prototypes to a warehouse manager she knew.",
    "He asked if we could build twenty of them before the holiday season.",
    "That single order paid for the first factory lease and two engineers.",
    "I resigned the following Monday and never looked back at the bank.",
    "The lesson is that customers will tell you when a hobby is a business.",
    "You just have to put the thing in front of them early enough.",
]
STORY = [
    "I remember the first time a robot of ours failed in front of a customer.",
    "It was years ago in a freezing warehouse outside Chicago in January.",
    "The machine rolled forward, stopped, and then spun in slow circles.",
    "Everyone in the room went completely silent for about ten seconds.",
    "Then the warehouse manager started laughing so hard he had to sit down.",
    "He said it was the most honest demo anyone had ever given him.",
    "We fixed the cold battery problem in the van on the way home.",
    "He signed the contract a week later and is still our biggest customer.",
    "Failure in public taught us more than any success we had that year.",
]
OUTRO = [
    "That's all for today, thanks for listening.",
    "Please subscribe and leave a review if you enjoyed it.",
    "See you next time, goodbye.",
]
SPEECH_S_PER_WORD = 0.33
SMALL_TALK_S_PER_WORD = 0.6


@dataclass(frozen=True)
class SamplePodcast:
    """The sample transcript and where its parts are (sentence ids)."""

    transcript: Transcript
    greetings: frozenset[int]
    question_and_answer: range
    story: range


def sample_podcast() -> SamplePodcast:
    parts = [
        (INTRO, SPEECH_S_PER_WORD),
        (SMALL_TALK, SMALL_TALK_S_PER_WORD),
        (QUESTION_AND_ANSWER, SPEECH_S_PER_WORD),
        (SMALL_TALK, SMALL_TALK_S_PER_WORD),
        (STORY, SPEECH_S_PER_WORD),
        (SMALL_TALK, SMALL_TALK_S_PER_WORD),
        (OUTRO, SPEECH_S_PER_WORD),
    ]
    spec = [(text, None, pace) for lines, pace in parts for text in lines]
    ranges, first = [], 0
    for lines, _ in parts:
        ranges.append(range(first, first + len(lines)))
        first += len(lines)
    transcript = make_transcript(spec)
    assert len(transcript.sentences) == len(spec), "each line must stay one sentence"
    return SamplePodcast(
        transcript=transcript,
        greetings=frozenset([*ranges[0], *ranges[-1]]),
        question_and_answer=ranges[2],
        story=ranges[4],
    )


def assert_follows_rules(
    moments: Sequence[Moment],
    transcript: Transcript,
    options: MomentOptions,
    greetings: frozenset[int] = frozenset(),
) -> None:
    """The invariants every selection keeps, whichever selector made it.

    `greetings` are sentence ids no clip may start or end on.
    """
    assert len(moments) <= options.num_clips
    sentences = transcript.sentences
    for m in moments:
        assert m.first_sentence not in greetings, f"starts on a greeting: {m}"
        assert m.last_sentence not in greetings, f"ends on a greeting: {m}"
        assert options.min_seconds <= m.duration <= options.max_seconds, m
        assert m.start == sentences[m.first_sentence].start
        assert m.end == sentences[m.last_sentence].end
        assert 0 <= m.score <= 100
        assert all(0 <= v <= 100 for v in m.score_parts.values()), m.score_parts
        assert m.kind in ("qa", "story", "other")
        assert m.title and len(m.title) <= 60
        assert m.hook and len(m.hook) <= 120
        assert m.reason
    spans = sorted((m.first_sentence, m.last_sentence) for m in moments)
    for (_, last), (first, _) in itertools.pairwise(spans):
        assert last < first, f"overlapping clips: {spans}"
    assert [m.score for m in moments] == sorted((m.score for m in moments), reverse=True)
