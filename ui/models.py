"""The model picker's catalogue and the cached, shared model loader.

Models are loaded once per (path, modification time) with ``st.cache_resource`` and shared
read-only between sessions; pages must never train or modify a model they got from here.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from ui.paths import SHIPPED_DIR, uploads_dir, user_models_dir
from vae_core.checkpoints import (
    Checkpoint,
    CheckpointError,
    atomic_write,
    load_checkpoint,
    read_metadata,
)

MAX_CACHED_MODELS = 12
DEFAULT_SHIPPED = "mnist-vae-2d.safetensors"  # what a first visit opens on
MAX_LISTED = 512  # remembered picker titles (one per file version; tiny strings)


@dataclass(frozen=True)
class ModelEntry:
    path: str
    title: str
    source: str  # "shipped" | "trained" | "uploaded"

    @property
    def label(self) -> str:
        tag = {"shipped": "shipped", "trained": "trained here", "uploaded": "uploaded"}[self.source]
        return f"{self.title} · {tag}"


@functools.lru_cache(maxsize=MAX_LISTED)
def _title(path: str, mtime_ns: int, size: int) -> str | None:
    """The picker title of one file, read once per version (None: not a valid checkpoint).

    Every page draws the picker on every rerun; parsing and checking each file's metadata each
    time cost ~5 ms per file, per rerun, per session. A rewritten file has a new mtime/size.
    """
    try:
        meta = read_metadata(path)
    except CheckpointError:
        return None  # a half-written or foreign file is not offered
    return str(meta.get("name") or Path(path).stem)


def _entries(folder: Path, source: str) -> list[ModelEntry]:
    out = []
    for path in sorted(folder.glob("*.safetensors")):
        try:
            stat = path.stat()
        except OSError:
            continue  # removed meanwhile
        title = _title(str(path), stat.st_mtime_ns, stat.st_size)
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


@st.cache_resource(max_entries=MAX_CACHED_MODELS, show_spinner="Loading model…")
def _load(path: str, mtime_ns: int) -> Checkpoint:
    """One shared instance per file version: eval mode, parameters frozen.

    Frozen (``requires_grad=False``) because sessions share it: a forward pass outside
    ``no_grad`` then builds no graph over the weights, and nothing can accumulate gradients in
    (i.e. mutate) the shared model. Gradients w.r.t. inputs (inpainting's z) still flow.
    """
    checkpoint = load_checkpoint(path, device="cpu")
    checkpoint.model.eval().requires_grad_(False)
    return checkpoint


def load_model(path: str) -> Checkpoint:
    """The shared, cached checkpoint at ``path`` (reloaded when the file changes)."""
    return _load(path, Path(path).stat().st_mtime_ns)


def store_upload(data: bytes, filename: str) -> ModelEntry:
    """Validate an uploaded checkpoint fully, then keep it under its content hash.

    Raises CheckpointError with a one-line reason; nothing is written for a bad file.
    """
    checkpoint = load_checkpoint(data)  # full validation before anything touches the disk
    digest = hashlib.sha256(data).hexdigest()[:16]
    path = uploads_dir() / f"{digest}.safetensors"
    if not path.exists():
        atomic_write(path, data)
    title = str(checkpoint.meta.get("name") or Path(filename).stem)
    return ModelEntry(str(path), title, "uploaded")
