"""One-click switch to a shipped CVAE, for pages that need a conditional model.

A student who lands on such a page with a plain VAE chosen should not have to guess which of
the picker's entries is a CVAE of the same data: the button selects it in the sidebar picker
(``ui.picker.select_model``, the same stored choice the picker uses) and the page reruns with it.
No PyTorch here: the candidates are found from checkpoint metadata alone.
"""

from __future__ import annotations

import streamlit as st

from ui.model_list import ModelEntry, list_models, model_info
from ui.picker import select_model
from vae_core.io.header import CheckpointError

SWITCH_KEY = "switch_to_cvae"


def shipped_cvae(dataset: str | None, latent_dim: int | None = None) -> ModelEntry | None:
    """The shipped CVAE trained on ``dataset`` (the one with ``latent_dim`` if there is one;
    among those a Bernoulli decoder, the classic one, before the continuous Bernoulli)."""
    if not dataset:
        return None
    found: list[tuple[bool, int, ModelEntry]] = []
    for entry in list_models():
        if entry.source != "shipped":
            continue
        try:
            info = model_info(entry.path)
        except CheckpointError:
            continue
        if info.config.conditional and info.meta.get("dataset") == dataset:
            cfg = info.config
            found.append(
                (cfg.latent_dim != latent_dim, cfg.likelihood != "bernoulli", cfg.latent_dim, entry)
            )
    return min(found, key=lambda t: t[:3])[3] if found else None


def offer_cvae(dataset: str | None, latent_dim: int | None = None) -> ModelEntry | None:
    """A button that switches to the shipped CVAE of ``dataset``; None when there is none."""
    entry = shipped_cvae(dataset, latent_dim)
    if entry is not None:
        st.button(
            f"Switch to {entry.title}",
            key=SWITCH_KEY,
            type="primary",
            on_click=select_model,
            args=(entry.path,),
            help="Selects this shipped CVAE in the sidebar's model picker.",
        )
    return entry
