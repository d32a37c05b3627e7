"""Rate-distortion: where each model sits between 'remember everything' and 'remember nothing'.

The negative ELBO is distortion D = −E log p(x|z) plus rate R = KL(q(z|x) ‖ p(z)); a β-VAE
minimises D + βR (Higgins et al. 2017), and sweeping β traces the R-D curve (Alemi et al. 2018).
Shipped sweeps come from ``python -m vae_core sweep-beta``; the chosen and shipped models are
measured live with ``vae_core.evaluation.rate_distortion``. Only models of the chosen model's data kind
(``vae_core.training.run_metadata.data_kind``) share its axes: the distortion of a Bernoulli model of
binarized pixels and of a Gaussian density on grey pixels are both nats, of different things.
Thin UI over ``ui.eval_cache``.
"""

from __future__ import annotations

import contextlib

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ui import eval_cache as ec
from ui.model_list import list_models, model_info
from ui.models import load_model
from ui.session import current_model, model_eval_set
from vae_core.data.sources import get_source
from vae_core.data.subsets import capitalized
from vae_core.evaluation.data_kind import data_kind
from vae_core.evaluation.rate_distortion import sweep_data_kind
from vae_core.io.header import CheckpointError

N_CHOICES = (250, 500, 1000, 2000, 5000, 10000)
SWEEP_COLORS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b")

st.set_page_config(page_title="Rate-distortion · VAE Latent Lab", page_icon="⚖️", layout="wide")
ckpt = current_model()
st.title("Rate vs distortion")
st.markdown(
    "The ELBO's two terms pull against each other. **Rate** R = KL(q(z|x) ‖ p(z)) is how many "
    "nats the code spends on an image; **distortion** D = −E_q log p(x|z) is how badly it is "
    "reconstructed; −ELBO = D + R. A **β-VAE** (Higgins et al. 2017) minimises D + β·R: β > 1 "
    "buys a cheaper, often more disentangled code at the price of blurrier reconstructions, "
    "β < 1 the reverse. **Alemi et al. (2018)**, *Fixing a broken ELBO*, show that models with "
    "the same ELBO can sit anywhere on a line D + R = const, from an autoencoder that ignores "
    "the prior (high R, low D) to a decoder that ignores z (R = 0); sweeping β traces the "
    "achievable frontier, and the rate, not the ELBO, says how much the latent is used."
)
ev = model_eval_set(ckpt)
cfg = ckpt.config

c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
n = c1.select_slider(
    f"{capitalized(ev.images.noun)} for the live points",
    *ev.sizes(N_CHOICES, 1000),
)
show_shipped = c2.toggle("Place the shipped models too", value=True)
st.caption(f"Live points: {ev.describe(n)}.")

kind = data_kind(cfg, ckpt.meta)
left_out: list[str] = []  # one "what: why" line per model or sweep kept off the axes
sweeps, problems = ec.rd_sweeps()
for p in problems:
    st.warning(f"Skipped a sweep file: {p}")
own = {}
for name, sweep in sweeps.items():
    if sweep.get("dataset") != ev.dataset:
        continue
    try:
        sweep_kind = sweep_data_kind(sweep)
    except ValueError as exc:
        st.warning(f"Skipped the β sweep {name}: {exc}.")
        continue
    if sweep_kind.key == kind.key:
        own[name] = sweep
    else:
        left_out.append(f"β sweep {name}: {sweep_kind.label}")


def comparable_shipped() -> list:
    """Shipped models placed on the plot; the others go to ``left_out`` with the reason."""
    chosen_path = str(ckpt.path)
    placed = []
    for entry in list_models():
        if entry.source != "shipped" or entry.path == chosen_path:
            continue
        try:
            info = model_info(entry.path)  # header only: left-out models are never loaded
        except CheckpointError:
            continue
        dataset = str(info.meta.get("dataset", "?"))
        other_kind = data_kind(info.config, info.meta)
        if dataset != ev.dataset:
            with contextlib.suppress(ValueError):  # an unknown name is shown as it is
                dataset = get_source(dataset).title
            left_out.append(f"{entry.title}: a {dataset} model")
        elif not info.config.stochastic:
            left_out.append(f"{entry.title}: an autoencoder has no rate (no KL term)")
        elif other_kind.key != kind.key:
            left_out.append(f"{entry.title}: {other_kind.label}")
        else:
            placed.append(entry)
    return placed


fig = go.Figure()
rows = []
for (name, sweep), color in zip(own.items(), SWEEP_COLORS, strict=False):
    pts = sorted(sweep["points"], key=lambda p: p["beta"])
    fig.add_trace(
        go.Scatter(
            x=[p["rate"] for p in pts],
            y=[p["distortion"] for p in pts],
            mode="lines+markers+text",
            text=[f"β={p['beta']:g}" for p in pts],
            textposition="top right",
            line={"color": color},
            name=f"β sweep: {name}",
            hovertemplate="R %{x:.2f}, D %{y:.2f}<extra>%{text}</extra>",
        )
    )
    rows += [
        {
            "sweep": name,
            "β": p["beta"],
            "rate R": p["rate"],
            "distortion D": p["distortion"],
            "−ELBO": -p["elbo"],
            "active units": p.get("active_units"),
        }
        for p in pts
    ]

if cfg.stochastic:
    others = comparable_shipped() if show_shipped else []
    for entry in others:
        other = load_model(entry.path)
        point = ec.rd_point(other, ec.eval_set(other, ev.images, ev.grey, ev.labels), n)
        fig.add_trace(
            go.Scatter(
                x=[point["rate"]],
                y=[point["distortion"]],
                mode="markers",
                marker={"size": 11, "symbol": "diamond", "color": "#7f7f7f"},
                name=entry.title,
                hovertemplate=f"{entry.title}<br>R %{{x:.2f}}, D %{{y:.2f}}<extra></extra>",
            )
        )
    mine = ec.rd_point(ckpt, ev, n)
    fig.add_trace(
        go.Scatter(
            x=[mine["rate"]],
            y=[mine["distortion"]],
            mode="markers",
            marker={"size": 16, "symbol": "star", "color": "#d62728"},
            name=f"chosen: {ckpt.meta.get('name', cfg.display_name)}",
            hovertemplate="R %{x:.2f}, D %{y:.2f}<extra>chosen model</extra>",
        )
    )
    total = mine["rate"] + mine["distortion"]
    r_max = 1.15 * max([mine["rate"]] + [r for t in fig.data for r in (t.x or [])])
    fig.add_trace(
        go.Scatter(
            x=[0, r_max],
            y=[total, total - r_max],
            mode="lines",
            line={"dash": "dot", "color": "#d62728", "width": 1},
            name=f"D + R = {total:.1f} (the chosen model's −ELBO)",
            hoverinfo="skip",
        )
    )
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Rate R (KL)", f"{mine['rate']:.2f} nats")
    m2.metric(
        "Distortion D",
        f"{mine['distortion']:.2f} nats",
        help=f"−E_q log p(x|z) per image, {kind.label}",
    )
    m3.metric("β it was trained with", f"{mine['beta']:g}")
    m4.metric("Active units", f"{mine['active_units']} / {cfg.latent_dim}")
else:
    st.info(f"A {cfg.display_name} has no rate term (no KL): it is not placed on the plot.")

if not own and not cfg.stochastic:
    st.stop()
fig.update_layout(
    xaxis_title="rate R = KL (nats / image)",
    yaxis_title="distortion D = −E log p(x|z) (nats / image)",
    height=560,
    margin={"l": 10, "r": 10, "t": 10, "b": 10},
    legend={"orientation": "h", "y": -0.15},
)
st.plotly_chart(fig, key="rd_chart")
st.markdown(
    f"**On these axes:** only models of the chosen model's data kind, **{kind.label}** "
    f"({kind.meaning}). Every distortion is −E log p(x|z) in nats, but for another kind of "
    "data or likelihood it is the log of another quantity (a probability of binarized "
    "pixels, a cross-entropy on grey pixels, a density over continuous pixels), so one "
    "axis would put unrelated numbers side by side."
    + ("" if left_out else " No other shipped model or sweep is left out.")
)
if left_out:
    st.markdown("**Left out:**\n" + "\n".join(f"- {line}" for line in left_out))

if own:
    st.subheader("Shipped β sweeps")
    for name, sweep in own.items():
        st.caption(
            f"**{name}**: {sweep.get('dataset_note', '')} Evaluated on the "
            f"{sweep.get('eval', 'test set')}; {sweep['train_config'].get('epochs', '?')} "
            f"epochs per β; command: `{sweep.get('command', '?')}`"
        )
    number = st.column_config.NumberColumn(format="%.2f")
    st.dataframe(
        pd.DataFrame(rows),
        column_config={"rate R": number, "distortion D": number, "−ELBO": number},
        hide_index=True,
        key="rd_table",
    )
    st.caption(
        "The sweep models share one small recipe (see the command), so compare the chosen "
        "model's position with the curve's shape, not point by point."
    )
else:
    st.info(
        f"No shipped β sweep of {ev.dataset} scored as {kind.label} in "
        "checkpoints/rate_distortion/. `python -m vae_core sweep-beta --dataset "
        f"{ev.dataset} --out checkpoints/rate_distortion/{ev.dataset}-16d.json` makes one with "
        "Bernoulli decoders (on binarized pixels for MNIST, grey pixels otherwise)."
    )
