"""Likelihood: the ELBO, its parts, and the importance-weighted NLL as K grows (Burda et al. 2015).

Thin UI: estimates come from ``vae_core`` through the cached wrappers in ``ui.eval_cache``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ui import eval_cache as ec
from ui.session import current_model, model_test_tensors
from vae_core.data.subsets import capitalized

K_CHOICES = (1, 10, 100, 1000, 5000)
N_CHOICES = (100, 250, 500, 1000, 2000, 5000, 10000)
AUTO_RUN_BUDGET = 200_000  # images x samples small enough to run without a click on 2 cores

st.set_page_config(page_title="Likelihood · VAE Latent Lab", page_icon="📏", layout="wide")
ckpt = current_model()
st.title("Likelihood")
st.caption(
    "How well does the model explain the images it is scored on (which ones: below)? All figures are nats per image "
    "(lower NLL is better); bits per dim divide by 784 · ln 2."
)
with st.expander("What is the importance-weighted bound?"):
    st.markdown(
        "The **ELBO** E_q[log p(x|z)] − KL(q(z|x) ‖ p(z)) is a lower bound on log p(x); it is "
        "loose by exactly KL(q(z|x) ‖ p(z|x)), the encoder's error. **Burda, Grosse & "
        "Salakhutdinov (2015)** average K importance weights p(x, z_k) / q(z_k|x) *inside* the "
        "log: log p(x) ≥ L_K = E[log (1/K) Σ_k p(x, z_k)/q(z_k|x)]. L_1 is the ELBO, "
        "L_K ≤ L_{K+1} (averaging more weights shrinks the Jensen gap), and L_K → log p(x) as "
        "K → ∞ when the weights are bounded. So −L_K for large K is the standard estimate of "
        "the test NLL, and the ELBO-to-NLL gap shows how much the amortised posterior loses."
    )
data = model_test_tensors(ckpt)
if data is None:
    st.stop()
ev = ec.eval_set(ckpt, *data)
cfg = ckpt.config
if not cfg.stochastic:
    st.info(
        f"This model is a {cfg.display_name}: a plain autoencoder defines no density p(x), so "
        "it has no ELBO or NLL. Pick a VAE, CVAE or β-VAE in the sidebar."
    )
    st.stop()

c1, c2, c3 = st.columns([2, 3, 1], vertical_alignment="bottom")
n = c1.select_slider(capitalized(ev.images.noun), *ev.sizes(N_CHOICES, 500))
ks = c2.multiselect("Importance samples K", K_CHOICES, default=[1, 10, 100])
ks = sorted(set(ks))
todo = [k for k in ks if not ec.nll_cached(ckpt, ev, n, k)]
cost = n * sum(todo)  # decoder passes still to run
run = c3.button("Compute", type="primary", disabled=not todo)
computing = bool(todo) and (run or cost <= AUTO_RUN_BUDGET)
if not ks:
    work = "Choose at least one K."
elif computing:
    work = f"Computing {cost:,} decoder passes…"
elif todo:
    work = (
        f"Work: {cost:,} decoder passes for K = {', '.join(f'{k:,}' for k in todo)}; press Compute."
    )
else:
    work = f"All {len(ks)} estimates computed ({n * sum(ks):,} decoder passes)."
st.caption(
    f"Scored on {ev.describe(n)}. {work}"
    + (" For a CVAE this is log p(x | y), the label given." if cfg.conditional else "")
)

elbo = ec.elbo_report(ckpt, ev, n)
m1, m2, m3, _ = st.columns(4)
m1.metric("ELBO", f"{elbo['elbo']:.2f}", help="recon − KL, one z sample per image (seed 0)")
m2.metric("Reconstruction E_q log p(x|z)", f"{elbo['recon']:.2f}")
m3.metric("KL(q(z|x) ‖ p(z))", f"{elbo['kl']:.2f}")

if computing:
    total, done = cost, 0
    bar = st.progress(0.0, text="Importance sampling…")
    for k in todo:

        def step(i: int, of: int, k: int = k, base: int = done) -> None:
            frac = (base + i * k) / total
            bar.progress(min(1.0, frac), text=f"K = {k:,}: {i:,} / {of:,} images")

        ec.iwae_nll(ckpt, ev, n, k, progress=step)
        done += n * k
    # Once more from the top, now that everything is cached: the caption and the (now
    # disabled) Compute button above were drawn before computing, and would say otherwise.
    st.rerun()

results = {k: ec.iwae_nll(ckpt, ev, n, k) for k in ks if ec.nll_cached(ckpt, ev, n, k)}
if not results:
    st.info(
        "Press **Compute** to estimate the NLL." if ks else "Choose K values to estimate the NLL."
    )
    st.stop()

neg_elbo = -elbo["elbo"]
rows = [
    {
        "K": k,
        "NLL (nats)": float(v.mean()),
        "± s.e. (over images)": float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0,
        "bits/dim": ec.bits_per_dim(float(v.mean())),
        "gap −ELBO − NLL (nats)": neg_elbo - float(v.mean()),
        "gap (bits/dim)": ec.bits_per_dim(neg_elbo - float(v.mean())),
    }
    for k, v in results.items()
]
table = pd.DataFrame(rows)
best_k = max(results)
best = table.iloc[-1]

s1, s2, s3, s4 = st.columns(4)
s1.metric(f"NLL, K = {best_k:,}", f"{best['NLL (nats)']:.2f} nats")
s2.metric("Bits per dim", f"{best['bits/dim']:.4f}")
s3.metric(
    "ELBO-to-NLL gap",
    f"{best['gap −ELBO − NLL (nats)']:.2f} nats",
    help="−ELBO minus the K-sample NLL: how much tighter the importance-weighted bound is",
)
s4.metric("Gap in bits per dim", f"{best['gap (bits/dim)']:.4f}")

st.dataframe(
    table,
    column_config={
        c: st.column_config.NumberColumn(format="%.4f" if "bits" in c else "%.2f")
        for c in table.columns
        if c != "K"
    },
    hide_index=True,
    key="lik_table",
)
left, right = st.columns(2)
fig = go.Figure()
fig.add_trace(
    go.Scatter(
        x=table["K"],
        y=table["NLL (nats)"],
        mode="lines+markers",
        name="IWAE NLL −L_K",
    )
)
fig.add_hline(y=neg_elbo, line_dash="dash", line_color="#d62728", annotation_text="−ELBO")
fig.update_layout(
    xaxis={"type": "log", "title": "K (importance samples)"},
    yaxis_title="nats / image",
    height=360,
    margin={"l": 10, "r": 10, "t": 30, "b": 10},
    title="NLL estimate vs K",
)
left.plotly_chart(fig, key="lik_curve")
left.caption(
    "Every K scores the same images with the same encoder, so the differences between K are "
    "far more precise than the ± s.e. column, which measures how much images differ."
)
nll = results[best_k]
labels = ev.subset(n)[2].numpy()
per_class = (
    pd.DataFrame({"class": labels, "nll": nll}).groupby("class")["nll"].agg(["mean", "count"])
)
names = [ev.class_names[c] if c < len(ev.class_names) else str(c) for c in per_class.index]
bars = go.Figure(
    go.Bar(
        x=names,
        y=per_class["mean"],
        customdata=per_class["count"],
        hovertemplate="%{x}: %{y:.2f} nats (%{customdata} images)<extra></extra>",
    )
)
bars.update_layout(
    xaxis={"title": "class", "type": "category"},
    yaxis_title="mean NLL (nats)",
    height=360,
    margin={"l": 10, "r": 10, "t": 30, "b": 10},
    title=f"NLL per class (K = {best_k:,})",
)
right.plotly_chart(bars, key="lik_per_class")
right.caption(
    "Classes with simple shapes (MNIST's 1s) cost far fewer nats than curly ones: a likelihood "
    "measures how many bits the image takes to code, not how 'typical' it looks."
)
