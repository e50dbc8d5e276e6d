"""`clipzz serve`: the whole service on one machine with no other service to install.

SQLite file + local storage + a private local Ray, all under one data directory, with the API
on Ray Serve at 127.0.0.1. Settings from the environment (CLIPZZ_*) still win; only what is
unset is filled in here. A JWT secret is generated once and kept in the data directory (mode
0600), so tokens survive restarts.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from serve.settings import Settings

__all__ = ["embedded_settings", "run_embedded"]

logger = logging.getLogger("clipzz.serve")


def _secret(path: Path) -> str:
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()


def embedded_settings(data_dir: Path, host: str, port: int) -> Settings:
    """Environment settings, with embedded defaults under `data_dir` for what is unset."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings()
    given = settings.model_fields_set
    defaults = {
        "database_url": f"sqlite:///{data_dir / 'clipzz.db'}",
        "local_storage_dir": data_dir / "storage",
        "work_dir": data_dir / "work",
        "public_base_url": f"http://{host}:{port}",
        "jwt_secret": _secret(data_dir / "jwt-secret"),
    }
    updates = {key: value for key, value in defaults.items() if key not in given}
    return Settings(**{**settings.model_dump(exclude_unset=True), **updates})


def run_embedded(settings: Settings, host: str, port: int) -> None:
    """Migrate the database, start Ray and Serve, and serve until interrupted."""
    from ray import serve

    from db.migrate import upgrade
    from pipeline.distributed import connect
    from serve.deployment import ClipzzAPI

    upgrade(settings.database_url)
    connect(settings.ray_address, temp_dir=settings.ray_temp_dir, dashboard=settings.ray_dashboard)
    serve.start(http_options={"host": host, "port": port})
    logger.warning("clipzz API on http://%s:%d (OpenAPI at /docs)", host, port)
    serve.run(ClipzzAPI.bind(settings), name="clipzz", route_prefix="/", blocking=True)
