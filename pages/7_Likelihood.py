"""Likelihood: the ELBO, its parts, and the importance-weighted NLL as K grows (Burda et al. 2015).

Thin UI: estimates come from ``vae_core`` through the cached wrappers in ``ui.eval_cache``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
import torch

from ui import eval_cache as ec
from ui.session import current_model, model_eval_set
from vae_core.config import DENSITY_LIKELIHOODS
from vae_core.data.subsets import capitalized
from vae_core.evaluation.comparable import bayes_report, marginal_nll, uniform_label_prior
from vae_core.evaluation.units import (
    FigureLabel,
    bits_per_dim,
    comparable_data,
    figure_label,
    iwae_estimator,
)

K_CHOICES = (1, 10, 100, 1000, 5000)
MARGINAL_K_CHOICES = (1, 10, 100, 1000)
MARGINAL_K = 10  # the per-class IWAE costs C times the conditional one: a modest default
N_CHOICES = (100, 250, 500, 1000, 2000, 5000, 10000)
AUTO_RUN_BUDGET = 200_000  # images x samples small enough to run without a click on 2 cores

st.set_page_config(page_title="Likelihood · VAE Latent Lab", page_icon="📏", layout="wide")
ckpt = current_model()
st.title("Likelihood")
st.caption(
    "How well does the model explain the images it is scored on (which ones: below)? Every "
    "figure says which data it is a probability of (binarized or 8-bit pixels; grey pixels give "
    "a cross-entropy, not a likelihood), whether it is conditional on a label or marginal, "
    "whether it is a bound (ELBO) or an estimate (IWAE with K samples), in nats per image "
    "(lower is better) and bits per dim (nats / (784 · ln 2))."
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
ev = model_eval_set(ckpt)
cfg = ckpt.config
if not cfg.stochastic:
    st.info(
        f"This model is a {cfg.display_name}: a plain autoencoder defines no density p(x), so "
        "it has no ELBO or NLL. Pick a VAE, CVAE or β-VAE in the sidebar."
    )
    st.stop()

meta = ckpt.meta
data_kind = comparable_data(cfg, meta)
# A density decoder's (Gaussian, continuous Bernoulli) comparable figure is the 8-bit probability
# of its pixels (bin masses); its density on [0, 1] is shown too, labelled as what it is.
discrete = cfg.likelihood in DENSITY_LIKELIHOODS and data_kind == "8-bit"
ROW_ESTIMATOR = "IWAE estimate with that row's K (K = 1: the ELBO, a bound)"


def label(estimator: str, conditional: bool = cfg.conditional) -> FigureLabel:
    return figure_label(cfg, meta, estimator, conditional=conditional)


def short_name(lab: FigureLabel) -> str:
    if not lab.likelihood:
        return "Cross-entropy"
    return ("Conditional NLL" if lab.conditional else "NLL") + (" (8-bit)" if discrete else "")


row_label = label(ROW_ESTIMATOR)
short = "NLL" if row_label.likelihood else "cross-entropy"
nll_col = f"{short} (nats)"
gap_col = f"gap −ELBO − {short} (nats)"
DENSITY_COL = "density NLL on [0,1]^784 (nats, not comparable)"

c1, c2, c3 = st.columns([2, 3, 1], vertical_alignment="bottom")
n = c1.select_slider(capitalized(ev.images.noun), *ev.sizes(N_CHOICES, 500))
ks = c2.multiselect("Importance samples K", K_CHOICES, default=[1, 10, 100])
ks = sorted(set(ks))
views = (True, False) if discrete else (False,)  # (8-bit, density) for a Gaussian decoder
todo = [(k, v) for k in ks for v in views if not ec.nll_cached(ckpt, ev, n, k, discrete=v)]
cost = n * sum(k for k, _ in todo)  # decoder passes still to run
run = c3.button("Compute", type="primary", disabled=not todo)
computing = bool(todo) and (run or cost <= AUTO_RUN_BUDGET)
todo_ks = sorted({k for k, _ in todo})
if not ks:
    work = "Choose at least one K."
elif computing:
    work = f"Computing {cost:,} decoder passes…"
elif todo:
    work = (
        f"Work: {cost:,} decoder passes for K = {', '.join(f'{k:,}' for k in todo_ks)}; "
        "press Compute."
    )
else:
    work = f"All {len(ks)} estimates computed ({n * sum(ks) * len(views):,} decoder passes)."
st.caption(f"Scored on {ev.describe(n)}. {work}")

elbo = ec.elbo_report(ckpt, ev, n, discrete=discrete)
elbo_label = label("ELBO, one z sample per image (seed 0), a lower bound")
m1, m2, m3, _ = st.columns(4)
m1.metric("ELBO" + (" (8-bit)" if discrete else ""), f"{elbo['elbo']:.2f}", help=elbo_label.text)
m2.metric("Reconstruction E_q log p(x|z)", f"{elbo['recon']:.2f}")
m3.metric("KL(q(z|x) ‖ p(z))", f"{elbo['kl']:.2f}")

if computing:
    total, done = cost, 0
    bar = st.progress(0.0, text="Importance sampling…")
    for k, v in todo:

        def step(i: int, of: int, k: int = k, base: int = done) -> None:
            frac = (base + i * k) / total
            bar.progress(min(1.0, frac), text=f"K = {k:,}: {i:,} / {of:,} images")

        ec.iwae_nll(ckpt, ev, n, k, progress=step, discrete=v)
        done += n * k
    # Once more from the top, now that everything is cached: the caption and the (now
    # disabled) Compute button above were drawn before computing, and would say otherwise.
    st.rerun()

done_ks = [k for k in ks if all(ec.nll_cached(ckpt, ev, n, k, discrete=v) for v in views)]
results = {k: ec.iwae_nll(ckpt, ev, n, k, discrete=discrete) for k in done_ks}
if not results:
    st.info(
        "Press **Compute** to estimate the NLL." if ks else "Choose K values to estimate the NLL."
    )
    st.stop()

neg_elbo = -elbo["elbo"]
rows = []
for k, v in results.items():
    row = {
        "K": k,
        nll_col: float(v.mean()),
        "± s.e. (over images)": float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0,
        "bits/dim": bits_per_dim(float(v.mean())),
        gap_col: neg_elbo - float(v.mean()),
        "gap (bits/dim)": bits_per_dim(neg_elbo - float(v.mean())),
    }
    if discrete:
        row[DENSITY_COL] = float(ec.iwae_nll(ckpt, ev, n, k).mean())
    rows.append(row)
table = pd.DataFrame(rows)
best_k = max(results)
best = table.iloc[-1]
best_label = label(iwae_estimator(best_k))

s1, s2, s3, s4 = st.columns(4)
s1.metric(
    f"{short_name(best_label)}, K = {best_k:,}",
    f"{best[nll_col]:.2f} nats",
    help=best_label.text,
)
s2.metric(
    "Bits per dim" if row_label.likelihood else "Per pixel, in bits (no code length)",
    f"{best['bits/dim']:.4f}",
    help=best_label.text,
)
s3.metric(
    f"ELBO-to-{short} gap",
    f"{best[gap_col]:.2f} nats",
    help=f"−ELBO minus the K-sample {short}: how much tighter the importance-weighted bound is",
)
s4.metric("Gap in bits per dim", f"{best['gap (bits/dim)']:.4f}")
note = ""
if cfg.conditional:
    note = (
        " Conditional: the CVAE is given each image's true label, so this is not comparable "
        "with a VAE's −log p(x); the marginal figure, with the labels summed out, is below."
    )
elif not best_label.likelihood:
    note = (
        " A Bernoulli decoder on grey pixels scores a cross-entropy: it is comparable only "
        "with another grey-pixel cross-entropy, never with a likelihood."
    )
st.caption(f"**{short_name(best_label)}:** {best_label.text}.{note}")
if discrete:
    st.caption(
        f"**{DENSITY_COL}** (K = {best_k:,}: {float(best[DENSITY_COL]):.2f} nats): the "
        "decoder's Gaussian density of the grey pixels, density on [0,1]^784, not comparable. "
        "A density can exceed 1, so this NLL can be negative; it is no code length of any "
        "image. The 8-bit figure is the probability of each pixel's bin among the 256 levels: positive and "
        "comparable with any model of 8-bit pixels."
    )

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
st.caption(f"Each row: {row_label.text}.")
left, right = st.columns(2)
fig = go.Figure()
fig.add_trace(
    go.Scatter(
        x=table["K"],
        y=table[nll_col],
        mode="lines+markers",
        name="IWAE −L_K",
    )
)
fig.add_hline(y=neg_elbo, line_dash="dash", line_color="#d62728", annotation_text="−ELBO")
fig.update_layout(
    xaxis={"type": "log", "title": "K (importance samples)"},
    yaxis_title="nats / image",
    height=360,
    margin={"l": 10, "r": 10, "t": 30, "b": 10},
    title=f"{short_name(row_label)} estimate vs K",
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
    yaxis_title="mean, nats per image",
    height=360,
    margin={"l": 10, "r": 10, "t": 30, "b": 10},
    title=f"{short_name(best_label)} per class (K = {best_k:,})",
)
right.plotly_chart(bars, key="lik_per_class")
right.caption(
    "Classes with simple shapes (MNIST's 1s) cost far fewer nats than curly ones: a likelihood "
    "measures how many bits the image takes to code, not how 'typical' it looks."
)

if not cfg.conditional:
    st.stop()

# ---------------------------------------------------------------- CVAE: marginal and Bayes


def confusion_figure(conf: list, title: str) -> go.Figure:
    names = list(ev.class_names)
    fig = px.imshow(
        np.asarray(conf), x=names, y=names, text_auto=True, color_continuous_scale="Blues"
    )
    fig.update_layout(
        title=title,
        height=420,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        coloraxis_showscale=False,
    )
    fig.update_xaxes(title="predicted class", type="category")
    fig.update_yaxes(title="true class", type="category")
    return fig


st.subheader("The marginal likelihood, and the CVAE as a classifier")
st.markdown(
    "A CVAE scores log p(x | y) for any label y. Summing the labels out with a uniform prior "
    "p(y) = 1/10 gives the **marginal** −log p(x) = −log Σ_y p(y) p(x|y), the figure that "
    "compares with a VAE's; it is at most the conditional figure + ln 10 = 2.30 nats. Bayes' "
    "rule on the same numbers, p(y|x) ∝ p(y) p(x|y), makes the decoder a **classifier** that "
    "never saw a classification loss."
)
d1, d2 = st.columns([3, 1], vertical_alignment="bottom")
mk = d1.select_slider(
    "Importance samples K per class", MARGINAL_K_CHOICES, value=MARGINAL_K, key="lik_marginal_k"
)
n_classes = cfg.n_classes
marginal_cost = n * mk * n_classes
marginal_todo = not ec.class_scores_cached(ckpt, ev, n, mk)
marginal_run = d2.button(
    "Compute", type="primary", disabled=not marginal_todo, key="lik_marginal_run"
)
if marginal_todo and (marginal_run or marginal_cost <= AUTO_RUN_BUDGET):
    mbar = st.progress(0.0, text="Scoring every label…")

    def mstep(i: int, of: int) -> None:
        mbar.progress(min(1.0, i / of), text=f"label {i * n_classes // of} of {n_classes}")

    ec.class_log_likelihoods(ckpt, ev, n, mk, progress=mstep)
    st.rerun()
st.caption(
    f"The same {ev.describe(n)}; one IWAE estimate per image and label: {marginal_cost:,} "
    f"decoder passes ({n_classes}× the conditional figure's)"
    + ("; press Compute." if marginal_todo else ".")
)
if not marginal_todo:
    log_px_y = ec.class_log_likelihoods(ckpt, ev, n, mk)
    true = torch.as_tensor(labels).long()
    prior = uniform_label_prior(n_classes)
    marginal = float(marginal_nll(log_px_y, prior).mean())
    conditional = float(-log_px_y.gather(1, true[:, None]).mean())
    bayes = bayes_report(log_px_y, true, prior)
    marg_label = label(iwae_estimator(mk), conditional=False)
    cond_label = label(iwae_estimator(mk), conditional=True)
    e1, e2, e3, e4 = st.columns(4)
    e1.metric(f"Marginal NLL −log p(x), K = {mk:,}", f"{marginal:.2f} nats", help=marg_label.text)
    e2.metric("Marginal bits per dim", f"{bits_per_dim(marginal):.4f}", help=marg_label.text)
    e3.metric(
        f"Conditional NLL −log p(x|y), K = {mk:,}",
        f"{conditional:.2f} nats",
        help=cond_label.text,
    )
    e4.metric("Bayes-rule accuracy", f"{bayes['bayes_accuracy']:.1%}")
    st.caption(
        f"**Marginal (comparable):** {marg_label.text}. **Conditional:** {cond_label.text}. "
        f"The marginal exceeds the conditional by {marginal - conditional:.2f} nats, at most "
        f"ln {n_classes} = {math.log(n_classes):.2f} (up to Monte Carlo error)."
    )
    b1, b2 = st.columns(2)
    b1.plotly_chart(
        confusion_figure(
            bayes["bayes_confusion"], f"CVAE by Bayes' rule: {bayes['bayes_accuracy']:.1%}"
        ),
        key="lik_bayes_confusion",
    )
    b1.caption("argmax_y p(y) p(x|y): rows the true class, columns the CVAE's choice.")
    try:
        clf = ec.classifier_on(ev, n, n_classes)
    except ValueError as exc:
        b2.info(f"No classifier to compare with: {exc}")
    else:
        b2.plotly_chart(
            confusion_figure(clf["confusion"], f"Shipped classifier: {clf['accuracy']:.1%}"),
            key="lik_classifier_confusion",
        )
        b2.caption(
            "The shipped CNN classifier (trained to classify, on grey pixels) on the same "
            f"{n:,} images."
        )
