from __future__ import annotations

from pipeline.transcribe import Word, build_sentences


def _words(
    text: str, start: float = 0.0, step: float = 0.4, gap_after: dict[int, float] | None = None
) -> list[Word]:
    words, t = [], start
    for i, token in enumerate(text.split()):
        words.append(Word(token, round(t, 3), round(t + step * 0.8, 3)))
        t += step + (gap_after or {}).get(i, 0.0)
    return words


def test_sentences_split_at_terminal_punctuation() -> None:
    words = _words("Hello there. How are you? I am fine! Good")
    sentences = build_sentences(words)
    assert [s.text for s in sentences] == ["Hello there.", "How are you?", "I am fine!", "Good"]
    assert [(s.first_word, s.last_word) for s in sentences] == [(0, 1), (2, 4), (5, 7), (8, 8)]
    assert sentences[1].start == words[2].start and sentences[1].end == words[4].end
    assert [s.id for s in sentences] == [0, 1, 2, 3]


def test_sentences_split_at_long_pause_without_punctuation() -> None:
    words = _words("so we built it then we shipped it", gap_after={3: 2.0})
    assert [s.text for s in build_sentences(words)] == ["so we built it", "then we shipped it"]


def test_sentences_cover_every_word_once() -> None:
    words = _words(" ".join(f"word{i}" for i in range(150)))
    sentences = build_sentences(words)
    covered = [i for s in sentences for i in range(s.first_word, s.last_word + 1)]
    assert covered == list(range(150))
    assert max(s.last_word - s.first_word + 1 for s in sentences) <= 60


def test_no_words_no_sentences() -> None:
    assert build_sentences([]) == []
