"""Storage against a real S3 server (SeaweedFS on loopback) and a real local directory.

Presigned URLs are exercised with real HTTP requests (httpx), because what matters is what the
server refuses: SeaweedFS verifies SigV4 signatures, signed headers and expiry the way S3 does,
which a mock would not (shared/notes/libraries.md §1).
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from pipeline.errors import InvalidInput
from pipeline.storage import (
    InvalidKey,
    LocalOptions,
    LocalStorage,
    ObjectNotFound,
    S3Options,
    S3Storage,
    Storage,
    StorageError,
    content_disposition,
    make_storage,
    validate_key,
    verify_local_signature,
)
from tests.utils.s3 import S3Server

SIGNING_KEY = b"local-test-signing-key-0123456789"
TRAVERSAL_KEYS = ["../x", "/etc/passwd", "a/../../b", "a\\b", "a\x00b", "", "a//b", "./a", "a/"]


def s3_options(server: S3Server, **changes: Any) -> S3Options:
    """Options for `server`, with `changes` applied (another secret, bucket, public endpoint)."""
    options = S3Options(
        endpoint_url=server.endpoint,
        bucket=server.bucket,
        access_key=server.access_key,
        secret_key=SecretStr(server.secret_key),
        region=server.region,
    )
    return replace(options, **changes)


@pytest.fixture(scope="module")
def s3(s3_server: S3Server) -> S3Storage:
    return S3Storage(s3_options(s3_server))


@pytest.fixture
def local(tmp_path: Path) -> LocalStorage:
    return LocalStorage(
        LocalOptions(tmp_path / "objects", "http://127.0.0.1:8000/files", SIGNING_KEY)
    )


@pytest.fixture(params=["s3", "local"])
def storage(request: pytest.FixtureRequest) -> Storage:
    """Each backend in turn, for behaviour both must share."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def key() -> str:
    """A fresh key shaped like the service's (`user/upload/name`)."""
    return f"user1/{uuid.uuid4().hex}/original.mp4"


def write_file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- behaviour shared by both backends ---------------------------------------------------------


def test_round_trip(storage: Storage, key: str, tmp_path: Path) -> None:
    data = os.urandom(5000)
    storage.put_file(key, write_file(tmp_path / "in.mp4", data), "video/mp4")
    assert storage.exists(key)
    assert storage.size(key) == len(data)

    out = storage.get_file(key, tmp_path / "out" / "copy.mp4")
    assert out.read_bytes() == data
    assert sorted(p.name for p in out.parent.iterdir()) == ["copy.mp4"]  # no temp file left

    storage.delete(key)
    assert not storage.exists(key)
    assert storage.size(key) is None
    storage.delete(key)  # deleting a missing key is a no-op, as on S3


def test_missing_key_is_object_not_found(storage: Storage, key: str, tmp_path: Path) -> None:
    target = tmp_path / "never.mp4"
    with pytest.raises(ObjectNotFound) as caught:
        storage.get_file(key, target)
    assert caught.value.key == key
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # the temp file is cleaned up too


@pytest.mark.parametrize("bad_key", TRAVERSAL_KEYS)
def test_unsafe_keys_are_refused(storage: Storage, bad_key: str, tmp_path: Path) -> None:
    """Keys are checked before any I/O, so `../` can never leave the local root."""
    source = write_file(tmp_path / "in.bin", b"x")
    with pytest.raises(InvalidKey):
        storage.put_file(bad_key, source)
    with pytest.raises(InvalidKey):
        storage.exists(bad_key)
    with pytest.raises(InvalidKey):
        storage.presign_get(bad_key)
    assert [p.name for p in tmp_path.iterdir()] == ["in.bin"]  # nothing written anywhere


def test_invalid_key_is_an_input_error() -> None:
    """serve/ maps InvalidInput to 400, StorageError catches everything storage raises."""
    with pytest.raises(InvalidInput):
        validate_key("../etc/passwd")
    assert issubclass(InvalidKey, StorageError)
    assert validate_key("user/upload/clip 0 é.mp4") == "user/upload/clip 0 é.mp4"


def test_options_hide_secrets(tmp_path: Path) -> None:
    s3 = S3Options(None, "bucket", "AKIA", "very-secret")  # type: ignore[arg-type]
    local = LocalOptions(tmp_path, "http://x/files", SIGNING_KEY)
    assert "very-secret" not in repr(s3)
    assert s3.secret_key.get_secret_value() == "very-secret"
    assert "signing" not in repr(local)
    assert isinstance(make_storage(local), LocalStorage)
    with pytest.raises(InvalidInput):
        LocalOptions(tmp_path, "http://x/files", b"short")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("clip.mp4", "attachment; filename=\"clip.mp4\"; filename*=UTF-8''clip.mp4"),
        (
            'Épisode 1: "best" clip.mp4',
            'attachment; filename="Episode 1_ _best_ clip.mp4"; '
            "filename*=UTF-8''%C3%89pisode%201%3A%20%22best%22%20clip.mp4",
        ),
        ("../../etc/passwd", "attachment; filename=\"passwd\"; filename*=UTF-8''passwd"),
        (
            "a\r\nSet-Cookie: x.mp4",
            "attachment; filename=\"aSet-Cookie_ x.mp4\"; filename*=UTF-8''aSet-Cookie%3A%20x.mp4",
        ),
        ("视频", "attachment; filename=\"download\"; filename*=UTF-8''%E8%A7%86%E9%A2%91"),
    ],
)
def test_content_disposition_is_safe(name: str, expected: str) -> None:
    """User-chosen names cannot inject headers or paths; non-ASCII survives in `filename*`."""
    assert content_disposition(name) == expected


# --- S3 (SeaweedFS verifies signatures like S3) -------------------------------------------------


def test_multipart_upload(s3: S3Storage, s3_server: S3Server, key: str, tmp_path: Path) -> None:
    """Files over 16 MiB go up in parts (the ETag of a multipart object ends in -<parts>)."""
    data = os.urandom(20 * 2**20)
    s3.put_file(key, write_file(tmp_path / "big.mp4", data))
    head = s3_server.client().head_object(Bucket=s3_server.bucket, Key=key)
    assert head["ETag"].strip('"').endswith("-2")
    assert head["ContentType"] == "video/mp4"  # guessed from the key
    out = s3.get_file(key, tmp_path / "big-copy.mp4")
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_presigned_put_uploads_with_signed_content_type(s3: S3Storage, key: str) -> None:
    data = os.urandom(4096)
    request = s3.presign_put(key, "video/mp4")
    assert request.method == "PUT"
    assert request.headers == {"Content-Type": "video/mp4"}

    response = httpx.put(request.url, content=data, headers=request.headers)
    assert response.status_code == 200, response.text
    assert s3.size(key) == len(data)


def test_presigned_put_refuses_another_content_type(s3: S3Storage, key: str) -> None:
    request = s3.presign_put(key, "video/mp4")
    response = httpx.put(request.url, content=b"x" * 100, headers={"Content-Type": "text/html"})
    assert response.status_code == 403
    assert not s3.exists(key)


def test_presigned_put_pins_the_declared_length(s3: S3Storage, key: str) -> None:
    """A size limit holds because the declared length is signed: other sizes are refused."""
    request = s3.presign_put(key, "video/mp4", content_length=100)
    assert request.headers["Content-Length"] == "100"
    ct = {"Content-Type": "video/mp4"}
    assert httpx.put(request.url, content=b"x" * 101, headers=ct).status_code == 403
    assert httpx.put(request.url, content=b"x" * 100, headers=ct).status_code == 200
    assert s3.size(key) == 100


def test_tampered_presigned_urls_are_refused(s3: S3Storage, key: str, tmp_path: Path) -> None:
    s3.put_file(key, write_file(tmp_path / "in.mp4", b"secret bytes"))
    url = s3.presign_get(key)
    assert httpx.get(url).status_code == 200

    signature = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    forged = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    assert httpx.get(url.replace(signature, forged)).status_code == 403
    other_key = url.replace(key, key.replace("original", "other"))  # signed for another key
    assert httpx.get(other_key).status_code == 403

    put = s3.presign_put(key, "video/mp4")
    forged_put = put.url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert httpx.put(forged_put, content=b"evil", headers=put.headers).status_code == 403
    assert s3.size(key) == len(b"secret bytes")


def test_wrong_secret_is_rejected(s3_server: S3Server, key: str, tmp_path: Path) -> None:
    """With identities configured, SeaweedFS checks SigV4 for presigned and header-signed calls."""
    impostor = S3Storage(s3_options(s3_server, secret_key="not-the-secret"))
    source = write_file(tmp_path / "in.mp4", b"x")
    with pytest.raises(StorageError, match="SignatureDoesNotMatch") as caught:
        impostor.put_file(key, source)
    assert caught.value.__cause__ is not None  # chained from the boto3 error
    request = impostor.presign_put(key, "video/mp4")
    assert httpx.put(request.url, content=b"x", headers=request.headers).status_code == 403
    assert not S3Storage(s3_options(s3_server)).exists(key)


def test_expired_presigned_get_is_refused(s3: S3Storage, key: str, tmp_path: Path) -> None:
    s3.put_file(key, write_file(tmp_path / "in.mp4", b"x"))
    url = s3.presign_get(key, expires_s=1)
    time.sleep(2.5)
    response = httpx.get(url)
    assert response.status_code == 403
    assert "expired" in response.text


def test_presigned_get_downloads_as_attachment(s3: S3Storage, key: str, tmp_path: Path) -> None:
    data = os.urandom(3000)
    s3.put_file(key, write_file(tmp_path / "in.mp4", data))

    plain = httpx.get(s3.presign_get(key))
    assert plain.content == data
    assert "content-disposition" not in plain.headers

    named = httpx.get(s3.presign_get(key, download_name="Épisode 1.mp4"))
    assert named.status_code == 200
    assert named.content == data
    assert named.headers["content-disposition"] == content_disposition("Épisode 1.mp4")
    assert named.headers["content-disposition"].startswith('attachment; filename="Episode 1.mp4"')


def test_presigned_urls_use_the_public_endpoint(
    s3_server: S3Server, key: str, tmp_path: Path
) -> None:
    """The Host is signed: a URL must be made for the host the browser sends, not rewritten."""
    public = s3_server.endpoint.replace("127.0.0.1", "localhost")
    storage = S3Storage(s3_options(s3_server, public_endpoint_url=public))
    storage.put_file(key, write_file(tmp_path / "in.mp4", b"hello"))

    url = storage.presign_get(key)
    assert url.startswith(f"{public}/{s3_server.bucket}/{key}?")
    assert httpx.get(url).content == b"hello"
    rewritten = S3Storage(s3_options(s3_server)).presign_get(key).replace("127.0.0.1", "localhost")
    assert httpx.get(rewritten).status_code == 403


def test_ensure_bucket_creates_once(s3_server: S3Server, tmp_path: Path) -> None:
    storage = S3Storage(s3_options(s3_server, bucket=f"b-{uuid.uuid4().hex[:12]}"))
    source = write_file(tmp_path / "in.mp4", b"x")
    # A HEAD answers a bare 404 for a missing bucket too, so only writes notice it.
    assert not storage.exists("a/b.mp4")
    with pytest.raises(StorageError, match="NoSuchBucket"):
        storage.put_file("a/b.mp4", source)
    storage.ensure_bucket()
    storage.ensure_bucket()
    storage.put_file("a/b.mp4", source)
    assert storage.exists("a/b.mp4")


# --- local presigned URLs (verified by the API) --------------------------------------------------


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def test_local_presigned_put_verifies(local: LocalStorage) -> None:
    options = local.options
    key = "user1/up 1/original.mp4"
    request = local.presign_put(key, "video/mp4", expires_s=600, content_length=10)
    assert request.url.startswith("http://127.0.0.1:8000/files/user1/up%201/original.mp4?")
    assert request.headers == {"Content-Type": "video/mp4", "Content-Length": "10"}
    query = query_of(request.url)

    def verify(**changes: object) -> bool:
        args: dict = {
            "method": "PUT",
            "key": key,
            "query": query,
            "content_type": "video/mp4",
            "content_length": 10,
        }
        args.update(changes)
        return verify_local_signature(options, **args)

    assert verify()
    assert not verify(content_type="text/html")
    assert not verify(content_type=None)
    assert not verify(content_length=11)
    assert not verify(method="GET")
    assert not verify(key="user1/up 1/other.mp4")
    assert not verify(key="../user1/up 1/original.mp4")
    assert not verify(query={**query, "sig": "0" * 64})
    assert not verify(query={**query, "expires": str(int(query["expires"]) + 3600)})
    assert not verify(query={**query, "len": "999999"}, content_length=999999)
    assert not verify(query={k: v for k, v in query.items() if k != "sig"})
    assert not verify(now=int(query["expires"]) + 1)  # expired
    other = LocalOptions(options.root, options.base_url, b"another-signing-key-0123456789")
    assert not verify_local_signature(other, "PUT", key, query, "video/mp4", content_length=10)


def test_local_presigned_get_verifies(local: LocalStorage) -> None:
    key = "user1/up/clip_0.mp4"
    query = query_of(local.presign_get(key, expires_s=60, download_name="My clip.mp4"))
    assert query["dl"] == "My clip.mp4"
    assert verify_local_signature(local.options, "GET", key, query, None)
    assert not verify_local_signature(local.options, "GET", key, {**query, "dl": "x.exe"}, None)
    assert not verify_local_signature(local.options, "PUT", key, query, None)
    assert not verify_local_signature(local.options, "GET", key, query, None, now=time.time() + 61)


def test_local_lifetime_is_bounded(local: LocalStorage) -> None:
    with pytest.raises(InvalidInput):
        local.presign_get("a/b", expires_s=0)
