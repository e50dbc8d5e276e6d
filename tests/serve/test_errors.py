"""Every failure answers JSON: unknown routes, bad bodies, oversize bodies, crashes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from pipeline.storage import PresignedRequest, StorageError
from serve.app import JSON_BODY_LIMIT
from tests.serve.conftest import MakeApp
from tests.utils.api import ApiUser, sign_up


class BrokenStorage:
    """A storage whose presigning fails the way `failure` says (for the 5xx paths)."""

    def __init__(self, failure: Exception) -> None:
        self.failure = failure

    def presign_put(self, *args: Any, **kwargs: Any) -> PresignedRequest:
        raise self.failure

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected storage call {name}")


def _ask_upload(client: TestClient, user: ApiUser | None = None) -> Any:
    user = user or sign_up(client)
    body = {"filename": "a.mp4", "content_type": "video/mp4", "size": 10}
    return client.post("/uploads", json=body, headers=user.headers)


def test_unknown_route_and_wrong_method(client: TestClient) -> None:
    missing = client.get("/nope")
    assert missing.status_code == 404
    assert missing.json() == {"error": "Not found", "message": "Not Found"}
    wrong = client.delete("/me")
    assert wrong.status_code == 405
    assert wrong.json()["error"] == "Method Not Allowed"
    assert wrong.headers["allow"] == "GET"


def test_body_that_is_not_json(client: TestClient) -> None:
    response = client.post(
        "/auth/signup", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json() == {
        "error": "Validation failed",
        "message": "Invalid request: check body",
        "details": [{"field": "body", "message": "The body is not valid JSON"}],
    }


def test_body_that_is_not_even_utf8(client: TestClient) -> None:
    response = client.post(
        "/auth/login", content=b"\xff\xfe{", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["details"] == [
        {"field": "body", "message": "The body is not valid JSON"}
    ]


def test_missing_body(client: TestClient) -> None:
    response = client.post("/auth/login")
    assert response.status_code == 422
    assert response.json()["details"] == [{"field": "body", "message": "This field is required"}]


def test_oversize_json_body_is_refused_before_parsing(client: TestClient) -> None:
    padding = "x" * JSON_BODY_LIMIT
    response = client.post("/auth/signup", json={"email": "a@example.com", "password": padding})
    assert response.status_code == 413
    assert response.json()["error"] == "Payload too large"


def test_oversize_chunked_body_is_cut_off(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"email": "a@example.com", "password": "'
        for _ in range(JSON_BODY_LIMIT // 1024 + 1):
            yield b"x" * 1024
        yield b'"}'

    response = client.post(
        "/auth/signup", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["error"] == "Payload too large"


def test_unexpected_error_reveals_nothing(make_app: MakeApp) -> None:
    app = make_app(storage=BrokenStorage(RuntimeError("password=hunter2 at db.internal")))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = _ask_upload(client)
    assert response.status_code == 500
    assert response.json() == {
        "error": "Internal server error",
        "message": "An unexpected error occurred",
    }


def test_storage_failure_is_502_without_details(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app(storage=BrokenStorage(StorageError(f"S3 presign failed: {tmp_path}")))
    with TestClient(app) as client:
        response = _ask_upload(client)
    assert response.status_code == 502
    assert str(tmp_path) not in response.text


def test_failed_request_rolls_back(make_app: MakeApp) -> None:
    """The upload row inserted before presigning failed is not kept."""
    app = make_app(storage=BrokenStorage(StorageError("down")))
    with TestClient(app) as client:
        user = sign_up(client)
        assert _ask_upload(client, user).status_code == 502
        assert client.get("/uploads", headers=user.headers).json()["count"] == 0
