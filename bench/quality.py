"""How well the 9:16 crop follows the active speaker, on synthetic podcasts with known turns.

A benchmark, not a test: it prints numbers and writes them to ``bench/results/quality.json``.

What it measures
----------------
Each scenario is a generated two-person video with known speaker turns and known face boxes.
The harness runs faces → speakers → reframe through ``pipeline.follow.follow_speaker`` (LR-ASD
from ``CLIPZZ_MODEL_DIR``, default ``../shared/assets``) and scores the plan (25 fps frames):

* follow accuracy: share of frames where exactly one person speaks, that person's face is on
  screen, and the crop window contains the face box horizontally (``x <= face_x`` and
  ``face_x + face_w <= x + w``; in the split layout, any pane, so split frames always count as
  followed: read this with the split-layout share), ignoring the 0.5 s after each
  true turn change; also reported without that grace window. Frames whose speaker is off
  screen cannot be followed and are counted apart ("off-screen speaker frames").
* empty frames: share of frames, among those with at least one face on screen, that are
  letterboxed or whose window contains no face box at all.
* switches per minute: changes of the plan's ``track`` between consecutive frames. Switches
  forced by a camera cut or by the framed face's track ending (a person walking out) are
  counted apart. "Spurious, strict" (the brief's definition): any other switch not within
  [-0.25 s, +1.0 s] of a true turn change (the planner is non-causal, so a switch a few
  frames early is right). "Spurious, pause-aware" also accepts a switch in the silence before
  a turn change (from 0.25 s before the previous turn's end): cutting on the pause is what an
  editor would do. Both have the <= 2 / min target.
* pan jitter: mean ``|Δ²x|`` (px per frame²) within runs of one track, runs split at switches
  and cuts; and the share of those frames with ``|Δx| < 2`` px (a camera holding still).
* switch latency: median seconds from a true turn change to the first frame framing the new
  speaker (negative when the planner switches early; "missed" when it never does before the
  next change).
* stage time: faces, speakers and reframe seconds per clip second (``FollowResult.timings``),
  and their sum as a multiple of the clip duration. Wall-clock: it grows with other load on
  the machine, so the load average is printed and stored with the results.

Targets: follow accuracy >= 95 %, empty frames <= 2 %, <= 2 spurious switches per minute,
faces + speakers + reframe <= 1.0x the clip duration.

When a scenario misses a target the harness prints diagnostics: the runs of frames where the
wrong face (or nothing) was framed, with each person's mean speaker score over the run; every
turn change with its latency and each person's mean score in the second before and after; and
how often the true speaker's raw / 0.4 s-smoothed score was the highest (the scorer's ranking
accuracy, which separates scorer errors from planner errors).

Scenarios
---------
The people are the astronaut photo of ``bench/make_sample.py`` (A on a dark-blue panel, B
mirrored and tinted on a dark-red one), with mouths animated from each person's own espeak-ng
voice (A ``en-us``, B ``en-gb+f3``); the frame drifts by a few pixels. 1280x720, 25 fps.

1. ``normal``: turns of 3-8 s with 0.4-0.8 s pauses; faces ~160x205 px (the sample's layout).
2. ``fast``: a quick-fire round: after a 2.3 s opener, turns of 0.4-1.2 s, 0.2-0.35 s pauses.
3. ``offscreen``: B walks out of the frame (slides out to the right over 1.5 s), talks from
   off screen for two turns while only A is visible, then walks back in.
4. ``wide``: the ``normal`` script in a wide shot: faces ~81x104 px, centres 480 px apart,
   both people swaying sideways (A ±70 px over 9 s, B ±50 px over 7 s), so the camera pans.
5. ``cut``: hard cuts between the two-shot and close-ups (face ~290x370 px) of either person,
   including a reaction shot of B while A talks off screen.

``--quick`` runs ``normal`` and ``fast`` only.

Running
-------
    python bench/quality.py [--quick] [--scorer lr-asd|fallback] [--split]
        [--scenarios normal,wide] [--reframe switch_penalty=8 --reframe min_hold_s=0.6]
        [--scan detect_every=4] [--out PATH] [--regenerate]

``--scorer fallback`` forces the weight-free heuristic scorer (SpeakerOptions pointed at an
empty model dir, download disallowed). ``--split`` enables the split layout. ``--reframe`` and
``--scan`` override single ``ReframeOptions`` / ``ScanOptions`` fields (repeatable); a run with
overrides writes ``bench/results/quality-tuned.json`` (``-fallback`` / ``-split`` likewise)
unless ``--out`` is given.

Cache
-----
Generated videos (H.264 veryfast CRF 23 + AAC) and their ground truth are kept in
``bench/.cache/quality/`` as ``<scenario>-<hash>.mp4`` / ``.truth.json``; the hash covers the
scenario's definition and the generator version, so editing a scenario regenerates only that
one. Generation takes ~10 s per scenario; reruns decode the cached files. ``--regenerate``
rebuilds them; deleting the directory is always safe. It should be git-ignored.

Requirements: ``espeak-ng`` on PATH, and the project's virtualenv (numpy, opencv, scikit-image,
imageio-ffmpeg, torch, av).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # make_sample lives next to this file, outside any package
    sys.path.insert(0, str(HERE))

import make_sample as ms  # noqa: E402

from pipeline.assets import YUNET, AssetOptions, resolve_asset  # noqa: E402
from pipeline.faces import FaceDetector  # noqa: E402
from pipeline.follow import FollowResult, follow_speaker  # noqa: E402
from pipeline.media import decode_audio  # noqa: E402
from pipeline.reframe import FrameWindow, ReframeOptions  # noqa: E402
from pipeline.speakers import SpeakerOptions, SpeakerScorer  # noqa: E402
from pipeline.tracks import ScanOptions  # noqa: E402

GENERATOR_VERSION = 1
CACHE_DIR = HERE / ".cache" / "quality"
RESULTS_DIR = HERE / "results"
FPS = ms.FPS
WIDTH, HEIGHT = ms.WIDTH, ms.HEIGHT
SPEAKERS = ("A", "B")

GRACE_S = 0.5  # ignored after each true turn change in the headline follow accuracy
SWITCH_AFTER_S = 1.0  # a switch this soon after a turn change is a real one...
SWITCH_LEAD_S = 0.25  # ...and so is one this much before it (the planner looks ahead)
STILL_PX = 2.0
EDGE_EPS = 0.5  # px of rounding slack in "window contains face box"
VISIBLE_SHARE = 0.5  # a face counts as on screen when this share of its box is in the frame
WALK_S = 1.5  # time to walk out of / into the frame
SMOOTH_S = 0.4  # smoothing of the ranking diagnostic (ReframeOptions.smooth_s default)

TARGETS = {
    "follow": (">=", 95.0),
    "empty": ("<=", 2.0),
    "spurious_strict_per_min": ("<=", 2.0),
    "spurious_per_min": ("<=", 2.0),
    "total_x": ("<=", 1.0),
}

# Face centre (x, y) in output pixels and scale (output px per source px) of each person on
# screen in each camera view. "two" matches bench/make_sample.py's layout.
VIEWS: dict[str, dict[str, tuple[float, float, float]]] = {
    "two": {"A": (275.0, 233.0, 1.8), "B": (1005.0, 233.0, 1.8)},
    "wide": {"A": (400.0, 380.0, 0.9), "B": (880.0, 380.0, 0.9)},
    "close-A": {"A": (640.0, 300.0, 3.2)},
    "close-B": {"B": (640.0, 300.0, 3.2)},
}


# ---------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Cut:
    """A hard cut to `view`, `offset_s` after the start of utterance `utterance`."""

    utterance: int
    offset_s: float
    view: str


@dataclass(frozen=True)
class Exit:
    """`speaker` is out of the frame from the start of utterance `first` to the end of `last`
    (walking out in the WALK_S before, and back in the WALK_S after)."""

    speaker: str
    first: int
    last: int


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    script: tuple[tuple[str, str, float], ...]  # (speaker, text, pause before in s)
    view: str = "two"
    cuts: tuple[Cut, ...] = ()
    exits: tuple[Exit, ...] = ()
    sway: tuple[tuple[str, float, float], ...] = ()  # (speaker, amplitude px, period s)
    quick: bool = False

    def key(self) -> str:
        text = f"{GENERATOR_VERSION}|{self!r}|{VIEWS!r}|{WALK_S}"
        return hashlib.sha256(text.encode()).hexdigest()[:12]


NORMAL_SCRIPT: tuple[tuple[str, str, float], ...] = (
    (
        "A",
        "Welcome back to the show. Today we are talking about bread, and why so many "
        "people started baking at home.",
        0.0,
    ),
    ("B", "Thanks for having me. I started baking ten years ago, in a tiny kitchen.", 0.6),
    ("A", "What was the very first loaf like, and did you actually eat it?", 0.5),
    (
        "B",
        "It was flat and heavy, like a brick. But I ate every slice, because I was so proud.",
        0.7,
    ),
    ("A", "That sounds familiar. What changed after that first attempt?", 0.4),
    ("B", "I learned to wait. Good bread needs time, so the dough rests overnight.", 0.8),
    ("A", "Patience is the secret ingredient, then. Thank you for joining us today.", 0.5),
)

FAST_SCRIPT: tuple[tuple[str, str, float], ...] = (
    ("A", "Quick round of questions. Ready?", 0.0),
    ("B", "Ready.", 0.3),
    ("A", "Coffee or tea?", 0.25),
    ("B", "Tea, always.", 0.2),
    ("A", "Morning or night?", 0.3),
    ("B", "Morning.", 0.2),
    ("A", "Really? Why?", 0.25),
    ("B", "Better light.", 0.2),
    ("A", "Cats or dogs?", 0.35),
    ("B", "Dogs, of course.", 0.2),
    ("A", "Books or films?", 0.3),
    ("B", "Books.", 0.2),
    ("A", "Summer or winter?", 0.25),
    ("B", "Winter.", 0.3),
    ("A", "City or country?", 0.2),
    ("B", "The city.", 0.25),
    ("A", "Great answers.", 0.3),
)

OFFSCREEN_SCRIPT: tuple[tuple[str, str, float], ...] = (
    ("A", "Our guest today is a sound engineer who records nature for films.", 0.0),
    ("B", "Hello everyone. I spend most of my days outside with a microphone.", 0.6),
    ("A", "She is stepping away to fetch her recorder, but she can still hear us.", 0.5),
    ("B", "I am right here, just looking for the cable. Keep talking, I can hear you.", 2.0),
    ("A", "While she looks, let me tell you how we met at a festival last summer.", 0.6),
    ("B", "It was a very loud festival, and I was the only person recording birds.", 0.5),
    ("A", "And here she is again, with the recorder in her hand.", 2.0),
    ("B", "Found it. This little box has travelled with me to every continent.", 0.6),
    ("A", "Amazing. We will hear some of those recordings after the break.", 0.5),
)

CUT_SCRIPT: tuple[tuple[str, str, float], ...] = (
    ("A", "Let me ask about your work. When did you first become interested in maps?", 0.0),
    ("B", "When I was a child, my father gave me an old atlas, and I read it like a novel.", 0.6),
    ("A", "And now you draw maps for a living. What does a normal day look like?", 0.5),
    (
        "B",
        "I start early with coffee, then I spend hours checking small details, like the "
        "names of rivers and hills.",
        0.6,
    ),
    ("A", "Do you ever make mistakes, and what happens when a reader finds one?", 0.5),
    ("B", "All the time. Readers write to me, and I am always grateful when they do.", 0.6),
    ("A", "Wonderful. Thank you for sharing your maps with us.", 0.5),
)

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("normal", "turns of 3-8 s, two-shot", NORMAL_SCRIPT, quick=True),
    Scenario("fast", "banter, turns < 1.5 s", FAST_SCRIPT, quick=True),
    Scenario(
        "offscreen",
        "B walks out, talks off screen, returns",
        OFFSCREEN_SCRIPT,
        exits=(Exit("B", 3, 5),),
    ),
    Scenario(
        "wide",
        "wide shot, faces ~81x104 px, people sway",
        NORMAL_SCRIPT,
        view="wide",
        sway=(("A", 70.0, 9.0), ("B", 50.0, 7.0)),
    ),
    Scenario(
        "cut",
        "cuts between two-shot and close-ups",
        CUT_SCRIPT,
        cuts=(
            Cut(2, 0.4, "close-A"),
            Cut(3, 1.0, "two"),
            Cut(3, 3.0, "close-B"),
            Cut(4, 1.2, "two"),
            Cut(6, 0.3, "close-A"),
        ),
    ),
)


# ---------------------------------------------------------------- ground truth


@dataclass(frozen=True)
class Truth:
    """What the generator put on screen: turns in seconds, face boxes per frame, camera cuts."""

    frames: int
    turns: list[tuple[str, float, float]]
    boxes: dict[str, np.ndarray]  # (frames, 4) x, y, w, h clipped to the frame; NaN: off screen
    cuts: list[int]

    @property
    def duration(self) -> float:
        return self.frames / FPS

    def to_json(self, name: str) -> dict:
        boxes = {
            spk: [None if np.isnan(b[0]) else [round(float(v), 1) for v in b] for b in arr]
            for spk, arr in self.boxes.items()
        }
        return {
            "scenario": name,
            "version": GENERATOR_VERSION,
            "fps": FPS,
            "size": [WIDTH, HEIGHT],
            "frames": self.frames,
            "turns": [
                {"speaker": s, "start": round(a, 3), "end": round(b, 3)} for s, a, b in self.turns
            ],
            "cuts": self.cuts,
            "boxes": boxes,
        }

    @classmethod
    def from_json(cls, data: dict) -> Truth:
        boxes = {
            spk: np.array([[np.nan] * 4 if b is None else b for b in rows], dtype=np.float64)
            for spk, rows in data["boxes"].items()
        }
        turns = [(t["speaker"], float(t["start"]), float(t["end"])) for t in data["turns"]]
        return cls(int(data["frames"]), turns, boxes, list(data["cuts"]))

    def visible(self, spk: str) -> np.ndarray:
        return ~np.isnan(self.boxes[spk][:, 0])

    def speaker(self) -> np.ndarray:
        """Per frame, the one person speaking ("A"/"B"), or "" when nobody or both are."""
        centres = (np.arange(self.frames) + 0.5) / FPS
        talking = {spk: np.zeros(self.frames, dtype=bool) for spk in SPEAKERS}
        for spk, start, end in self.turns:
            talking[spk] |= (centres >= start) & (centres < end)
        out = np.full(self.frames, "", dtype=object)
        out[talking["A"] & ~talking["B"]] = "A"
        out[talking["B"] & ~talking["A"]] = "B"
        return out

    def changes(self) -> list[tuple[int, str]]:
        """(first frame, new speaker) of every true turn change."""
        pairs = zip(self.turns, self.turns[1:], strict=False)
        return [
            (int(np.ceil(start * FPS - 0.5)), spk)
            for (prev, _, _), (spk, start, _) in pairs
            if spk != prev
        ]

    def handovers(self) -> list[tuple[str, float, float]]:
        """(previous speaker, end of their turn, start of the new turn) of every change."""
        pairs = zip(self.turns, self.turns[1:], strict=False)
        return [(prev, end, start) for (prev, _, end), (spk, start, _) in pairs if spk != prev]


# ---------------------------------------------------------------- generation


@dataclass(frozen=True)
class Pose:
    """One person in one camera view: the photo, where it sits, and where face and mouth are."""

    photo: np.ndarray
    origin: tuple[int, int]
    face: tuple[float, float, float, float]  # in photo pixels
    mouth: tuple[float, float]  # in photo pixels
    scale: float


def make_pose(spk: str, cx: float, cy: float, scale: float) -> Pose:
    photo = ms.person_photo(mirror=spk == "B", scale=scale)

    def local(x: float, y: float) -> tuple[float, float]:
        lx, ly = (x - ms.CROP[0]) * scale, (y - ms.CROP[1]) * scale
        return (photo.shape[1] - lx if spk == "B" else lx), ly

    fx, fy, fw, fh = ms.SRC_FACE
    (xa, ya), (xb, yb) = local(fx, fy), local(fx + fw, fy + fh)
    face = (min(xa, xb), ya, abs(xb - xa), yb - ya)
    origin = (round(cx - face[0] - face[2] / 2), round(cy - face[1] - face[3] / 2))
    return Pose(photo, origin, face, local(*ms.SRC_MOUTH_CENTER), scale)


def background(view: str) -> np.ndarray:
    canvas = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    if view.startswith("close-"):
        canvas[:] = ms.PANEL_BGR[view[-1]]
    else:
        canvas[:, : WIDTH // 2] = ms.PANEL_BGR["A"]
        canvas[:, WIDTH // 2 :] = ms.PANEL_BGR["B"]
    return canvas


def paste(canvas: np.ndarray, image: np.ndarray, x: int, y: int) -> None:
    h, w = image.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, WIDTH), min(y + h, HEIGHT)
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = image[y0 - y : y1 - y, x0 - x : x1 - x]


def draw_mouth(canvas: np.ndarray, pose: Pose, x: int, y: int, opening: float) -> None:
    """make_sample.draw_mouth, scaled to the pose."""
    k = pose.scale / ms.SCALE
    centre = (round(x + pose.mouth[0]), round(y + pose.mouth[1]))
    half_w = round(ms.SRC_MOUTH_WIDTH * pose.scale * 0.5 * 0.85)
    half_h = round(opening * ms.MAX_MOUTH_OPEN_PX * k / 2)
    if half_h >= 1:
        cv2.ellipse(canvas, centre, (half_w, half_h), 0, 0, 360, ms.MOUTH_BGR, -1, cv2.LINE_AA)
        lip = max(1, round(2 * k))
        cv2.ellipse(canvas, centre, (half_w, half_h), 0, 0, 360, ms.LIP_BGR, lip, cv2.LINE_AA)
    else:
        p0, p1 = (centre[0] - half_w, centre[1]), (centre[0] + half_w, centre[1])
        cv2.line(canvas, p0, p1, ms.LIP_BGR, max(1, round(3 * k)), cv2.LINE_AA)


def clip_box(x: float, y: float, w: float, h: float) -> np.ndarray:
    """The part of a face box inside the frame, or NaNs when too little of it is."""
    x0, y0 = max(x, 0.0), max(y, 0.0)
    x1, y1 = min(x + w, float(WIDTH)), min(y + h, float(HEIGHT))
    if x1 <= x0 or y1 <= y0 or (x1 - x0) * (y1 - y0) < VISIBLE_SHARE * w * h:
        return np.full(4, np.nan)
    return np.array([x0, y0, x1 - x0, y1 - y0])


def lay_out(
    clips: list[np.ndarray], script: Sequence[tuple[str, str, float]]
) -> tuple[dict[str, np.ndarray], list[tuple[str, float, float]]]:
    """Place utterances on per-speaker tracks after their pauses; return tracks and turns."""
    rate = ms.SAMPLE_RATE
    starts, cursor = [], int(ms.LEAD_IN_S * rate)
    for i, clip in enumerate(clips):
        cursor += int(script[i][2] * rate) if i else 0
        starts.append(cursor)
        cursor += clip.size
    total = ms.frames_to_samples(ms.samples_to_frames(cursor + int(ms.TAIL_S * rate)))
    tracks = {spk: np.zeros(total, dtype=np.float32) for spk in SPEAKERS}
    turns = []
    for clip, start, (spk, _, _) in zip(clips, starts, script, strict=True):
        tracks[spk][start : start + clip.size] += clip
        turns.append((spk, start / rate, (start + clip.size) / rate))
    return tracks, turns


def view_per_frame(scn: Scenario, turns: list[tuple[str, float, float]], n: int) -> list[str]:
    views = [scn.view] * n
    for cut in sorted(scn.cuts, key=lambda c: turns[c.utterance][1] + c.offset_s):
        first = round((turns[cut.utterance][1] + cut.offset_s) * FPS)
        views[first:] = [cut.view] * (n - first)
    return views


def walk_offsets(
    scn: Scenario, turns: list[tuple[str, float, float]], poses: dict[str, Pose], n: int
) -> dict[str, np.ndarray]:
    """Per person, the horizontal offset per frame: walking out of and back into view, and
    swaying side to side."""
    t = np.arange(n) / FPS
    out = {spk: np.zeros(n) for spk in SPEAKERS}
    for ex in scn.exits:
        pose = poses[ex.speaker]
        gone_at, back_at = turns[ex.first][1] - 0.2, turns[ex.last][2] + 0.2
        leaving = np.clip((t - (gone_at - WALK_S)) / WALK_S, 0, 1)
        returning = np.clip((back_at + WALK_S - t) / WALK_S, 0, 1)
        share = np.minimum(leaving, returning)
        if ex.speaker == "B":
            distance = WIDTH - pose.origin[0] + 10
        else:
            distance = -(pose.origin[0] + pose.photo.shape[1] + 10)
        out[ex.speaker] += share * distance
    for spk, amplitude, period in scn.sway:
        out[spk] += amplitude * np.sin(2 * np.pi * t / period)
    return out


def render_video(
    scn: Scenario,
    turns: list[tuple[str, float, float]],
    envs: dict[str, np.ndarray],
    n: int,
    audio_path: Path,
    out: Path,
) -> Truth:
    poses = {
        view: {s: make_pose(s, *geo) for s, geo in people.items()} for view, people in VIEWS.items()
    }
    backgrounds = {view: background(view) for view in VIEWS}
    views = view_per_frame(scn, turns, n)
    offsets = walk_offsets(scn, turns, poses["two"], n)
    boxes = {spk: np.full((n, 4), np.nan) for spk in SPEAKERS}
    cmd = ms.ffmpeg_command(audio_path, out, crf=23, preset="veryfast")
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    try:
        for i, view in enumerate(views):
            frame = backgrounds[view].copy()
            dx, dy = ms.drift(i)
            for spk, pose in poses[view].items():
                x = pose.origin[0] + dx + round(offsets[spk][i])
                y = pose.origin[1] + dy
                paste(frame, pose.photo, x, y)
                draw_mouth(frame, pose, x, y, float(envs[spk][i]))
                fx, fy, fw, fh = pose.face
                boxes[spk][i] = clip_box(x + fx, y + fy, fw, fh)
            proc.stdin.write(frame.tobytes())
    finally:
        proc.stdin.close()
        rc = proc.wait()
    if rc != 0:
        raise RuntimeError(f"ffmpeg exited with status {rc}")
    cuts = [i for i in range(1, n) if views[i] != views[i - 1]]
    return Truth(n, turns, boxes, cuts)


def build_scenario(scn: Scenario, video: Path) -> Truth:
    with tempfile.TemporaryDirectory(prefix="clipzz_quality_") as tmp:
        workdir = Path(tmp)
        clips = [
            ms.synth_utterance(text, ms.VOICES[spk], workdir, i)
            for i, (spk, text, _) in enumerate(scn.script)
        ]
        tracks, turns = lay_out(clips, scn.script)
        n = ms.samples_to_frames(next(iter(tracks.values())).size)
        envs = {spk: ms.mouth_envelope(track, n) for spk, track in tracks.items()}
        audio_path = workdir / "mix.wav"
        ms.write_wav(audio_path, ms.mix(tracks), ms.SAMPLE_RATE)
        partial = workdir / "video.mp4"
        truth = render_video(scn, turns, envs, n, audio_path, partial)
        video.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(partial, video)
    return truth


def scenario_media(scn: Scenario, regenerate: bool) -> tuple[Path, Truth]:
    """The cached video and truth of a scenario, generated when missing or stale."""
    stem = CACHE_DIR / f"{scn.name}-{scn.key()}"
    video, truth_path = stem.with_suffix(".mp4"), stem.with_suffix(".truth.json")
    if not regenerate and video.exists() and truth_path.exists():
        return video, Truth.from_json(json.loads(truth_path.read_text()))
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng not found on PATH (apt-get install espeak-ng)")
    began = time.perf_counter()
    for stale in CACHE_DIR.glob(f"{scn.name}-*"):
        stale.unlink()
    truth = build_scenario(scn, video)
    truth_path.write_text(json.dumps(truth.to_json(scn.name)) + "\n")
    print(f"generated {video.name}: {truth.duration:.1f} s in {time.perf_counter() - began:.1f} s")
    return video, truth


# ---------------------------------------------------------------- metrics


def windows_of(frame: FrameWindow) -> list[tuple[int, int]]:
    """(x, w) of every window that shows a face region: the crop, or each split pane."""
    if frame.layout == "crop":
        return [(frame.x, frame.w)]
    if frame.layout == "split":
        return [(p[0], p[2]) for p in frame.panes]
    return []


def framed_people(plan: list[FrameWindow], truth: Truth) -> list[set[str]]:
    """Per frame, the people whose whole face box (horizontally) a window contains."""
    out = []
    for i, frame in enumerate(plan):
        people = set()
        for spk, boxes in truth.boxes.items():
            bx, _, bw, _ = boxes[i]
            if np.isnan(bx):
                continue
            if any(
                x <= bx + EDGE_EPS and bx + bw <= x + w + EDGE_EPS for x, w in windows_of(frame)
            ):
                people.add(spk)
        out.append(people)
    return out


def grace_mask(truth: Truth, seconds: float) -> np.ndarray:
    mask = np.zeros(truth.frames, dtype=bool)
    for first, _ in truth.changes():
        mask[first : first + round(seconds * FPS)] = True
    return mask


def runs_of(values: Sequence[object]) -> list[tuple[int, int]]:
    """Half-open [a, b) runs of equal consecutive values."""
    runs, start = [], 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start]:
            runs.append((start, i))
            start = i
    return runs


def classify_switches(result: FollowResult, truth: Truth) -> list[tuple[int, str]]:
    """Every camera switch (frame, kind): "forced" by a cut or by the framed track ending,
    "turn" when within [-0.25 s, +1 s] of a turn change, "pause" when in the silence before a
    change (from 0.25 s before the previous turn's end), else "spurious"."""
    plan = result.plan.frames
    tracks = {t.id: t for t in result.scan.tracks}
    cuts = set(truth.cuts) | set(result.plan.shot_cuts)
    handovers = truth.handovers()
    out = []
    for i in range(1, len(plan)):
        before, after = plan[i - 1].track, plan[i].track
        if before == after:
            continue
        t = i / FPS
        if any(abs(i - c) <= 1 for c in cuts) or (
            before is not None and not tracks[before].covers(i)
        ):
            kind = "forced"
        elif any(c - SWITCH_LEAD_S <= t <= c + SWITCH_AFTER_S for _, _, c in handovers):
            kind = "turn"
        elif any(end - SWITCH_LEAD_S <= t <= c for _, end, c in handovers):
            kind = "pause"
        else:
            kind = "spurious"
        out.append((i, kind))
    return out


def switch_counts(result: FollowResult, truth: Truth) -> dict[str, int]:
    kinds = [kind for _, kind in classify_switches(result, truth)]
    return {
        "switches": len(kinds),
        "forced": kinds.count("forced"),
        "spurious": kinds.count("spurious"),
        "spurious_strict": kinds.count("spurious") + kinds.count("pause"),
    }


def jitter_counts(result: FollowResult, truth: Truth) -> dict[str, float]:
    plan = result.plan.frames
    cuts = sorted(set(truth.cuts) | set(result.plan.shot_cuts))
    keys = [
        (f.track, f.layout, sum(1 for c in cuts if c <= i)) if f.layout == "crop" else None
        for i, f in enumerate(plan)
    ]
    d2_sum = d2_n = still = d1_n = 0.0
    for a, b in runs_of(keys):
        if keys[a] is None or b - a < 2:
            continue
        xs = np.array([plan[i].x for i in range(a, b)], dtype=np.float64)
        d1 = np.abs(np.diff(xs))
        still += float((d1 < STILL_PX).sum())
        d1_n += len(d1)
        if b - a >= 3:
            d2 = np.abs(np.diff(xs, 2))
            d2_sum += float(d2.sum())
            d2_n += len(d2)
    return {"d2_sum": d2_sum, "d2_n": d2_n, "still": still, "d1_n": d1_n}


def change_latencies(framed: list[set[str]], truth: Truth) -> list[float | str]:
    """Per true turn change: seconds to the first frame framing the new speaker (negative when
    the framing began before the change), "missed" if it never does before the next change,
    or "off screen" when the new speaker is not on screen at the change."""
    changes = truth.changes()
    out: list[float | str] = []
    for k, (first, spk) in enumerate(changes):
        if first >= len(framed) or not truth.visible(spk)[first]:
            out.append("off screen")
            continue
        prev_spk, prev_end, _ = truth.handovers()[k]
        # Walk back at most 1 s into the previous turn, and not while its speaker is off screen
        # (framing the only face on screen early is not an early switch).
        lo = max(changes[k - 1][0] if k else 0, round((prev_end - SWITCH_AFTER_S) * FPS))
        hi = changes[k + 1][0] if k + 1 < len(changes) else len(framed)
        if spk in framed[first]:
            j = first
            while j - 1 >= lo and spk in framed[j - 1] and truth.visible(prev_spk)[j - 1]:
                j -= 1
        else:
            j = next((f for f in range(first, hi) if spk in framed[f]), -1)
        out.append("missed" if j < 0 else (j - first) / FPS)
    return out


def latencies(framed: list[set[str]], truth: Truth) -> tuple[list[float], int]:
    values = change_latencies(framed, truth)
    return [v for v in values if isinstance(v, float)], values.count("missed")


def measure(result: FollowResult, truth: Truth) -> dict:
    """Raw counts for one scenario; `summarize` turns (pooled) counts into the metrics."""
    plan = result.plan.frames
    if len(plan) != truth.frames:
        raise RuntimeError(f"plan has {len(plan)} frames, truth {truth.frames}")
    framed = framed_people(plan, truth)
    speaker = truth.speaker()
    grace = grace_mask(truth, GRACE_S)
    on_screen = np.array([bool(s) and truth.visible(s)[i] for i, s in enumerate(speaker)])
    offscreen = np.array([bool(s) for s in speaker]) & ~on_screen
    followed = np.array([s in framed[i] for i, s in enumerate(speaker)])
    any_face = truth.visible("A") | truth.visible("B")
    empty = np.array([f.layout == "letterbox" or not framed[i] for i, f in enumerate(plan)])
    letterbox = np.array([f.layout == "letterbox" for f in plan])
    split = np.array([f.layout == "split" for f in plan])
    lat, missed = latencies(framed, truth)
    return {
        "seconds": truth.duration,
        "follow_ok": int((followed & on_screen & ~grace).sum()),
        "follow_n": int((on_screen & ~grace).sum()),
        "follow_ok_all": int((followed & on_screen).sum()),
        "follow_n_all": int(on_screen.sum()),
        "empty": int((empty & any_face).sum()),
        "empty_n": int(any_face.sum()),
        "split_frames": int(split.sum()),
        "frames": len(plan),
        "offscreen_n": int(offscreen.sum()),
        "offscreen_letterbox": int((offscreen & letterbox).sum()),
        **switch_counts(result, truth),
        **jitter_counts(result, truth),
        "latencies": lat,
        "missed": missed,
        **{f"t_{k}": v for k, v in result.timings.items()},
    }


def pool(counts: Iterable[dict]) -> dict:
    total: dict = {}
    for c in counts:
        for k, v in c.items():
            total[k] = total.get(k, [] if isinstance(v, list) else 0) + v
    return total


def ratio(num: float, den: float, scale: float = 1.0) -> float | None:
    return scale * num / den if den else None


def summarize(c: dict) -> dict:
    minutes = c["seconds"] / 60
    stage = {k: c.get(f"t_{k}", 0.0) / c["seconds"] for k in ("faces", "speakers", "reframe")}
    return {
        "seconds": round(c["seconds"], 2),
        "follow": ratio(c["follow_ok"], c["follow_n"], 100),
        "follow_no_grace": ratio(c["follow_ok_all"], c["follow_n_all"], 100),
        "empty": ratio(c["empty"], c["empty_n"], 100),
        "split": ratio(c["split_frames"], c["frames"], 100),
        "offscreen_frames": c["offscreen_n"],
        "offscreen_letterbox": ratio(c["offscreen_letterbox"], c["offscreen_n"], 100),
        "switches_per_min": c["switches"] / minutes,
        "spurious_strict_per_min": c["spurious_strict"] / minutes,
        "spurious_per_min": c["spurious"] / minutes,
        "forced_switches": c["forced"],
        "jitter": ratio(c["d2_sum"], c["d2_n"]),
        "still": ratio(c["still"], c["d1_n"], 100),
        "latency_median": float(np.median(c["latencies"])) if c["latencies"] else None,
        "turn_changes_missed": c["missed"],
        "faces_x": stage["faces"],
        "speakers_x": stage["speakers"],
        "reframe_x": stage["reframe"],
        "total_x": sum(stage.values()),
    }


# ---------------------------------------------------------------- diagnostics


def person_of_tracks(result: FollowResult, truth: Truth) -> dict[int, str]:
    """Which generated person each face track follows (box centre inside the true box)."""
    out = {}
    for track in result.scan.tracks:
        votes = dict.fromkeys(SPEAKERS, 0)
        for i in range(track.first, track.last + 1, 5):
            x, y, w, h = track.box(i)
            cx, cy = x + w / 2, y + h / 2
            for spk in SPEAKERS:
                bx, by, bw, bh = truth.boxes[spk][i]
                if not np.isnan(bx) and bx <= cx <= bx + bw and by <= cy <= by + bh:
                    votes[spk] += 1
        best = max(votes, key=lambda s: votes[s])
        out[track.id] = best if votes[best] else "?"
    return out


def person_scores(result: FollowResult, truth: Truth) -> dict[str, np.ndarray]:
    """Each person's raw speaker score per frame (NaN where unscored)."""
    owner = person_of_tracks(result, truth)
    out = {spk: np.full(truth.frames, np.nan) for spk in SPEAKERS}
    for track in result.scan.tracks:
        spk = owner[track.id]
        if spk in out:
            scores = result.scores.get(track.id)
            if scores is not None:
                span = slice(track.first, track.first + len(scores))
                out[spk][span] = np.where(np.isnan(scores), out[spk][span], scores)
    return out


def smooth(values: np.ndarray, seconds: float) -> np.ndarray:
    width = max(1, round(seconds * FPS))
    filled = np.nan_to_num(values, nan=0.0)
    valid = (~np.isnan(values)).astype(np.float64)
    kernel = np.ones(width)
    num = np.convolve(filled, kernel, mode="same")
    den = np.convolve(valid, kernel, mode="same")
    return np.where(valid > 0, num / np.maximum(den, 1), np.nan)


def fmt_scores(scores: dict[str, np.ndarray], a: int, b: int) -> str:
    parts = []
    for spk in SPEAKERS:
        chunk = scores[spk][max(a, 0) : max(b, a + 1)]
        parts.append(
            f"{spk} {np.nanmean(chunk):+.2f}" if np.isfinite(chunk).any() else f"{spk}  n/a"
        )
    return " ".join(parts)


def ranking_accuracy(scores: dict[str, np.ndarray], truth: Truth) -> tuple[float, float, int]:
    """Share of single-speaker frames (outside grace, both scored) where the speaker scores
    highest, on raw and on 0.4 s-smoothed scores."""
    speaker, grace = truth.speaker(), grace_mask(truth, GRACE_S)
    smoothed = {spk: smooth(v, SMOOTH_S) for spk, v in scores.items()}
    raw_ok = smooth_ok = n = 0
    for i, spk in enumerate(speaker):
        other = "B" if spk == "A" else "A"
        if not spk or grace[i] or np.isnan(scores[spk][i]) or np.isnan(scores[other][i]):
            continue
        n += 1
        raw_ok += scores[spk][i] > scores[other][i]
        smooth_ok += smoothed[spk][i] > smoothed[other][i]
    return (100 * raw_ok / n if n else float("nan"), 100 * smooth_ok / n if n else float("nan"), n)


def describe_frame(frame: FrameWindow, people: set[str]) -> str:
    if frame.layout == "letterbox":
        return "letterbox"
    shown = "+".join(sorted(people)) or "no face"
    return f"{frame.layout} {shown} (x={frame.x})"


def diagnose(name: str, result: FollowResult, truth: Truth, limit: int = 10) -> None:
    plan = result.plan.frames
    framed = framed_people(plan, truth)
    scores = person_scores(result, truth)
    speaker, grace = truth.speaker(), grace_mask(truth, GRACE_S)
    owner = person_of_tracks(result, truth)
    raw, smoothed, n = ranking_accuracy(scores, truth)
    print(f"\n--- {name}: diagnostics ({result.scorer})")
    tracks = ", ".join(
        f"#{t.id}={owner[t.id]} {t.first / FPS:.1f}-{(t.last + 1) / FPS:.1f}s"
        for t in result.scan.tracks
    )
    print(f"tracks: {tracks}; shot cuts {[round(c / FPS, 2) for c in result.plan.shot_cuts]}")
    print(
        f"scorer ranking: true speaker scores highest on {raw:.1f} % of {n} frames raw, "
        f"{smoothed:.1f} % smoothed {SMOOTH_S} s"
    )
    wrong = [
        bool(s) and truth.visible(s)[i] and not grace[i] and s not in framed[i]
        for i, s in enumerate(speaker)
    ]
    bad = [(a, b) for a, b in runs_of(wrong) if wrong[a]]
    print(f"missed-speaker runs outside grace: {len(bad)}")
    for a, b in bad[:limit]:
        what = describe_frame(plan[a], framed[a])
        print(
            f"  {a / FPS:6.2f}-{b / FPS:6.2f}s speaker {speaker[a]}, shown {what}; "
            f"mean score {fmt_scores(scores, a, b)}"
        )
    print("turn changes (latency; mean score 1 s before | 1 s after):")
    pairs = zip(truth.changes(), change_latencies(framed, truth), strict=True)
    for (first, spk), value in list(pairs)[: limit * 2]:
        lat = f"{value:+.2f}s" if isinstance(value, float) else value
        print(
            f"  {first / FPS:6.2f}s -> {spk}: {lat:>7}; "
            f"{fmt_scores(scores, first - FPS, first)} | {fmt_scores(scores, first, first + FPS)}"
        )
    switches = classify_switches(result, truth)
    print("switches: " + ", ".join(f"{i / FPS:.2f}s {kind}" for i, kind in switches[: limit * 3]))


# ---------------------------------------------------------------- report


ROWS: tuple[tuple[str, str, str], ...] = (
    ("follow", "follow accuracy, 0.5 s grace (%)", "{:.1f}"),
    ("follow_no_grace", "follow accuracy, no grace (%)", "{:.1f}"),
    ("empty", "empty frames (%)", "{:.1f}"),
    ("split", "split-layout frames (%)", "{:.1f}"),
    ("offscreen_frames", "off-screen speaker frames", "{:d}"),
    ("offscreen_letterbox", "  of which letterboxed (%)", "{:.1f}"),
    ("switches_per_min", "switches / min", "{:.1f}"),
    ("spurious_strict_per_min", "spurious switches / min, strict", "{:.1f}"),
    ("spurious_per_min", "spurious, pause-aware / min", "{:.1f}"),
    ("forced_switches", "forced switches (cuts, exits)", "{:d}"),
    ("jitter", "pan jitter |Δ²x| (px/frame²)", "{:.3f}"),
    ("still", "frames with |Δx| < 2 px (%)", "{:.1f}"),
    ("latency_median", "switch latency, median (s)", "{:+.2f}"),
    ("turn_changes_missed", "turn changes missed", "{:d}"),
    ("faces_x", "faces (s per clip s)", "{:.3f}"),
    ("speakers_x", "speakers (s per clip s)", "{:.3f}"),
    ("reframe_x", "reframe (s per clip s)", "{:.3f}"),
    ("total_x", "faces+speakers+reframe (× clip)", "{:.2f}"),
)


def cell(value: object, pattern: str) -> str:
    if value is None:
        return "–"
    return pattern.format(value)


def meets(key: str, value: float | None) -> bool | None:
    if key not in TARGETS or value is None:
        return None
    op, bound = TARGETS[key]
    return value >= bound if op == ">=" else value <= bound


def print_table(summaries: dict[str, dict]) -> None:
    names = list(summaries)
    width = max(9, *(len(n) + 1 for n in names))
    head = f"{'metric':<34}" + "".join(f"{n:>{width}}" for n in names) + "   target"
    print("\n" + head)
    print("-" * len(head))
    for key, label, pattern in ROWS:
        line = f"{label:<34}" + "".join(
            f"{cell(summaries[n][key], pattern):>{width}}" for n in names
        )
        if key in TARGETS:
            op, bound = TARGETS[key]
            ok = meets(key, summaries["overall"][key])
            line += f"   {'≥' if op == '>=' else '≤'} {bound:g} {'ok' if ok else 'MISS'}"
        print(line)
    seconds = " ".join(f"{n} {s['seconds']:.1f}s" for n, s in summaries.items() if n != "overall")
    print(f"clip lengths: {seconds}")


def misses(summary: dict) -> list[str]:
    return [k for k in TARGETS if meets(k, summary[k]) is False]


# ---------------------------------------------------------------- main


def parse_overrides(cls: type, items: Sequence[str]) -> dict[str, object]:
    """`key=value` strings cast to the type of the dataclass field's default."""
    defaults = cls()
    names = {f.name for f in dataclasses.fields(cls)}
    out: dict[str, object] = {}
    for item in items:
        key, _, text = item.partition("=")
        if key not in names or not text:
            raise SystemExit(f"{cls.__name__}: bad override {item!r}; fields: {sorted(names)}")
        kind = type(getattr(defaults, key))
        out[key] = text.lower() in ("1", "true", "yes") if kind is bool else kind(text)
    return out


def make_scorer(kind: str, empty_dir: Path) -> SpeakerScorer:
    if kind == "fallback":
        options = SpeakerOptions(model_dir=empty_dir, cache_dir=empty_dir, allow_download=False)
    else:
        options = SpeakerOptions(model_dir=model_dir(), allow_download=False)
    scorer = SpeakerScorer(options)
    if kind == "lr-asd" and scorer.name != "lr-asd":
        raise SystemExit(f"LR-ASD weights not found under {model_dir()}")
    return scorer


def model_dir() -> Path:
    env = os.environ.get("CLIPZZ_MODEL_DIR")
    return Path(env) if env else HERE.parent.parent / "shared" / "assets"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="normal and fast scenarios only")
    parser.add_argument("--scorer", choices=("lr-asd", "fallback"), default="lr-asd")
    parser.add_argument("--split", action="store_true", help="allow the split layout")
    parser.add_argument("--scenarios", default="", help="comma-separated subset")
    parser.add_argument("--reframe", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--scan", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--regenerate", action="store_true", help="rebuild cached videos")
    parser.add_argument(
        "--diagnose",
        choices=("auto", "all", "none"),
        default="auto",
        help="print diagnostics for scenarios missing a target (auto)",
    )
    return parser.parse_args()


def pick_scenarios(args: argparse.Namespace) -> list[Scenario]:
    chosen = [s for s in SCENARIOS if s.quick or not args.quick]
    if args.scenarios:
        wanted = set(args.scenarios.split(","))
        unknown = wanted - {s.name for s in SCENARIOS}
        if unknown:
            raise SystemExit(f"unknown scenarios: {sorted(unknown)}")
        chosen = [s for s in SCENARIOS if s.name in wanted]
    return chosen


def main() -> None:
    args = parse_args()
    began = time.perf_counter()
    reframe_over = parse_overrides(ReframeOptions, args.reframe)
    if args.split:
        reframe_over["split"] = True
    scan_over = parse_overrides(ScanOptions, args.scan)
    reframe_options = ReframeOptions(**reframe_over)  # type: ignore[arg-type]
    scan_options = ScanOptions(**scan_over)  # type: ignore[arg-type]
    scenarios = pick_scenarios(args)
    media = {s.name: scenario_media(s, args.regenerate) for s in scenarios}
    detector = FaceDetector(resolve_asset(YUNET, AssetOptions(model_dir=model_dir())))
    with tempfile.TemporaryDirectory(prefix="clipzz_no_models_") as empty:
        scorer = make_scorer(args.scorer, Path(empty))
    print(
        f"scorer {scorer.name}; reframe {reframe_over or 'defaults'}; "
        f"scan {scan_over or 'defaults'}"
    )
    counts, results = {}, {}
    for scn in scenarios:
        video, truth = media[scn.name]
        audio = decode_audio(video)
        result = follow_speaker(
            video, 0.0, truth.duration, audio, detector=detector, scorer=scorer,
            scan_options=scan_options, reframe_options=reframe_options,
        )  # fmt: skip
        counts[scn.name], results[scn.name] = measure(result, truth), (result, truth)
        print(
            f"ran {scn.name}: {truth.duration:.1f} s clip, "
            f"{sum(result.timings.values()):.1f} s pipeline"
        )
    summaries = {name: summarize(c) for name, c in counts.items()}
    summaries["overall"] = summarize(pool(counts.values()))
    if args.diagnose != "none":
        for name, (result, truth) in results.items():
            if args.diagnose == "all" or misses(summaries[name]):
                diagnose(name, result, truth)
    print_table(summaries)
    runtime = time.perf_counter() - began
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"harness runtime {runtime:.1f} s; load average {load} on {os.cpu_count()} cpus "
        "(stage times are wall-clock and grow with other load)"
    )
    write_results(args, scorer.name, reframe_over, scan_over, summaries, runtime)


def write_results(
    args: argparse.Namespace,
    scorer: str,
    reframe_over: dict,
    scan_over: dict,
    summaries: dict[str, dict],
    runtime: float,
) -> None:
    suffix = "-fallback" if args.scorer == "fallback" else ""
    suffix += "-split" if reframe_over.get("split") else ""
    suffix += "-tuned" if set(reframe_over) - {"split"} or scan_over else ""
    out = args.out or RESULTS_DIR / f"quality{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": f"{platform.machine()} {os.cpu_count()} cpu",
        "scorer": scorer,
        "quick": args.quick,
        "reframe_overrides": reframe_over,
        "scan_overrides": scan_over,
        "targets": {k: f"{op} {v:g}" for k, (op, v) in TARGETS.items()},
        "runtime_s": round(runtime, 1),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "scenarios": {
            name: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in s.items()}
            for name, s in summaries.items()
        },
    }
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
