"""The chosen model, loaded, and its test set: what every page but Home starts from.

The picker itself is ``ui.picker`` (no PyTorch there); this module loads the weights.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from ui.data import split_or_error, split_tensors
from ui.model_list import UNLOADABLE, checkpoint_problem
from ui.models import load_model
from ui.picker import chosen_entry, sidebar_model_caption, sidebar_training_status
from vae_core.data.datasets import ImageSet
from vae_core.device import device_label, pick_device
from vae_core.io.checkpoint_file import Checkpoint, CheckpointError
from vae_core.io.vq_checkpoint import VQCheckpoint

if TYPE_CHECKING:
    from ui.eval_cache import EvalSet


VQ_PAGE = "pages/14_VQ_codes.py"
NOT_FOR_VQ = (
    "**This page does not apply to a VQ-VAE.** It works with a continuous latent z and a "
    "Gaussian posterior q(z|x) = N(μ, σ²) (their means, spreads, prior density or a path "
    "through z). A VQ-VAE has neither: its encoder maps an image to a 7×7 grid of discrete "
    "codebook indices, q(k|x) is a point mass, and its uniform prior over codes gives a constant "
    "KL of 49 ln K. Explore its codes on the VQ codes page, or pick a VAE in the sidebar."
)


def _draw_sidebar(checkpoint: Checkpoint | VQCheckpoint, training_status: bool) -> None:
    if training_status:
        sidebar_training_status()
    sidebar_model_caption(checkpoint.model.config, checkpoint.meta, device_label(pick_device()))


def _load_chosen() -> Checkpoint | VQCheckpoint:
    entry = chosen_entry()
    try:
        return load_model(entry.path)
    except (CheckpointError, OSError) as exc:  # e.g. a bad file dropped into checkpoints/
        st.error(checkpoint_problem(exc, UNLOADABLE))
        st.stop()


def current_model(training_status: bool = True, allow_vq: bool = False) -> Checkpoint | None:
    """Draw the picker and return the chosen, cached model; stops the page if there is none.

    A VQ-VAE stops the page after one ``st.info`` that says why the page does not apply and
    links the VQ codes page: every page that reads μ / σ or a continuous z starts here, so this
    is the one place that keeps a VQ model from them. ``allow_vq`` (the Train page, which only
    shows the chosen model in the sidebar) lets it through.

    ``training_status``: show this session's running training in the sidebar (the Train page,
    which polls it itself, passes False).
    """
    checkpoint = _load_chosen()
    _draw_sidebar(checkpoint, training_status)
    if isinstance(checkpoint, VQCheckpoint) and not allow_vq:
        st.info(NOT_FOR_VQ, icon=":material/grid_view:")
        with contextlib.suppress(StreamlitPageNotFoundError):  # a page run alone (tests)
            st.page_link(VQ_PAGE, label="VQ codes: paint the code grid", icon=":material/grid_on:")
        st.stop()
    return checkpoint


def current_vq_model() -> VQCheckpoint:
    """The chosen model when it is a VQ-VAE; otherwise the page stops after saying which models
    it is for."""
    checkpoint = _load_chosen()
    _draw_sidebar(checkpoint, True)
    if not isinstance(checkpoint, VQCheckpoint):
        st.info(
            "This page explores a VQ-VAE's discrete codes; the chosen model has a continuous "
            "latent space instead. Pick a VQ-VAE (e.g. *VQ-VAE K=64 · mnist*) in the sidebar.",
            icon=":material/grid_view:",
        )
        st.stop()
    return checkpoint


def model_test_set(checkpoint: Checkpoint | VQCheckpoint, split: str = "test") -> ImageSet | None:
    """The chosen model's dataset (banner if it is the offline sample; error if unavailable)."""
    return split_or_error(str(checkpoint.meta.get("dataset", "mnist")), split)


def model_test_tensors(checkpoint: Checkpoint | VQCheckpoint, split: str = "test"):
    """(ImageSet, x, y) for the model's dataset, or None when it cannot be had."""
    images = model_test_set(checkpoint, split)
    if images is None:
        return None
    x, y = split_tensors(images.dataset, split, images.source)
    return images, x, y


def model_test_data(checkpoint: Checkpoint | VQCheckpoint):
    """(ImageSet, x, y) of the model's test split; stops the page, after the data's own
    message, when it cannot be had."""
    data = model_test_tensors(checkpoint)
    if data is None:
        st.stop()
    return data


def model_eval_set(checkpoint: Checkpoint) -> EvalSet:
    """The model's test split as the evaluation pages score it (``ui.eval_cache.eval_set``:
    binarized when its training data were); stops the page, after the data's own message, when
    the split cannot be had."""
    from ui.eval_cache import eval_set  # PyTorch-heavy: only the evaluation pages need it

    return eval_set(checkpoint, *model_test_data(checkpoint))
