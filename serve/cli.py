"""The `clipzz` command line.

`clipzz clip INPUT --clips N --out DIR` runs the main job locally and prints a progress bar per
stage and a summary table. Errors the user can act on (bad file, bad option) are printed as one
line on stderr with a non-zero exit status, never as a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.errors import ClipzzError
from pipeline.job import JobOptions, JobResult, ProgressEvent, ProgressFn, run_job
from pipeline.media import probe
from pipeline.render import PRESETS
from serve.options import build_job_options
from serve.settings import Settings

__all__ = ["main"]

MAX_CLIPS = 20


def _clip_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if not 1 <= value <= MAX_CLIPS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_CLIPS}, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not 1 <= value <= 600:
        raise argparse.ArgumentTypeError(f"must be between 1 and 600 seconds, got {value:g}")
    return value


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line (plus a hint), not a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="clipzz",
        description="Turn long podcast videos into short vertical clips with karaoke captions.",
        epilog="Environment: CLIPZZ_MODEL_DIR (YuNet/LR-ASD files), GEMINI_API_KEY (use Gemini "
        "to pick moments), CLIPZZ_FFMPEG (ffmpeg binary), CLIPZZ_CACHE_DIR (model downloads).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    clip = commands.add_parser(
        "clip",
        help="make vertical clips from a video file",
        description="Transcribe INPUT, pick its best self-contained moments, reframe them to "
        "9:16 around the speaker, burn karaoke captions in, and write clip_i.mp4 files plus "
        "clips.json, transcript.json and per-clip .srt/.ass/.reframe.json into --out.",
    )
    clip.add_argument(
        "input", type=Path, help="video file with an audio track (mp4, mov, mkv, webm)"
    )
    clip.add_argument(
        "--clips", type=_clip_count, default=3, help="most clips to make, 1–20 (default 3)"
    )
    clip.add_argument(
        "--out", type=Path, required=True, help="output directory (created if missing)"
    )
    clip.add_argument(
        "--min-seconds", type=_seconds, default=30.0, help="shortest clip (default 30)"
    )
    clip.add_argument(
        "--max-seconds", type=_seconds, default=60.0, help="longest clip (default 60)"
    )
    clip.add_argument(
        "--selector",
        choices=("auto", "local", "gemini"),
        default="auto",
        help="moment selector: gemini when GEMINI_API_KEY is set, else local (default auto)",
    )
    clip.add_argument(
        "--whisper-model",
        default=None,
        help="faster-whisper model name or directory (default: bundled tiny.en, offline)",
    )
    clip.add_argument("--language", default=None, help="spoken language code (default: detect)")
    clip.add_argument(
        "--preset", choices=PRESETS, default="veryfast", help="x264 preset (default veryfast)"
    )
    clip.add_argument(
        "--crf", type=int, default=23, help="x264 quality, 0–51, lower is better (default 23)"
    )
    clip.add_argument(
        "--split",
        action="store_true",
        help="stack both speakers (split screen) where turns come too fast to follow calmly",
    )
    clip.add_argument(
        "--profile",
        choices=("auto", "cpu", "gpu"),
        default=None,
        help="Ray resource profile (default auto: gpu when the cluster has GPUs)",
    )
    clip.add_argument(
        "--no-ray",
        action="store_true",
        help="run every stage in this process instead of on Ray (same stage code, no parallelism)",
    )
    clip.add_argument("--quiet", action="store_true", help="no progress bars, only the summary")

    run = commands.add_parser(
        "serve",
        help="run the HTTP API on Ray Serve (embedded: SQLite, local storage, local Ray)",
        description="Start the API on 127.0.0.1 with OpenAPI at /docs. Unset settings default "
        "to files under --data-dir; CLIPZZ_* environment variables (e.g. CLIPZZ_DATABASE_URL, "
        "CLIPZZ_STORAGE_BACKEND=s3, RAY_ADDRESS) switch to production services.",
    )
    run.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    run.add_argument("--data-dir", type=Path, default=Path("clipzz-data"), help="embedded data")

    database = commands.add_parser("db", help="database maintenance")
    db_commands = database.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", help="apply migrations to CLIPZZ_DATABASE_URL")
    return parser


def job_options(args: argparse.Namespace, settings: Settings) -> JobOptions:
    """Map command-line arguments and settings onto the pipeline's option objects."""
    return build_job_options(
        settings,
        num_clips=args.clips,
        min_seconds=args.min_seconds,
        max_seconds=args.max_seconds,
        selector=args.selector,
        whisper_model=args.whisper_model,
        language=args.language,
        preset=args.preset,
        crf=args.crf,
        split=args.split,
    )


class _Bars:
    """One progress bar per stage (per clip for per-clip stages)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[tuple[str, int | None], TaskID] = {}

    def __call__(self, event: ProgressEvent) -> None:
        key = (event.stage, event.clip)
        if key not in self._tasks:
            label = event.stage if event.clip is None else f"clip {event.clip} {event.stage}"
            self._tasks[key] = self._progress.add_task(label, total=1.0)
        self._progress.update(self._tasks[key], completed=event.fraction)
        if event.message:
            label = self._progress.tasks[self._tasks[key]].description.split(" · ")[0]
            self._progress.update(self._tasks[key], description=f"{label} · {event.message}")


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes):02d}:{secs:05.2f}"


def summary_table(result: JobResult) -> Table:
    table = Table(title=f"{len(result.clips)} clip(s) in {result.out_dir}")
    for column in ("clip", "time range", "length", "title", "score"):
        table.add_column(column)
    for clip in result.clips:
        m = clip.moment
        table.add_row(
            clip.file,
            f"{_clock(m.start)}–{_clock(m.end)}",
            f"{m.end - m.start:.1f} s",
            m.title,
            str(m.score),
        )
    return table


def _execute(
    args: argparse.Namespace, settings: Settings, options: JobOptions, progress: ProgressFn | None
) -> JobResult:
    if args.no_ray:
        return run_job(args.input, args.out, options, progress)
    from pipeline.distributed import connect, run_job_on_ray

    connect(settings.ray_address, temp_dir=settings.ray_temp_dir)
    profile = args.profile or settings.resource_profile
    return run_job_on_ray(args.input, args.out, options, profile=profile, progress=progress)


def _run_clip(args: argparse.Namespace, console: Console) -> int:
    settings = Settings()
    options = job_options(args, settings)
    probe(args.input)  # refuse bad input before starting Ray
    if args.quiet:
        result = _execute(args, settings, options, None)
    else:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=False) as progress:
            result = _execute(args, settings, options, _Bars(progress))
    console.print(summary_table(result))
    if not result.clips:
        console.print("No moment met the rules (length, sentence boundaries, no greetings).")
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
    console.print(
        f"selector: {result.selector}; speaker scorer: {result.speaker_scorer}; timings: {timings}"
    )
    return 0


def _db_upgrade(url: str) -> int:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from db.migrate import upgrade

    shown = make_url(url).render_as_string(hide_password=True)
    try:
        upgrade(url)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        print(f"clipzz: error: cannot migrate {shown}: {reason}", file=sys.stderr)
        return 1
    print(f"{shown} is at the latest revision")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    console = Console(stderr=False)
    try:
        if args.command == "serve":
            from serve.embedded import embedded_settings, run_embedded

            run_embedded(
                embedded_settings(args.data_dir, args.host, args.port), args.host, args.port
            )
            return 0
        if args.command == "db":
            return _db_upgrade(Settings().database_url)
        return _run_clip(args, console)
    except ClipzzError as exc:
        print(f"clipzz: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("clipzz: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
