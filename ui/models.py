"""The cached, shared model loader, and storing uploads (the catalogue is ``ui.model_list``).

Models are loaded once per (path, modification time) with ``st.cache_resource`` and shared
read-only between sessions; pages must never train or modify a model they got from here.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from ui.cache_keys import file_key
from ui.model_list import ModelEntry
from ui.paths import uploads_dir
from vae_core.io.atomic import atomic_write
from vae_core.io.checkpoint_file import Checkpoint, load_checkpoint
from vae_core.io.vq_checkpoint import VQCheckpoint, is_vq_checkpoint, load_vq_checkpoint

MAX_CACHED_MODELS = 12


@st.cache_resource(max_entries=MAX_CACHED_MODELS, show_spinner="Loading model…")
def _load(path: str, version: str) -> Checkpoint | VQCheckpoint:
    """One shared instance per file version: eval mode, parameters frozen.

    Frozen (``requires_grad=False``) because sessions share it: a forward pass outside
    ``no_grad`` then builds no graph over the weights, and nothing can accumulate gradients in
    (i.e. mutate) the shared model. Gradients w.r.t. inputs (inpainting's z) still flow.
    """
    checkpoint = _load_any(path)
    checkpoint.model.eval().requires_grad_(False)
    return checkpoint


def _load_any(source: str | bytes) -> Checkpoint | VQCheckpoint:
    """Either kind of checkpoint, fully validated by its own loader."""
    if is_vq_checkpoint(source):
        return load_vq_checkpoint(source, device="cpu")
    return load_checkpoint(source, device="cpu")


def load_model(path: str) -> Checkpoint | VQCheckpoint:
    """The shared, cached checkpoint at ``path`` (reloaded when the file changes): a
    ``VQCheckpoint`` for a VQ-VAE (``ui.session.current_model`` keeps it from the pages that
    need a Gaussian posterior)."""
    return _load(path, file_key(path))


def store_upload(data: bytes, filename: str) -> ModelEntry:
    """Validate an uploaded checkpoint fully, then keep it under its content hash.

    Raises CheckpointError with a one-line reason; nothing is written for a bad file.
    """
    checkpoint = _load_any(data)  # full validation before anything touches the disk
    digest = hashlib.sha256(data).hexdigest()[:16]
    path = uploads_dir() / f"{digest}.safetensors"
    if not path.exists():
        atomic_write(path, data)
    title = str(checkpoint.meta.get("name") or Path(filename).stem)
    return ModelEntry(str(path), title, "uploaded")
