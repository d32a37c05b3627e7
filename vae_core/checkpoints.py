"""The checkpoint API under its old import path, ``vae_core.checkpoints``.

Kept only because notebooks and scripts written against earlier versions of the lab import
``load_checkpoint`` and friends from here. The code lives in ``vae_core.io.checkpoint_file``
(weights + metadata), ``vae_core.io.header`` (the torch-free header half) and
``vae_core.io.atomic``; new code imports from those, or from ``vae_core`` itself.
"""

from __future__ import annotations

from vae_core.io.atomic import atomic_write
from vae_core.io.checkpoint_file import (
    MAX_CHECKPOINT_BYTES,
    Checkpoint,
    CheckpointError,
    checkpoint_bytes,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
)

__all__ = [
    "MAX_CHECKPOINT_BYTES",
    "Checkpoint",
    "CheckpointError",
    "atomic_write",
    "checkpoint_bytes",
    "load_checkpoint",
    "read_metadata",
    "save_checkpoint",
]
