"""Reframing a 16:9 moment to 9:16: who is framed on every frame, and where the window sits.

Speaker choice is a Viterbi pass per shot over "which face track is framed", rewarding the
track LR-ASD finds most likely to be speaking and charging a fixed cost for every switch. The
whole clip is known in advance, so the choice is non-causal: it does not lag a turn change the
way a trailing average does (the original averaged 60 frames, ~1.2 s behind). Shots shorter
than `min_hold_s` are then merged into a neighbour, so the camera never ping-pongs.

Camera path inside a shot on one speaker: hold still while the face stays inside a dead-band,
otherwise pan towards it at a capped speed; hard cut on a speaker change and at a scene cut
(never a pan across a cut). The window never leaves the frame and always contains the face.
Frames without faces, and shots where several faces are seen but nobody is clearly speaking,
are letterboxed over a blurred copy of the frame. An optional split layout stacks both
speakers when turns come faster than a single crop can follow calmly.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from pipeline.tracks import FPS, FaceScan, Track

__all__ = [
    "FrameWindow",
    "ReframeOptions",
    "ReframePlan",
    "SpeakerChoice",
    "choose_speakers",
    "crop_size",
    "plan_from_json",
    "plan_reframe",
    "speech_frames",
]

OUTPUT_ASPECT = 9 / 16
PANE_ASPECT = 1080 / 960  # each half of the split layout
LETTERBOX = -1  # "no track framed" in per-frame choices


@dataclass(frozen=True)
class ReframeOptions:
    """How the virtual camera behaves.

    Attributes:
        smooth_s: centred moving-average width applied to speaker scores.
        temperature: softmax temperature on normalised scores; lower trusts small differences more.
        min_scale: scores are divided by their spread over the clip, but never by less than
            this, so a clip where nobody speaks does not blow noise up into "clear" turns.
        switch_penalty: cost of a speaker switch, in nats of evidence; ~12 needs about a quarter
            of a second of clearly better scores, which rejects blips but follows real turns.
        min_hold_s: every framing lasts at least this long unless the face leaves the picture.
        clear_speaker: in a shot with several faces, the framed face must average at least this
            probability of being the speaker; otherwise the shot is letterboxed.
        dead_band: share of the source width the face may drift before the camera moves.
        pan_speed: top camera speed, in source widths per second.
        split: allow the two-speaker split layout.
        split_turns, split_window_s: use it where this many switches fall within this window.
    """

    smooth_s: float = 0.4
    temperature: float = 0.5
    min_scale: float = 0.5
    switch_penalty: float = 12.0
    min_hold_s: float = 1.0
    clear_speaker: float = 0.55
    dead_band: float = 0.04
    pan_speed: float = 0.15
    split: bool = False
    split_turns: int = 3
    split_window_s: float = 6.0


@dataclass(frozen=True)
class FrameWindow:
    """The source-pixel window shown at clip time `t`; `panes` holds the split layout's halves
    as (x, y, w, h, track), top first."""

    t: float
    x: int
    y: int
    w: int
    h: int
    layout: str  # "crop" | "letterbox" | "split"
    track: int | None
    panes: tuple[tuple[int, int, int, int, int], ...] = ()


@dataclass(frozen=True)
class ReframePlan:
    fps: float
    source_size: tuple[int, int]
    frames: list[FrameWindow]
    method: str
    shot_cuts: list[int] = field(default_factory=list)

    def to_json(self) -> dict:
        frames = []
        for f in self.frames:
            item = {
                "t": round(f.t, 3),
                "x": f.x,
                "y": f.y,
                "w": f.w,
                "h": f.h,
                "layout": f.layout,
                "track": f.track,
            }
            if f.panes:
                item["panes"] = [list(p) for p in f.panes]
            frames.append(item)
        return {
            "fps": self.fps,
            "source_size": list(self.source_size),
            "method": self.method,
            "shot_cuts": self.shot_cuts,
            "frames": frames,
        }


def plan_from_json(data: dict) -> ReframePlan:
    """Rebuild a plan written by `ReframePlan.to_json` (used by the stage cache)."""
    frames = [
        FrameWindow(
            f["t"],
            f["x"],
            f["y"],
            f["w"],
            f["h"],
            f["layout"],
            f["track"],
            tuple(tuple(p) for p in f.get("panes", ())),
        )
        for f in data["frames"]
    ]
    return ReframePlan(
        fps=data["fps"],
        source_size=tuple(data["source_size"]),
        frames=frames,
        method=data["method"],
        shot_cuts=list(data.get("shot_cuts", [])),
    )


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def crop_size(width: int, height: int, aspect: float = OUTPUT_ASPECT) -> tuple[int, int]:
    """The largest window of `aspect` (even sides, as x264 needs) inside width×height."""
    if width / height > aspect:
        return _even(height * aspect), _even(height)
    return _even(width), _even(width / aspect)


# --- speaker choice -------------------------------------------------------------------------


def _moving_average(values: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return values
    kernel = np.ones(width) / width
    padded = np.pad(values, (width // 2, width - 1 - width // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid")


def _log_probs(
    scores: Mapping[int, np.ndarray],
    shot: tuple[int, int],
    tracks: list[Track],
    options: ReframeOptions,
    scale: float,
) -> np.ndarray:
    """(frames, tracks) log-probability that each visible track is the speaker; -inf if unseen."""
    a, b = shot
    logits = np.full((b - a, len(tracks)), -np.inf)
    width = max(1, round(options.smooth_s * FPS))
    for k, track in enumerate(tracks):
        lo, hi = max(a, track.first), min(b, track.last + 1)
        if lo >= hi:
            continue
        raw = scores.get(track.id)
        if raw is None:
            values = np.zeros(hi - lo)
        else:
            values = np.nan_to_num(raw[lo - track.first : hi - track.first], nan=0.0)
            values = _moving_average(values, width)
        logits[lo - a : hi - a, k] = values / (scale * options.temperature)
    finite = np.isfinite(logits)
    top = np.where(finite, logits, -np.inf).max(axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    exp = np.where(finite, np.exp(logits - top), 0.0)
    total = exp.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        return np.where(total > 0, np.log(exp / np.where(total > 0, total, 1)), -np.inf)


def _viterbi(log_probs: np.ndarray, penalty: float) -> np.ndarray:
    """Best state per frame with a fixed switch cost; frames with no finite state get -1."""
    n, k = log_probs.shape
    choice = np.full(n, LETTERBOX)
    if n == 0 or k == 0:
        return choice
    best = log_probs[0].copy()
    back = np.zeros((n, k), dtype=np.int64)
    for i in range(1, n):
        leader = int(np.argmax(best))
        stay = best
        switch = best[leader] - penalty
        take_switch = switch > stay
        back[i] = np.where(take_switch, leader, np.arange(k))
        best = np.where(take_switch, switch, stay) + log_probs[i]
        if not np.isfinite(best).any():
            # Nobody visible: restart the path from here.
            best = np.zeros(k)
    state = int(np.argmax(best))
    for i in range(n - 1, -1, -1):
        choice[i] = state if np.isfinite(log_probs[i, state]) else LETTERBOX
        state = int(back[i, state])
    return choice


def _runs(values: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, end, value) of runs of equal values, end exclusive."""
    runs = []
    start = 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start]:
            runs.append((start, i, int(values[start])))
            start = i
    return runs


def _hold(choice: np.ndarray, visible: np.ndarray, min_frames: int) -> np.ndarray:
    """Merge framings shorter than `min_frames` into a neighbour that stays visible."""
    out = choice.copy()
    changed = True
    while changed:
        changed = False
        runs = _runs(out)
        for i, (a, b, _value) in enumerate(runs):
            if b - a >= min_frames or len(runs) == 1:
                continue
            for j in (i - 1, i + 1):
                if 0 <= j < len(runs):
                    other = runs[j][2]
                    if other == LETTERBOX or visible[a:b, other].all():
                        out[a:b] = other
                        changed = True
                        break
            if changed:
                break
    return out


@dataclass(frozen=True)
class SpeakerChoice:
    """Who is framed on each frame (-1: letterbox), and whose score leads (-1: nobody, or
    silence with several faces on screen)."""

    framed: np.ndarray
    leader: np.ndarray


def speech_frames(audio: np.ndarray, frames: int, *, rate: int = 16_000) -> np.ndarray:
    """True for 25 fps frames with speech-level sound: RMS above a tenth of the loud frames'."""
    hop = rate // FPS
    usable = min(len(audio) // hop, frames)
    rms = (
        np.sqrt(np.mean(audio[: usable * hop].reshape(usable, hop) ** 2, axis=1)) if usable else []
    )
    loud = np.percentile(rms, 95) if len(rms) else 0.0
    speech = np.zeros(frames, dtype=bool)
    speech[:usable] = np.asarray(rms) > max(0.1 * loud, 1e-4)
    # Close the gaps between syllables (< 0.2 s) so a word is not read as silence.
    gap = 0
    for i in range(frames):
        if speech[i]:
            if 0 < gap <= 5 and i - gap - 1 >= 0 and speech[i - gap - 1]:
                speech[i - gap : i] = True
            gap = 0
        else:
            gap += 1
    return speech


def _cut_on_voice(states: np.ndarray, quiet: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """Move a switch that falls in a silence to where the next voice starts.

    Silence carries no evidence, so the Viterbi pass is indifferent to where in a pause it
    switches; an editor cuts when the new speaker starts, and so do we.
    """
    out = states.copy()
    for i in range(1, len(out)):
        if out[i] == out[i - 1] or not quiet[i]:
            continue
        end = i
        while end < len(out) and quiet[end]:
            end += 1
        old = out[i - 1]
        if old != LETTERBOX and visible[i:end, old].all():
            out[i:end] = old
    return out


def choose_speakers(
    scan: FaceScan,
    scores: Mapping[int, np.ndarray],
    options: ReframeOptions | None = None,
    speech: np.ndarray | None = None,
) -> SpeakerChoice:
    """The track framed on every frame of the scan, from speaking scores per track.

    Silence between turns carries no evidence: the scores of a speaker who just stopped fade
    slowly, so during silence the framing simply holds (it switches when the next voice starts).
    """
    options = options or ReframeOptions()
    fps = float(FPS)
    framed = np.full(scan.frames, LETTERBOX)
    leader = np.full(scan.frames, LETTERBOX)
    values = [np.nan_to_num(s) for s in scores.values() if len(s)]
    pooled = np.concatenate(values) if values else np.zeros(1)
    scale = max(float(np.std(pooled)), options.min_scale)
    for shot in scan.shots():
        a, b = shot
        tracks = [t for t in scan.tracks if t.first < b and t.last >= a]
        if not tracks:
            continue
        ids = np.array([t.id for t in tracks])
        log_probs = _log_probs(scores, shot, tracks, options, scale)
        visible = np.isfinite(log_probs)
        multi = visible.sum(axis=1) > 1
        speaking = np.ones(b - a, dtype=bool) if speech is None else speech[a:b]
        best = np.argmax(np.where(visible, log_probs, -np.inf), axis=1)
        leading = visible.any(axis=1) & (speaking | ~multi)
        leader[a:b] = np.where(leading, ids[best], LETTERBOX)
        quiet = multi & ~speaking
        if quiet.any():
            uniform = -np.log(visible[quiet].sum(axis=1, keepdims=True))
            log_probs[quiet] = np.where(visible[quiet], uniform, -np.inf)
        states = _viterbi(log_probs, options.switch_penalty)
        states = _cut_on_voice(states, quiet, visible)
        states = _hold(states, visible, round(options.min_hold_s * fps))
        judged = multi & speaking
        if judged.any():
            picked = states[judged]
            ok = picked != LETTERBOX
            probs = np.exp(log_probs[judged][ok, picked[ok]]) if ok.any() else []
            if len(probs) == 0 or float(np.mean(probs)) < options.clear_speaker:
                states[:] = LETTERBOX  # a wide shot with nobody clearly speaking
        elif multi.all():
            states[:] = LETTERBOX  # several faces and no speech at all
        framed[a:b] = np.where(states == LETTERBOX, LETTERBOX, ids[np.maximum(states, 0)])
    return SpeakerChoice(framed=framed, leader=leader)


# --- camera path ----------------------------------------------------------------------------


def _pan(targets: np.ndarray, dead_band: float, max_step: float) -> np.ndarray:
    """Hold while the target stays within the dead-band, else move towards it at capped speed."""
    position = float(np.median(targets[: max(1, min(len(targets), 12))]))
    path = np.empty(len(targets))
    for i, target in enumerate(targets):
        error = target - position
        if abs(error) > dead_band:
            position += np.sign(error) * min(abs(error) - dead_band / 2, max_step)
        path[i] = position
    return path


def _crop_windows(
    track: Track, a: int, b: int, size: tuple[int, int], options: ReframeOptions
) -> list[tuple[int, int, int, int]]:
    width, height = size
    cw, ch = crop_size(width, height)
    boxes = track.boxes[a - track.first : b - track.first]
    cx = boxes[:, 0] + boxes[:, 2] / 2
    cy = boxes[:, 1] + boxes[:, 3] / 2
    xs = _pan(cx, options.dead_band * width, options.pan_speed * width / FPS)
    ys = _pan(cy, options.dead_band * height, options.pan_speed * height / FPS)
    windows = []
    for (bx, _by, bw, _bh), px, py in zip(boxes, xs, ys, strict=True):
        x = px - cw / 2
        # Keep the whole face in the window whatever the path did.
        x = min(max(x, bx + bw - cw), bx)
        x = int(np.rint(np.clip(x, 0, width - cw)))
        # Eyes in the upper third; only matters when the window is shorter than the frame.
        y = int(np.rint(np.clip(py - ch / 3, 0, height - ch)))
        windows.append((x, y, cw, ch))
    return windows


def _pane(track: Track, a: int, b: int, size: tuple[int, int]) -> tuple[int, int, int, int, int]:
    width, height = size
    box = np.median(track.boxes[a - track.first : b - track.first], axis=0)
    ph = min(height, _even(box[3] * 2.6))
    pw = min(width, _even(ph * PANE_ASPECT))
    ph = min(ph, _even(pw / PANE_ASPECT))
    x = int(np.clip(box[0] + box[2] / 2 - pw / 2, 0, width - pw))
    y = int(np.clip(box[1] + box[3] * 0.4 - ph * 0.4, 0, height - ph))
    return (x, y, pw, ph, track.id)


def _turns(leader: np.ndarray, a: int, b: int, min_run: int) -> list[int]:
    """Frames where the leading voice changes to another face, ignoring runs shorter than
    `min_run` and silences (so "A, pause, A" is no turn)."""
    turns, current = [], LETTERBOX
    start = a
    for i in range(a + 1, b + 1):
        if i == b or leader[i] != leader[start]:
            value = int(leader[start])
            if value != LETTERBOX and i - start >= min_run:
                if current not in (LETTERBOX, value):
                    turns.append(start)
                current = value
            start = i
    return turns


def _split_spans(
    scan: FaceScan, leader: np.ndarray, options: ReframeOptions
) -> list[tuple[int, int, Track, Track]]:
    """Spans where the voice changes faces fast and exactly two faces are seen throughout.

    Decided from the score leader before any smoothing of the camera, because the camera's
    own hold time merges exactly the quick turns that call for a split.
    """
    fps = float(FPS)
    window = round(options.split_window_s * fps)
    spans: list[tuple[int, int, Track, Track]] = []
    for a, b in scan.shots():
        turns = _turns(leader, a, b, round(0.3 * fps))
        busy = [
            i for i in turns if sum(1 for j in turns if i <= j < i + window) >= options.split_turns
        ]
        if not busy:
            continue
        lo = max(a, busy[0] - round(fps))
        hi = min(b, max(j for j in turns if j < busy[-1] + window) + round(fps))
        pair = [t for t in scan.tracks if t.first <= lo and t.last >= hi - 1]
        if len(pair) == 2:
            left, right = sorted(pair, key=lambda t: float(t.boxes[:, 0].mean()))
            spans.append((lo, hi, left, right))
    return spans


def plan_reframe(
    scan: FaceScan,
    scores: Mapping[int, np.ndarray],
    options: ReframeOptions | None = None,
    *,
    scorer: str = "",
    speech: np.ndarray | None = None,
) -> ReframePlan:
    """The reframe plan of a scanned clip, given per-track speaking scores (25 fps) and,
    optionally, which frames have speech (see `speech_frames`)."""
    options = options or ReframeOptions()
    fps = float(FPS)
    width, height = scan.source_size
    if speech is not None and len(speech) != scan.frames:
        speech = np.resize(np.append(speech, True), scan.frames) if len(speech) else None
    choice = choose_speakers(scan, scores, options, speech)
    chosen = choice.framed
    split_at = np.zeros(scan.frames, dtype=bool)
    frames: list[FrameWindow | None] = [None] * scan.frames
    if options.split:
        for lo, hi, left, right in _split_spans(scan, choice.leader, options):
            panes = (_pane(left, lo, hi, scan.source_size), _pane(right, lo, hi, scan.source_size))
            x0 = min(p[0] for p in panes)
            y0 = min(p[1] for p in panes)
            x1 = max(p[0] + p[2] for p in panes)
            y1 = max(p[1] + p[3] for p in panes)
            for i in range(lo, hi):
                frames[i] = FrameWindow(i / fps, x0, y0, x1 - x0, y1 - y0, "split", None, panes)
            split_at[lo:hi] = True
    tracks = {t.id: t for t in scan.tracks}
    cuts = set(scan.cuts)
    edges = sorted({0, scan.frames, *cuts, *np.flatnonzero(np.diff(chosen) != 0) + 1})
    for a, b in itertools.pairwise(edges):
        track_id = int(chosen[a])
        if track_id == LETTERBOX:
            for i in range(a, b):
                if frames[i] is None:
                    frames[i] = FrameWindow(i / fps, 0, 0, width, height, "letterbox", None)
            continue
        windows = _crop_windows(tracks[track_id], a, b, scan.source_size, options)
        for i, (x, y, w, h) in zip(range(a, b), windows, strict=True):
            if frames[i] is None:
                frames[i] = FrameWindow(i / fps, x, y, w, h, "crop", track_id)
    layouts = {f.layout for f in frames if f is not None}
    method = f"active speaker ({scorer or 'scores'}; layouts: {', '.join(sorted(layouts))})"
    return ReframePlan(
        fps=fps,
        source_size=scan.source_size,
        frames=[f for f in frames if f is not None],
        method=method,
        shot_cuts=sorted(cuts),
    )
