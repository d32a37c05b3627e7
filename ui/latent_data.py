"""Cached latent codes and 2-D maps of the test set, shared by the Latent map and Interpolation.

Encoding 10,000 images and fitting UMAP / t-SNE are done once per checkpoint: in memory
(``st.cache_resource``, shared read-only by all sessions) and, for the non-linear maps, on disk
(``vae_core.latent.map_cache``: shipped maps next to the shipped checkpoints, the rest in the user
cache). PCA and the 2-D latent are instant and only cached in memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from ui.eval_cache import frozen, split_posteriors
from ui.paths import SHIPPED_DIR
from vae_core.data.datasets import ImageSet
from vae_core.data.subsets import describe_images
from vae_core.io.checkpoint_file import Checkpoint
from vae_core.io.pictures import image_grid, png_bytes
from vae_core.io.projector import projector_files
from vae_core.latent.manifold import manifold_images
from vae_core.latent.map_cache import (
    EmbeddingKey,
    cached_coords,
    file_sha256,
    load_coords,
    user_cache_dir,
)
from vae_core.latent.maps import (
    LINEAR_METHODS,
    METHODS,
    Embedding,
    LinearProjection,
    compute_embedding,
    identity_projection,
    resolve_params,
    start_umap_warmup,
    umap_warm,
)
from vae_core.latent.numba_cache import numba_cache_filled

SHIPPED_EMBEDDINGS = SHIPPED_DIR / "embeddings"
WARMUP_ENV_VAR = "VAE_LAB_UMAP_WARMUP"  # "0" turns the background numba warm-up off (tests)


@dataclass(frozen=True, eq=False)
class LatentCodes:
    """Posterior means and log-variances of one split under one checkpoint (read-only arrays)."""

    mu: np.ndarray  # (N, D) float32
    logvar: np.ndarray  # (N, D) float32
    labels: np.ndarray  # (N,) int64
    identity: str  # checkpoint sha256 (or an in-memory id)
    dataset: str
    split: str
    source: str

    @property
    def n(self) -> int:
        return len(self.mu)

    @property
    def dim(self) -> int:
        return int(self.mu.shape[1])

    @property
    def on_disk(self) -> bool:
        return not self.identity.startswith("mem-")


def checkpoint_identity(ckpt: Checkpoint) -> str:
    """The checkpoint file's sha256: the disk-cache key (unsaved models get a process-local id)."""
    if ckpt.path is not None and Path(ckpt.path).is_file():
        return file_sha256(ckpt.path)
    return f"mem-{id(ckpt.model):x}"


def latent_codes(ckpt: Checkpoint, images: ImageSet, x, y) -> LatentCodes:
    """Encoder means/log-variances of the whole split's grey pixels
    (``ui.eval_cache.split_posteriors``, the encoder pass every page shares)."""
    identity = checkpoint_identity(ckpt)
    mu, logvar = split_posteriors(ckpt, images, x, y, binarized=False)
    labels = frozen(y.numpy().astype(np.int64))
    return LatentCodes(mu, logvar, labels, identity, images.dataset, images.split, images.source)


def embedding_folders() -> list[Path]:
    return [SHIPPED_EMBEDDINGS, user_cache_dir()]


def map_key(codes: LatentCodes, method: str, params: dict[str, Any]) -> EmbeddingKey:
    return EmbeddingKey.make(codes.identity, codes.dataset, codes.split, codes.n, method, params)


@st.cache_resource(max_entries=16, show_spinner=False)
def _nonlinear_map(digest: str, _key: EmbeddingKey, _codes: LatentCodes) -> Embedding:
    key, params = _key, dict(_key.params)
    result: dict[str, Embedding] = {}

    def compute() -> np.ndarray:
        result["emb"] = compute_embedding(_codes.mu, key.method, params)
        return result["emb"].coords

    write = user_cache_dir() if _codes.on_disk else None
    folders = embedding_folders() if _codes.on_disk else []
    coords, how = cached_coords(key, compute, folders, write)
    if how == "computed":
        return result["emb"]
    hit = load_coords(key, folders)
    origin = "shipped" if hit and hit[1].parent == SHIPPED_EMBEDDINGS else "cache"
    return Embedding(frozen(coords), key.method, params, None, 0.0, origin)


@st.cache_resource(max_entries=16, show_spinner=False)
def _linear_map(identity: str, source: str, n: int, method: str, _codes: LatentCodes) -> Embedding:
    return compute_embedding(_codes.mu, method)


def is_cached(codes: LatentCodes, method: str, params: dict[str, Any] | None = None) -> bool:
    """Whether the map can be had without fitting (always true for PCA and the 2-D latent)."""
    if method in LINEAR_METHODS:
        return True
    key = map_key(codes, method, resolve_params(method, params))
    return codes.on_disk and load_coords(key, embedding_folders()) is not None


def latent_map(codes: LatentCodes, method: str, params: dict[str, Any] | None = None) -> Embedding:
    """The 2-D map of ``codes``; a UMAP / t-SNE fit that is not cached runs under a status box."""
    if method in LINEAR_METHODS:
        return _linear_map(codes.identity, codes.source, codes.n, method, codes)
    params = resolve_params(method, params)
    key = map_key(codes, method, params)
    if is_cached(codes, method, params):
        return _nonlinear_map(key.digest, key, codes)
    label = METHODS[method]
    with st.status(f"Computing {label} of {codes.n:,} points…", expanded=True) as status:
        if method == "umap" and not umap_warm() and not numba_cache_filled():
            st.write("The first UMAP on this machine compiles numba code: about a minute.")
        else:
            st.write(f"{label} on this machine takes a few seconds to a minute.")
        st.write("The result is saved, so this model's map opens instantly next time.")
        emb = _nonlinear_map(key.digest, key, codes)
        status.update(
            label=f"{label} done in {emb.seconds:.1f} s", state="complete", expanded=False
        )
    return emb


def linear_projection(codes: LatentCodes) -> LinearProjection:
    """The plane used for grids and ellipses: the latent itself (2-D) or its PCA plane."""
    if codes.dim == 2:
        return identity_projection()
    emb = _linear_map(codes.identity, codes.source, codes.n, "pca", codes)
    assert emb.projection is not None
    return emb.projection


@st.cache_resource(max_entries=32, show_spinner=False)
def _manifold(key: tuple, _model: Any, _plane: LinearProjection, _points, _anchor, label):
    images = manifold_images(_model, _plane, _points, _anchor, label)
    grid = frozen(image_grid(images, nrow=key[-1]))
    return png_bytes(grid), grid


def manifold_grid(
    codes: LatentCodes,
    model: Any,
    points: np.ndarray,
    anchor: np.ndarray | None,
    label: int | None,
    n: int,
) -> tuple[bytes, np.ndarray]:
    """(PNG, uint8 array) of the n x n decoded grid over ``points`` of the map's plane.

    Cached per model, grid and anchor: selecting points on the map reruns the page but, with
    the default "data mean" anchor, leaves this grid unchanged, and decoding plus encoding it was
    a large part of each rerun. The PNG goes to ``st.image`` as is (no re-encoding).
    """
    held = None if anchor is None else tuple(np.round(np.asarray(anchor, np.float64), 6))
    key = (codes.identity, codes.source, codes.n, points.tobytes(), held, label, n)
    plane = linear_projection(codes)
    return _manifold(key, model, plane, points, anchor, label)


def maybe_warm_up_umap(codes: LatentCodes) -> None:
    """Compile UMAP in the background when it may be chosen and is not precomputed."""
    if os.environ.get(WARMUP_ENV_VAR, "1") == "0" or codes.dim <= 2:
        return
    if not is_cached(codes, "umap"):
        start_umap_warmup()


def projector_zip(codes: LatentCodes, images: ImageSet, name: str) -> bytes:
    """The Latent map's codes as a .zip for TensorBoard's Embedding Projector (built on click).

    The same posterior means the map shows (the whole split, in its order), so the projector's
    points are this page's points.
    """
    title = f"{name}: posterior means E[z|x] of {describe_images(images, None)}"
    index = np.arange(codes.n)
    files = projector_files(codes.mu, codes.labels, images.images, images.class_names, index, title)
    return files.zip_bytes()
