"""The main job: one source video in, captioned vertical clips and their metadata out.

Steps, in order: probe → decode audio → transcribe → select moments → for every moment:
faces → reframe → captions → render. The output directory follows the contract in DESIGN.md
(`clips.json`, `transcript.json`, `clip_i.{mp4,srt,ass,reframe.json}`). Metadata files are
written atomically and `clips.json` last, so a reader never sees a half-finished result.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.assets import YUNET, AssetOptions, resolve_asset
from pipeline.captions import write_captions
from pipeline.faces import FaceDetector
from pipeline.follow import follow_speaker
from pipeline.media import MediaInfo, decode_audio, probe
from pipeline.moments import Moment, MomentOptions, select_moments
from pipeline.reframe import ReframeOptions
from pipeline.render import RenderOptions, render_clip
from pipeline.speakers import SpeakerOptions, SpeakerScorer
from pipeline.tracks import ScanOptions
from pipeline.transcribe import SAMPLE_RATE, TranscribeOptions, Transcriber, Transcript

__all__ = ["ClipResult", "JobOptions", "JobResult", "ProgressEvent", "run_job"]

logger = logging.getLogger("clipzz.pipeline")

STAGES = (
    "probe",
    "audio",
    "transcribe",
    "moments",
    "faces",
    "speakers",
    "reframe",
    "captions",
    "render",
)
# Files a job writes per clip; stale ones from an earlier, larger run are removed.
_CLIP_FILE = re.compile(r"^clip_(\d+)(\.mp4|\.srt|\.ass|\.reframe\.json)$")


@dataclass(frozen=True)
class ProgressEvent:
    """Progress of one stage; `clip` is the clip index for per-clip stages."""

    stage: str
    fraction: float
    clip: int | None = None
    message: str = ""
    at: float = field(default_factory=time.time)


ProgressFn = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class JobOptions:
    """Everything a job needs to know; built by the CLI or the service from settings."""

    transcribe: TranscribeOptions = field(default_factory=TranscribeOptions)
    moments: MomentOptions = field(default_factory=MomentOptions)
    scan: ScanOptions = field(default_factory=ScanOptions)
    speakers: SpeakerOptions = field(default_factory=SpeakerOptions)
    reframe: ReframeOptions = field(default_factory=ReframeOptions)
    render: RenderOptions = field(default_factory=RenderOptions)
    assets: AssetOptions = field(default_factory=AssetOptions)


@dataclass(frozen=True)
class ClipResult:
    index: int
    moment: Moment
    file: str
    captions: str
    ass: str
    reframe: str
    reframe_method: str
    timings: dict[str, float]

    def to_json(self) -> dict:
        m = self.moment
        return {
            "index": self.index,
            "file": self.file,
            "start": round(m.start, 3),
            "end": round(m.end, 3),
            "title": m.title,
            "hook": m.hook,
            "score": m.score,
            "score_parts": m.score_parts,
            "kind": m.kind,
            "reason": m.reason,
            "captions": self.captions,
            "ass": self.ass,
            "reframe": self.reframe,
            "reframe_method": self.reframe_method,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


@dataclass(frozen=True)
class JobResult:
    source: str
    duration: float
    language: str
    selector: str
    transcript_model: str
    speaker_scorer: str
    clips: list[ClipResult]
    timings: dict[str, float]
    out_dir: Path

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "duration": round(self.duration, 3),
            "language": self.language,
            "selector": self.selector,
            "transcript_model": self.transcript_model,
            "speaker_scorer": self.speaker_scorer,
            "clips": [c.to_json() for c in self.clips],
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


class _Timer:
    def __init__(self) -> None:
        self.totals: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str, into: dict[str, float] | None = None) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - began
            self.totals[name] = self.totals.get(name, 0.0) + spent
            if into is not None:
                into[name] = spent


def _write_json(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _remove_stale(out_dir: Path, keep: int) -> None:
    for path in out_dir.iterdir():
        match = _CLIP_FILE.match(path.name)
        if match and int(match.group(1)) >= keep:
            path.unlink()


def _make_clip(
    index: int,
    moment: Moment,
    *,
    info: MediaInfo,
    transcript: Transcript,
    audio: np.ndarray,
    detector: FaceDetector,
    scorer: SpeakerScorer,
    out_dir: Path,
    options: JobOptions,
    timer: _Timer,
    emit: ProgressFn,
) -> ClipResult:
    clip_audio = audio[round(moment.start * SAMPLE_RATE) : round(moment.end * SAMPLE_RATE)]
    followed = follow_speaker(
        info.path,
        moment.start,
        moment.end,
        clip_audio,
        detector=detector,
        scorer=scorer,
        scan_options=options.scan,
        reframe_options=options.reframe,
    )
    timings = dict(followed.timings)
    for stage, seconds in followed.timings.items():
        timer.totals[stage] = timer.totals.get(stage, 0.0) + seconds
    plan = followed.plan
    _write_json(out_dir / f"clip_{index}.reframe.json", plan.to_json())
    emit(ProgressEvent("reframe", 1.0, index))
    ass, srt = out_dir / f"clip_{index}.ass", out_dir / f"clip_{index}.srt"
    with timer.stage("captions", timings):
        write_captions(transcript.words, moment.start, moment.end, ass, srt)
    emit(ProgressEvent("captions", 1.0, index))
    with timer.stage("render", timings):
        render_clip(
            info.path,
            moment.start,
            moment.end,
            plan,
            ass,
            out_dir / f"clip_{index}.mp4",
            options.render,
            progress=lambda f: emit(ProgressEvent("render", f, index)),
        )
    emit(ProgressEvent("render", 1.0, index))
    return ClipResult(
        index=index,
        moment=moment,
        file=f"clip_{index}.mp4",
        captions=srt.name,
        ass=ass.name,
        reframe=f"clip_{index}.reframe.json",
        reframe_method=plan.method,
        timings=timings,
    )


def run_job(
    source: str | Path,
    out_dir: str | Path,
    options: JobOptions | None = None,
    progress: ProgressFn | None = None,
) -> JobResult:
    """Turn `source` into clips under `out_dir`; raises a `ClipzzError` on bad input."""
    options = options or JobOptions()
    emit: ProgressFn = progress or (lambda event: None)
    out_dir = Path(out_dir)
    timer = _Timer()

    # 1. Check the input before any expensive work.
    with timer.stage("probe"):
        info = probe(source)
        out_dir.mkdir(parents=True, exist_ok=True)
        detector = FaceDetector(resolve_asset(YUNET, options.assets))
        scorer = SpeakerScorer(options.speakers)
    emit(ProgressEvent("probe", 1.0, message=f"{info.duration:.1f} s {info.width}×{info.height}"))

    # 2. Words.
    with timer.stage("audio"):
        audio = decode_audio(info.path)
    emit(ProgressEvent("audio", 1.0))
    with timer.stage("transcribe"):
        transcript = Transcriber(options.transcribe).transcribe(audio)
    _write_json(out_dir / "transcript.json", transcript.to_json())
    emit(ProgressEvent("transcribe", 1.0, message=f"{len(transcript.words)} words"))

    # 3. Moments.
    with timer.stage("moments"):
        selection = select_moments(transcript, options.moments)
    for note in selection.dropped:
        logger.info("moments: %s", note)
    emit(ProgressEvent("moments", 1.0, message=f"{len(selection.moments)} moments"))

    # 4. Clips.
    clips = [
        _make_clip(
            i,
            moment,
            info=info,
            transcript=transcript,
            audio=audio,
            detector=detector,
            scorer=scorer,
            out_dir=out_dir,
            options=options,
            timer=timer,
            emit=emit,
        )
        for i, moment in enumerate(selection.moments)
    ]

    # 5. Results, last, so clips.json only ever describes finished files.
    _remove_stale(out_dir, keep=len(clips))
    result = JobResult(
        source=str(info.path),
        duration=info.duration,
        language=transcript.language,
        selector=selection.selector,
        transcript_model=transcript.model,
        speaker_scorer=scorer.name,
        clips=clips,
        timings={stage: timer.totals.get(stage, 0.0) for stage in STAGES},
        out_dir=out_dir,
    )
    _write_json(out_dir / "clips.json", result.to_json())
    return result
