"""The main job as a Ray DAG: stage actors with fractional GPUs and clips in parallel.

    probe, decode audio (driver)
      → transcribe: audio split at silences, chunks spread over a pool of TranscriberActors
      → select moments (driver; cached)
      → for every clip at once: faces task → SpeakerScorerActor → finish task
        (reframe, captions, render) → clip files
      → clips.json (driver)

The stage code is the same as the in-process `pipeline.job.run_job`; this module only adds
thin actor wrappers that load their model once, resources from a `ResourceProfile`, names per
stage and job for the Ray dashboard, bounded retries, and progress events that reach the
caller through a Ray queue while the job runs. Transcripts, moments and reframe plans are
cached, so a retried job skips what it already finished.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import ray
from ray.util.queue import Queue

from pipeline.assets import YUNET, resolve_asset
from pipeline.cache import StageCache
from pipeline.chunking import merge_transcripts, split_at_silences
from pipeline.errors import ClipzzError, StageFailed
from pipeline.faces import FaceDetector
from pipeline.follow import Crops, cut_face_crops, score_crops
from pipeline.job import (
    ClipResult,
    JobOptions,
    JobResult,
    ProgressEvent,
    ProgressFn,
    Timer,
    cached_moments,
    cached_transcript,
    clip_audio,
    finish_clip,
    plan_key,
    stage_cache,
    write_json,
    write_results,
)
from pipeline.media import MediaInfo, decode_audio, probe
from pipeline.moments import Moment
from pipeline.profiles import ResourceProfile, resolve_profile
from pipeline.reframe import plan_from_json, plan_reframe, speech_frames
from pipeline.speakers import SpeakerOptions, SpeakerScorer
from pipeline.tracks import FPS, FaceScan, ScanOptions, scan_faces
from pipeline.transcribe import SAMPLE_RATE, TranscribeOptions, Transcript
from pipeline.transcribe_whisperx import make_transcriber

__all__ = [
    "SpeakerScorerActor",
    "TranscriberActor",
    "connect",
    "run_job_on_ray",
    "transcribe_chunked",
]

logger = logging.getLogger("clipzz.pipeline")

# Bounded retries: a crashed worker is retried, a clip that kills its worker every time is not.
TASK_RETRIES = 2
ACTOR_RESTARTS = 2


@ray.remote
class TranscriberActor:
    """Loads Whisper once; transcribes audio chunks with source-time offsets."""

    def __init__(self, options: TranscribeOptions) -> None:
        self._transcriber = make_transcriber(options)

    def transcribe(self, audio: np.ndarray, offset: float) -> Transcript:
        return self._transcriber.transcribe(audio, offset=offset)

    def gpu_ids(self) -> list:
        return list(ray.get_gpu_ids())


@ray.remote
class SpeakerScorerActor:
    """Loads LR-ASD (or the fallback) once; scores the face crops of one clip per call."""

    def __init__(self, options: SpeakerOptions) -> None:
        self._scorer = SpeakerScorer(options)

    def name(self) -> str:
        return self._scorer.name

    def score(
        self, faces: tuple[FaceScan, Crops, float], audio: np.ndarray
    ) -> tuple[dict[int, np.ndarray], float]:
        scan, crops, _ = faces
        began = time.perf_counter()
        scores = score_crops(crops, scan, audio, self._scorer)
        return scores, time.perf_counter() - began


def connect(
    address: str | None = None,
    *,
    num_cpus: float | None = None,
    num_gpus: float | None = None,
    temp_dir: str | None = None,
    dashboard: bool = False,
) -> None:
    """Join the cluster at `address`, or start a private local one when it is None.

    A local cluster gets random ports (never Redis's 6379), the dashboard only when asked
    (127.0.0.1), a small object store and a short temp dir (Unix socket paths are limited to
    107 bytes).
    """
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        return
    ray.init(
        address="local",
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        include_dashboard=dashboard,
        dashboard_host="127.0.0.1",
        object_store_memory=512 * 1024**2,
        log_to_driver=False,
        logging_level=logging.WARNING,
        _temp_dir=temp_dir,
    )


def _emitter(queue: Queue | None) -> ProgressFn:
    """Progress from a worker; render progress is thinned to one event per 5 %."""
    last: dict[tuple[str, int | None], float] = {}

    def emit(event: ProgressEvent) -> None:
        if queue is None:
            return
        key = (event.stage, event.clip)
        if 0 < event.fraction < 1 and event.fraction - last.get(key, -1.0) < 0.05:
            return
        last[key] = event.fraction
        queue.put_nowait(event)

    return emit


@ray.remote
def faces_task(
    info: MediaInfo,
    moment: Moment,
    index: int,
    yunet: Path,
    options: ScanOptions,
    queue: Queue | None,
) -> tuple[FaceScan, Crops, float]:
    emit = _emitter(queue)
    emit(ProgressEvent("clip", 0.0, index))
    began = time.perf_counter()
    scan = scan_faces(info.path, moment.start, moment.end, FaceDetector(yunet), options)
    crops = cut_face_crops(info.path, moment.start, moment.end, scan)
    emit(ProgressEvent("faces", 1.0, index))
    return scan, crops, time.perf_counter() - began


@ray.remote
def finish_task(
    index: int,
    moment: Moment,
    info: MediaInfo,
    transcript: Transcript,
    faces: tuple[FaceScan, Crops, float] | None,
    scores: tuple[dict[int, np.ndarray], float] | None,
    scorer_name: str,
    speech: np.ndarray,
    cached_plan: dict | None,
    options: JobOptions,
    out_dir: Path,
    cache_root: Path,
    queue: Queue | None,
) -> ClipResult:
    """Reframe, captions and render of one clip; writes the plan to the stage cache."""
    emit = _emitter(queue)
    emit(ProgressEvent("render", 0.0, index, message=f"worker pid {os.getpid()}"))
    timings: dict[str, float] = {}
    if cached_plan is not None:
        plan = plan_from_json(cached_plan)
    else:
        assert faces is not None and scores is not None
        scan, _, timings["faces"] = faces
        track_scores, timings["speakers"] = scores
        began = time.perf_counter()
        plan = plan_reframe(scan, track_scores, options.reframe, scorer=scorer_name, speech=speech)
        timings["reframe"] = time.perf_counter() - began
        key = plan_key(info, moment, options, scorer_name)
        StageCache(cache_root).put("plan", key, plan.to_json())
    return finish_clip(
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


def _unwrap(exc: ray.exceptions.RayTaskError) -> Exception:
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, ClipzzError) else StageFailed("ray", str(exc).splitlines()[0])


def _wait(refs: list[ray.ObjectRef], queue: Queue, emit: ProgressFn) -> list[Any]:
    """Wait for `refs` while passing progress events on to the caller."""
    pending = list(refs)
    while pending:
        _, pending = ray.wait(pending, num_returns=len(pending), timeout=0.2)
        _drain(queue, emit)
    _drain(queue, emit)
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as exc:
        raise _unwrap(exc) from exc


def _drain(queue: Queue, emit: ProgressFn) -> None:
    while not queue.empty():
        emit(queue.get_nowait())


def transcribe_chunked(
    audio: np.ndarray,
    options: TranscribeOptions,
    profile: ResourceProfile,
    job_id: str,
    emit: ProgressFn | None = None,
) -> Transcript:
    """Transcribe `audio` as chunks cut at silences, in parallel over a pool of actors."""
    chunks = split_at_silences(audio, profile.chunk_seconds)
    size = max(1, min(profile.transcribers, len(chunks)))
    options = replace(
        options,
        device=profile.whisper_device,
        compute_type=profile.whisper_compute_type,
        cpu_threads=max(1, int(profile.transcribe.num_cpus)),
        backend=profile.transcribe_backend,
    )
    pool = [
        TranscriberActor.options(
            name=f"transcriber:{job_id}:{i}",
            max_restarts=ACTOR_RESTARTS,
            max_task_retries=TASK_RETRIES,
            **profile.transcribe.ray_options(),
        ).remote(options)
        for i in range(size)
    ]
    try:
        refs = [
            pool[i % size].transcribe.remote(audio[a:b], a / SAMPLE_RATE)
            for i, (a, b) in enumerate(chunks)
        ]
        parts = []
        for done, ref in enumerate(refs, start=1):
            parts.append(ray.get(ref))
            if emit:
                emit(ProgressEvent("transcribe", done / len(refs)))
    except ray.exceptions.RayTaskError as exc:
        raise _unwrap(exc) from exc
    finally:
        for actor in pool:
            ray.kill(actor)
    return merge_transcripts(
        list(zip(chunks, parts, strict=True)), duration=len(audio) / SAMPLE_RATE
    )


def run_job_on_ray(
    source: str | Path,
    out_dir: str | Path,
    options: JobOptions | None = None,
    *,
    profile: str | ResourceProfile = "auto",
    job_id: str | None = None,
    progress: ProgressFn | None = None,
) -> JobResult:
    """Run the main job on the connected Ray cluster (call `ray.init` first)."""
    options = options or JobOptions()
    emit: ProgressFn = progress or (lambda event: None)
    out_dir = Path(out_dir)
    job_id = job_id or uuid.uuid4().hex[:8]
    timer = Timer()
    if isinstance(profile, str):
        profile = resolve_profile(profile, ray.cluster_resources())
    options = replace(
        options,
        speakers=replace(
            options.speakers,
            device=profile.speaker_device,
            chunks_per_batch=profile.speaker_chunks_per_batch,
        ),
        render=replace(options.render, encoder=profile.video_encoder),
    )

    # 1. Check the input and fetch models before starting any work on the cluster.
    with timer.stage("probe"):
        info = probe(source)
        out_dir.mkdir(parents=True, exist_ok=True)
        yunet = resolve_asset(YUNET, options.assets)
    cache = stage_cache(options, out_dir)
    emit(ProgressEvent("probe", 1.0, message=f"{info.duration:.1f} s {info.width}×{info.height}"))
    with timer.stage("audio"):
        audio = decode_audio(info.path)
    emit(ProgressEvent("audio", 1.0))

    queue = Queue(actor_options={"num_cpus": 0, "name": f"progress:{job_id}"})
    scorer = SpeakerScorerActor.options(
        name=f"speakers:{job_id}",
        max_restarts=ACTOR_RESTARTS,
        max_task_retries=TASK_RETRIES,
        **profile.speakers.ray_options(),
    ).remote(options.speakers)
    try:
        # 2. Words, from chunks transcribed in parallel.
        with timer.stage("transcribe"):
            transcript = cached_transcript(
                info,
                options,
                cache,
                lambda: transcribe_chunked(audio, options.transcribe, profile, job_id, emit),
            )
        write_json(out_dir / "transcript.json", transcript.to_json())
        emit(ProgressEvent("transcribe", 1.0, message=f"{len(transcript.words)} words"))

        # 3. Moments.
        with timer.stage("moments"):
            selection = cached_moments(transcript, options, cache)
        emit(ProgressEvent("moments", 1.0, message=f"{len(selection.moments)} moments"))

        # 4. Every clip at once.
        with timer.stage("clips"):
            clips = _run_clips(
                selection.moments,
                info=info,
                audio=audio,
                transcript=transcript,
                yunet=yunet,
                scorer=scorer,
                options=options,
                profile=profile,
                out_dir=out_dir,
                cache_root=cache.root,
                job_id=job_id,
                queue=queue,
                emit=emit,
            )
        scorer_name = ray.get(scorer.name.remote())
    finally:
        ray.kill(scorer)
        ray.kill(queue.actor)
    for clip in clips:
        for stage, seconds in clip.timings.items():
            timer.add(stage, seconds)
    return write_results(
        out_dir,
        info=info,
        transcript=transcript,
        selection=selection,
        clips=clips,
        speaker_scorer=scorer_name,
        timings=timer.totals,
    )


def _run_clips(
    moments: list[Moment],
    *,
    info: MediaInfo,
    audio: np.ndarray,
    transcript: Transcript,
    yunet: Path,
    scorer: ray.actor.ActorHandle,
    options: JobOptions,
    profile: ResourceProfile,
    out_dir: Path,
    cache_root: Path,
    job_id: str,
    queue: Queue,
    emit: Callable[[ProgressEvent], None],
) -> list[ClipResult]:
    scorer_name = ray.get(scorer.name.remote())
    info_ref, transcript_ref = ray.put(info), ray.put(transcript)
    refs = []
    for index, moment in enumerate(moments):
        cached = StageCache(cache_root).get("plan", plan_key(info, moment, options, scorer_name))
        faces = scores = None
        sound = clip_audio(audio, moment)
        if cached is None:
            faces = faces_task.options(
                name=f"faces:{job_id}:{index}",
                max_retries=TASK_RETRIES,
                **profile.faces.ray_options(),
            ).remote(info_ref, moment, index, yunet, options.scan, queue)
            scores = scorer.score.remote(faces, sound)
        refs.append(
            finish_task.options(
                name=f"render:{job_id}:{index}",
                max_retries=TASK_RETRIES,
                **profile.render.ray_options(),
            ).remote(
                index,
                moment,
                info_ref,
                transcript_ref,
                faces,
                scores,
                scorer_name,
                speech_frames(sound, round((moment.end - moment.start) * FPS)),
                cached,
                options,
                out_dir,
                cache_root,
                queue,
            )
        )
    return _wait(refs, queue, emit)
