"""Generate the synthetic two-person "podcast" sample video used by clipzz demos and benchmarks.

How the committed sample was made
---------------------------------
    python bench/make_sample.py --out bench/sample/podcast.mp4

This writes ``bench/sample/podcast.mp4`` and, next to it, ``bench/sample/podcast.truth.json``
(frame rate, size, duration, face boxes in output pixels, and the timing and text of every
utterance). Everything is generated locally; nothing is downloaded.

Picture: 1280x720, 25 fps. Both "people" are the scikit-image astronaut photo
(``skimage.data.astronaut()``, Eileen Collins, NASA, public domain). Person A (host "Sam") sits
on a dark-blue panel in the left third; person B (guest "Emma") is the same photo mirrored with
``cv2.flip`` and warm-tinted, on a dark-red panel in the right third. Faces are about 165x205 px,
so YuNet (``cv2.FaceDetectorYN``) finds both at 640 px width. The photo's smiling mouth is
inpainted away and replaced by a drawn mouth whose opening follows that speaker's own audio
envelope (RMS over 40 ms); the silent speaker's mouth stays a closed line. The whole frame
drifts by a few pixels, slowly, so the picture is not perfectly static.

Sound: each utterance is synthesised separately with espeak-ng (A: ``en-us``, B: ``en-gb+f3``,
both at 160 wpm), leading/trailing silence is trimmed, and the utterances are laid on a
timeline with seeded 0.3-0.8 s gaps and longer pauses before each new question. espeak-ng
writes 22.05 kHz mono, which is mixed in numpy and encoded as AAC mono at 44.1 kHz.

Encoding: raw BGR frames are piped to the ffmpeg binary from ``imageio_ffmpeg`` and encoded as
H.264 (libx264, CRF 28, yuv420p) with ``-movflags +faststart``.

Determinism: the gap lengths come from a fixed seed and the drift is a function of the frame
number, so for the same espeak-ng and ffmpeg builds a rerun gives a byte-identical file. The
committed sample was made with espeak-ng 1.51 (Debian 12 package) and the ffmpeg 9.0.2 binary of
imageio-ffmpeg 0.8.1; it is about 162 s long and 4.5 MB, and took about 100 s to make on two
CPU cores (almost all of it x264; ``--preset veryfast`` is quicker and slightly larger).
Other espeak-ng versions may shift the timings; the truth file is always rewritten to match.

Tools and licences: scikit-image (BSD-3) ships the astronaut image (public domain, NASA).
espeak-ng is GPL-3.0; it is only run as a tool, and the speech it produces is not encumbered
by that licence. ffmpeg (from imageio-ffmpeg, GPL build) is also only run as a tool.

Requirements: ``espeak-ng`` on PATH (``apt-get install espeak-ng``), and numpy, opencv,
scikit-image and imageio-ffmpeg in the Python environment.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
from skimage import data as skdata

FPS = 25
WIDTH, HEIGHT = 1280, 720
SAMPLE_RATE = 22050  # espeak-ng's native rate; avoids a resampling step before the mix
SEED = 20240501
WPM = 160

VOICES = {"A": "en-us", "B": "en-gb+f3"}
NAMES = {"A": "SAM  (host)", "B": "EMMA  (guest)"}

# Photo geometry in 512x512 source pixels, from YuNet (score ~0.94) on the source and on the
# rendered tiles: face box (x, y, w, h), and mouth centre / width from the mouth landmarks.
SRC_FACE = (181.0, 62.0, 90.0, 115.0)
SRC_MOUTH_CENTER = (223.0, 143.0)
SRC_MOUTH_WIDTH = 40.0
# Crop of the photo shown in each tile (x0, y0, x1, y1) and its scale in the output.
CROP = (90, 0, 360, 380)
SCALE = 1.8
TILE_MARGIN_X = 30
TILE_Y = 18
DRIFT_PAD = 4  # max drift in px; the canvas is padded by this much on every side

PANEL_BGR = {"A": (70, 35, 15), "B": (25, 25, 75)}  # dark blue left, dark red-brown right
MOUTH_BGR = (30, 20, 70)
LIP_BGR = (70, 80, 150)
MAX_MOUTH_OPEN_PX = 16.0

# (speaker, text, pause before in seconds or None for a short random gap)
SCRIPT: list[tuple[str, str, float | None]] = [
    (
        "A",
        (
            "Hello, and welcome back to the show. I'm Sam, and today I'm talking with Emma, who "
            "grows fresh vegetables on city rooftops. Emma, thanks for being here."
        ),
        None,
    ),
    (
        "B",
        "Thanks for having me, Sam. I'm really happy to be here.",
        None,
    ),
    (
        "A",
        "So let's start at the beginning. How did you first get into rooftop gardening?",
        1.2,
    ),
    (
        "B",
        (
            "Let me tell you a story about my grandmother. I remember when I was ten years old. "
            "She lived in a small apartment in the middle of the city, with no garden at all. But "
            "every summer, she grew tomatoes, beans, and fresh herbs in old buckets on the roof "
            "of her building. One morning she handed me a ripe tomato, still warm from the sun, "
            "and she said, this is what the city can give you, if you ask nicely. I never forgot "
            "that moment. Years later, when I moved into my own flat, the first thing I did was "
            "climb onto the roof with some soil and a few seeds. That was twelve years ago, and I "
            "have been a rooftop gardener ever since."
        ),
        None,
    ),
    (
        "A",
        (
            "What a beautiful story. What is the biggest mistake people make when they start a "
            "garden on a roof?"
        ),
        1.4,
    ),
    (
        "B",
        (
            "The biggest mistake is forgetting about the wind and the sun. A roof is not like a "
            "normal garden. It is hotter, it is drier, and the wind never stops. People choose "
            "weak plants, put them in small pots, and after one hot week all the plants are dead. "
            "My advice is simple. Use big containers, because more soil means more water for the "
            "roots. Choose tough plants like rosemary, thyme, and small tomatoes. Put up a low "
            "fence to stop the wind. And most important, check with your building first, because "
            "soil and water are heavy, and you want to be sure the roof can carry the weight."
        ),
        None,
    ),
    (
        "A",
        (
            "Great advice. If a listener would like to start this weekend, what should they do "
            "first?"
        ),
        1.4,
    ),
    (
        "B",
        (
            "Start small. Pick one large pot, one bag of good soil, and one plant that you love "
            "to eat. You do not need to spend a lot of money. Give it water every morning before "
            "work, and just watch what happens. You will learn a lot from just one plant. When "
            "that plant does well, add another one. Then try some lettuce, or a few strawberries "
            "for the summer. After one year you will have a real garden, and you will know your "
            "roof, your light, and your weather. The most important thing is to enjoy it. "
            "Gardening should make your life calmer, not harder."
        ),
        None,
    ),
    (
        "A",
        "Emma, this has been wonderful. Thank you so much for coming on the show.",
        1.2,
    ),
    (
        "B",
        "Thank you, Sam. It was a pleasure. Goodbye everyone, and happy growing.",
        None,
    ),
    (
        "A",
        "And thank you all for listening. See you next week. Goodbye!",
        None,
    ),
]

LEAD_IN_S = 0.8
TAIL_S = 1.2


@dataclass(frozen=True)
class Turn:
    speaker: str
    start: float
    end: float
    text: str


# ---------------------------------------------------------------- audio


def synth_utterance(text: str, voice: str, workdir: Path, index: int) -> np.ndarray:
    """Synthesise one utterance with espeak-ng and return float32 samples at SAMPLE_RATE."""
    wav_path = workdir / f"utt_{index:02d}.wav"
    cmd = ["espeak-ng", "-v", voice, "-s", str(WPM), "-w", str(wav_path), text]
    subprocess.run(cmd, check=True, capture_output=True)
    samples, rate = read_wav(wav_path)
    if rate != SAMPLE_RATE:
        raise RuntimeError(f"espeak-ng wrote {rate} Hz, expected {SAMPLE_RATE} Hz")
    return trim_silence(samples)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wf:
        if wf.getsampwidth() != 2:
            raise RuntimeError(f"{path}: expected 16-bit PCM")
        frames = wf.readframes(wf.getnframes())
        rate = wf.getframerate()
        channels = wf.getnchannels()
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return samples, rate


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes(pcm.tobytes())


def trim_silence(samples: np.ndarray, threshold: float = 300 / 32768) -> np.ndarray:
    # espeak-ng pads each file with silence; trimming keeps truth timings tight to the speech.
    loud = np.flatnonzero(np.abs(samples) > threshold)
    if loud.size == 0:
        return samples[:0]
    return samples[loud[0] : loud[-1] + 1]


def layout_timeline(
    clips: list[np.ndarray], rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], list[Turn]]:
    """Place utterances on per-speaker tracks; return the tracks and the turn timings."""
    starts: list[int] = []
    cursor = int(LEAD_IN_S * SAMPLE_RATE)
    for i, (clip, (_, _, pause)) in enumerate(zip(clips, SCRIPT, strict=True)):
        if i > 0:
            gap = pause if pause is not None else float(rng.uniform(0.3, 0.8))
            cursor += int(gap * SAMPLE_RATE)
        starts.append(cursor)
        cursor += clip.size
    total = cursor + int(TAIL_S * SAMPLE_RATE)
    total = frames_to_samples(samples_to_frames(total))  # whole number of video frames
    tracks = {spk: np.zeros(total, dtype=np.float32) for spk in VOICES}
    turns: list[Turn] = []
    for clip, start, (spk, text, _) in zip(clips, starts, SCRIPT, strict=True):
        tracks[spk][start : start + clip.size] += clip
        turns.append(Turn(spk, start / SAMPLE_RATE, (start + clip.size) / SAMPLE_RATE, text))
    return tracks, turns


def samples_to_frames(n_samples: int) -> int:
    return math.ceil(n_samples * FPS / SAMPLE_RATE)


def frames_to_samples(n_frames: int) -> int:
    return round(n_frames * SAMPLE_RATE / FPS)


def mix(tracks: dict[str, np.ndarray]) -> np.ndarray:
    mixed = sum(tracks.values())
    peak = float(np.max(np.abs(mixed))) or 1.0
    return (mixed * (0.89 / peak)).astype(np.float32)  # about -1 dBFS, no clipping


def mouth_envelope(track: np.ndarray, n_frames: int) -> np.ndarray:
    """Per-frame mouth opening in [0, 1] from a speaker's own track (RMS over 40 ms)."""
    half = int(0.02 * SAMPLE_RATE)
    power = np.concatenate([[0.0], np.cumsum(track.astype(np.float64) ** 2)])
    # Centred half a frame late, so each window covers exactly the 40 ms the frame is on screen.
    centres = (np.arange(n_frames) * SAMPLE_RATE / FPS).astype(int) + half
    lo = np.clip(centres - half, 0, track.size)
    hi = np.clip(centres + half, 0, track.size)
    rms = np.sqrt((power[hi] - power[lo]) / np.maximum(hi - lo, 1))
    voiced = rms[rms > 0.01]
    ref = float(np.percentile(voiced, 95)) if voiced.size else 1.0
    env = np.clip(rms / ref, 0.0, 1.0)
    env[env < 0.08] = 0.0  # breath-level noise would make the mouth flicker
    return env


# ---------------------------------------------------------------- picture


def person_photo(mirror: bool, scale: float = SCALE) -> np.ndarray:
    """Cropped, scaled astronaut photo with the printed smile removed (BGR).

    `scale` is output pixels per source pixel; the sample uses SCALE (bench/quality.py uses
    other scales for wide shots and close-ups)."""
    img = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    # Inpaint the smile so the drawn mouth reads as closed when the person is silent.
    mask = np.zeros(img.shape[:2], dtype=np.uint8)
    mx, my = SRC_MOUTH_CENTER
    cv2.ellipse(mask, (int(mx), int(my)), (24, 10), 0, 0, 360, 255, -1)
    img = cv2.inpaint(img, mask, 7, cv2.INPAINT_TELEA)
    x0, y0, x1, y1 = CROP
    crop = img[y0:y1, x0:x1]
    crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    if mirror:
        crop = cv2.flip(crop, 1)
        # A warm tint so the two tiles are not pixel-identical.
        tint = np.array([0.86, 0.97, 1.12], dtype=np.float32)
        crop = np.clip(crop.astype(np.float32) * tint, 0, 255).astype(np.uint8)
    return crop


def tile_origin(speaker: str) -> tuple[int, int]:
    tile_w = round((CROP[2] - CROP[0]) * SCALE)
    x = TILE_MARGIN_X if speaker == "A" else WIDTH - TILE_MARGIN_X - tile_w
    return x, TILE_Y


def to_output(speaker: str, x: float, y: float) -> tuple[float, float]:
    """Map a point in the 512x512 source photo to output pixels (mirrored for B)."""
    ox, oy = tile_origin(speaker)
    cx = (x - CROP[0]) * SCALE
    if speaker == "B":
        cx = (CROP[2] - CROP[0]) * SCALE - cx
    return ox + cx, oy + (y - CROP[1]) * SCALE


def face_box(speaker: str) -> list[int]:
    x, y, w, h = SRC_FACE
    xa, ya = to_output(speaker, x, y)
    xb, yb = to_output(speaker, x + w, y + h)
    return [round(min(xa, xb)), round(ya), round(abs(xb - xa)), round(yb - ya)]


def base_canvas() -> np.ndarray:
    """The static frame (panels, photos, name labels), padded for drift."""
    canvas = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    canvas[:, : WIDTH // 2] = PANEL_BGR["A"]
    canvas[:, WIDTH // 2 :] = PANEL_BGR["B"]
    for spk in VOICES:
        photo = person_photo(mirror=spk == "B")
        x, y = tile_origin(spk)
        canvas[y : y + photo.shape[0], x : x + photo.shape[1]] = photo
        draw_label(canvas, spk, x, y + photo.shape[0])
    return cv2.copyMakeBorder(canvas, *([DRIFT_PAD] * 4), cv2.BORDER_REPLICATE)


def draw_label(canvas: np.ndarray, speaker: str, x: int, bottom: int) -> None:
    text = NAMES[speaker]
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.7, 2)
    top = bottom - th - 24
    cv2.rectangle(canvas, (x, top), (x + tw + 20, bottom), (20, 20, 20), -1)
    cv2.putText(
        canvas,
        text,
        (x + 10, bottom - 12),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.7,
        (235, 235, 235),
        2,
        cv2.LINE_AA,
    )


def draw_mouth(frame: np.ndarray, speaker: str, opening: float) -> None:
    cx, cy = to_output(speaker, *SRC_MOUTH_CENTER)
    centre = (round(cx) + DRIFT_PAD, round(cy) + DRIFT_PAD)
    half_w = round(SRC_MOUTH_WIDTH * SCALE * 0.5 * 0.85)
    half_h = round(opening * MAX_MOUTH_OPEN_PX / 2)
    if half_h >= 1:
        cv2.ellipse(frame, centre, (half_w, half_h), 0, 0, 360, MOUTH_BGR, -1, cv2.LINE_AA)
        cv2.ellipse(frame, centre, (half_w, half_h), 0, 0, 360, LIP_BGR, 2, cv2.LINE_AA)
    else:
        p0 = (centre[0] - half_w, centre[1])
        p1 = (centre[0] + half_w, centre[1])
        cv2.line(frame, p0, p1, LIP_BGR, 3, cv2.LINE_AA)


def drift(frame_index: int) -> tuple[int, int]:
    # Slow, incommensurate sinusoids: a gentle handheld feel that never repeats exactly.
    t = frame_index / FPS
    dx = round((DRIFT_PAD - 1) * math.sin(2 * math.pi * t / 11.0))
    dy = round((DRIFT_PAD - 2) * math.sin(2 * math.pi * t / 7.0 + 1.0))
    return dx, dy


def render_frame(base: np.ndarray, envs: dict[str, np.ndarray], index: int) -> np.ndarray:
    frame = base.copy()
    for spk, env in envs.items():
        draw_mouth(frame, spk, float(env[index]))
    dx, dy = drift(index)
    y0, x0 = DRIFT_PAD + dy, DRIFT_PAD + dx
    return np.ascontiguousarray(frame[y0 : y0 + HEIGHT, x0 : x0 + WIDTH])


# ---------------------------------------------------------------- encode


def ffmpeg_command(audio_path: Path, out: Path, crf: int, preset: str) -> list[str]:
    return [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-y", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{WIDTH}x{HEIGHT}", "-r", str(FPS),
        "-i", "-",
        "-i", str(audio_path),
        "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
        "-g", str(FPS * 10),
        "-c:a", "aac", "-b:a", "96k", "-ar", "44100", "-ac", "1",
        "-map_metadata", "-1", "-movflags", "+faststart",
        str(out),
    ]  # fmt: skip


def encode(
    out: Path, audio_path: Path, envs: dict[str, np.ndarray], n_frames: int, crf: int, preset: str
) -> None:
    base = base_canvas()
    proc = subprocess.Popen(ffmpeg_command(audio_path, out, crf, preset), stdin=subprocess.PIPE)
    assert proc.stdin is not None
    try:
        for i in range(n_frames):
            proc.stdin.write(render_frame(base, envs, i).tobytes())
    finally:
        proc.stdin.close()
        rc = proc.wait()
    if rc != 0:
        raise RuntimeError(f"ffmpeg exited with status {rc}")


def write_truth(path: Path, duration: float, turns: list[Turn]) -> None:
    truth = {
        "fps": FPS,
        "size": [WIDTH, HEIGHT],
        "duration": round(duration, 3),
        "faces": {spk: face_box(spk) for spk in VOICES},
        "turns": [
            {
                "speaker": t.speaker,
                "start": round(t.start, 3),
                "end": round(t.end, 3),
                "text": t.text,
            }
            for t in turns
        ],
    }
    path.write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")


def build(out: Path, crf: int, preset: str) -> None:
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng not found on PATH (apt-get install espeak-ng)")
    out.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    with tempfile.TemporaryDirectory(prefix="clipzz_sample_") as tmp:
        workdir = Path(tmp)
        clips = [
            synth_utterance(text, VOICES[spk], workdir, i)
            for i, (spk, text, _) in enumerate(SCRIPT)
        ]
        tracks, turns = layout_timeline(clips, rng)
        n_samples = next(iter(tracks.values())).size
        n_frames = samples_to_frames(n_samples)
        envs = {spk: mouth_envelope(track, n_frames) for spk, track in tracks.items()}
        audio_path = workdir / "mix.wav"
        write_wav(audio_path, mix(tracks), SAMPLE_RATE)
        encode(out, audio_path, envs, n_frames, crf, preset)
    write_truth(out.with_suffix(".truth.json"), n_frames / FPS, turns)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/sample/podcast.mp4"))
    parser.add_argument("--crf", type=int, default=28)
    parser.add_argument("--preset", default="medium", help="x264 preset")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    t0 = time.monotonic()
    build(args.out, args.crf, args.preset)
    size_mb = args.out.stat().st_size / 1e6
    print(f"wrote {args.out} ({size_mb:.2f} MB) in {time.monotonic() - t0:.1f} s")


if __name__ == "__main__":
    main()
