"""The Diagnostics page's "learned prior against N(0, I)": the shipped 2-D VAEs of one dataset,
trained alike but for their prior, with each one's hole_mass and test NLL in one table.

hole_mass is measured here, on the same test images for every row, by the same function as
``python -m vae_core diagnostics``; the NLL is the figure stored in each checkpoint when it was
trained (all test images, IWAE with the K it names), so it is labelled as such, never mixed with
a figure on other images.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import eval_cache as ec
from ui.model_list import list_models, model_info
from ui.models import load_model
from vae_core.config import PRIOR_LABELS
from vae_core.evaluation.data_kind import uses_binary_test_data
from vae_core.io.checkpoint_file import Checkpoint
from vae_core.io.header import CheckpointError


def shipped_2d_vaes(dataset: str) -> list[str]:
    """Paths of the shipped unconditional 2-D VAEs of ``dataset``, one per prior at most."""
    found: dict[str, str] = {}
    for entry in list_models():
        if entry.source != "shipped":
            continue
        try:
            info = model_info(entry.path)  # header only
        except CheckpointError:
            continue
        cfg = info.config
        if info.meta.get("dataset") == dataset and cfg.kind == "vae" and cfg.latent_dim == 2:
            found.setdefault(cfg.prior, entry.path)
    return list(found.values())


def share_text(value: float) -> str:
    """A probability as a percentage that never shows a small non-zero share as "0.0%"."""
    return "< 0.1%" if 0 < value < 0.0005 else f"{value:.1%}"


def _nll_text(meta: dict) -> str:
    tm = meta.get("test_metrics") or {}
    if tm.get("nll") is None:
        return "not evaluated"
    if not tm.get("binarized"):  # a Bernoulli cross-entropy on grey pixels is no likelihood
        return "not a likelihood (grey pixels)"
    return f"{tm['nll']:.2f} (K={tm.get('iw_samples', '?')}, {tm.get('n', 0):,} images)"


def prior_comparison(ckpt: Checkpoint, ev: ec.EvalSet, n: int) -> None:
    """A table of the shipped 2-D VAEs that differ in their prior, when there are two or more
    and the chosen model is one of them or trained on the same data. Every row is measured on
    the page's own images ``ev`` (the models that see them alike: binarized or not)."""
    dataset = str(ckpt.meta.get("dataset", ""))
    if ckpt.config.latent_dim != 2 or ckpt.config.conditional:
        return
    same_view = [
        path
        for path in shipped_2d_vaes(dataset)
        if uses_binary_test_data(str(model_info(path).meta.get("binarize", "none"))) == ev.binarized
    ]
    if len(same_view) < 2:
        return
    rows, described = [], ev.describe(n)
    for path in same_view:
        other = load_model(path)
        rows.append(
            {
                "model": str(other.meta.get("name") or other.path.stem),
                "prior": PRIOR_LABELS[other.config.prior],
                "hole_mass": share_text(ec.prior_hole_mass(other, ev, n)),
                "test NLL, −log p(x) binarized, nats per image (stored)": _nll_text(other.meta),
            }
        )
    st.markdown(
        "**Learned prior against N(0, I)**: the shipped 2-D VAEs, trained alike but for the prior"
    )
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption(
        f"hole_mass is measured here, on {described} for every model; the NLL is each "
        "checkpoint's own importance-weighted estimate on the binarized test split, stored when "
        "it was trained (K and the number of images beside it). A learned prior is trained "
        "with the model toward q(z) (Tomczak & Welling 2018); these rows measure what that buys "
        "in this 2-D latent."
    )
