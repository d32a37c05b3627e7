"""CVAE faithfulness: when asked for class k, does the CVAE draw a k? A classifier judges.

The shipped CNN classifier for the model's dataset (checkpoints/classifiers/) labels generated
samples; per class we show the share it reads as the requested class and how varied the samples
are (a generator that draws one perfect digit per class would score 100% with no diversity).
Math: ``vae_core.evaluation.classifier``.
"""

from __future__ import annotations

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from ui import eval_cache as ec
from ui.model_switch import offer_cvae
from ui.session import current_model, model_eval_set
from vae_core.data.sources import is_imported_name
from vae_core.io.pictures import image_grid
from vae_core.models.sampling import TEMPERATURE

TARGET = 0.95
N_CHOICES = (10, 20, 50, 100, 200, 500, 1000)
TILE, PAD, PER_ROW = 28, 2, 8

st.set_page_config(page_title="CVAE faithfulness · VAE Latent Lab", page_icon="🎯", layout="wide")
ckpt = current_model()
st.title("CVAE faithfulness")
cfg = ckpt.config
if not cfg.conditional:
    dataset = ckpt.meta.get("dataset")
    st.info(
        f"This page needs a conditional VAE (CVAE): the chosen model is a {cfg.display_name}, "
        "which cannot be asked for a class. Switch to a shipped CVAE below, pick one in the "
        "sidebar, or train one on the **Train** page with model kind CVAE."
    )
    if offer_cvae(dataset, cfg.latent_dim) is None:
        st.caption(f"No shipped CVAE was trained on {dataset or 'this model’s data'}.")
    st.stop()
ev = model_eval_set(ckpt)
try:
    clf, clf_meta = ec.classifier_for(ev.dataset, cfg.n_classes)
except ValueError as exc:
    st.error(f"No classifier can judge this model: {exc}.")
    if is_imported_name(ev.dataset):
        st.caption("Or train it on the **Train** page: *Your own images*, *Train the classifier*.")
    st.stop()
names = ev.class_names

c1, c2, c3 = st.columns(3)
n_per_class = c1.select_slider("Samples per class", N_CHOICES, value=100)
temperature = c2.slider(
    "Temperature",
    TEMPERATURE.low,
    TEMPERATURE.high,
    TEMPERATURE.faithfulness,
    TEMPERATURE.step,
    key="faith_temperature",
    help="z ~ N(0, T² I) for the samples judged here (this page's own setting).",
)
seed = int(c3.number_input("Seed", 0, 2**31 - 1, 0))
report = ec.faithfulness_report(ckpt, ev, n_per_class, temperature, seed)
acc = float(report["accuracy"])
m1, m2, m3 = st.columns(3)
m1.metric(
    "Samples drawn as asked",
    f"{acc:.1%}",
    delta=f"{acc - TARGET:+.1%} vs the {TARGET:.0%} target",
    delta_color="normal",
    help="Mean over the classes of the share of samples for class k that the judge reads as k.",
)
m2.metric(
    "Judge on reconstructions",
    f"{report['reconstruction_accuracy']:.1%}",
    help=(
        "How often the judge reads this model's reconstructions of real images (encoded, "
        "then decoded with their true label) as that label. Samples are decoded means too, "
        "blurrier than real images and misread more often, so this is the fairer reference "
        "for the score on the left."
    ),
)
test_size = clf_meta.get("test_size")
m3.metric(
    "Judge on real test images",
    f"{clf_meta.get('test_accuracy', float('nan')):.1%}",
    help=f"The judge's test accuracy on {test_size:,} real {ev.dataset} test images."
    if isinstance(test_size, int)
    else f"The judge's test accuracy on real {ev.dataset} test images.",
)
judge = f"Judge: `{ec.classifier_file(ev.dataset).name}`"
if isinstance(clf_meta.get("train_size"), int):
    judge += f", a small CNN trained on {clf_meta['train_size']:,} {ev.dataset} training images"
st.caption(
    f"{judge}. Samples: {n_per_class} per class ({n_per_class * cfg.n_classes:,} judged), "
    f"z ~ N(0, T² I) at T = {temperature:g}, decoded means. Reconstructions: "
    f"{ev.describe(ev.n, grey=True)}."
)
if acc >= TARGET:
    st.success(f"The CVAE meets the {TARGET:.0%} target at T = {temperature:g}.")
else:
    worst = int(np.argmin(report["per_class"]))
    st.warning(
        f"Below the {TARGET:.0%} target at T = {temperature:g}; weakest class: {names[worst]} "
        f"({report['per_class'][worst]:.0%}). A lower temperature usually trades diversity for "
        "faithfulness."
    )

labels = [f"{k}: {n}" if n != str(k) else n for k, n in enumerate(names)]
left, right = st.columns(2)
acc_fig = go.Figure(
    go.Bar(
        x=labels,
        y=report["per_class"],
        marker_color=["#1f77b4" if a >= TARGET else "#d62728" for a in report["per_class"]],
        hovertemplate="%{x}: %{y:.1%}<extra></extra>",
    )
)
acc_fig.add_hline(y=TARGET, line_dash="dash", annotation_text=f"{TARGET:.0%} target")
acc_fig.update_layout(
    title="Accuracy per requested class",
    xaxis_type="category",
    yaxis={"range": [0, 1.02], "tickformat": ".0%"},
    height=340,
    margin={"l": 10, "r": 10, "t": 40, "b": 10},
)
left.plotly_chart(acc_fig, key="faith_acc_chart")
div_fig = go.Figure(
    [
        go.Bar(x=labels, y=report["diversity"], name="generated"),
        go.Bar(
            x=labels,
            y=report.get("reference_diversity", []),
            name=f"real images ({ev.images.noun})",
        ),
    ]
)
div_fig.update_layout(
    title="Diversity: mean pairwise pixel distance within a class",
    xaxis_type="category",
    height=340,
    margin={"l": 10, "r": 10, "t": 40, "b": 10},
    legend={"orientation": "h", "y": -0.2},
)
right.plotly_chart(div_fig, key="faith_div_chart")

st.subheader("Samples and the classifier's verdicts")
examples = report["examples"]
preds = clf.predict(examples).tolist()
per = len(examples) // cfg.n_classes
grid = image_grid(examples, nrow=per, pad=PAD)
fig = px.imshow(grid, color_continuous_scale="gray", zmin=0, zmax=255, binary_string=True)
step = TILE + PAD
for i, p in enumerate(preds):
    row, col = divmod(i, per)
    ok = p == row
    fig.add_annotation(
        x=PAD + col * step + 3,
        y=PAD + row * step + 5,
        text=str(p),
        showarrow=False,
        xanchor="left",
        font={"color": "#4cff4c" if ok else "#ff4040", "size": 13},
    )
fig.update_xaxes(showticklabels=False)
fig.update_yaxes(
    tickvals=[PAD + step * r + TILE / 2 for r in range(cfg.n_classes)], ticktext=labels
)
fig.update_layout(height=60 * cfg.n_classes + 40, margin={"l": 10, "r": 10, "t": 10, "b": 10})
st.plotly_chart(fig, key="faith_grid")
st.caption(
    f"Row k: the first {per} samples generated for class k; the small number is the "
    "classifier's prediction (green: as requested, red: not)."
)

with st.expander("Confusion: requested class (rows) vs predicted class (columns)"):
    conf = np.asarray(report["confusion"])
    st.plotly_chart(
        px.imshow(conf, x=labels, y=labels, text_auto=True, color_continuous_scale="Blues"),
        key="faith_confusion",
    )
