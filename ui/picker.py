"""The model picker in the sidebar and the chosen model's path, carried across pages.

The choice is kept in ``st.session_state[MODEL_KEY]`` (a plain key, not a widget key), because
Streamlit drops widget state when the user switches to a page that does not draw that widget.
It is also kept in the address bar as ``?model=<checkpoint file stem>`` (``ui.links``), so a link
opens the same model on any page.
No PyTorch here (the Home page draws the picker before PyTorch is loaded); ``ui.session``
turns the choice into a loaded model.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import streamlit as st

from ui import links
from ui.model_list import ModelEntry, list_models
from ui.run_timing import install as install_run_timing
from vae_core.config import ModelConfig, VQConfig
from vae_core.training.run_metadata import training_extent

MODEL_KEY = "vae_lab_model_path"
PICKER_KEY = "vae_lab_model_picker"

install_run_timing()  # every page imports this module: opt-in run timing (VAE_LAB_TIMING_LOG)


def _remember(widget_key: str) -> None:
    st.session_state[MODEL_KEY] = st.session_state[widget_key]
    links.note("model", None)  # the user chose: the message about the link has had its day


def _escaped(text: str) -> str:
    """``text`` shown literally in markdown (model names and links come from users)."""
    return re.sub(r"([\\`*_\[\]<>#|~$])", r"\\\1", text)


def _from_link(entries: list[ModelEntry]) -> None:
    """Apply a new ``?model=<file stem>`` to the stored choice; an unknown stem gets a message.

    The first entry with that stem wins (shipped models are listed first). The stem is only
    compared with the listed files' stems, never turned into a path.
    """
    wanted = links.fresh("model")
    if wanted is None:
        return
    for entry in entries:
        if Path(entry.path).stem == wanted:
            st.session_state[MODEL_KEY] = entry.path
            return
    shown = (wanted if len(wanted) <= 60 else wanted[:57] + "...").replace("`", "'")
    links.note(
        "model",
        f"The link asks for a model called `{shown}`, which this lab does not "
        "have, so the usual model is shown. Pick one in the list above; the address bar then "
        "holds a link to it.",
    )


def _full_name(entry: ModelEntry) -> str:
    """The chosen model's whole label and file, for the picker's tooltip (markdown)."""
    label = _escaped(entry.label)  # names may come from uploads
    shipped = " (shipped with the lab)" if entry.source == "shipped" else ""
    return f"**{label}**{shipped}\n\nFile: `{Path(entry.path).name}`"


def model_picker(entries: list[ModelEntry] | None = None) -> ModelEntry | None:
    """Sidebar selectbox over all models; returns the chosen entry (None if there are none).

    Options are checkpoint paths, not list positions, so a model that appears mid-session
    (trained or uploaded) never shifts the choice onto another model.
    """
    entries = list_models(include_vq=True) if entries is None else entries
    if not entries:
        st.sidebar.error("No models found: the checkpoints/ folder is empty.")
        return None
    by_path = {e.path: e for e in entries}
    _from_link(entries)
    current = st.session_state.get(MODEL_KEY)
    if current not in by_path:
        current = entries[0].path
        st.session_state[MODEL_KEY] = current
    st.session_state[PICKER_KEY] = current  # the widget shows the remembered choice on every page
    st.sidebar.selectbox(
        "Model",
        list(by_path),
        format_func=lambda path: by_path[path].label,
        key=PICKER_KEY,
        on_change=_remember,
        args=(PICKER_KEY,),
        help=_full_name(by_path[current]),  # the box cuts long labels; this shows all of it
    )
    links.show_notes("model", where=st.sidebar)
    chosen = by_path[st.session_state[MODEL_KEY]]
    links.write("model", Path(chosen.path).stem)  # the address bar: a link to this model
    return chosen


def chosen_entry() -> ModelEntry:
    """Draw the picker and return the chosen entry; stops the page when there are no models."""
    entry = model_picker()
    if entry is None:
        st.stop()
    return entry


TRAIN_JOBS_KEY = "train_job_ids"  # st.session_state: this session's training job ids, newest last


def sidebar_training_status() -> None:
    """While this session trains, show its progress in the sidebar of every page and keep the
    job's heartbeat going, so the training survives the user looking at other pages meanwhile.

    Draws (and polls) nothing otherwise; ``ui.training_jobs`` is imported only then (PyTorch is
    loaded anyway while one trains).
    """
    ids = st.session_state.get(TRAIN_JOBS_KEY) or []
    if not ids:
        return
    from ui.training_jobs import get_job

    job = get_job(ids[-1])
    if job is None or not job.snapshot().active:
        return

    @st.fragment(run_every=2.0)
    def _poll() -> None:
        job.beat()
        snap = job.snapshot()
        if snap.active:
            st.progress(min(1.0, snap.progress), text=f"Training {snap.name}: {snap.state}")
        else:
            st.caption(f"Training {snap.name}: {snap.state}; see the Train page.")

    with st.sidebar:  # a fragment may not reach st.sidebar from inside, so enter it outside
        _poll()


def select_model(path: str) -> None:
    """Make ``path`` the chosen model (after training or upload)."""
    st.session_state[MODEL_KEY] = path
    links.note("model", None)


def sidebar_model_caption(
    config: ModelConfig | VQConfig, meta: dict[str, Any], device: str | None
) -> None:
    """One line under the picker: model, dataset, latent size (a VQ-VAE's: its codebook), (once
    known) the device, and for a model whose training did not run to its end, how much it got
    (the picker may cut it)."""
    size = (
        f"7×7 codes, K = {config.codebook_size}"
        if isinstance(config, VQConfig)
        else f"{config.latent_dim}-D latent"
    )
    parts = [config.display_name, str(meta.get("dataset", "?")), size]
    st.sidebar.caption(" · ".join(parts + ([device] if device else [])))
    extent = training_extent(meta)
    if not extent.complete:
        st.sidebar.caption(f":orange[Partly trained: {extent.long()}]")
