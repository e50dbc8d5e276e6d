"""Ray DAG numbers on this machine: parallel clips and chunked transcription.

1. One job with 1 clip and with 3 clips on a local Ray: the clip stage's wall time against the
   sum of the per-clip stage times (faces + speakers + reframe + captions + render). A ratio
   below 1 means clips overlapped.
2. Transcription of the sample's audio whole (one faster-whisper call in this process) against
   chunked at silences over a pool of two transcriber actors, with the word agreement.

Run: `python bench/ray_scaling.py` (writes bench/results/ray_scaling.json). Each job uses a
fresh output directory, so the stage cache never short-cuts a measurement.
"""

from __future__ import annotations

import difflib
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import ray

from pipeline.assets import AssetOptions
from pipeline.distributed import connect, run_job_on_ray, transcribe_chunked
from pipeline.job import JobOptions
from pipeline.media import decode_audio
from pipeline.moments import MomentOptions
from pipeline.profiles import PROFILES
from pipeline.speakers import SpeakerOptions
from pipeline.transcribe import TranscribeOptions, Transcriber

HERE = Path(__file__).resolve().parent
SAMPLE = HERE / "sample" / "podcast.mp4"
PER_CLIP = ("faces", "speakers", "reframe", "captions", "render")


def _job(clips: int, model_dir: Path | None) -> dict:
    options = JobOptions(
        moments=MomentOptions(num_clips=clips, min_seconds=30, max_seconds=45, selector="local"),
        speakers=SpeakerOptions(model_dir=model_dir),
        assets=AssetOptions(model_dir=model_dir),
    )
    with tempfile.TemporaryDirectory() as out:
        began = time.perf_counter()
        result = run_job_on_ray(SAMPLE, out, options, profile="cpu")
        total = time.perf_counter() - began
    per_clip = [sum(c.timings.get(s, 0.0) for s in PER_CLIP) for c in result.clips]
    return {
        "clips": len(result.clips),
        "job_s": round(total, 2),
        "clip_stage_wall_s": round(result.timings["clips"], 2),
        "sum_of_clip_times_s": round(sum(per_clip), 2),
        "overlap_ratio": round(result.timings["clips"] / max(sum(per_clip), 1e-9), 3),
        "per_clip_s": [round(x, 2) for x in per_clip],
    }


def _transcription() -> dict:
    audio = decode_audio(SAMPLE)
    options = TranscribeOptions(language="en", cpu_threads=2)
    began = time.perf_counter()
    whole = Transcriber(options).transcribe(audio)
    whole_s = time.perf_counter() - began
    profile = replace(PROFILES["cpu"], chunk_seconds=45.0, transcribers=2)
    began = time.perf_counter()
    chunked = transcribe_chunked(audio, options, profile, "bench")
    chunked_s = time.perf_counter() - began
    a = [w.word.lower().strip(".,?!") for w in whole.words]
    b = [w.word.lower().strip(".,?!") for w in chunked.words]
    return {
        "audio_s": round(len(audio) / 16_000, 1),
        "whole_s": round(whole_s, 2),
        "chunked_2_actors_s": round(chunked_s, 2),
        "speedup": round(whole_s / chunked_s, 2),
        "words_whole": len(a),
        "words_chunked": len(b),
        "word_agreement": round(difflib.SequenceMatcher(None, a, b).ratio(), 3),
    }


def main() -> None:
    env_dir = os.environ.get("CLIPZZ_MODEL_DIR")
    model_dir = Path(env_dir) if env_dir else None
    connect(num_cpus=os.cpu_count(), temp_dir="/tmp/clipzz-ray-bench")
    results = {"cpus": os.cpu_count(), "jobs": [_job(1, model_dir), _job(3, model_dir)]}
    results["transcription"] = _transcription()
    ray.shutdown()
    for job in results["jobs"]:
        print(
            f"{job['clips']} clip(s): job {job['job_s']} s; "
            f"clip stage {job['clip_stage_wall_s']} s wall vs "
            f"{job['sum_of_clip_times_s']} s summed per clip "
            f"(ratio {job['overlap_ratio']}); per clip {job['per_clip_s']}"
        )
    t = results["transcription"]
    print(
        f"transcription of {t['audio_s']} s: whole {t['whole_s']} s, chunked over 2 actors "
        f"{t['chunked_2_actors_s']} s (×{t['speedup']}); words {t['words_whole']} vs "
        f"{t['words_chunked']}, agreement {t['word_agreement']}"
    )
    out = HERE / "results" / "ray_scaling.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
