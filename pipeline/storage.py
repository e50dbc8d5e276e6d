"""Object storage for uploads, clips and cached artifacts, under keys like `user/upload/clip_0.mp4`.

Two implementations behind one small interface:

- `S3Storage` talks to S3 (or any SigV4 server) with boto3. Browsers upload and download directly
  with presigned URLs, so the API never streams video bytes.
- `LocalStorage` keeps objects in a directory. Its presigned URLs point at the API
  (`LocalOptions.base_url`) and carry an HMAC signature that the HTTP layer checks with
  `verify_local_signature` before serving a PUT or GET, mirroring what S3 checks.

Keys are validated the same way for both (`validate_key`), so a key that works locally works on S3
and no key can escape the local root. Backend errors are translated at this edge into
`StorageError`; a missing object is always `ObjectNotFound`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import mimetypes
import os
import re
import shutil
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import SecretStr

from pipeline.errors import ClipzzError, InvalidInput

__all__ = [
    "InvalidKey",
    "LocalOptions",
    "LocalStorage",
    "ObjectNotFound",
    "PresignedRequest",
    "S3Options",
    "S3Storage",
    "Storage",
    "StorageError",
    "content_disposition",
    "make_storage",
    "validate_key",
    "verify_local_signature",
]

MAX_KEY_BYTES = 1024  # S3's limit
# SigV4 presigned URLs live at most 7 days.
MAX_EXPIRES_S = 7 * 24 * 3600
# 16 MiB parts: on the 2-core test machine 16 MiB × 2 threads uploaded at 90 MB/s against 70 MB/s
# for boto3's 8 MiB × 10 (shared/notes/libraries.md §1); 4 threads keep a real S3 link busy.
_TRANSFER = TransferConfig(
    multipart_threshold=16 * 2**20, multipart_chunksize=16 * 2**20, max_concurrency=4
)
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


class StorageError(ClipzzError):
    """The storage backend failed (network, permissions, disk); retrying may help."""


class ObjectNotFound(StorageError):
    """No object exists under the key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no stored object {key!r}")
        self.key = key


class InvalidKey(InvalidInput, StorageError):
    """The key is not a safe relative object name (empty, absolute, `..`, backslash, NUL…)."""


@dataclass(frozen=True)
class PresignedRequest:
    """What a client needs to perform a presigned request: send exactly these headers."""

    method: str
    url: str
    headers: dict[str, str]


class Storage(Protocol):
    """Where objects live.

    Keys are checked by `validate_key` before any I/O. Deleting a missing key is a no-op. On S3,
    `exists`/`size` cannot tell a missing bucket from a missing key (HEAD answers a bare 404);
    writes to a missing bucket fail with StorageError.
    """

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None: ...

    def get_file(self, key: str, path: Path) -> Path:
        """Download to `path` atomically (temp file + rename); raise ObjectNotFound if missing."""
        ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int | None:
        """Size in bytes, None when the object is missing."""
        ...

    def delete(self, key: str) -> None: ...

    def presign_put(
        self,
        key: str,
        content_type: str,
        expires_s: int = 600,
        content_length: int | None = None,
    ) -> PresignedRequest:
        """A PUT the client may send until it expires, with exactly `content_type` and, when
        given, a body of exactly `content_length` bytes (both are signed)."""
        ...

    def presign_get(self, key: str, expires_s: int = 3600, download_name: str | None = None) -> str:
        """A GET URL; `download_name` makes the response an attachment with that filename."""
        ...


@dataclass(frozen=True)
class S3Options:
    """Where the S3 bucket is and how to reach it.

    Attributes:
        endpoint_url: the S3 API the service itself calls; None means AWS.
        bucket: the one bucket holding every object.
        access_key, secret_key: SigV4 credentials (the secret is masked in repr).
        region: signing region.
        public_endpoint_url: the endpoint browsers reach, when it differs from `endpoint_url`
            (e.g. an internal service name); presigned URLs sign the Host, so they must be made
            for the host the browser will send.
        addressing_style: "path" (`endpoint/bucket/key`, what local servers need) or "virtual".
    """

    endpoint_url: str | None
    bucket: str
    access_key: str
    secret_key: SecretStr
    region: str = "us-east-1"
    public_endpoint_url: str | None = None
    addressing_style: str = "path"

    def __post_init__(self) -> None:
        if not isinstance(self.secret_key, SecretStr):
            object.__setattr__(self, "secret_key", SecretStr(self.secret_key))
        if self.addressing_style not in ("path", "virtual", "auto"):
            raise InvalidInput(f"unknown S3 addressing style {self.addressing_style!r}")


@dataclass(frozen=True)
class LocalOptions:
    """A directory of objects served by the API.

    Attributes:
        root: the directory holding objects (created on first write).
        base_url: the API route that serves them, e.g. "http://127.0.0.1:8000/files".
        signing_key: HMAC key for presigned URLs, at least 16 bytes (hidden in repr).
    """

    root: Path
    base_url: str
    signing_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.signing_key) < 16:
            raise InvalidInput("the local storage signing key must be at least 16 bytes")


def validate_key(key: str) -> str:
    """Return `key` if it is a safe relative object name, else raise InvalidKey.

    Refused: empty keys, absolute paths, empty, `.` or `..` segments, backslashes, control
    characters (NUL included) and keys over 1024 bytes, so a key can never leave the local root
    and means the same thing on S3 and on disk.
    """
    if not isinstance(key, str) or not key:
        raise InvalidKey("a storage key must be a non-empty string")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidKey(f"storage key longer than {MAX_KEY_BYTES} bytes")
    if "\\" in key or any(unicodedata.category(ch) == "Cc" for ch in key):
        raise InvalidKey(f"storage key {key!r} contains a backslash or a control character")
    if key.startswith("/") or any(part in ("", ".", "..") for part in key.split("/")):
        raise InvalidKey(f"storage key {key!r} must be a relative path without '.' or '..'")
    return key


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII `filename` fallback and the exact name as RFC 5987 `filename*`.

    Directory parts, quotes and control characters are dropped, so a user-chosen name cannot break
    out of the header or suggest a path.
    """
    name = re.split(r"[/\\]", filename)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip() or "download"
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    fallback = re.sub(r"[^A-Za-z0-9._ ()-]+", "_", ascii_name).strip(" ._") or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def make_storage(options: S3Options | LocalOptions) -> Storage:
    """The storage backend described by `options`."""
    if isinstance(options, S3Options):
        return S3Storage(options)
    if isinstance(options, LocalOptions):
        return LocalStorage(options)
    raise InvalidInput(f"unknown storage options {type(options).__name__}")


class S3Storage:
    """Objects in one S3 bucket, via boto3 with SigV4 and path-style addressing."""

    def __init__(self, options: S3Options) -> None:
        self.options = options
        self._client = self._make_client(options.endpoint_url)
        self._presign_client = (
            self._make_client(options.public_endpoint_url)
            if options.public_endpoint_url
            else self._client
        )

    def _make_client(self, endpoint_url: str | None) -> Any:
        # A private session per client: boto3's default session is not thread-safe.
        return boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=self.options.access_key,
            aws_secret_access_key=self.options.secret_key.get_secret_value(),
            region_name=self.options.region,
            # Without s3v4, boto3 presigns with SigV2 in us-east-1.
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": self.options.addressing_style},
                retries={"max_attempts": 3},
            ),
        )

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (for tests and development setups)."""
        bucket = self.options.bucket
        with _s3_errors("create bucket", bucket):
            try:
                self._client.head_bucket(Bucket=bucket)
                return
            except ClientError as exc:
                if _error_code(exc) not in _NOT_FOUND_CODES | {"NoSuchBucket"}:
                    raise
            extra: dict[str, Any] = {}
            if self.options.region != "us-east-1":  # AWS rejects this constraint for us-east-1
                extra["CreateBucketConfiguration"] = {"LocationConstraint": self.options.region}
            try:
                self._client.create_bucket(Bucket=bucket, **extra)
            except ClientError as exc:
                if _error_code(exc) != "BucketAlreadyOwnedByYou":
                    raise

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        """Upload a file; big files go up in parallel 16 MiB parts. The content type defaults to
        one guessed from the key, so browsers can play clips inline."""
        validate_key(key)
        content_type = content_type or mimetypes.guess_type(key)[0]
        extra = {"ContentType": content_type} if content_type else None
        with _s3_errors("upload", key):
            self._client.upload_file(
                str(path), self.options.bucket, key, ExtraArgs=extra, Config=_TRANSFER
            )

    def get_file(self, key: str, path: Path) -> Path:
        validate_key(key)

        def download(tmp: Path) -> None:
            self._client.download_file(self.options.bucket, key, str(tmp), Config=_TRANSFER)

        with _s3_errors("download", key):
            return _write_atomically(Path(path), download)

    def _head(self, key: str) -> dict[str, Any] | None:
        validate_key(key)
        with _s3_errors("stat", key):
            try:
                return self._client.head_object(Bucket=self.options.bucket, Key=key)
            except ClientError as exc:
                if _error_code(exc) in _NOT_FOUND_CODES:
                    return None
                raise

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def size(self, key: str) -> int | None:
        head = self._head(key)
        return None if head is None else int(head["ContentLength"])

    def delete(self, key: str) -> None:
        validate_key(key)
        with _s3_errors("delete", key):
            self._client.delete_object(Bucket=self.options.bucket, Key=key)

    def presign_put(
        self,
        key: str,
        content_type: str,
        expires_s: int = 600,
        content_length: int | None = None,
    ) -> PresignedRequest:
        """A presigned PUT. A presigned PUT cannot express "at most N bytes" (only a presigned
        POST policy can), so a size limit is enforced by signing the exact `content_length` the
        client declared after the caller checked it; S3 refuses any other body size (403)."""
        validate_key(key)
        params: dict[str, Any] = {
            "Bucket": self.options.bucket,
            "Key": key,
            "ContentType": content_type,
        }
        headers = {"Content-Type": content_type}
        if content_length is not None:
            params["ContentLength"] = content_length
            headers["Content-Length"] = str(content_length)
        url = self._presign("put_object", params, expires_s)
        return PresignedRequest("PUT", url, headers)

    def presign_get(self, key: str, expires_s: int = 3600, download_name: str | None = None) -> str:
        validate_key(key)
        params = {"Bucket": self.options.bucket, "Key": key}
        if download_name:
            params["ResponseContentDisposition"] = content_disposition(download_name)
        return self._presign("get_object", params, expires_s)

    def _presign(self, operation: str, params: dict[str, Any], expires_s: int) -> str:
        _check_expiry(expires_s)
        with _s3_errors("presign", params["Key"]):
            return self._presign_client.generate_presigned_url(
                operation, Params=params, ExpiresIn=expires_s
            )


class LocalStorage:
    """Objects as files under `options.root`; presigned URLs are served by the API."""

    def __init__(self, options: LocalOptions) -> None:
        self.options = options
        self.root = Path(options.root)

    def path_for(self, key: str) -> Path:
        """The file that holds `key` (it may not exist)."""
        return self.root / validate_key(key)

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        """Copy a file in; the content type is not stored (the server derives it from the key)."""
        target = self.path_for(key)
        with _os_errors("store", key):
            _write_atomically(target, lambda tmp: shutil.copyfile(path, tmp))

    def get_file(self, key: str, path: Path) -> Path:
        source = self.path_for(key)
        if not source.is_file():
            raise ObjectNotFound(key)
        with _os_errors("read", key):
            return _write_atomically(Path(path), lambda tmp: shutil.copyfile(source, tmp))

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def size(self, key: str) -> int | None:
        path = self.path_for(key)
        return path.stat().st_size if path.is_file() else None

    def delete(self, key: str) -> None:
        path = self.path_for(key)
        with _os_errors("delete", key):
            path.unlink(missing_ok=True)

    def presign_put(
        self,
        key: str,
        content_type: str,
        expires_s: int = 600,
        content_length: int | None = None,
    ) -> PresignedRequest:
        query = {"ct": content_type}
        headers = {"Content-Type": content_type}
        if content_length is not None:
            query["len"] = str(content_length)
            headers["Content-Length"] = str(content_length)
        url = self._signed_url("PUT", key, expires_s, query)
        return PresignedRequest("PUT", url, headers)

    def presign_get(self, key: str, expires_s: int = 3600, download_name: str | None = None) -> str:
        return self._signed_url(
            "GET", key, expires_s, {"dl": download_name} if download_name else {}
        )

    def _signed_url(self, method: str, key: str, expires_s: int, query: dict[str, str]) -> str:
        validate_key(key)
        _check_expiry(expires_s)
        query["expires"] = str(int(time.time()) + expires_s)
        query["sig"] = _local_signature(self.options.signing_key, method, key, query)
        return f"{self.options.base_url.rstrip('/')}/{quote(key, safe='/')}?{urlencode(query)}"


def verify_local_signature(
    options: LocalOptions,
    method: str,
    key: str,
    query: Mapping[str, str],
    content_type: str | None,
    *,
    content_length: int | None = None,
    now: float | None = None,
) -> bool:
    """Whether a request to a `LocalStorage` presigned URL may proceed.

    `key` is the URL path after `base_url`, percent-decoded; `query` the URL's query parameters;
    `content_type` and `content_length` describe the request body (PUT). The check is
    constant-time, refuses expired URLs, and fails when the method, key, signed content type,
    signed length or download name differ from what was signed. For a GET the caller answers
    with `content_disposition(query["dl"])` when `dl` is present.
    """
    try:
        validate_key(key)
        expires = int(query["expires"])
        signature = query["sig"]
    except (InvalidKey, KeyError, ValueError):
        return False
    if expires < (time.time() if now is None else now):
        return False
    if method == "PUT" and (
        query.get("ct") != content_type or ("len" in query and query["len"] != str(content_length))
    ):
        return False
    expected = _local_signature(options.signing_key, method, key, query)
    return hmac.compare_digest(expected, signature)


def _local_signature(signing_key: bytes, method: str, key: str, query: Mapping[str, str]) -> str:
    # JSON keeps the fields unambiguous whatever characters the key or content type hold.
    fields = [method, key, query["expires"], query.get("ct"), query.get("dl"), query.get("len")]
    message = json.dumps(fields, separators=(",", ":")).encode()
    return hmac.new(signing_key, message, hashlib.sha256).hexdigest()


def _check_expiry(expires_s: int) -> None:
    if not 1 <= expires_s <= MAX_EXPIRES_S:
        raise InvalidInput(f"presigned URL lifetime must be 1..{MAX_EXPIRES_S} s, not {expires_s}")


def _write_atomically(path: Path, write: Callable[[Path], None]) -> Path:
    """Let `write` fill a temporary file beside `path`, then rename it into place, so readers
    never see a partial file and a failed transfer leaves nothing under the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def _s3_errors(action: str, key: str) -> Iterator[None]:
    """Translate boto3, botocore and file errors into StorageError / ObjectNotFound."""
    try:
        yield
    except ClientError as exc:
        if _error_code(exc) in _NOT_FOUND_CODES:
            raise ObjectNotFound(key) from exc
        raise StorageError(f"S3 {action} of {key!r} failed: {exc}") from exc
    except (BotoCoreError, Boto3Error, OSError) as exc:
        raise StorageError(f"S3 {action} of {key!r} failed: {exc}") from exc


@contextmanager
def _os_errors(action: str, key: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise StorageError(f"could not {action} {key!r}: {exc}") from exc
