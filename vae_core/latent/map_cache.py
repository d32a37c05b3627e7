"""On-disk cache of 2-D maps, so UMAP and t-SNE run once per checkpoint, not once per visit.

A map depends on the exact weights, the data and the method's parameters, so the key is
(checkpoint file sha256, dataset, split, n, method, params). Files are small ``.npz`` archives
(float32 coordinates plus the key as JSON, checked on load, so a renamed or colliding file is
never trusted). Shipped checkpoints ship their maps in ``checkpoints/embeddings/``; everything
else lands in the user cache (``$VAE_LAB_RUNS/cache/embeddings`` when set, else
``~/.cache/vae-latent-lab/embeddings``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vae_core.data.datasets import default_cache_dir
from vae_core.io.atomic import atomic_write

RUNS_ENV_VAR = "VAE_LAB_RUNS"


@dataclass(frozen=True)
class EmbeddingKey:
    checkpoint_sha256: str
    dataset: str
    split: str
    n: int
    method: str
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def make(
        cls, sha256: str, dataset: str, split: str, n: int, method: str, params: dict[str, Any]
    ) -> EmbeddingKey:
        return cls(sha256, dataset, split, int(n), method, tuple(sorted(params.items())))

    def to_json(self) -> str:
        body = {
            "checkpoint_sha256": self.checkpoint_sha256,
            "dataset": self.dataset,
            "split": self.split,
            "n": self.n,
            "method": self.method,
            "params": dict(self.params),
        }
        return json.dumps(body, sort_keys=True)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    @property
    def filename(self) -> str:
        return (
            f"{self.checkpoint_sha256[:16]}-{self.dataset}-{self.split}-{self.n}-"
            f"{self.method}-{self.digest[:12]}.npz"
        )


def user_cache_dir() -> Path:
    """Where computed maps are kept (tests point ``VAE_LAB_RUNS`` at a temp dir)."""
    runs = os.environ.get(RUNS_ENV_VAR)
    if runs:
        return Path(runs) / "cache" / "embeddings"
    return default_cache_dir() / "embeddings"


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, memoised per (path, size, mtime)."""
    st = Path(path).stat()
    return _sha256(str(path), st.st_size, st.st_mtime_ns)


def load_coords(key: EmbeddingKey, folders: Sequence[Path]) -> tuple[np.ndarray, Path] | None:
    """The cached (n, 2) coordinates for ``key`` from the first folder that has a valid file."""
    for folder in folders:
        path = Path(folder) / key.filename
        if not path.is_file():
            continue
        try:
            with np.load(path, allow_pickle=False) as data:
                stored = str(data["key"])
                coords = np.asarray(data["coords"], np.float32)
        except (OSError, KeyError, ValueError):
            continue  # unreadable or foreign: recompute rather than fail
        if stored != key.to_json() or coords.shape != (key.n, 2) or not np.isfinite(coords).all():
            continue
        return coords, path
    return None


def save_coords(key: EmbeddingKey, coords: np.ndarray, folder: Path) -> Path:
    """Write the coordinates atomically (float32, compressed) under ``key.filename``."""
    coords = np.asarray(coords, np.float32)
    if coords.shape != (key.n, 2):
        raise ValueError(f"coords have shape {coords.shape}, expected ({key.n}, 2)")
    buf = io.BytesIO()
    np.savez_compressed(buf, coords=coords, key=np.array(key.to_json()))
    return atomic_write(Path(folder) / key.filename, buf.getvalue())


def cached_coords(
    key: EmbeddingKey,
    compute: Callable[[], np.ndarray],
    read_folders: Sequence[Path],
    write_folder: Path | None,
) -> tuple[np.ndarray, str]:
    """(coords, "disk" | "computed"): from the first folder holding ``key``, else computed
    and written to ``write_folder`` (a failed write is ignored: the map is still returned)."""
    hit = load_coords(key, read_folders)
    if hit is not None:
        return hit[0], "disk"
    coords = np.asarray(compute(), np.float32)
    if write_folder is not None:
        with contextlib.suppress(OSError):  # a read-only cache dir must not break the page
            save_coords(key, coords, write_folder)
    return coords, "computed"
