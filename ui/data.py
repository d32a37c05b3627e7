"""Test sets for the pages: real files when present, a visible download, else the offline sample.

Arrays are cached process-wide (``st.cache_resource``) and shared read-only by all sessions.
No PyTorch import here: the Home page's dataset badge reads a split before PyTorch is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from vae_core.data.datasets import DatasetUnavailable, ImageSet, how_to_get, load_split

if TYPE_CHECKING:
    import torch

_FAILED_DOWNLOADS: set[tuple[str, str]] = set()  # do not retry a dead network on every rerun


@st.cache_resource(max_entries=8, show_spinner=False)
def _local_split(dataset: str, split: str, offline_ok: bool) -> ImageSet:
    return load_split(dataset, split, download=False, allow_offline_sample=offline_ok)


@st.cache_resource(max_entries=8, show_spinner=False)
def split_tensors(dataset: str, split: str, source: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) tensors of a cached split; ``source`` is part of the key so a download refreshes it."""
    return _local_split(dataset, split, source == "offline-sample").tensors()


def _download_with_progress(dataset: str, split: str) -> bool:
    bar = st.progress(0.0, text=f"Downloading {dataset} ({split})…")

    def factory(desc: str):  # one callback per file
        def callback(done: int, total: int | None) -> None:
            frac = done / total if total else 0.0
            bar.progress(min(1.0, frac), text=f"Downloading {desc}: {done / 2**20:.1f} MiB")

        return callback

    try:
        load_split(dataset, split, download=True, allow_offline_sample=False, progress=factory)
        return True
    except DatasetUnavailable:
        _FAILED_DOWNLOADS.add((dataset, split))
        return False
    finally:
        bar.empty()


def get_split(dataset: str, split: str = "test") -> ImageSet:
    """The split from local files, else downloaded once (with a progress bar), else the sample.

    Raises DatasetUnavailable when nothing can be had (e.g. Fashion-MNIST offline), its
    message worded for the app (no command-line flags), so a page can show ``str(exc)``.
    """
    try:
        return _local_split(dataset, split, offline_ok=False)
    except DatasetUnavailable:
        pass
    if (dataset, split) not in _FAILED_DOWNLOADS and _download_with_progress(dataset, split):
        _local_split.clear()
        return _local_split(dataset, split, offline_ok=False)
    try:
        return _local_split(dataset, split, offline_ok=True)
    except DatasetUnavailable as exc:
        raise DatasetUnavailable(exc.for_app) from exc


def dataset_banner(images: ImageSet) -> None:
    """Say plainly when pages run on the offline sample instead of the real test set."""
    if images.source == "offline-sample":
        st.warning(
            f"{images.note} {how_to_get(images.dataset, 'app')}",
            icon="📦",
        )


def split_or_error(dataset: str, split: str = "test") -> ImageSet | None:
    """The split, with the offline-sample banner when that is what it is; else an error, None."""
    try:
        images = get_split(dataset, split)
    except DatasetUnavailable as exc:
        st.error(str(exc))
        return None
    dataset_banner(images)
    return images


def clear_cached_splits() -> None:
    """Forget the cached splits, so a set imported again under the same name is read afresh."""
    _local_split.clear()
    split_tensors.clear()
