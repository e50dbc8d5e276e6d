"""The Ray DAG on a real local Ray: packing, concurrency, chunked transcription, retries."""

from __future__ import annotations

import difflib
import json
import os
import signal
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
import ray

from pipeline.assets import AssetOptions
from pipeline.chunking import split_at_silences
from pipeline.distributed import TranscriberActor, run_job_on_ray, transcribe_chunked
from pipeline.job import JobOptions, ProgressEvent
from pipeline.media import decode_audio
from pipeline.moments import MomentOptions
from pipeline.profiles import PROFILES, StageResources, resolve_profile
from pipeline.render import RenderOptions
from pipeline.speakers import SpeakerOptions
from pipeline.transcribe import TranscribeOptions, Transcriber

pytestmark = pytest.mark.usefixtures("ray_cluster")


def test_auto_profile_follows_the_cluster() -> None:
    assert resolve_profile("auto", {"CPU": 8}).name == "cpu"
    assert resolve_profile("auto", {"CPU": 8, "GPU": 1}).name == "gpu"
    assert resolve_profile("cpu", {"GPU": 4}).transcribe.num_gpus == 0


def test_gpu_profile_packs_two_transcribers_per_gpu_and_a_fifth_waits() -> None:
    gpu = PROFILES["gpu"]
    assert gpu.transcribe.num_gpus == 0.5
    # Scheduling is what is tested: the model itself loads on the CPU.
    resources = StageResources(num_cpus=0.1, num_gpus=gpu.transcribe.num_gpus)
    actors = [
        TranscriberActor.options(**resources.ray_options()).remote(TranscribeOptions(cpu_threads=1))
        for _ in range(5)
    ]
    try:
        refs = [a.gpu_ids.remote() for a in actors]
        ready, waiting = ray.wait(refs, num_returns=5, timeout=90)
        assert len(ready) == 4 and len(waiting) == 1
        ids = sorted(str(ray.get(r)[0]) for r in ready)
        assert ids[0] == ids[1] and ids[2] == ids[3] and ids[0] != ids[2]
    finally:
        for actor in actors:
            ray.kill(actor)


def test_chunked_transcription_matches_the_whole_file(sample_video: Path) -> None:
    audio = decode_audio(sample_video)
    options = TranscribeOptions(language="en", cpu_threads=2)
    whole = Transcriber(options).transcribe(audio)
    profile = replace(PROFILES["cpu"], chunk_seconds=45.0, transcribers=2)
    chunked = transcribe_chunked(audio, options, profile, "chunktest")
    cuts = [a / 16_000 for a, _ in split_at_silences(audio, 45.0)][1:]
    assert len(cuts) >= 2
    # Cuts fall in pauses: the audio around each cut is far quieter than speech.
    speech = np.sqrt(np.mean(audio[np.abs(audio) > 0.01] ** 2))
    for cut in cuts:
        around = audio[int((cut - 0.05) * 16_000) : int((cut + 0.05) * 16_000)]
        assert np.sqrt(np.mean(around**2)) < 0.1 * speech
    norm = [w.word.lower().strip(".,?!") for w in chunked.words]
    reference = [w.word.lower().strip(".,?!") for w in whole.words]
    # Whisper decodes a few words near a join differently without the context; the words are
    # substitutions, not losses or duplicates, so the sequences still line up.
    assert difflib.SequenceMatcher(None, norm, reference).ratio() >= 0.9
    assert abs(len(norm) - len(reference)) <= 0.03 * len(reference)
    # No word is duplicated at a join, and times stay ordered.
    for a, b in zip(chunked.words, chunked.words[1:], strict=False):
        assert b.start >= a.start
        assert not (a.word == b.word and b.start < a.end)


@pytest.fixture(scope="module")
def killed_job(sample_80s: Path, model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A 3-clip job on Ray whose render worker for clip 1 is killed (SIGKILL) mid-render."""
    out = tmp_path_factory.mktemp("ray_job")
    options = JobOptions(
        moments=MomentOptions(num_clips=3, min_seconds=10, max_seconds=20, selector="local"),
        speakers=SpeakerOptions(model_dir=model_dir, allow_download=False),
        render=RenderOptions(preset="ultrafast"),
        assets=AssetOptions(model_dir=model_dir, allow_download=False),
    )
    events: list[ProgressEvent] = []
    killed: list[int] = []

    def progress(event: ProgressEvent) -> None:
        events.append(event)
        if event.stage == "render" and event.clip == 1 and event.fraction >= 0.2 and not killed:
            os.kill(event.pid, signal.SIGKILL)
            killed.append(event.pid)

    result = run_job_on_ray(
        sample_80s, out, options, profile="cpu", job_id="killtest", progress=progress
    )
    return result, events, killed, out


def test_clips_run_concurrently(killed_job) -> None:
    result, events, _, _ = killed_job
    assert len(result.clips) == 3
    spans = {}
    for e in events:
        if e.clip is not None:
            first, last = spans.get(e.clip, (e.at, e.at))
            spans[e.clip] = (min(first, e.at), max(last, e.at))
    overlapping = [
        (a, b)
        for a in spans
        for b in spans
        if a < b and spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]
    ]
    assert overlapping, spans


def test_a_killed_render_worker_is_retried_and_the_job_finishes(killed_job) -> None:
    result, events, killed, out = killed_job
    assert killed, "the render of clip 1 was never seen running"
    pids = {e.pid for e in events if e.stage == "render" and e.clip == 1}
    assert killed[0] in pids and len(pids) >= 2  # a second worker rendered it again
    for clip in result.clips:
        with av.open(str(out / clip.file)) as container:
            assert container.streams.video[0].codec_context.width == 1080
            assert container.duration / av.time_base == pytest.approx(
                clip.moment.end - clip.moment.start, abs=0.2
            )
    assert not list(out.glob(".*.part"))
    meta = json.loads((out / "clips.json").read_text())
    assert [c["index"] for c in meta["clips"]] == [0, 1, 2]
    assert meta["speaker_scorer"] == "lr-asd"


def test_a_rerun_reuses_cached_stages(killed_job, sample_80s: Path, model_dir: Path) -> None:
    """Transcript, moments and plans come from the stage cache the second time."""
    _, _, _, out = killed_job
    cached = {p.parent.name for p in (out / ".cache").glob("*/*.json")}
    assert cached == {"transcript", "moments", "plan"}
    assert len(list((out / ".cache" / "plan").glob("*.json"))) == 3
