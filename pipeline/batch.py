"""Batch clipping on Ray Data: `python -m pipeline.batch MANIFEST.jsonl --out DIR`.

Each manifest line is one video: `{"source": "path.mp4", "clips": 3, "name": "ep42",
"options": {"min_seconds": 30, "max_seconds": 60, "selector": "local", "preset": "veryfast"}}`
(only `source` is required). Videos go through `map_batches` on a pool of actors that load
Whisper, YuNet and LR-ASD once each; every video gets the same output directory as the CLI
(`DIR/<name>/clips.json`, ...). A bad video is reported in the summary and does not stop the
batch. `DIR/summary.json` lists every video with its status at the end.

Submit to a running cluster with `ray job submit --working-dir . -- python -m pipeline.batch
MANIFEST.jsonl --out DIR` (see README); without a cluster it starts a local one.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipeline.assets import AssetOptions
from pipeline.errors import ClipzzError
from pipeline.job import JobOptions, Models, run_job
from pipeline.moments import MomentOptions
from pipeline.render import RenderOptions
from pipeline.speakers import SpeakerOptions

__all__ = ["BatchWorker", "main", "read_manifest", "run_batch"]

logger = logging.getLogger("clipzz.pipeline")

_ROW_OPTIONS = {"min_seconds", "max_seconds", "selector", "preset"}


def read_manifest(path: Path) -> list[dict[str, Any]]:
    """Manifest rows; malformed lines become rows that fail with their reason."""
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or not isinstance(row.get("source"), str):
                raise ValueError("a line needs a JSON object with a string 'source'")
        except ValueError as exc:
            row = {"source": "", "error": f"line {number}: {exc}"}
        row.setdefault("name", f"{number:04d}-{Path(row['source']).stem or 'invalid'}")
        rows.append(row)
    return rows


def _row_options(base: JobOptions, row: dict[str, Any]) -> JobOptions:
    extra = row.get("options") or {}
    unknown = set(extra) - _ROW_OPTIONS
    if unknown:
        raise ClipzzError(f"unknown options {sorted(unknown)}; allowed: {sorted(_ROW_OPTIONS)}")
    moments = replace(
        base.moments,
        num_clips=int(row.get("clips", base.moments.num_clips)),
        **{k: extra[k] for k in ("min_seconds", "max_seconds", "selector") if k in extra},
    )
    render = replace(base.render, preset=extra.get("preset", base.render.preset))
    return replace(base, moments=moments, render=render)


class BatchWorker:
    """A Ray Data actor: models load once in `__init__`, videos run one after another.

    Rows arrive as Arrow columns: name, source, clips, options_json, error (see `run_batch`).
    """

    def __init__(self, options: JobOptions, out_dir: Path) -> None:
        self.options = options
        self.out_dir = out_dir
        self.models = Models(options)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        columns = ("name", "source", "status", "clips", "error", "seconds")
        results: dict[str, list] = {key: [] for key in columns}
        for i in range(len(batch["source"])):
            row = {key: batch[key][i] for key in batch}
            row["options"] = json.loads(row.pop("options_json"))
            began = time.perf_counter()
            status, clips, error = self._one(row)
            values = (row["name"], row["source"], status, clips, error)
            for key, value in zip(
                columns, (*values, round(time.perf_counter() - began, 2)), strict=True
            ):
                results[key].append(value)
        return results

    def _one(self, row: dict[str, Any]) -> tuple[str, int, str]:
        if row.get("error"):
            return "failed", 0, str(row["error"])
        try:
            options = _row_options(self.options, row)
            result = run_job(row["source"], self.out_dir / row["name"], options, models=self.models)
        except ClipzzError as exc:
            return "failed", 0, str(exc)
        except (ValueError, TypeError) as exc:
            return "failed", 0, f"bad options: {exc}"
        return "ok", len(result.clips), ""


def run_batch(
    manifest: Path, out_dir: Path, options: JobOptions, *, actors: int = 1, num_cpus: float = 1.0
) -> dict[str, Any]:
    """Process every manifest row on Ray Data; returns (and writes) the summary."""
    import ray

    rows = read_manifest(manifest)
    if not rows:
        raise ClipzzError(f"manifest has no videos: {manifest}")
    # Arrow columns must have one type: keep only the fields the workers read, as strings
    # or numbers, and carry options through as JSON.
    items = [
        {
            "name": str(r["name"]),
            "source": str(r["source"]),
            "clips": int(r.get("clips", options.moments.num_clips)),
            "options_json": json.dumps(r.get("options") or {}),
            "error": str(r.get("error", "")),
        }
        for r in rows
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    dataset = ray.data.from_items(items).map_batches(
        BatchWorker,
        fn_constructor_args=(options, out_dir),
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=max(1, actors)),
        num_cpus=num_cpus,
    )
    videos = dataset.take_all()
    summary = {
        "manifest": str(manifest),
        "out": str(out_dir),
        "seconds": round(time.perf_counter() - began, 2),
        "ok": sum(1 for v in videos if v["status"] == "ok"),
        "failed": sum(1 for v in videos if v["status"] != "ok"),
        "videos": sorted(videos, key=lambda v: v["name"]),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.batch", description=__doc__.split("\n")[0]
    )
    parser.add_argument("manifest", type=Path, help="JSON lines, one video per line")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--clips", type=int, default=3, help="default clips per video (1–20)")
    parser.add_argument("--actors", type=int, default=1, help="worker actors (default 1)")
    parser.add_argument("--num-cpus", type=float, default=1.0, help="CPUs per worker actor")
    parser.add_argument("--model-dir", type=Path, default=None, help="YuNet/LR-ASD directory")
    parser.add_argument("--selector", choices=("auto", "local", "gemini"), default="local")
    args = parser.parse_args(argv)
    if not args.manifest.is_file():
        print(f"pipeline.batch: error: manifest not found: {args.manifest}", file=sys.stderr)
        return 1
    import ray

    ray.init(log_to_driver=True, logging_level=logging.WARNING)
    options = JobOptions(
        moments=MomentOptions(num_clips=args.clips, selector=args.selector),
        speakers=SpeakerOptions(model_dir=args.model_dir),
        render=RenderOptions(),
        assets=AssetOptions(model_dir=args.model_dir),
    )
    try:
        summary = run_batch(
            args.manifest, args.out.resolve(), options, actors=args.actors, num_cpus=args.num_cpus
        )
    except ClipzzError as exc:
        print(f"pipeline.batch: error: {exc}", file=sys.stderr)
        return 1
    for video in summary["videos"]:
        detail = f"{video['clips']} clips" if video["status"] == "ok" else video["error"]
        print(f"{video['status']:>6}  {video['name']}: {detail} ({video['seconds']} s)")
    print(f"{summary['ok']} ok, {summary['failed']} failed in {summary['seconds']} s")
    print(f"summary: {args.out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
