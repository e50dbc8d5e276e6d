"""Model files that are not on PyPI: found in a model directory or downloaded once, verified.

Files are looked up as `<model_dir>/<relative path>` (the layout of `CLIPZZ_MODEL_DIR`), then in
the cache directory, and only then downloaded from a pinned public URL. Every file is checked
against a pinned sha256, so a truncated download or a swapped file never reaches a model loader.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import ModelUnavailable

__all__ = ["LRASD_TALKSET", "YUNET", "Asset", "AssetOptions", "resolve_asset"]

logger = logging.getLogger("clipzz.pipeline")


@dataclass(frozen=True)
class Asset:
    relative_path: str
    sha256: str
    url: str


YUNET = Asset(
    "yunet/yunet_n_640_640.onnx",
    "25a606a145a5b6d7271ae138fbd00eba91dad8b83222ae3f2c7ecd0f4a7b0e31",
    "https://github.com/ShiqiYu/libfacedetection.train/raw/"
    "0047ac24afb1a50a0c6105001c89d1b5b805dbf1/onnx/yunet_n_640_640.onnx",
)
LRASD_TALKSET = Asset(
    "lr-asd/finetuning_TalkSet.model",
    "6b4ef53694e874e96cf630198dc479c78aebb3993bbf166aee3d926dfe7d9342",
    "https://github.com/Junhua-Liao/LR-ASD/raw/"
    "1b6dcd2d8fc2895683de6508ec6294ec47d388ca/weight/finetuning_TalkSet.model",
)


@dataclass(frozen=True)
class AssetOptions:
    """Where model files come from.

    Attributes:
        model_dir: a directory laid out like `shared/assets` (checked first).
        cache_dir: where downloads are kept; None uses ~/.cache/clipzz.
        allow_download: fetch missing files from their pinned URLs.
        timeout_s: network timeout for one download.
    """

    model_dir: Path | None = None
    cache_dir: Path | None = None
    allow_download: bool = True
    timeout_s: float = 20.0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _cache_dir(options: AssetOptions) -> Path:
    return options.cache_dir or Path.home() / ".cache" / "clipzz"


def resolve_asset(asset: Asset, options: AssetOptions) -> Path:
    """Return a verified local path for `asset`, downloading it if allowed."""
    candidates = [_cache_dir(options) / asset.relative_path]
    if options.model_dir:
        candidates.insert(0, Path(options.model_dir) / asset.relative_path)
    for path in candidates:
        if path.is_file():
            if _sha256(path) == asset.sha256:
                return path
            logger.warning("ignoring %s: sha256 does not match the pinned value", path)
    if not options.allow_download:
        raise ModelUnavailable(
            f"{asset.relative_path} not found in the model directory and downloads are off"
        )
    return _download(asset, candidates[-1], options.timeout_s)


def _download(asset: Asset, target: Path, timeout_s: float) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, suffix=".part")
    tmp = Path(tmp_name)
    try:
        # The URLs are pinned https constants above, never user input.
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(asset.url, timeout=timeout_s) as r:  # noqa: S310
            out.write(r.read())
        if _sha256(tmp) != asset.sha256:
            raise ModelUnavailable(f"downloaded {asset.relative_path} has the wrong sha256")
        tmp.replace(target)
        return target
    except OSError as exc:
        raise ModelUnavailable(f"cannot download {asset.relative_path}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
