"""The model picker in the sidebar and the chosen model, carried across pages.

The choice is kept in ``st.session_state[MODEL_KEY]`` (a plain key, not a widget key), because
Streamlit drops widget state when the user switches to a page that does not draw that widget.
"""

from __future__ import annotations

import streamlit as st

from ui.data import dataset_banner, get_split, split_tensors
from ui.models import ModelEntry, list_models, load_model
from ui.run_timing import install as install_run_timing
from vae_core.checkpoints import Checkpoint, CheckpointError
from vae_core.data.datasets import DatasetUnavailable, ImageSet
from vae_core.device import device_label, pick_device

MODEL_KEY = "vae_lab_model_path"

install_run_timing()  # every page imports this module: opt-in run timing (VAE_LAB_TIMING_LOG)


def _remember(widget_key: str) -> None:
    st.session_state[MODEL_KEY] = st.session_state[widget_key]


def model_picker(entries: list[ModelEntry] | None = None) -> ModelEntry | None:
    """Sidebar selectbox over all models; returns the chosen entry (None if there are none).

    Options are checkpoint paths, not list positions, so a model that appears mid-session
    (trained or uploaded) never shifts the choice onto another model.
    """
    entries = list_models() if entries is None else entries
    if not entries:
        st.sidebar.error("No models found: the checkpoints/ folder is empty.")
        return None
    by_path = {e.path: e for e in entries}
    current = st.session_state.get(MODEL_KEY)
    if current not in by_path:
        current = entries[0].path
        st.session_state[MODEL_KEY] = current
    widget_key = "vae_lab_model_picker"
    st.session_state[widget_key] = current  # the widget shows the remembered choice on every page
    st.sidebar.selectbox(
        "Model",
        list(by_path),
        format_func=lambda path: by_path[path].label,
        key=widget_key,
        on_change=_remember,
        args=(widget_key,),
    )
    return by_path[st.session_state[MODEL_KEY]]


def select_model(path: str) -> None:
    """Make ``path`` the chosen model (after training or upload)."""
    st.session_state[MODEL_KEY] = path


def current_model(training_status: bool = True) -> Checkpoint | None:
    """Draw the picker and return the chosen, cached model; stops the page if there is none.

    ``training_status``: show this session's running training in the sidebar (the Train page,
    which polls it itself, passes False).
    """
    entry = model_picker()
    if entry is None:
        st.stop()
    try:
        checkpoint = load_model(entry.path)
    except (CheckpointError, OSError) as exc:  # e.g. a bad file dropped into checkpoints/
        st.error(f"This model cannot be loaded: {exc}. Pick another one in the sidebar.")
        st.stop()
    if training_status and st.session_state.get("train_job_ids"):  # progress + heartbeat
        from ui.training_jobs import sidebar_status

        sidebar_status()
    st.sidebar.caption(
        f"{checkpoint.config.display_name} · {checkpoint.meta.get('dataset', '?')} · "
        f"{checkpoint.config.latent_dim}-D latent · {device_label(pick_device())}"
    )
    return checkpoint


def model_test_set(checkpoint: Checkpoint, split: str = "test") -> ImageSet | None:
    """The chosen model's dataset (banner if it is the offline sample; error if unavailable)."""
    dataset = str(checkpoint.meta.get("dataset", "mnist"))
    try:
        images = get_split(dataset, split)
    except DatasetUnavailable as exc:
        st.error(str(exc))
        return None
    dataset_banner(images)
    return images


def model_test_tensors(checkpoint: Checkpoint, split: str = "test"):
    """(ImageSet, x, y) for the model's dataset, or None when it cannot be had."""
    images = model_test_set(checkpoint, split)
    if images is None:
        return None
    x, y = split_tensors(images.dataset, split, images.source)
    return images, x, y
