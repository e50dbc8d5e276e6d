"""Tests for pipeline.captions: line breaking, karaoke timing, the clip window, SRT, escaping,
and a real libass render through the imageio-ffmpeg binary."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import ImageFont

from pipeline.captions import (
    CaptionLine,
    CaptionStyle,
    ass_filter,
    build_lines,
    font_dir,
    to_ass,
    to_srt,
    write_captions,
)
from pipeline.errors import InvalidInput
from pipeline.transcribe import Word

STYLE = CaptionStyle()
FRAME_W, FRAME_H = STYLE.play_res
# Anton's head.unitsPerEm and OS/2 usWinAscent + usWinDescent: libass sizes a font so that
# Fontsize equals the win height, so this is the em in pixels per unit of Fontsize.
ANTON_EM_PER_FONTSIZE = 2048 / (2876 + 674)
GIANT = "pneumonoultramicroscopicsilicovolcanoconiosis"
DIALOGUE = re.compile(r"^Dialogue: 0,(\d+):(\d\d):(\d\d)\.(\d\d),(\d+):(\d\d):(\d\d)\.(\d\d),(.*)$")
# Short and long words, sentence ends, commas: every reason to break a line.
VOCAB = (
    *("so", "I", "think", "the", "real", "question", "is", "whether", "we", "can", "do", "it."),
    *("incomprehensibilities", "notwithstanding,", "nobody", "knows!", "really?", "yes"),
    *("extraordinarily", "counterintuitive", "stuff", "happens,", "and", "that's", "okay"),
)


def spoken(text: str, start: float = 0.0, step: float = 0.4, length: float = 0.3) -> list[Word]:
    """Words of `text`, one every `step` seconds, each `length` long."""
    return [
        Word(w, start + i * step, start + i * step + length) for i, w in enumerate(text.split())
    ]


def width_px(text: str, font_size: float) -> float:
    """Rendered width of `text` including the outline on both sides (independent of the module)."""
    font = ImageFont.truetype(
        str(font_dir() / "Anton-Regular.ttf"), font_size * ANTON_EM_PER_FONTSIZE
    )
    return font.getlength(text) + 2 * STYLE.outline


def display(line: CaptionLine) -> str:
    return " ".join(w.word.upper() for w in line.words)


def events(ass: str) -> list[tuple[int, int, str]]:
    """(start cs, end cs, text) of every Dialogue line."""
    out = []
    for row in ass.splitlines():
        if row.startswith("Dialogue:"):
            m = DIALOGUE.match(row)
            assert m, row
            h1, m1, s1, c1, h2, m2, s2, c2 = (int(g) for g in m.groups()[:8])
            text = m.group(9).split(",", 6)[6]  # after Style, Name, margins, Effect
            out.append(
                ((h1 * 3600 + m1 * 60 + s1) * 100 + c1, (h2 * 3600 + m2 * 60 + s2) * 100 + c2, text)
            )
    return out


def random_words(rng: random.Random) -> list[Word]:
    words = []
    t = rng.uniform(0, 5)
    for _ in range(rng.randint(1, 60)):
        length = rng.choice([0.0, rng.uniform(0.01, 0.9)])
        words.append(Word(rng.choice(VOCAB), round(t, 3), round(t + length, 3)))
        # Gaps from overlapping (negative) through bridgeable to line-breaking pauses.
        t += length + rng.choice([-0.05, 0.0, rng.uniform(0, 0.35), rng.uniform(0.5, 2.0)])
        t = max(t, words[-1].start)
    return words


# --- line breaking -----------------------------------------------------------------------


def test_at_most_five_words_per_line():
    lines = build_lines(spoken("a b c d e f g h i j k l"), 0, 60, STYLE)
    assert [len(line.words) for line in lines] == [5, 5, 2]


def test_sentence_end_breaks_line():
    lines = build_lines(spoken("we won. then we left"), 0, 60, STYLE)
    assert [display(line) for line in lines] == ["WE WON.", "THEN WE LEFT"]


def test_question_mark_with_quote_breaks_line():
    lines = build_lines(spoken('he said "why?" and left'), 0, 60, STYLE)
    assert [len(line.words) for line in lines] == [3, 2]


def test_long_pause_breaks_line():
    words = spoken("one two") + spoken("three four", start=0.7 + 0.8)
    lines = build_lines(words, 0, 60, STYLE)
    assert [display(line) for line in lines] == ["ONE TWO", "THREE FOUR"]


def test_short_pause_keeps_line():
    words = spoken("one two") + spoken("three four", start=0.7 + 0.5)
    assert len(build_lines(words, 0, 60, STYLE)) == 1


def test_width_breaks_line_before_five_words():
    lines = build_lines(spoken("incomprehensibilities incomprehensibilities"), 0, 60, STYLE)
    assert [len(line.words) for line in lines] == [1, 1]


def test_lines_never_exceed_frame_width():
    rng = random.Random(7)
    limit = FRAME_W - STYLE.margin_l - STYLE.margin_r
    for _ in range(50):
        for line in build_lines(random_words(rng), 0, 1000, STYLE):
            assert len(line.words) <= 5
            if len(line.words) > 1:
                assert width_px(display(line), STYLE.font_size) <= limit


def test_short_words_fill_five_per_line():
    """At Fontsize 140 Anton's em is ~81 px, so five short words fit (no needless breaks)."""
    lines = build_lines(spoken("I do not know why"), 0, 60, STYLE)
    assert len(lines) == 1


def test_giant_word_gets_smaller_font_that_fits():
    lines = build_lines(spoken(f"look {GIANT} here"), 0, 60, STYLE)
    assert [display(line) for line in lines] == ["LOOK", GIANT.upper(), "HERE"]
    texts = [text for _, _, text in events(to_ass(lines, STYLE))]
    m = re.match(r"\{\\fs(\d+)\}", texts[1])
    assert m, texts[1]
    size = int(m.group(1))
    limit = FRAME_W - STYLE.margin_l - STYLE.margin_r
    assert size < STYLE.font_size
    # Text plus outline plus shadow fits; one size up would not (not shrunk needlessly).
    assert width_px(GIANT.upper(), size) + STYLE.shadow <= limit
    assert width_px(GIANT.upper(), size + 1) + STYLE.shadow > limit
    assert "\\fs" not in texts[0] and "\\fs" not in texts[2]


def test_lowercase_style_measures_lowercase():
    style = CaptionStyle(uppercase=False)
    lines = build_lines(spoken("a b"), 0, 60, style)
    assert "{\\k40}a {\\k30}b" in to_ass(lines, style)


# --- karaoke timing ----------------------------------------------------------------------


def test_karaoke_sums_match_event_durations():
    rng = random.Random(20240611)
    for case in range(300):
        words = random_words(rng)
        clip_start = rng.uniform(0, 4)
        clip_end = clip_start + rng.uniform(0.5, 40)
        lines = build_lines(words, clip_start, clip_end, STYLE)
        parsed = events(to_ass(lines, STYLE))
        assert len(parsed) == len(lines)
        previous_end = 0
        for line, (start_cs, end_cs, text) in zip(lines, parsed, strict=True):
            ks = [int(k) for k in re.findall(r"\\k(\d+)", text)]
            assert len(ks) == len(line.words), (case, text)
            assert all(k >= 0 for k in ks), (case, text)
            assert sum(ks) == end_cs - start_cs, (case, line, text)
            # Both ends are rounded once, so the event is within 1 cs of the exact duration.
            assert abs((end_cs - start_cs) - (line.end - line.start) * 100) <= 1
            assert start_cs >= previous_end, (case, text)
            assert line.start <= line.end
            previous_end = end_cs


def test_karaoke_includes_gaps_and_rounds_cumulatively():
    words = [Word("a", 0.004, 0.333), Word("b", 0.335, 0.5), Word("c", 1.006, 1.2)]
    (line,) = build_lines(words, 0, 10, STYLE)
    ((start, end, text),) = events(to_ass([line], STYLE))
    assert (start, end) == (0, 120)
    # Boundaries 0.004, 0.335, 1.006, 1.2 → 0, 34, 101, 120 cs (per-word rounding: 33+67+19).
    assert re.findall(r"\\k(\d+)", text) == ["34", "67", "19"]


def test_line_held_over_small_gap_but_not_large():
    words = spoken("one.", length=0.3) + spoken("two.", start=0.5) + spoken("three", start=2.0)
    lines = build_lines(words, 0, 60, STYLE)
    assert [(line.start, line.end) for line in lines] == [(0.0, 0.5), (0.5, 0.8), (2.0, 2.3)]


def test_overlapping_words_never_overlap_lines():
    words = [Word("first.", 0.0, 1.0), Word("second", 0.8, 1.5)]
    first, second = build_lines(words, 0, 60, STYLE)
    assert first.end == second.start == 0.8


def test_ass_time_format_over_an_hour():
    line = CaptionLine(3725.456, 3725.9, (Word("late", 3725.456, 3725.9),))
    assert "Dialogue: 0,1:02:05.46,1:02:05.90,Caption,,0,0,0,,{\\k44}LATE" in to_ass([line], STYLE)


# --- the clip window ---------------------------------------------------------------------


def test_only_words_inside_window_clip_relative_and_clamped():
    words = [
        Word("before", 9.5, 10.4, 0.9),  # midpoint 9.95: outside
        Word("straddle", 9.8, 10.4, 0.8),  # midpoint 10.1: inside, start clamped to 0
        Word("middle", 15.0, 15.5, 0.7),
        Word("tail", 19.5, 20.3, 0.6),  # midpoint 19.9: inside, end clamped to 10
        Word("after", 19.8, 20.6, 0.5),  # midpoint 20.2: outside
    ]
    lines = build_lines(words, 10.0, 20.0, STYLE)
    got = [w for line in lines for w in line.words]
    assert [w.word for w in got] == ["straddle", "middle", "tail"]
    assert got[0].start == 0.0 and got[0].end == pytest.approx(0.4)
    assert (got[1].start, got[1].end) == pytest.approx((5.0, 5.5))
    assert got[2].start == pytest.approx(9.5) and got[2].end == 10.0
    assert [w.probability for w in got] == [0.8, 0.7, 0.6]
    assert all(0 <= line.start <= line.end <= 10.0 for line in lines)


def test_empty_window_yields_no_events():
    assert build_lines(spoken("hi there"), 30, 40, STYLE) == []
    assert events(to_ass([], STYLE)) == []
    assert to_srt([]) == ""


def test_inverted_window_rejected():
    with pytest.raises(InvalidInput):
        build_lines(spoken("hi"), 5, 5, STYLE)


def test_unsorted_words_are_ordered():
    words = [Word("two", 0.5, 0.7), Word("one", 0.0, 0.2)]
    (line,) = build_lines(words, 0, 10, STYLE)
    assert [w.word for w in line.words] == ["one", "two"]


# --- SRT ---------------------------------------------------------------------------------


def test_srt_round_trips_window_text():
    rng = random.Random(3)
    for _ in range(50):
        words = random_words(rng)
        clip_start, clip_end = 2.0, 25.0
        srt = to_srt(build_lines(words, clip_start, clip_end, STYLE))
        in_order = sorted(words, key=lambda w: w.start)
        expected = [w.word for w in in_order if clip_start <= (w.start + w.end) / 2 < clip_end]
        cues = [c for c in srt.split("\n\n") if c.strip()]
        texts = []
        for number, cue in enumerate(cues, start=1):
            index, timing, text = cue.strip("\n").split("\n")
            assert index == str(number)
            assert re.fullmatch(r"\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}", timing)
            texts.append(text)
        assert " ".join(texts) == " ".join(expected)


def test_srt_format_and_case():
    lines = build_lines(spoken("Hello there. General Kenobi", start=3723.0), 3600, 3800, STYLE)
    assert to_srt(lines) == (
        "1\n00:02:03,000 --> 00:02:03,800\nHello there.\n\n"
        "2\n00:02:03,800 --> 00:02:04,500\nGeneral Kenobi\n"
    )


# --- escaping ----------------------------------------------------------------------------


def test_braces_and_backslashes_are_literal():
    words = [Word("{\\b1}bold", 0, 0.5), Word("a\\nb", 0.5, 1.0), Word("x}", 1.0, 1.5)]
    ((_, _, text),) = events(to_ass(build_lines(words, 0, 10, STYLE), STYLE))
    tags = re.findall(r"(?<!\\)\{[^}]*\}", text)
    assert tags == ["{\\k50}", "{\\k50}", "{\\k50}"]  # the only override blocks are ours
    assert "\\{\\\u2060B1\\}BOLD" in text
    assert "A\\\u2060NB" in text  # upper-cased "\n" would otherwise be a hard line break
    assert "X\\}" in text


def test_newlines_are_stripped():
    words = [Word("hello\nworld", 0, 0.5), Word("\r\n", 0.5, 0.6), Word(" ok ", 0.6, 1.0)]
    lines = build_lines(words, 0, 10, STYLE)
    ass, srt = to_ass(lines, STYLE), to_srt(lines)
    assert "Caption,,0,0,0,,{\\k60}HELLO WORLD {\\k40}OK\n" in ass
    assert "\nhello world ok\n" in srt


def test_ass_filter_escapes_both_levels():
    got = ass_filter(Path("/a:b'c/x.ass"), Path("/f,o[n]t;s\\"))
    assert got == "ass=filename=/a\\\\:b\\\\\\'c/x.ass:fontsdir=/f\\,o\\[n\\]t\\;s\\\\\\\\"


# --- ASS header --------------------------------------------------------------------------


def test_ass_header():
    ass = to_ass([], STYLE)
    for row in (
        "[Script Info]",
        "ScriptType: v4.00+",
        "PlayResX: 1080",
        "PlayResY: 1920",
        "WrapStyle: 0",
        "ScaledBorderAndShadow: yes",
        "Style: Caption,Anton,140,&H0000FFFF,&H00FFFFFF,&H00000000,&H80000000,"
        "0,0,0,0,100,100,0,0,1,8,4,2,50,50,50,1",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ):
        assert row in ass.splitlines()
    style_format = next(r for r in ass.splitlines() if r.startswith("Format: Name"))
    assert len(style_format.split(",")) == 23


def test_font_dir_holds_anton():
    assert (font_dir() / "Anton-Regular.ttf").is_file()


# --- a real render -----------------------------------------------------------------------


def render_frame(ass_path: Path, fonts: Path, at: float) -> tuple[np.ndarray, str]:
    """Burn `ass_path` onto a gray 1080×1920 lavfi source; return the RGB frame at `at` s."""
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-hide_banner",
        "-loglevel",
        "verbose",
        "-f",
        "lavfi",
        "-i",
        f"color=c=gray:s={FRAME_W}x{FRAME_H}:d=2",
        "-ss",
        f"{at}",
        "-vf",
        ass_filter(ass_path, fonts),
        "-frames:v",
        "1",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "pipe:1",
    ]
    proc = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    stderr = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, stderr[-2000:]
    return np.frombuffer(proc.stdout, np.uint8).reshape(FRAME_H, FRAME_W, 3), stderr


def yellow(frame: np.ndarray) -> np.ndarray:
    r, g, b = (frame[..., i].astype(int) for i in range(3))
    return (r > 200) & (g > 200) & (b < 100)


def white(frame: np.ndarray) -> np.ndarray:
    return (frame > 220).all(axis=-1)


def ink(frame: np.ndarray) -> np.ndarray:
    """Pixels the captions changed (the background is flat gray)."""
    return (np.abs(frame.astype(int) - 128) > 24).any(axis=-1)


def assert_anton_selected(stderr: str) -> None:
    selected = [row for row in stderr.splitlines() if "fontselect:" in row]
    assert selected and all("Anton-Regular" in row for row in selected), selected


def test_render_highlights_spoken_words(tmp_path):
    words = spoken("hello brave new world", step=0.5, length=0.4)
    ass_path, srt_path = tmp_path / "clip.ass", tmp_path / "clip.srt"
    write_captions(words, 0.0, 2.0, ass_path, srt_path)
    frame, stderr = render_frame(ass_path, font_dir(), at=0.7)  # "brave" is being spoken
    assert_anton_selected(stderr)

    sung, unsung = yellow(frame), white(frame)
    assert not ink(frame)[: FRAME_H // 2].any(), "captions belong in the lower half"
    assert sung[FRAME_H * 3 // 4 :].sum() > 2000 and unsung[FRAME_H * 3 // 4 :].sum() > 2000
    # Karaoke fills left to right: HELLO BRAVE are yellow, NEW WORLD still white.
    assert np.nonzero(sung)[1].max() < np.nonzero(unsung)[1].min()
    rows, cols = np.nonzero(ink(frame))
    assert FRAME_H - STYLE.margin_v - 80 < rows.max() <= FRAME_H - STYLE.margin_v + 20
    assert abs((cols.min() + cols.max()) / 2 - FRAME_W / 2) < 15  # centred
    outline = (frame < 40).all(axis=-1)
    assert outline[FRAME_H * 3 // 4 :].sum() > 2000


def test_render_with_awkward_paths_and_giant_word(tmp_path):
    """Paths with `:`, `'`, `,`, `[`, `]`, `;` survive ass_filter; an over-long word stays
    inside the margins."""
    odd = tmp_path / "we:ird's,[dir];x"
    fonts = odd / "fo:nt's"
    fonts.mkdir(parents=True)
    shutil.copy(font_dir() / "Anton-Regular.ttf", fonts)
    ass_path = odd / "clip.ass"
    write_captions([Word(GIANT, 0.0, 2.0)], 0.0, 2.0, ass_path, odd / "clip.srt")
    assert "\\fs" in ass_path.read_text()

    frame, stderr = render_frame(ass_path, fonts, at=1.0)
    assert_anton_selected(stderr)
    assert yellow(frame).sum() > 2000
    cols = np.nonzero(ink(frame))[1]
    assert cols.min() >= STYLE.margin_l and cols.max() < FRAME_W - STYLE.margin_r
