"""A stand-in for the Gemini REST API, for tests that drive the real `google-genai` client.

`google-genai` talks through `httpx2`, which request mocks such as respx do not intercept, so
tests point the SDK at this small HTTP server on loopback instead
(`HttpOptions(base_url=stub.base_url, api_version="v1beta")`). It answers
`POST /v1beta/models/<model>:generateContent` (and `/v1/...`, the SDK's default version)
with a canned model reply, can fail the first K calls with an HTTP error, and records every
request so tests can check what the SDK really sent.

    with GeminiStub(reply={"clips": []}) as stub:
        ...  # call the code under test with base_url=stub.base_url
        assert stub.requests[0].headers["x-goog-api-key"] == "test-key"
"""

from __future__ import annotations

import json
import re
import time
from http import HTTPStatus
from typing import Any

from tests.utils.http_stub import RecordedRequest, StubServer

__all__ = ["GeminiRequest", "GeminiStub"]

_GENERATE_PATH = re.compile(r"^/v1(?:beta)?/models/(?P<model>[^/:]+):generateContent$")
# Google's canonical status names for the codes tests use; others fall back to HTTP's name.
_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class GeminiRequest(RecordedRequest):
    """A recorded request, with the parts of a `generateContent` call tests look at."""

    @property
    def model(self) -> str | None:
        match = _GENERATE_PATH.match(self.path.split("?", 1)[0])
        return match["model"] if match else None

    @property
    def prompt(self) -> str:
        """All user text parts joined, i.e. what the model was asked."""
        return "\n".join(
            part.get("text", "")
            for content in self.json().get("contents", [])
            for part in content.get("parts", [])
        )


class GeminiStub(StubServer):
    """A loopback Gemini `generateContent` endpoint, served from a background thread.

    Args:
        reply: the model's answer text. A string is sent as is (so tests can send broken
            JSON); anything else is JSON-encoded first.
        fail_status: HTTP status used for failing calls (503 is what Gemini sends when it
            is overloaded, and the SDK retries it).
        fail_times: how many calls fail before the reply is served; None fails every call.
        model_version: echoed in the reply's `modelVersion`.
        delay_s: seconds to wait before answering, to trigger client timeouts.
    """

    name = "gemini-stub"
    request_class = GeminiRequest
    content_type = "application/json; charset=UTF-8"

    def __init__(
        self,
        reply: Any = "",
        *,
        fail_status: int = 503,
        fail_times: int | None = 0,
        model_version: str = "gemini-2.5-flash",
        delay_s: float = 0.0,
    ) -> None:
        super().__init__()
        self.reply = reply
        self.fail_status = fail_status
        self.fail_times = fail_times
        self.model_version = model_version
        self.delay_s = delay_s

    def respond(self, request: RecordedRequest) -> tuple[int, dict]:
        calls = len(self.requests)
        if self.delay_s:
            time.sleep(self.delay_s)
        if not _GENERATE_PATH.match(request.path.split("?", 1)[0]):
            return _error(HTTPStatus.NOT_FOUND, f"no such method: {request.path}")
        if self.fail_times is None or calls <= self.fail_times:
            return _error(HTTPStatus(self.fail_status), "the stub was told to fail")
        text = self.reply if isinstance(self.reply, str) else json.dumps(self.reply)
        return HTTPStatus.OK, {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": text}]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 1,
                "candidatesTokenCount": 1,
                "totalTokenCount": 2,
            },
            "modelVersion": self.model_version,
        }


def _error(status: HTTPStatus, message: str) -> tuple[int, dict]:
    """An error body shaped like Google's, so the SDK raises ClientError/ServerError."""
    name = _GOOGLE_STATUS.get(status, status.name)
    return status, {"error": {"code": int(status), "message": message, "status": name}}
