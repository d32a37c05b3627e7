"""The model card on the Home page: what a checkpoint is, how it was trained and how good it is.

Everything shown comes from the checkpoint's own metadata (the keys of
``vae_core.training.run_metadata``), so a card for
an uploaded file is as honest as one for a shipped model; missing figures say "not evaluated"
rather than being recomputed behind the user's back. It is drawn from the metadata alone (no
PyTorch import: it is the first thing a visitor sees); on a cold server the device badge and the
charts follow once the PyTorch warm-up (``ui.torch_warmup``) has found the device.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from ui import torch_warmup
from ui.data import split_or_error
from ui.model_list import ModelInfo
from vae_core.config import N_PIXELS, NO_TRAIN_NOISE, PRIOR_LABELS, ModelConfig
from vae_core.data.datasets import seen_in_training
from vae_core.data.sources import get_source
from vae_core.evaluation.units import comparable_data
from vae_core.training.run_metadata import (
    PRIOR_NAMES,
    objective_of,
    train_noise_of,
    training_extent,
)

NOT_EVALUATED = "n/a"  # short: st.metric truncates long values
DEVICE_POLL_S = 0.5  # how often the pending device badge looks at the warm-up
POLLS_KEY = "card_device_polls"  # runs of the pending badge in this session


def architecture_text(config: ModelConfig) -> str:
    """E.g. 'MLP 784→512→256→z(2)' or 'conv 1→32→64 ch (stride 2), dense 512→z(16)'."""
    z = f"z({config.latent_dim})"
    cond = f" + one-hot label ({config.n_classes})" if config.conditional else ""
    if config.arch == "mlp":
        sizes = "→".join(str(h) for h in (N_PIXELS, *config.hidden))
        return f"MLP {sizes}→{z}, mirrored decoder{cond}"
    c1, c2 = config.conv_channels
    return f"conv 1→{c1}→{c2} ch (stride 2), dense {config.hidden[0]}→{z}, mirrored decoder{cond}"


def likelihood_text(config: ModelConfig) -> str:
    if config.likelihood == "gaussian":
        std = "learned variance" if config.learn_variance else f"fixed σ={config.gaussian_std:g}"
        return f"Gaussian ({std})"
    if config.likelihood == "categorical":
        return "256-way categorical per pixel"
    if config.likelihood == "continuous-bernoulli":
        return "continuous Bernoulli (normalised on [0, 1])"
    return "Bernoulli"


def _fmt(value: Any, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else NOT_EVALUATED


def metric_values(meta: dict[str, Any], config: ModelConfig) -> dict[str, str]:
    """Display strings for the test metrics, "not evaluated" where the checkpoint has none."""
    tm = meta.get("test_metrics") or {}
    k = tm.get("iw_samples")
    nll = _fmt(tm.get("nll"))
    if tm and tm.get("nll") is None and not config.stochastic:
        nll = "n/a (AE)"  # an AE defines no density, so it has no likelihood
    au = tm.get("active_units")
    # a Bernoulli decoder on grey pixels scores a cross-entropy, not the likelihood of any data
    grey = config.stochastic and comparable_data(config, meta) == "grey"
    nll_name = "Cross-entropy" if grey else "NLL"
    return {
        "Test ELBO": _fmt(tm.get("elbo")),
        "Reconstruction": _fmt(tm.get("recon")),
        "KL" if config.prior == "standard" else "KL (Monte Carlo)": _fmt(tm.get("kl")),
        f"{nll_name} (IWAE, K={k})" if k else f"{nll_name} (IWAE)": nll,
        "Active units": f"{au} / {config.latent_dim}" if isinstance(au, int) else NOT_EVALUATED,
    }


def _cell(text: str) -> str:
    """Escape a markdown table cell ('p(x|z)' would otherwise split the row)."""
    return text.replace("|", "\\|")


def facts_table(facts: list[tuple[str, str]]) -> None:
    """A card's (label, value) rows as one markdown table."""
    rows = "\n".join(f"| {_cell(k)} | {_cell(v)} |" for k, v in facts)
    st.markdown("| Property | Value |\n|---|---|\n" + rows)


def metric_grid(values: dict[str, str]) -> None:
    """A card's test metrics, two st.metric columns."""
    cols = st.columns(2)
    for i, (name, value) in enumerate(values.items()):
        cols[i % 2].metric(name, value)


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "unknown"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def train_noise_text(meta: dict[str, Any]) -> str:
    """The training objective's noise: 'none (standard ELBO)' or the denoising spec."""
    spec = train_noise_of(meta)
    if spec == NO_TRAIN_NOISE:
        return "none (standard ELBO)" if objective_of(meta) == "ELBO" else "none"
    return f"{spec}: denoising objective (Im et al. 2017), encodes noisy, scores clean digits"


def objective_text(meta: dict[str, Any]) -> str:
    """'ELBO (Kingma & Welling 2013)' or 'IWAE bound, K = 5 (Burda et al. 2015)'."""
    objective = objective_of(meta)
    return (
        f"{objective} ({'Kingma & Welling 2013' if objective == 'ELBO' else 'Burda et al. 2015'})"
    )


def prior_text(config: ModelConfig) -> str:
    """'standard N(0, I)' or the learned prior with its size and source."""
    if not config.stochastic:
        return "– (an autoencoder has none)"
    if config.prior == "standard":
        return PRIOR_LABELS["standard"]
    return f"{PRIOR_NAMES[config.prior].format(n=config.prior_components)} (Tomczak & Welling 2018)"


def card_facts(meta: dict[str, Any], config: ModelConfig) -> list[tuple[str, str]]:
    """(label, value) rows of the card's fact table."""
    dataset = str(meta.get("dataset", "?"))
    try:
        title = get_source(dataset).title
    except (KeyError, ValueError):
        title = dataset
    train_size = meta.get("train_size")
    epochs = training_extent(meta).long()
    created = str(meta.get("created", ""))[:19].replace("T", " ")
    return [
        ("Model", config.display_name),
        ("Dataset", title),
        ("Architecture", architecture_text(config)),
        ("Latent dimensions", str(config.latent_dim)),
        ("Prior p(z)", prior_text(config)),
        ("Likelihood p(x|z)", likelihood_text(config)),
        ("β (KL weight)", f"{config.beta:g}" if config.stochastic else "– (no KL term)"),
        ("Binarization", str(meta.get("binarize", "unknown"))),
        ("Objective", objective_text(meta)),
        ("Training noise", train_noise_text(meta)),
        ("Training images", f"{train_size:,}" if isinstance(train_size, int) else "unknown"),
        ("Trained for", epochs),
        (
            "Training time",
            f"{_duration(meta.get('training_seconds'))} on {meta.get('device', 'unknown')}",
        ),
        ("Created", created or "unknown"),
    ]


def _dataset_badge(meta: dict[str, Any]) -> tuple[str, str]:
    images = split_or_error(str(meta.get("dataset", "mnist")))  # cached after the first read
    if images is None:
        return "test set unavailable", "red"
    full = get_source(images.dataset).test.count
    if images.source == "offline-sample":  # MNIST training digits: never call them a test set
        seen = seen_in_training(images, meta)
        what = {True: "digits this model trained on", False: "held-out MNIST training digits"}
        return (
            f"offline sample: {len(images):,} {what.get(seen, 'MNIST training digits')}",
            "orange",
        )
    if len(images) < full:
        return f"test subset ({len(images):,} of {full:,})", "orange"
    return f"full test set ({len(images):,})", "green"


def _device_badge(device: str | None) -> None:
    """The compute device, or a pending badge that reruns the page once PyTorch is loaded.

    The full rerun (not just this fragment) also puts the device in the sidebar, draws the
    card's charts and lets the Home page check the weights; the pending fragment is not drawn
    again after it, so the polling stops.
    """
    if device is not None:
        st.badge(f"compute: {device}", icon=":material/memory:", color="gray")
        return

    @st.fragment(run_every=DEVICE_POLL_S)
    def pending() -> None:
        polls = st.session_state.get(POLLS_KEY, 0) + 1
        st.session_state[POLLS_KEY] = polls
        if polls > 1:  # the browser's first poll: it has drawn the page, the import may start
            torch_warmup.start()  # (before that, it would take a core from the browser)
        if torch_warmup.ready():
            st.rerun(scope="app")
        st.badge("compute: loading PyTorch…", icon=":material/hourglass_top:", color="gray")

    pending()


def _download(path: Path | None) -> None:
    if path is None or not path.is_file():
        return
    st.download_button(
        "Download checkpoint (.safetensors)",
        data=lambda: path.read_bytes(),  # deferred: read only when the user clicks
        file_name=path.name,
        mime="application/octet-stream",
        on_click="ignore",
        icon=":material/download:",
        help=f"{path.stat().st_size / 1e6:.2f} MB, loadable by this app and `python -m vae_core`",
    )


def render_model_card(info: ModelInfo, device: str | None) -> None:
    """Draw the card of the chosen model (facts, test metrics, curves, KL per dim, download).

    ``device`` is ``ui.torch_warmup.device_text()``. None means the server has just started
    and PyTorch is still loading: the card is drawn without its two plotly charts, and the
    pending device badge reruns the page once PyTorch is in, which draws them. The first page
    after a cold start stays light that way (the browser's plotly bundle is 4.7 MB, and the
    PyTorch import holds one of the server's cores meanwhile); later visits get it all at once.
    """
    if info.is_vq:
        from ui.vq_card import render_vq_card

        render_vq_card(info, lambda: _device_badge(device), _dataset_badge(info.meta))
        _download(info.path)
        return
    meta, config = info.meta, info.config
    st.subheader(str(meta.get("name") or info.path.stem))
    label, color = _dataset_badge(meta)
    with st.container(horizontal=True):
        st.badge(config.display_name, color="violet")
        st.badge(f"{config.latent_dim}-D latent", color="blue")
        st.badge(label, icon=":material/dataset:", color=color)
        _device_badge(device)

    left, right = st.columns([3, 2], gap="large")
    with left:
        facts_table(card_facts(meta, config))
        if meta.get("dataset_note"):
            st.caption(str(meta["dataset_note"]))
    with right:
        st.markdown("**Test metrics** (nats per image)")
        tm = meta.get("test_metrics") or {}
        if tm:
            metric_grid(metric_values(meta, config))
            if isinstance(tm.get("scored_on"), str):  # which images, in the words of vae_core
                st.caption(f"Measured on {tm['scored_on'][:400]}. {tm.get('test_note', '')}")
            elif isinstance(tm.get("n"), int):
                st.caption(f"Measured on {tm['n']:,} test images. {tm.get('test_note', '')}")
        else:
            st.info(
                "Not evaluated: this checkpoint carries no test metrics (ELBO, NLL, active units).",
                icon=":material/info:",
            )
        _download(info.path)

    if device is None:
        st.caption(
            "Training curves and KL per dimension follow in a moment (the server has just "
            "started and is loading PyTorch).",
            help="They are drawn as soon as the compute badge above shows the device.",
        )
    else:
        _card_charts(info)


def _card_charts(info: ModelInfo) -> None:
    """The training curves and the KL-per-dimension bars, when the checkpoint has them."""
    from ui.cache_keys import file_key
    from ui.charts import kl_per_dim_bars, training_curves  # plotly: only when a card is drawn
    from ui.figure_cache import shared_figure

    meta = info.meta
    history = meta.get("history") or []
    stamp = file_key(info.path)  # the figures depend only on the checkpoint's metadata
    st.markdown("**Training curves**")
    if history:
        curves = shared_figure(("card-curves", stamp), lambda: training_curves(history))
        st.plotly_chart(curves, width="stretch")
    else:
        st.caption("No training history in this checkpoint.")
    kl = (meta.get("test_metrics") or {}).get("kl_per_dim") or (
        history[-1].get("kl_per_dim") if history else None
    )
    if kl:
        source = "test set" if (meta.get("test_metrics") or {}).get("kl_per_dim") else "last epoch"
        st.markdown(f"**KL per latent dimension** ({source}; grey = collapsed, < 0.01 nats)")
        bars = shared_figure(("card-kl", stamp, source), lambda: kl_per_dim_bars(kl))
        st.plotly_chart(bars, width="stretch")
