"""The seed-compatible POST /process_video, up to the point where the pipeline would run.

The pipeline itself is never faked here: `refuse_to_run` fails the test if a request got that
far. The end-to-end path (a real job) is tested with the coordinator.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.serve.conftest import MakeApp

SERVICE_TOKEN = "service-" + "f" * 40
VALID_KEY = f"{uuid.uuid4()}/{uuid.uuid4()}/original.mp4"


async def refuse_to_run(**kwargs: Any) -> int:
    raise AssertionError(f"the pipeline must not run for this request: {kwargs}")


@pytest.fixture
def client(make_app: MakeApp) -> Any:
    app = make_app(service_token=SERVICE_TOKEN, process_video=refuse_to_run)
    with TestClient(app) as test_client:
        yield test_client


def _call(client: TestClient, body: Any, token: str | None = SERVICE_TOKEN) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post("/process_video", json=body, headers=headers)


def test_disabled_without_a_service_token(make_app: MakeApp) -> None:
    with TestClient(make_app(process_video=refuse_to_run)) as client:
        response = _call(client, {"s3_key": VALID_KEY}, token="anything")
    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "message": "This endpoint is disabled: no service token is configured",
    }


@pytest.mark.parametrize("token", [None, "wrong-token", SERVICE_TOKEN[:-1], SERVICE_TOKEN + "x"])
def test_wrong_or_missing_token_is_401(client: TestClient, token: str | None) -> None:
    response = _call(client, {"s3_key": VALID_KEY, "num_clips": 3}, token=token)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"status": "error", "message": "Invalid or missing bearer token"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"s3_key": VALID_KEY, "num_clips": 0}, "num_clips"),
        ({"s3_key": VALID_KEY, "num_clips": -1}, "num_clips"),
        ({"s3_key": VALID_KEY, "num_clips": 21}, "num_clips"),
        ({"s3_key": VALID_KEY, "num_clips": "many"}, "num_clips"),
        ({"num_clips": 3}, "s3_key"),
        ({"s3_key": "clw123abc/01j456def/podcast.mp4"}, "s3_key"),
        ({"s3_key": "../../etc/passwd"}, "s3_key"),
        ({"s3_key": f"{uuid.uuid4()}/../{uuid.uuid4()}/original.mp4"}, "s3_key"),
        ({"s3_key": f"{uuid.uuid4()}/{uuid.uuid4()}/clip_0.mp4"}, "s3_key"),
        ({"s3_key": 42}, "s3_key"),
    ],
)
def test_bad_body_is_422(client: TestClient, body: dict[str, Any], field: str) -> None:
    response = _call(client, body)
    assert response.status_code == 422
    error = response.json()
    assert error["error"] == "Validation failed"
    assert [detail["field"] for detail in error["details"]] == [field]


def test_unknown_key_is_404(client: TestClient) -> None:
    response = _call(client, {"s3_key": VALID_KEY})
    assert response.status_code == 404
    assert response.json() == {"status": "error", "message": f"No uploaded video at {VALID_KEY}"}


def test_no_pipeline_attached_is_503(make_app: MakeApp) -> None:
    with TestClient(make_app(service_token=SERVICE_TOKEN)) as client:
        response = _call(client, {"s3_key": VALID_KEY})
    assert response.status_code == 503
    assert response.json()["status"] == "error"
