"""The local storage routes: presigned PUT and GET checked like S3 checks them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pipeline.storage import LocalStorage
from tests.serve.conftest import MakeApp

KEY = "user/upload/original.mp4"
DATA = b"video bytes" * 100


@pytest.fixture
def local(make_app: MakeApp) -> Iterator[tuple[TestClient, LocalStorage]]:
    app = make_app()
    with TestClient(app) as client:
        yield client, app.state.storage


def _put_url(storage: LocalStorage, *, size: int = len(DATA)) -> tuple[str, dict[str, str]]:
    request = storage.presign_put(KEY, "video/mp4", 600, content_length=size)
    return request.url, request.headers


def test_put_with_a_valid_signature_stores_the_bytes(
    local: tuple[TestClient, LocalStorage],
) -> None:
    client, storage = local
    url, headers = _put_url(storage)
    response = client.put(url, content=DATA, headers=headers)
    assert response.status_code == 200
    assert storage.path_for(KEY).read_bytes() == DATA
    assert [path.name for path in storage.path_for(KEY).parent.iterdir()] == ["original.mp4"]


@pytest.mark.parametrize(
    "case", ["tampered signature", "other key", "other content type", "other length", "no query"]
)
def test_put_that_does_not_match_the_signature_is_forbidden(
    local: tuple[TestClient, LocalStorage], case: str
) -> None:
    client, storage = local
    url, headers = _put_url(storage)
    body = DATA
    if case == "tampered signature":
        url = url.replace("sig=", "sig=0")
    elif case == "other key":
        url = url.replace("original.mp4", "other.mp4")
    elif case == "other content type":
        headers = {**headers, "Content-Type": "video/webm"}
    elif case == "other length":
        body = DATA + b"!"
        headers = {**headers, "Content-Length": str(len(body))}
    else:
        url = url.split("?")[0]
    response = client.put(url, content=body, headers=headers)
    assert response.status_code == 403
    assert response.json() == {
        "error": "Forbidden",
        "message": "The upload URL is invalid or has expired",
    }
    assert not storage.exists(KEY)


def test_put_without_a_signed_length_is_capped(make_app: MakeApp) -> None:
    app = make_app(upload_max_bytes=len(DATA))
    storage: LocalStorage = app.state.storage
    with TestClient(app) as client:
        request = storage.presign_put(KEY, "video/mp4")
        too_big = client.put(request.url, content=DATA + b"!", headers=request.headers)
        assert too_big.status_code == 413
        assert too_big.json() == {
            "error": "Payload too large",
            "message": f"The request body is over the limit of {len(DATA)} bytes",
        }
        assert not storage.exists(KEY)
        assert client.put(request.url, content=DATA, headers=request.headers).status_code == 200


def test_put_of_a_get_url_is_forbidden(local: tuple[TestClient, LocalStorage]) -> None:
    client, storage = local
    response = client.put(storage.presign_get(KEY), content=DATA)
    assert response.status_code == 403


def test_get_serves_the_file_with_the_signed_disposition(
    local: tuple[TestClient, LocalStorage], tmp_path: Path
) -> None:
    client, storage = local
    source = tmp_path / "clip.mp4"
    source.write_bytes(DATA)
    storage.put_file(KEY, source)
    response = client.get(storage.presign_get(KEY, download_name="../My clip.mp4"))
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"My clip.mp4\"; filename*=UTF-8''My%20clip.mp4"
    )
    ranged = client.get(storage.presign_get(KEY), headers={"Range": "bytes=0-4"})
    assert (ranged.status_code, ranged.content) == (206, DATA[:5])


def test_get_with_a_bad_signature_or_missing_file(
    local: tuple[TestClient, LocalStorage],
) -> None:
    client, storage = local
    assert client.get(storage.presign_get(KEY)).status_code == 404
    url = storage.presign_get(KEY, download_name="a.mp4")
    assert client.get(url.replace("dl=a.mp4", "dl=b.mp4")).status_code == 403
    assert client.get(url.replace("expires=", "expires=9")).status_code == 403


def test_files_routes_exist_only_for_local_storage(
    local: tuple[TestClient, LocalStorage],
) -> None:
    client, _ = local
    assert "/files/{key}" in client.get("/openapi.json").json()["paths"]
