"""Karaoke captions for a clip: words → caption lines → ASS (burned in by ffmpeg) and SRT.

The look follows the original app: Anton at 140 on the 1080×1920 canvas, white text with a black
outline and shadow, bottom centre, and each word filling yellow as it is spoken (ASS `\\k`
karaoke: SecondaryColour is the unsung colour, PrimaryColour the sung one). Text is upper-cased
by default, as in viral-shorts captions; the SRT keeps the transcript's own case because it is
read as text, not looked at.

Lines are broken here, not by libass, so that a line is one karaoke event and never leaves the
frame. Widths are measured with the real TTF through Pillow at the size libass actually uses:
libass treats `Fontsize` as the font's full height (OS/2 winAscent + winDescent), not its em
size, so Anton at `Fontsize` 140 has a 140 × 2048 / 3550 ≈ 81 px em. Measuring at 140 px em
would over-estimate every width by 1.7×.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import fontpkg_anton
from PIL import ImageFont

from pipeline.errors import InvalidInput
from pipeline.transcribe import Word

__all__ = [
    "CaptionLine",
    "CaptionStyle",
    "ass_filter",
    "build_lines",
    "font_dir",
    "to_ass",
    "to_srt",
    "write_captions",
]

logger = logging.getLogger("clipzz.pipeline")

# A word that ends a sentence closes its line, so a line never straddles two thoughts.
_SENTENCE_END = re.compile(r"[.?!…]+[\"')\]]*$")
# Placed after every literal backslash so libass cannot read `\N`, `\n`, `\h`, `\{` in a word
# as an escape; it has no width and renders as nothing.
_WORD_JOINER = "\u2060"


@dataclass(frozen=True)
class CaptionStyle:
    """How captions look and how words are grouped into lines.

    Attributes:
        font_name: family name libass looks up in the fonts folder given to the `ass` filter.
        font_file: the TTF that `font_name` resolves to, used to measure line widths; None is
            the bundled Anton-Regular.ttf (pip `fontpkg-anton`).
        font_size: ASS `Fontsize` in PlayRes pixels (libass: ascent + descent, not the em).
        play_res: ASS canvas; equal to the output size so sizes and outlines are in pixels.
        primary: colour of a word once it is spoken (`&HAABBGGRR`; yellow).
        secondary: colour of a word not yet spoken (white).
        outline_colour, back_colour: outline and shadow colours.
        outline, shadow: outline width and shadow offset in pixels.
        alignment: ASS numpad alignment; 2 is bottom centre.
        margin_l, margin_r, margin_v: margins in pixels; a line's width, outline and shadow
            included, stays within `play_res[0] - margin_l - margin_r`.
        max_words_per_line: most words one caption line shows.
        pause_break_s: a silence longer than this between two words starts a new line.
        bridge_gap_s: a line stays up until the next one starts when the silence between them
            is shorter than this, so captions do not flicker off and on.
        uppercase: show words upper-cased (viral-shorts look); the SRT keeps the original case.
    """

    font_name: str = "Anton"
    font_file: Path | None = None
    font_size: int = 140
    play_res: tuple[int, int] = (1080, 1920)
    primary: str = "&H0000FFFF"
    secondary: str = "&H00FFFFFF"
    outline_colour: str = "&H00000000"
    back_colour: str = "&H80000000"
    outline: float = 8
    shadow: float = 4
    alignment: int = 2
    margin_l: int = 50
    margin_r: int = 50
    margin_v: int = 50
    max_words_per_line: int = 5
    pause_break_s: float = 0.7
    bridge_gap_s: float = 0.3
    uppercase: bool = True


@dataclass(frozen=True)
class CaptionLine:
    """One caption line, shown as one karaoke event; times are clip-relative seconds."""

    start: float
    end: float
    words: tuple[Word, ...]


def font_dir(style: CaptionStyle | None = None) -> Path:
    """Folder holding the style's font file; ffmpeg's `ass` filter takes a folder, not a file."""
    return _font_file(style or CaptionStyle()).parent


def ass_filter(ass_path: Path, fonts_dir: Path) -> str:
    """An `ass` filter description escaped for an ffmpeg filtergraph (`-vf`, `-filter_complex`).

    ffmpeg unescapes twice: once when it splits the graph into filters (`[],;` are special)
    and once when it splits a filter's options (`:` is special); `\\` and `'` are special at
    both levels. Each path is escaped for the option level, then the whole description for
    the graph level, so paths with colons, quotes or commas reach libass unchanged.
    """
    options = f"filename={_escape(str(ass_path), ':')}:fontsdir={_escape(str(fonts_dir), ':')}"
    return _escape(f"ass={options}", "[],;")


def build_lines(
    words: Sequence[Word], clip_start: float, clip_end: float, style: CaptionStyle
) -> list[CaptionLine]:
    """Group the clip's words into caption lines with clip-relative times.

    A word belongs to the clip when its midpoint lies in [clip_start, clip_end); its times are
    shifted to the clip and clamped to [0, clip length]. A new line starts after
    `max_words_per_line` words, after a sentence end, at a pause longer than `pause_break_s`,
    and before a word that would make the line wider than the frame. A line starts at its
    first word and ends at its last word's end, held up to the next line's start when the gap
    is under `bridge_gap_s`, and never overlaps the next line.
    """
    if clip_end <= clip_start:
        raise InvalidInput(f"caption window is empty: {clip_start}..{clip_end}")
    clip_words = _clip_words(words, clip_start, clip_end)
    groups: list[list[Word]] = []
    for word in clip_words:
        line = groups[-1] if groups else None
        if line is None or _breaks_before(line, word, style):
            groups.append([word])
        else:
            line.append(word)

    lines: list[CaptionLine] = []
    for i, group in enumerate(groups):
        end = group[-1].end
        if i + 1 < len(groups):
            next_start = groups[i + 1][0].start
            if next_start - end < style.bridge_gap_s:
                end = next_start
        lines.append(CaptionLine(start=group[0].start, end=end, words=tuple(group)))
    logger.debug("captions: %d words in %d lines", len(clip_words), len(lines))
    return lines


def to_ass(lines: Sequence[CaptionLine], style: CaptionStyle) -> str:
    """Render lines as an ASS script: one Dialogue event per line, one `\\k` tag per word.

    Each word's `\\k` runs from its start to the next word's start (the last word's to the line
    end), so silences inside a line belong to the word before them. Boundaries are rounded to
    centiseconds once, on absolute times, and the `\\k` values are their differences: they
    sum exactly to the event's duration as written. A line wider than the frame, which
    `build_lines` only produces for a single over-long word, gets a smaller `\\fs` override.

    WrapStyle is 0 (smart wrap) rather than 2 (never wrap): lines are measured to fit, so libass
    does not wrap them, but if the font ever resolves to a wider fallback the text wraps
    instead of running off the frame.
    """
    width, height = style.play_res
    header = [
        "[Script Info]",
        "ScriptType: v4.00+",
        f"PlayResX: {width}",
        f"PlayResY: {height}",
        "WrapStyle: 0",
        "ScaledBorderAndShadow: yes",
        "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
        "BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
        "BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding",
        f"Style: Caption,{style.font_name},{style.font_size},{style.primary},{style.secondary},"
        f"{style.outline_colour},{style.back_colour},0,0,0,0,100,100,0,0,1,"
        f"{style.outline:g},{style.shadow:g},{style.alignment},"
        f"{style.margin_l},{style.margin_r},{style.margin_v},1",
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    events = [_dialogue(line, style) for line in lines]
    return "\n".join(header + events) + "\n"


def to_srt(lines: Sequence[CaptionLine]) -> str:
    """Render lines as SRT cues, one per line, plain text in the transcript's own case."""
    cues = [
        f"{i}\n{_srt_time(line.start)} --> {_srt_time(line.end)}\n"
        f"{' '.join(w.word for w in line.words)}\n"
        for i, line in enumerate(lines, start=1)
    ]
    return "\n".join(cues)


def write_captions(
    words: Sequence[Word],
    clip_start: float,
    clip_end: float,
    ass_path: Path,
    srt_path: Path,
    style: CaptionStyle | None = None,
) -> list[CaptionLine]:
    """Write the clip's ASS and SRT files and return the caption lines they hold."""
    style = style or CaptionStyle()
    lines = build_lines(words, clip_start, clip_end, style)
    ass_path.write_text(to_ass(lines, style), encoding="utf-8")
    srt_path.write_text(to_srt(lines), encoding="utf-8")
    return lines


def _clip_words(words: Sequence[Word], clip_start: float, clip_end: float) -> list[Word]:
    """The window's words, clip-relative, clamped, with clean text, ordered by start."""
    length = clip_end - clip_start
    inside = []
    for w in words:
        text = " ".join(w.word.split())  # also strips newlines, which would split an event
        if text and clip_start <= (w.start + w.end) / 2 < clip_end:
            start = min(max(w.start - clip_start, 0.0), length)
            end = min(max(w.end - clip_start, start), length)
            inside.append(Word(text, start, end, w.probability))
    return sorted(inside, key=lambda w: w.start)


def _breaks_before(line: list[Word], word: Word, style: CaptionStyle) -> bool:
    last = line[-1]
    if len(line) >= style.max_words_per_line or _SENTENCE_END.search(last.word):
        return True
    if word.start - last.end > style.pause_break_s:
        return True
    text = _display_text([*line, word], style)
    return _text_width(text, style.font_size, style) > _max_text_width(style)


def _dialogue(line: CaptionLine, style: CaptionStyle) -> str:
    start_cs = _centiseconds(line.start)
    end_cs = _centiseconds(line.end)
    bounds = [start_cs]
    bounds += [_centiseconds(w.start) for w in line.words[1:]]
    bounds.append(end_cs)
    parts = []
    for i, word in enumerate(line.words):
        duration = bounds[i + 1] - bounds[i]
        parts.append(f"{{\\k{duration}}}{_escape_text(_display_word(word, style))}")
    text = " ".join(parts)
    size = _fitting_font_size(_display_text(line.words, style), style)
    if size != style.font_size:
        text = f"{{\\fs{size}}}{text}"
    return f"Dialogue: 0,{_ass_time(start_cs)},{_ass_time(end_cs)},Caption,,0,0,0,,{text}"


def _fitting_font_size(text: str, style: CaptionStyle) -> int:
    """The style's font size, or the largest smaller one at which `text` fits the frame."""
    limit = _max_text_width(style)
    width = _text_width(text, style.font_size, style)
    if width <= limit:
        return style.font_size
    size = max(1, math.floor(style.font_size * limit / width))
    while size > 1 and _text_width(text, size, style) > limit:
        size -= 1
    return size


def _max_text_width(style: CaptionStyle) -> float:
    """Room for glyphs: the frame between the margins, less the outline on both sides and the
    shadow, which libass draws beyond the glyphs."""
    return style.play_res[0] - style.margin_l - style.margin_r - 2 * style.outline - style.shadow


def _display_word(word: Word, style: CaptionStyle) -> str:
    return word.word.upper() if style.uppercase else word.word


def _display_text(words: Sequence[Word], style: CaptionStyle) -> str:
    return " ".join(_display_word(w, style) for w in words)


def _text_width(text: str, font_size: float, style: CaptionStyle) -> float:
    font_file = _font_file(style)
    return _measuring_font(font_file, font_size * _libass_em_ratio(font_file)).getlength(text)


def _font_file(style: CaptionStyle) -> Path:
    return style.font_file or Path(fontpkg_anton.ROOT) / "files" / "Anton-Regular.ttf"


@functools.lru_cache(maxsize=32)
def _measuring_font(font_file: Path, em_px: float) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_file), em_px)


@functools.lru_cache(maxsize=8)
def _libass_em_ratio(font_file: Path) -> float:
    """Em size per unit of ASS `Fontsize` for this font, as libass computes it.

    libass requests the size as FreeType "real dimensions" after replacing the face's ascender
    and descender with OS/2 usWinAscent/usWinDescent (GDI's rule, which VSFilter follows), so
    `Fontsize` is the win ascent + descent height. Fonts without usable OS/2 values fall back
    to the hhea ascender/descender, as FreeType does.
    """
    data = font_file.read_bytes()
    tables = {}
    (count,) = struct.unpack_from(">H", data, 4)
    for i in range(count):
        tag, _checksum, offset, _length = struct.unpack_from(">4sIII", data, 12 + 16 * i)
        tables[tag] = offset
    (units_per_em,) = struct.unpack_from(">H", data, tables[b"head"] + 18)
    height = 0
    if b"OS/2" in tables:
        win_ascent, win_descent = struct.unpack_from(">hh", data, tables[b"OS/2"] + 74)
        height = win_ascent + win_descent
    if height <= 0:
        ascender, descender = struct.unpack_from(">hh", data, tables[b"hhea"] + 4)
        height = ascender - descender
    return units_per_em / height


def _escape_text(text: str) -> str:
    """Make a word literal ASS text: braces would open override blocks, backslashes escapes."""
    text = text.replace("\\", "\\" + _WORD_JOINER)
    return text.replace("{", "\\{").replace("}", "\\}")


def _escape(value: str, specials: str) -> str:
    value = value.replace("\\", "\\\\")
    for char in "'" + specials:
        value = value.replace(char, "\\" + char)
    return value


def _centiseconds(seconds: float) -> int:
    """Round half up, so equal times always round alike."""
    return math.floor(seconds * 100 + 0.5)


def _ass_time(cs: int) -> str:
    hours, rest = divmod(cs, 360_000)
    minutes, rest = divmod(rest, 6_000)
    secs, cs = divmod(rest, 100)
    return f"{hours}:{minutes:02d}:{secs:02d}.{cs:02d}"


def _srt_time(seconds: float) -> str:
    ms = math.floor(seconds * 1000 + 0.5)
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{ms:03d}"
