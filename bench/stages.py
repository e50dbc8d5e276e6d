"""Wall time per stage of the main job on the sample podcast, with the rates that matter.

Prints the transcription real-time factor (transcribe seconds / audio seconds), the render speed
of every clip in frames per second and as a multiple of real time, and writes the numbers to
bench/results/stages.json. Run: `make bench` or `python bench/stages.py [VIDEO] [--clips N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from pipeline.assets import AssetOptions
from pipeline.job import JobOptions, run_job
from pipeline.moments import MomentOptions
from pipeline.speakers import SpeakerOptions

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("video", nargs="?", type=Path, default=HERE / "sample" / "podcast.mp4")
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "stages.json")
    args = parser.parse_args()

    env_dir = os.environ.get("CLIPZZ_MODEL_DIR")
    model_dir = Path(env_dir) if env_dir else None
    options = JobOptions(
        moments=MomentOptions(num_clips=args.clips, selector="local"),
        speakers=SpeakerOptions(model_dir=model_dir),
        assets=AssetOptions(model_dir=model_dir),
    )
    with tempfile.TemporaryDirectory() as out_dir:
        began = time.perf_counter()
        result = run_job(args.video, out_dir, options)
        total = time.perf_counter() - began

    audio_s = result.duration
    print(
        f"input: {args.video.name}, {audio_s:.1f} s; {len(result.clips)} clips; "
        f"total {total:.1f} s; speaker scorer {result.speaker_scorer}"
    )
    print(f"{'stage':<12}{'seconds':>10}")
    for stage, seconds in result.timings.items():
        print(f"{stage:<12}{seconds:>10.2f}")
    rtf = result.timings["transcribe"] / audio_s
    print(f"transcription real-time factor: {rtf:.3f} ({1 / rtf:.1f}× faster than real time)")
    clips = []
    for clip in result.clips:
        seconds = clip.moment.end - clip.moment.start
        render = clip.timings["render"]
        fps = seconds * 25 / render
        clips.append({"clip": clip.index, "seconds": seconds, "render_s": render, "fps": fps})
        print(
            f"clip {clip.index}: {seconds:.1f} s rendered in {render:.1f} s = {fps:.1f} fps "
            f"({seconds / render:.2f}× real time, preset {options.render.preset})"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": f"{platform.machine()} {os.cpu_count()} cpu",
                "input_seconds": audio_s,
                "total_s": total,
                "timings": result.timings,
                "transcribe_rtf": rtf,
                "speaker_scorer": result.speaker_scorer,
                "clips": clips,
            },
            indent=2,
        )
    )
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
