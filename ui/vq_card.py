"""The Home card of a VQ-VAE: codebook, code use and its reconstruction figures.

A VQ-VAE's metadata (``vae_core.training.vq.score_vq``) holds other figures than a VAE's: no
posterior KL per dimension, no IWAE NLL, but codebook size, codes used, perplexity and a
reconstruction log-likelihood. Its KL to the uniform prior over codes is 49 ln K, the same for
every image, so the card states it as a constant, as the VAE tutorial (section 6) does. Drawn
from the metadata alone (no PyTorch), like the VAE card.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import streamlit as st

from ui.model_card import facts_table, metric_grid
from ui.model_list import ModelInfo
from vae_core.config import VQConfig
from vae_core.training.run_metadata import training_extent

N_CELLS = 49  # the 7x7 code grid of a 28x28 image (vae_core.models.vqvae.N_CELLS, torch-free)


def uniform_kl_text(codebook_size: int) -> str:
    """'49 ln 64 = 203.79 nats': the constant KL of any image's codes to the uniform prior."""
    return f"{N_CELLS} ln {codebook_size} = {N_CELLS * math.log(codebook_size):.2f} nats"


def vq_architecture_text(config: VQConfig) -> str:
    c1, c2 = config.conv_channels
    return (
        f"conv 1→{c1}→{c2} ch (stride 2) → 1×1 conv to D = {config.code_dim}: a 7×7 grid of "
        f"code vectors, each snapped to the nearest of K = {config.codebook_size}; mirrored "
        "conv decoder"
    )


def vq_facts(meta: dict[str, Any], config: VQConfig) -> list[tuple[str, str]]:
    """(label, value) rows of the VQ card's fact table."""
    train_size = meta.get("train_size")
    updates = (
        f"EMA (decay {config.ema_decay:g})" if config.ema else "codebook loss (gradient descent)"
    )
    return [
        ("Model", "VQ-VAE (van den Oord et al. 2017)"),
        ("Dataset", str(meta.get("dataset", "?"))),
        ("Architecture", vq_architecture_text(config)),
        ("Codebook", f"K = {config.codebook_size} vectors of D = {config.code_dim}"),
        (
            "Codebook updates",
            updates + (", dead-code restarts" if config.dead_code_restart else ""),
        ),
        ("Commitment β", f"{config.commitment:g}"),
        ("Likelihood p(x|z_q)", config.likelihood),
        ("Prior over codes", f"uniform; KL(q ‖ p) = {uniform_kl_text(config.codebook_size)}"),
        ("Binarization", str(meta.get("binarize", "unknown"))),
        ("Training images", f"{train_size:,}" if isinstance(train_size, int) else "unknown"),
        ("Trained for", training_extent(meta).long()),
        ("Training device", str(meta.get("device", "unknown"))),
    ]


def _num(value: Any, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, int | float) else "n/a"


def vq_metric_values(meta: dict[str, Any], config: VQConfig) -> dict[str, str]:
    """Display strings of the test metrics ("n/a" where the checkpoint has none)."""
    tm = meta.get("test_metrics") or {}
    used = tm.get("codes_used")
    return {
        "Codebook size K": str(config.codebook_size),
        "Codes used": f"{used} / {config.codebook_size}" if isinstance(used, int) else "n/a",
        "Perplexity": _num(tm.get("perplexity"), ".1f"),
        "Recon. log-likelihood": _num(tm.get("recon_log_likelihood"), ".2f"),
        "ELBO (uniform prior)": _num(tm.get("elbo_uniform_prior"), ".2f"),
        "MSE per pixel": _num(tm.get("mse"), ".4f"),
    }


def render_vq_card(
    info: ModelInfo, device_badge: Callable[[], None], dataset_badge: tuple[str, str]
) -> None:
    """The card of a VQ-VAE; ``device_badge`` and ``dataset_badge`` are the VAE card's."""
    meta, config = info.meta, info.config
    assert isinstance(config, VQConfig)
    st.subheader(str(meta.get("name") or info.path.stem))
    label, color = dataset_badge
    with st.container(horizontal=True):
        st.badge("VQ-VAE", color="violet")
        st.badge(f"7×7 codes · K = {config.codebook_size}", color="blue")
        st.badge(label, icon=":material/dataset:", color=color)
        device_badge()
    left, right = st.columns([3, 2], gap="large")
    with left:
        facts_table(vq_facts(meta, config))
    with right:
        st.markdown("**Test metrics** (nats per image)")
        tm = meta.get("test_metrics") or {}
        if tm:
            metric_grid(vq_metric_values(meta, config))
            images = tm.get("images")
            on = f" on {images:,} test images" if isinstance(images, int) else ""
            st.caption(
                f"Measured{on} ({tm.get('data_kind_label', 'reconstruction')}). The KL to the "
                f"uniform prior over codes is a constant, {uniform_kl_text(config.codebook_size)}"
                ", the same for every image: each of the 49 cells' q(k|x) is a point mass. So "
                "ELBO = reconstruction log-likelihood − 49 ln K, a lower bound on log p(x) that "
                "is not comparable with a VAE's IWAE NLL."
            )
        else:
            st.info("Not evaluated: this checkpoint carries no test metrics.")
    history = [h for h in meta.get("history") or [] if isinstance(h, dict)]
    if history:
        st.markdown("**Training curves** (per epoch)")
        a, b = st.columns(2)
        epochs = [h.get("epoch") for h in history]
        a.line_chart(
            {"epoch": epochs, "recon": [h.get("recon") for h in history]},
            x="epoch",
            y="recon",
            x_label="epoch",
            y_label="train recon. (nats)",
            height=220,
        )
        b.line_chart(
            {"epoch": epochs, "perplexity": [h.get("perplexity") for h in history]},
            x="epoch",
            y="perplexity",
            x_label="epoch",
            y_label="code perplexity",
            height=220,
        )
