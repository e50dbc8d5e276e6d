"""A loopback JSON HTTP server that records requests: the base of the provider stubs.

Tests drive the real provider SDKs against subclasses of `StubServer` (`StripeStub`,
`RazorpayStub`) on 127.0.0.1 with a free port, then read `stub.requests` to check what the SDK
really sent. A subclass only decides the answer in `respond`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["RecordedRequest", "StubServer"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the stub received it; header names are lower-case."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        """An `application/x-www-form-urlencoded` body, keys as sent (`line_items[0][price]`)."""
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


class StubServer:
    """Serves `respond(request) -> (status, JSON body)` from a background thread."""

    name = "stub"
    request_class: type[RecordedRequest] = RecordedRequest
    content_type = "application/json"

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        # A short poll interval makes `stop()` return quickly (shutdown waits for one poll).
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.name,
            daemon=True,
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> StubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def respond(self, request: RecordedRequest) -> tuple[int, Any]:
        """The answer to `request`: override in a subclass. Called under the stub's lock."""
        raise NotImplementedError

    def _handle(self, request: RecordedRequest) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(request)
            return self.respond(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = stub.request_class(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                )
                status, payload = stub._handle(request)
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", stub.content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (timeout tests); nothing to report

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep pytest output clean; tests read `stub.requests` instead

        return Handler
