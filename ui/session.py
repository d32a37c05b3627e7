"""The chosen model, loaded, and its test set: what every page but Home starts from.

The picker itself is ``ui.picker`` (no PyTorch there); this module loads the weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from ui.data import split_or_error, split_tensors
from ui.model_list import UNLOADABLE, checkpoint_problem
from ui.models import load_model
from ui.picker import chosen_entry, sidebar_model_caption, sidebar_training_status
from vae_core.data.datasets import ImageSet
from vae_core.device import device_label, pick_device
from vae_core.io.checkpoint_file import Checkpoint, CheckpointError

if TYPE_CHECKING:
    from ui.eval_cache import EvalSet


def current_model(training_status: bool = True) -> Checkpoint | None:
    """Draw the picker and return the chosen, cached model; stops the page if there is none.

    ``training_status``: show this session's running training in the sidebar (the Train page,
    which polls it itself, passes False).
    """
    entry = chosen_entry()
    try:
        checkpoint = load_model(entry.path)
    except (CheckpointError, OSError) as exc:  # e.g. a bad file dropped into checkpoints/
        st.error(checkpoint_problem(exc, UNLOADABLE))
        st.stop()
    if training_status:
        sidebar_training_status()
    sidebar_model_caption(checkpoint.config, checkpoint.meta, device_label(pick_device()))
    return checkpoint


def model_test_set(checkpoint: Checkpoint, split: str = "test") -> ImageSet | None:
    """The chosen model's dataset (banner if it is the offline sample; error if unavailable)."""
    return split_or_error(str(checkpoint.meta.get("dataset", "mnist")), split)


def model_test_tensors(checkpoint: Checkpoint, split: str = "test"):
    """(ImageSet, x, y) for the model's dataset, or None when it cannot be had."""
    images = model_test_set(checkpoint, split)
    if images is None:
        return None
    x, y = split_tensors(images.dataset, split, images.source)
    return images, x, y


def model_test_data(checkpoint: Checkpoint):
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
