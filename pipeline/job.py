"""The main job: one source video in, captioned vertical clips and their metadata out.

Steps, in order: probe → decode audio → transcribe → select moments → for every moment:
faces → speakers → reframe → captions → render. The output directory follows the contract in
DESIGN.md (`clips.json`, `transcript.json`, `clip_i.{mp4,srt,ass,reframe.json}`). Metadata is
written atomically and `clips.json` last, so a reader never sees a half-finished result.

The stage functions here are shared by the in-process `run_job` and the Ray DAG in
`pipeline.distributed`; both cache transcripts, moments and reframe plans under deterministic
keys, so a retried job skips the stages it already finished.
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
from pipeline.cache import (
    StageCache,
    moments_from_json,
    moments_to_json,
    source_fingerprint,
    transcript_from_json,
    transcript_to_json,
)
from pipeline.captions import write_captions
from pipeline.faces import FaceDetector
from pipeline.follow import cut_face_crops, score_crops
from pipeline.media import MediaInfo, decode_audio, probe
from pipeline.moments import Moment, MomentOptions, MomentSelection, select_moments
from pipeline.reframe import (
    ReframeOptions,
    ReframePlan,
    plan_from_json,
    plan_reframe,
    speech_frames,
)
from pipeline.render import RenderOptions, render_clip
from pipeline.speakers import SpeakerOptions, SpeakerScorer
from pipeline.tracks import ScanOptions, scan_faces
from pipeline.transcribe import SAMPLE_RATE, TranscribeOptions, Transcript
from pipeline.transcribe_whisperx import make_transcriber

__all__ = [
    "ClipResult",
    "JobOptions",
    "JobResult",
    "Models",
    "ProgressEvent",
    "cached_moments",
    "cached_transcript",
    "clip_audio",
    "finish_clip",
    "run_job",
    "write_results",
]

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
    "clips",
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
    pid: int = field(default_factory=os.getpid)


ProgressFn = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class JobOptions:
    """Everything a job needs to know; built by the CLI or the service from settings.

    Attributes:
        cache_dir: where stage outputs are cached; None keeps them in `<out_dir>/.cache`.
    """

    transcribe: TranscribeOptions = field(default_factory=TranscribeOptions)
    moments: MomentOptions = field(default_factory=MomentOptions)
    scan: ScanOptions = field(default_factory=ScanOptions)
    speakers: SpeakerOptions = field(default_factory=SpeakerOptions)
    reframe: ReframeOptions = field(default_factory=ReframeOptions)
    render: RenderOptions = field(default_factory=RenderOptions)
    assets: AssetOptions = field(default_factory=AssetOptions)
    cache_dir: Path | None = None


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


class Timer:
    """Wall time per stage, summed over clips."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}

    def add(self, stage: str, seconds: float) -> None:
        self.totals[stage] = self.totals.get(stage, 0.0) + seconds

    @contextmanager
    def stage(self, name: str, into: dict[str, float] | None = None) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - began
            self.add(name, spent)
            if into is not None:
                into[name] = spent


def write_json(path: Path, data: dict) -> None:
    """Write JSON under a temporary name and rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def stage_cache(options: JobOptions, out_dir: Path) -> StageCache:
    return StageCache(options.cache_dir or out_dir / ".cache")


def cached_transcript(
    info: MediaInfo,
    options: JobOptions,
    cache: StageCache,
    transcribe_fn: Callable[[], Transcript],
) -> Transcript:
    """The transcript from the cache, or from `transcribe_fn` (then cached)."""
    key = cache.key(source_fingerprint(info.path), options.transcribe)
    hit = cache.get("transcript", key)
    if hit is not None:
        return transcript_from_json(hit)
    transcript = transcribe_fn()
    cache.put("transcript", key, transcript_to_json(transcript))
    return transcript


def cached_moments(
    transcript: Transcript, options: JobOptions, cache: StageCache
) -> MomentSelection:
    """Moments from the cache, or from the selector (then cached)."""
    key = cache.key(transcript_to_json(transcript), options.moments)
    hit = cache.get("moments", key)
    if hit is not None:
        return MomentSelection(moments_from_json(hit["moments"]), hit["selector"], hit["dropped"])
    selection = select_moments(transcript, options.moments)
    cache.put(
        "moments",
        key,
        {
            "moments": moments_to_json(selection.moments),
            "selector": selection.selector,
            "dropped": selection.dropped,
        },
    )
    return selection


def plan_key(info: MediaInfo, moment: Moment, options: JobOptions, scorer: str) -> str:
    return StageCache.key(
        source_fingerprint(info.path),
        moment.start,
        moment.end,
        options.scan,
        options.reframe,
        scorer,
    )


def clip_audio(audio: np.ndarray, moment: Moment) -> np.ndarray:
    return audio[round(moment.start * SAMPLE_RATE) : round(moment.end * SAMPLE_RATE)]


def finish_clip(
    index: int,
    moment: Moment,
    plan: ReframePlan,
    *,
    info: MediaInfo,
    transcript: Transcript,
    options: JobOptions,
    out_dir: Path,
    timings: dict[str, float],
    emit: ProgressFn,
) -> ClipResult:
    """Captions and render for one planned clip (the last per-clip stages)."""
    emit(ProgressEvent("reframe", 1.0, index))
    write_json(out_dir / f"clip_{index}.reframe.json", plan.to_json())
    ass, srt = out_dir / f"clip_{index}.ass", out_dir / f"clip_{index}.srt"
    began = time.perf_counter()
    write_captions(transcript.words, moment.start, moment.end, ass, srt)
    timings["captions"] = time.perf_counter() - began
    emit(ProgressEvent("captions", 1.0, index))
    began = time.perf_counter()
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
    timings["render"] = time.perf_counter() - began
    emit(ProgressEvent("render", 1.0, index))
    emit(ProgressEvent("clip", 1.0, index))
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


def write_results(
    out_dir: Path,
    *,
    info: MediaInfo,
    transcript: Transcript,
    selection: MomentSelection,
    clips: list[ClipResult],
    speaker_scorer: str,
    timings: dict[str, float],
) -> JobResult:
    """Remove stale clip files of an earlier, larger run and write `clips.json` last."""
    keep = len(clips)
    for path in out_dir.iterdir():
        match = _CLIP_FILE.match(path.name)
        if (match and int(match.group(1)) >= keep) or path.name.endswith(".part"):
            path.unlink(missing_ok=True)
    result = JobResult(
        source=str(info.path),
        duration=info.duration,
        language=transcript.language,
        selector=selection.selector,
        transcript_model=transcript.model,
        speaker_scorer=speaker_scorer,
        clips=sorted(clips, key=lambda c: c.index),
        timings={stage: timings.get(stage, 0.0) for stage in STAGES},
        out_dir=out_dir,
    )
    write_json(out_dir / "clips.json", result.to_json())
    return result


class Models:
    """The models a job needs, loaded once; pass one to `run_job` to reuse it across jobs."""

    def __init__(self, options: JobOptions) -> None:
        self.detector = FaceDetector(resolve_asset(YUNET, options.assets))
        self.scorer = SpeakerScorer(options.speakers)
        self.transcriber = make_transcriber(options.transcribe)


def _plan(
    index: int,
    moment: Moment,
    *,
    info: MediaInfo,
    audio: np.ndarray,
    models: Models,
    options: JobOptions,
    cache: StageCache,
    timer: Timer,
    timings: dict[str, float],
) -> ReframePlan:
    key = plan_key(info, moment, options, models.scorer.name)
    hit = cache.get("plan", key)
    if hit is not None:
        return plan_from_json(hit)
    with timer.stage("faces", timings):
        scan = scan_faces(info.path, moment.start, moment.end, models.detector, options.scan)
        crops = cut_face_crops(info.path, moment.start, moment.end, scan)
    sound = clip_audio(audio, moment)
    with timer.stage("speakers", timings):
        scores = score_crops(crops, scan, sound, models.scorer)
    with timer.stage("reframe", timings):
        speech = speech_frames(sound, scan.frames)
        plan = plan_reframe(scan, scores, options.reframe, scorer=models.scorer.name, speech=speech)
    cache.put("plan", key, plan.to_json())
    return plan


def run_job(
    source: str | Path,
    out_dir: str | Path,
    options: JobOptions | None = None,
    progress: ProgressFn | None = None,
    models: Models | None = None,
) -> JobResult:
    """Turn `source` into clips under `out_dir` in this process; raises a `ClipzzError` on bad
    input. `pipeline.distributed.run_job_on_ray` runs the same stages as a Ray DAG.

    `models` must have been built with the same transcribe, speaker and asset options.
    """
    options = options or JobOptions()
    emit: ProgressFn = progress or (lambda event: None)
    out_dir = Path(out_dir)
    timer = Timer()

    # 1. Check the input before any expensive work.
    with timer.stage("probe"):
        info = probe(source)
        out_dir.mkdir(parents=True, exist_ok=True)
        models = models or Models(options)
    cache = stage_cache(options, out_dir)
    emit(ProgressEvent("probe", 1.0, message=f"{info.duration:.1f} s {info.width}×{info.height}"))

    # 2. Words.
    with timer.stage("audio"):
        audio = decode_audio(info.path)
    emit(ProgressEvent("audio", 1.0))
    with timer.stage("transcribe"):
        transcript = cached_transcript(
            info, options, cache, lambda: models.transcriber.transcribe(audio)
        )
    write_json(out_dir / "transcript.json", transcript.to_json())
    emit(ProgressEvent("transcribe", 1.0, message=f"{len(transcript.words)} words"))

    # 3. Moments.
    with timer.stage("moments"):
        selection = cached_moments(transcript, options, cache)
    for note in selection.dropped:
        logger.info("moments: %s", note)
    emit(ProgressEvent("moments", 1.0, message=f"{len(selection.moments)} moments"))

    # 4. Clips, one after another.
    clips = []
    clips_began = time.perf_counter()
    for index, moment in enumerate(selection.moments):
        emit(ProgressEvent("clip", 0.0, index))
        timings: dict[str, float] = {}
        plan = _plan(
            index,
            moment,
            info=info,
            audio=audio,
            models=models,
            options=options,
            cache=cache,
            timer=timer,
            timings=timings,
        )
        clip = finish_clip(
            index,
            moment,
            plan,
            info=info,
            transcript=transcript,
            options=options,
            out_dir=out_dir,
            timings=timings,
            emit=emit,
        )
        timer.add("captions", timings["captions"])
        timer.add("render", timings["render"])
        clips.append(clip)
    timer.add("clips", time.perf_counter() - clips_began)

    # 5. Results, last, so clips.json only ever describes finished files.
    return write_results(
        out_dir,
        info=info,
        transcript=transcript,
        selection=selection,
        clips=clips,
        speaker_scorer=models.scorer.name,
        timings=timer.totals,
    )
