"""The model picker's catalogue: shipped, trained and uploaded checkpoints, from metadata alone.

Nothing here imports PyTorch: the picker and the Home page's card need only each file's header
(``vae_core.io.header``), so the first page a visitor opens does not wait for it.
Loading a model's weights is ``ui.models``' job.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ui.paths import SHIPPED_DIR, uploads_dir, user_models_dir
from vae_core.config import ModelConfig
from vae_core.io.header import CheckpointError, read_metadata

DEFAULT_SHIPPED = "mnist-vae-2d.safetensors"  # what a first visit opens on
MAX_LISTED = 512  # remembered picker titles (one per file version; tiny strings)
MAX_DESCRIBED = 32  # remembered metadata of chosen models (a few KB to ~1 MB of history each)


@dataclass(frozen=True)
class ModelEntry:
    path: str
    title: str
    source: str  # "shipped" | "trained" | "uploaded"

    @property
    def label(self) -> str:
        tag = {"shipped": "shipped", "trained": "trained here", "uploaded": "uploaded"}[self.source]
        return f"{self.title} · {tag}"


@dataclass(frozen=True)
class ModelInfo:
    """What a checkpoint says about itself: the validated metadata and the model config."""

    path: Path
    meta: dict[str, Any]
    config: ModelConfig


def _version(path: str) -> tuple[int, int]:
    stat = Path(path).stat()
    return stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=MAX_DESCRIBED)
def _info(path: str, mtime_ns: int, size: int) -> ModelInfo:
    meta = read_metadata(path)
    return ModelInfo(Path(path), meta, ModelConfig.from_dict(meta["model"]))


@functools.lru_cache(maxsize=MAX_LISTED)
def _title(path: str, mtime_ns: int, size: int) -> str | None:
    """The picker title of one file, read once per version (None: not a valid checkpoint).

    Every page draws the picker on every rerun; parsing and checking each file's metadata each
    time cost ~5 ms per file, per rerun, per session. A rewritten file has a new mtime/size.
    The header is read through ``_info``, so the card of a listed model reads it no second time.
    """
    try:
        meta = _info(path, mtime_ns, size).meta
    except CheckpointError:
        return None  # a half-written or foreign file is not offered
    return str(meta.get("name") or Path(path).stem)


def _entries(folder: Path, source: str) -> list[ModelEntry]:
    out = []
    for path in sorted(folder.glob("*.safetensors")):
        try:
            version = _version(str(path))
        except OSError:
            continue  # removed meanwhile
        title = _title(str(path), *version)
        if title is not None:
            out.append(ModelEntry(str(path), title, source))
    return out


def _shipped_order(entry: ModelEntry) -> tuple[bool, str]:
    """The classic 2-D MNIST VAE (Kingma & Welling's manifold) first, then by file name."""
    return (Path(entry.path).name != DEFAULT_SHIPPED, Path(entry.path).name)


def list_models() -> list[ModelEntry]:
    """Shipped checkpoints first (the default model on top), then trained models, then uploads."""
    return (
        sorted(_entries(SHIPPED_DIR, "shipped"), key=_shipped_order)
        + _entries(user_models_dir(), "trained")
        + _entries(uploads_dir(), "uploaded")
    )


def model_info(path: str) -> ModelInfo:
    """The checkpoint's metadata and config, read once per file version, without PyTorch.

    Raises CheckpointError (one-line reason) for a file whose header is not valid; the weights
    are not checked here (``ui.models.load_model`` does that).
    """
    try:
        version = _version(path)
    except OSError as exc:
        raise CheckpointError(f"{Path(path).name}: cannot be read ({exc.strerror or exc})") from exc
    return _info(path, *version)
