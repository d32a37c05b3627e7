"""The model picker's catalogue and the cached, shared model loader.

Models are loaded once per (path, modification time) with ``st.cache_resource`` and shared
read-only between sessions; pages must never train or modify a model they got from here.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class ModelEntry:
    path: str
    title: str
    source: str  # "shipped" | "trained" | "uploaded"

    @property
    def label(self) -> str:
        tag = {"shipped": "shipped", "trained": "trained here", "uploaded": "uploaded"}[self.source]
        return f"{self.title} · {tag}"


def _entries(folder: Path, source: str) -> list[ModelEntry]:
    out = []
    for path in sorted(folder.glob("*.safetensors")):
        try:
            meta = read_metadata(path)
        except CheckpointError:
            continue  # a half-written or foreign file is not offered
        out.append(ModelEntry(str(path), str(meta.get("name") or path.stem), source))
    return out


def list_models() -> list[ModelEntry]:
    """Shipped checkpoints first, then models trained in this app, then uploads."""
    return (
        _entries(SHIPPED_DIR, "shipped")
        + _entries(user_models_dir(), "trained")
        + _entries(uploads_dir(), "uploaded")
    )


@st.cache_resource(max_entries=MAX_CACHED_MODELS, show_spinner="Loading model…")
def _load(path: str, mtime_ns: int) -> Checkpoint:
    return load_checkpoint(path, device="cpu")


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
