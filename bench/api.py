"""HTTP throughput and latency of the API, behind Ray Serve and bare, on this machine.

What it measures, at a fixed concurrency (16 clients; each run stops after 2000 requests or
20 s, whichever comes first, after 50 warm-up requests):

- `GET /jobs/{id}`: an authenticated status poll (token check, user and job read), the request
  a web page repeats while a job runs.
- `POST /uploads`: an upload URL (token check, rate limiter, one INSERT, a presigned URL).

Each endpoint is measured twice in the same run: through Ray Serve (the `serve.deployment:
build_app` application on a local Ray with 2 CPUs, reached through Serve's HTTP proxy) and on the
bare FastAPI app (`create_app` with the same settings and database, served by uvicorn in a thread
of this process). The ratio shows what the Serve proxy and the handle hop cost per request.
Requests/s, p50/p95/p99 latency (ms) and the error count (non-2xx answers and transport errors)
are printed and written to bench/results/api.json.

Setup: a throwaway database, migrated first (SQLite by default; `--db postgres` creates one
under the admin URL `CLIPZZ_BENCH_POSTGRES_URL`, default postgres@127.0.0.1:5432, and drops it
afterwards), local storage in a temporary directory, a generated JWT secret, bcrypt cost 4, and
an upload-URL rate limit too high to throttle the run. A user signs up and logs in, and one
upload is stored through the presigned PUT, all over HTTP. The polled job is written straight
to the database, already cancelled (`create_job` then `cancel_job`, in one transaction, as
`POST /uploads/{id}/process` and `DELETE /jobs/{id}` would do): a job submitted over HTTP would
wake the job coordinator, which would claim it at once and start the pipeline on a file that is
not a video, loading the machine during the run.

On SQLite every transaction starts with `BEGIN IMMEDIATE` (db/engine.py), reads included, so
requests queue on the one write lock and SQLite's busy wait (sleeps of up to 100 ms) stretches
p95/p99; PostgreSQL shows the tail a production deployment would have.

The load generator (httpx, asyncio) runs in a child process, so it never competes with the
in-process uvicorn server for the GIL; it is the same for both targets.

Run: `python bench/api.py [--db postgres]` (about 2 minutes; writes bench/results/api.json, or
api-postgres.json). Loopback only; Ray's temp dir is /tmp/clipzz-ray-apibench. Numbers from 2
shared cores are noisy (the load average is recorded): compare within a run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import secrets
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "api.json"
RAY_TEMP_DIR = "/tmp/clipzz-ray-apibench"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

CONCURRENCY = 16
MAX_REQUESTS = 2000
MAX_SECONDS = 20.0
WARMUP = 50
PASSWORD = "bench horse battery staple"
VIDEO = b"\x00\x00\x00\x18ftypmp42" + b"not really a video" * 8
UPLOAD_BODY = {"filename": "episode.mp4", "content_type": "video/mp4", "size": 1_000_000}


# --- the load generator (runs in a child process) ---------------------------------------------


def load(
    base_url: str,
    method: str,
    path: str,
    *,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
    concurrency: int = CONCURRENCY,
    max_requests: int = MAX_REQUESTS,
    max_seconds: float = MAX_SECONDS,
    warmup: int = WARMUP,
) -> dict[str, Any]:
    """Send `method path` from `concurrency` clients until `max_requests` or `max_seconds`."""
    return asyncio.run(
        _load(base_url, method, path, headers, body, concurrency, max_requests, max_seconds, warmup)
    )


async def _load(
    base_url: str,
    method: str,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any] | None,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
    warmup: int,
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    issued = 0

    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=30
    ) as client:

        async def one(record: bool) -> None:
            began = time.perf_counter()
            try:
                response = await client.request(method, path, json=body)
                outcome = None if response.is_success else str(response.status_code)
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            if record:
                latencies.append(time.perf_counter() - began)
                if outcome is not None:
                    errors[outcome] = errors.get(outcome, 0) + 1

        async def warm() -> None:
            for _ in range(max(1, warmup // concurrency)):
                await one(record=False)

        await asyncio.gather(*(warm() for _ in range(concurrency)))

        deadline = time.perf_counter() + max_seconds

        async def worker() -> None:
            nonlocal issued
            while issued < max_requests and time.perf_counter() < deadline:
                issued += 1
                await one(record=True)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began

    ordered = sorted(latencies)

    def percentile(q: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "requests": len(ordered),
        "seconds": round(elapsed, 2),
        "requests_per_s": round(len(ordered) / elapsed, 1),
        "p50_ms": percentile(0.50),
        "p95_ms": percentile(0.95),
        "p99_ms": percentile(0.99),
        "errors": sum(errors.values()),
        "error_kinds": errors,
    }


# --- set-up -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sign_up_and_upload(base_url: str) -> tuple[str, uuid.UUID, uuid.UUID]:
    """A new user (over HTTP) with one stored upload: (token, user id, upload id)."""
    email = f"bench-{secrets.token_hex(4)}@example.com"
    credentials = {"email": email, "password": PASSWORD}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        created = client.post("/auth/signup", json=credentials)
        created.raise_for_status()
        login = client.post("/auth/login", json=credentials)
        login.raise_for_status()
        token = login.json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        ticket = client.post(
            "/uploads",
            json={"filename": "episode.mp4", "content_type": "video/mp4", "size": len(VIDEO)},
            headers=auth,
        )
        ticket.raise_for_status()
        upload = ticket.json()
        client.put(
            upload["upload_url"], content=VIDEO, headers=upload["headers"]
        ).raise_for_status()
        client.post(f"/uploads/{upload['upload_id']}/complete", headers=auth).raise_for_status()
    return token, uuid.UUID(created.json()["id"]), uuid.UUID(upload["upload_id"])


def cancelled_job(sessions: Any, user_id: uuid.UUID, upload_id: uuid.UUID) -> uuid.UUID:
    """A job row that is already cancelled when committed, so the coordinator never runs it."""
    import db

    with sessions() as session, session.begin():
        job = db.create_job(
            session=session,
            user_id=user_id,
            upload_id=upload_id,
            num_clips=1,
            min_seconds=30.0,
            max_seconds=60.0,
            credits=1,
        )
        db.cancel_job(session=session, job_id=job.id, user_id=user_id)
        return job.id


class BareServer:
    """The FastAPI app under uvicorn in a daemon thread of this process."""

    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
        config.access_log = False
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-bench", daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


# --- the run ------------------------------------------------------------------------------------


def measure(pool: ProcessPoolExecutor, base_url: str, token: str, job_id: uuid.UUID) -> dict:
    auth = {"Authorization": f"Bearer {token}"}
    return {
        "GET /jobs/{id}": pool.submit(
            load, base_url, "GET", f"/jobs/{job_id}", headers=auth
        ).result(),
        "POST /uploads": pool.submit(
            load, base_url, "POST", "/uploads", headers=auth, body=UPLOAD_BODY
        ).result(),
    }


@contextlib.contextmanager
def throwaway_database(kind: str, root: Path) -> Iterator[str]:
    """The URL of a new, migrated database, deleted afterwards: a SQLite file under `root`, or a
    PostgreSQL database created under the admin URL `CLIPZZ_BENCH_POSTGRES_URL`."""
    import db.migrate

    if kind == "sqlite":
        url = f"sqlite:///{root / 'bench.db'}"
        db.migrate.upgrade(url)
        yield url
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    admin_url = make_url(os.environ.get("CLIPZZ_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"clipzz_bench_{secrets.token_hex(4)}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        url = admin_url.set(database=name).render_as_string(hide_password=False)
        db.migrate.upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        admin.dispose()


def run(kind: str) -> dict[str, Any]:
    """Start Ray and Serve on a throwaway database, measure both targets, shut down."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray
    from ray import serve

    from serve.app import create_app
    from serve.coordinator import NAMESPACE
    from serve.deployment import build_app
    from serve.resources import session_factory_for, storage_for
    from serve.settings import Settings

    results: dict[str, Any] = {}
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    with (
        tempfile.TemporaryDirectory(prefix="clipzz-apibench-") as tmp,
        throwaway_database(kind, Path(tmp)) as database_url,
    ):
        root = Path(tmp)
        serve_port, bare_port = free_port(), free_port()
        args = {
            "database_url": database_url,
            "storage_backend": "local",
            "local_storage_dir": str(root / "storage"),
            "work_dir": str(root / "work"),
            "jwt_secret": secrets.token_hex(32),
            "bcrypt_cost": 4,
            "upload_urls_per_minute": 1_000_000,
            "max_concurrent_jobs": 1,
            "public_base_url": f"http://127.0.0.1:{serve_port}",
        }
        settings = Settings(**args)
        sessions = session_factory_for(settings)
        began = time.perf_counter()
        ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            object_store_memory=256 * 1024**2,
            log_to_driver=False,
            _temp_dir=RAY_TEMP_DIR,
        )
        try:
            serve.start(http_options={"host": "127.0.0.1", "port": serve_port})
            serve.run(build_app(args), name="clipzz", route_prefix="/")
            results["serve_startup_s"] = round(time.perf_counter() - began, 1)
            serve_url = f"http://127.0.0.1:{serve_port}"
            print(f"Ray + Serve up in {results['serve_startup_s']} s at {serve_url}", flush=True)

            token, user_id, upload_id = sign_up_and_upload(serve_url)
            job_id = cancelled_job(sessions, user_id, upload_id)

            results["serve"] = measure(pool, serve_url, token, job_id)
            print_results("Ray Serve", results["serve"])

            bare_settings = Settings(**{**args, "public_base_url": f"http://127.0.0.1:{bare_port}"})
            app = create_app(
                bare_settings, session_factory=sessions, storage=storage_for(bare_settings)
            )
            with BareServer(app, bare_port) as bare_url:
                results["bare"] = measure(pool, bare_url, token, job_id)
            print_results("bare FastAPI (uvicorn)", results["bare"])
        finally:
            pool.shutdown()
            began = time.perf_counter()
            serve.shutdown()
            with contextlib.suppress(ValueError):  # ValueError: it never started
                ray.kill(ray.get_actor(settings.coordinator_name, namespace=NAMESPACE))
            ray.shutdown()
            sessions.kw["bind"].dispose()
            print(f"shut down in {time.perf_counter() - began:.1f} s")
    results["ray"] = ray.__version__
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--db",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the service database (postgres: a throwaway one under CLIPZZ_BENCH_POSTGRES_URL)",
    )
    kind = parser.parse_args().db
    load_before = [round(x, 2) for x in os.getloadavg()]
    results = run(kind)
    ratios = {
        endpoint: {
            "requests_per_s_bare_over_serve": round(
                results["bare"][endpoint]["requests_per_s"]
                / results["serve"][endpoint]["requests_per_s"],
                2,
            ),
            "p50_serve_over_bare": round(
                results["serve"][endpoint]["p50_ms"] / results["bare"][endpoint]["p50_ms"], 2
            ),
        }
        for endpoint in results["serve"]
    }
    print("\nServe overhead (bare rps / Serve rps; Serve p50 / bare p50):")
    for endpoint, ratio in ratios.items():
        print(
            f"  {endpoint:<16} {ratio['requests_per_s_bare_over_serve']:>5.2f}x throughput, "
            f"{ratio['p50_serve_over_bare']:>5.2f}x p50"
        )

    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "ray": results["ray"],
            # Other work on the machine skews every number: compare runs at a similar load.
            "loadavg_before": load_before,
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        },
        "database": kind,
        "load": {
            "concurrency": CONCURRENCY,
            "max_requests": MAX_REQUESTS,
            "max_seconds": MAX_SECONDS,
            "warmup_requests": WARMUP,
        },
        "serve_startup_s": results["serve_startup_s"],
        "serve": results["serve"],
        "bare": results["bare"],
        "ratios": ratios,
    }
    out = RESULTS if kind == "sqlite" else RESULTS.with_name(f"api-{kind}.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out.relative_to(HERE.parent)}")


def print_results(target: str, runs: dict[str, dict]) -> None:
    print(f"\n{target}: {CONCURRENCY} concurrent clients")
    print(f"  {'endpoint':<16} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} errors")
    for endpoint, r in runs.items():
        print(
            f"  {endpoint:<16} {r['requests_per_s']:>7.1f} {r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} "
            f"{r['p99_ms']:>7.1f} {r['errors']:>6}"
            + (f" {r['error_kinds']}" if r["errors"] else "")
        )
    print(flush=True)


if __name__ == "__main__":
    main()
