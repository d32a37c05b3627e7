"""Out-of-distribution: does a high likelihood mean "looks like my training data"?

Scores the model's test split (MNIST, Fashion-MNIST or an imported set), the other datasets
(whichever of MNIST and Fashion-MNIST it was not trained on), uniform noise and inverted / rotated
copies by their IWAE NLL, shows the histograms and the AUROC of in- vs out-of-distribution per
set, then the published remedy from ``vae_core.evaluation.ood`` beside it. Thin UI over
``ui.eval_cache``.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch
from plotly.subplots import make_subplots

from ui import eval_cache as ec
from ui.data import get_split
from ui.images import show_image
from ui.model_list import list_models, model_info
from ui.picker import select_model
from ui.session import current_model, model_eval_set
from vae_core.data.datasets import DatasetUnavailable, ImageSet
from vae_core.evaluation import ood
from vae_core.evaluation.units import comparable_data
from vae_core.io.header import CheckpointError
from vae_core.io.pictures import image_grid, png_bytes

N_CHOICES = (100, 250, 500, 1000, 2000, 5000)
K_CHOICES = (1, 10, 100, 1000)
AUTO_RUN_BUDGET = 150_000  # images x samples over all sets that run without a click
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")  # in-dist + 5 sets
REFERENCE = "— (the reference)"  # the in-distribution row has no AUROC against itself


def shipped_fashion_vae() -> tuple[str, str] | None:
    """(path, title) of the shipped unconditional Fashion-MNIST VAE, if there is one."""
    for entry in list_models():
        if entry.source != "shipped":
            continue
        try:
            info = model_info(entry.path)  # header only, cached per file version
        except CheckpointError:
            continue
        # the Bernoulli VAE: the model of Nalisnick et al.'s failure, not its continuous variant
        cfg = info.config
        if (
            info.meta.get("dataset") == "fashion-mnist"
            and cfg.kind == "vae"
            and cfg.likelihood == "bernoulli"
        ):
            return entry.path, entry.title
    return None


def offer_the_famous_failure() -> None:
    """A one-click switch to the Fashion-MNIST VAE, where likelihood fails the famous way."""
    found = shipped_fashion_vae()
    if found is None:
        return
    path, title = found
    with st.container(border=True):
        st.markdown(
            "**See the famous failure.** Nalisnick et al. (2019) found that a model of "
            "Fashion-MNIST gives MNIST digits a *higher* likelihood than its own test clothes. "
            "This model was trained on MNIST; the shipped Fashion-MNIST VAE shows that failure "
            "on this page."
        )
        st.button(
            "Switch to the Fashion-MNIST VAE",
            on_click=select_model,
            args=(path,),
            key="ood_switch_fashion",
            help=f"Chooses “{title}” in the sidebar; every page then uses it.",
        )


st.set_page_config(page_title="Out-of-distribution · VAE Latent Lab", page_icon="🚨", layout="wide")
ckpt = current_model()
st.title("Out-of-distribution detection")
st.caption(
    "A density model should give low likelihood to inputs unlike its training data. We score "
    "each set by its importance-weighted NLL (nats per image; high = 'looks out of "
    "distribution') and measure how well that separates the test split from each other set "
    "(AUROC: 1 = perfect, 0.5 = chance, below 0.5 = the OOD set looks *more* likely)."
)
ev = model_eval_set(ckpt)
cfg = ckpt.config
# a Bernoulli decoder on grey pixels scores a cross-entropy, which is no likelihood of any data
SCORE = "cross-entropy" if cfg.stochastic and comparable_data(cfg, ckpt.meta) == "grey" else "NLL"
if SCORE != "NLL":
    st.caption(
        "This model's Bernoulli decoder scores grey pixels: its score is a cross-entropy, not "
        "−log p(x) of any data, so it is called that below (it fails the same way)."
    )
if not cfg.stochastic:
    st.info(f"A {cfg.display_name} defines no density p(x) to score. Pick a VAE in the sidebar.")
    st.stop()
if cfg.conditional:
    st.info(
        "A CVAE models p(x | y) and an out-of-distribution input comes with no label, so this "
        "page scores unconditional models. Pick a VAE or β-VAE in the sidebar."
    )
    st.stop()
if ev.dataset == "mnist":
    offer_the_famous_failure()

c1, c2, c3, c4 = st.columns([2, 2, 1, 1], vertical_alignment="bottom")
n = c1.select_slider("Images per set", *ev.sizes(N_CHOICES, 500))
k = c2.select_slider("Importance samples K", K_CHOICES, value=10)
seed = int(c3.number_input("Seed", 0, 10_000, 0, help="for the noise and the rotations"))
run = c4.button("Score", type="primary")

others: dict[str, ImageSet | str] = {}
for name in ood.other_datasets(ev.dataset):
    try:
        others[name] = get_split(name, "test")
    except DatasetUnavailable as exc:
        others[name] = f"Skipped: {exc}"
sets = ec.ood_inputs(ev, n, others, seed=seed)
available = [s for s in sets if s.x is not None]
cost = sum(len(s.x) for s in available) * k
loaded = [v.noun for v in others.values() if not isinstance(v, str)]
st.caption(
    f"In-distribution: {ev.describe(n)}; the other sets are transformed copies of those, noise"
    + (
        f", and as many of the {' and of the '.join(loaded)} (also random within each class, "
        "seed 0; all of them where there are fewer)"
        if loaded
        else ""
    )
    + f", all scored like the test set. Work: {cost:,} decoder passes"
    + (" (runs on its own)." if cost <= AUTO_RUN_BUDGET else "; press Score.")
)
for s in sets:
    if s.x is None:
        st.warning(f"{s.title}: {s.note}", icon="📦")

with st.expander("What the sets look like", expanded=False):
    cols = st.columns(len(available))
    for col, s in zip(cols, available, strict=True):
        show_image(png_bytes(image_grid(s.x[:16], nrow=4), 2), s.title, where=col)

todo = [s for s in available if not ec.ood_cached(ckpt, ev, s.name, n, k, seed)]
if todo and (run or cost <= AUTO_RUN_BUDGET):
    bar = st.progress(0.0, text="Scoring…")
    for i, s in enumerate(todo):

        def step(done: int, total: int, i: int = i, s=s) -> None:
            frac = (i + done / max(1, total)) / len(todo)
            bar.progress(min(1.0, frac), text=f"{s.title}: {done:,} / {total:,} images")

        ec.ood_nll(ckpt, ev, s, n, k, seed, progress=step)
    bar.empty()
if any(not ec.ood_cached(ckpt, ev, s.name, n, k, seed) for s in available):
    st.info(f"Press **Score** to compute the {SCORE} of every set.")
    st.stop()

scores = {s.name: torch.tensor(ec.ood_nll(ckpt, ev, s, n, k, seed)) for s in available}
remedy = {s.name: ood.complexity_corrected(scores[s.name], s.x) for s in available}
inside = next(s for s in available if s.in_distribution)
rows = []
for s in available:
    row = {"set": s.title, "mean NLL (nats)": float(scores[s.name].mean())}
    if not s.in_distribution:
        row["AUROC, NLL"] = ood.auroc(scores[inside.name], scores[s.name])
        row["AUROC, complexity-corrected"] = ood.auroc(remedy[inside.name], remedy[s.name])
    rows.append(row)
table = pd.DataFrame(rows)


def histograms(values: dict[str, torch.Tensor], xlabel: str, auc_key: str) -> go.Figure:
    """One panel per OOD set, each overlaid on the in-distribution scores, on its own x-range
    (the sets differ by thousands of nats, so one shared axis would hide every shape)."""
    others = [s for s in available if not s.in_distribution]
    aucs = {r["set"]: r.get(auc_key) for r in rows}
    fig = make_subplots(
        rows=1,
        cols=len(others),
        subplot_titles=[f"{s.title}<br>AUROC {aucs[s.title]:.3f}" for s in others],
    )
    for col, (s, color) in enumerate(zip(others, COLORS[1:], strict=False), start=1):
        for name, c, label in ((inside.name, COLORS[0], inside.title), (s.name, color, s.title)):
            fig.add_trace(
                go.Histogram(
                    x=values[name].numpy(),
                    name=label,
                    opacity=0.6,
                    marker_color=c,
                    nbinsx=40,
                    histnorm="probability density",
                    showlegend=name == inside.name and col == 1 or name == s.name,
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text=xlabel, row=1, col=col)
    fig.update_yaxes(showticklabels=False)
    fig.update_annotations(font_size=12)
    fig.update_layout(
        barmode="overlay",
        height=360,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "y": -0.35},
    )
    return fig


st.subheader(f"{SCORE[0].upper()}{SCORE[1:]} per set (K = {k})")
# st.table, not st.dataframe: the data grid draws every missing value as "None" whatever the
# Styler says, while the table shows the Styler's text, here what the blank cell means.
shown = table.rename(
    columns={
        "mean NLL (nats)": f"mean {SCORE} (nats)",
        "AUROC, NLL": f"AUROC ({SCORE})",
        "AUROC, complexity-corrected": "AUROC (corrected)",
    }
)
st.table(
    shown.style.format(
        {
            f"mean {SCORE} (nats)": "{:.1f}",
            f"AUROC ({SCORE})": "{:.3f}",
            "AUROC (corrected)": "{:.3f}",
        },
        na_rep=REFERENCE,
    ).hide(axis="index")
)
st.caption(
    f"AUROC of telling the in-distribution {ev.images.noun} from each set, using the score as the "
    "'out-of-distribution' signal (sklearn's roc_auc_score); the in-distribution row is the "
    "reference every other set is compared with, so it has no AUROC of its own. Below: each "
    "set's scores (colour) "
    f"over the in-distribution {ev.images.noun}' (blue), each panel on its own scale."
)
st.plotly_chart(histograms(scores, f"{SCORE} (nats)", "AUROC, NLL"), key="ood_nll_hist")
st.markdown(
    "**The known failure** (Nalisnick et al. 2019, *Do deep generative models know what they "
    "don't know?*): likelihood is dominated by how *simple* an image is, not by whether it "
    "resembles the training data. Images with few 'on' pixels or flat backgrounds can get a "
    "*higher* likelihood than real test data: a Fashion-MNIST model rates MNIST digits as more "
    "likely than clothes, and AUROCs near or below 0.5 appear for such sets."
)
fooled = [r for r in rows if r.get("AUROC, NLL", 1.0) < 0.5]
if fooled:
    st.warning(
        "Seen here: this model rates "
        + ", ".join(f"{r['set']} (AUROC {r['AUROC, NLL']:.2f})" for r in fooled)
        + f" as *more* likely than its own {ev.images.noun}.",
        icon="🙃",
    )

st.subheader("Remedy: complexity-corrected score (Serrà et al. 2020)")
st.caption(
    f"S(x) = {SCORE}(x) − L(x), with L(x) the length of x under a generic lossless compressor "
    "(here its PNG file, zlib level 9, in nats): it subtracts how complex the image is on its own, leaving how much *worse* "
    "the model codes it than a general-purpose coder would. Higher S = more out of distribution."
)
st.plotly_chart(
    histograms(remedy, "S(x) (nats)", "AUROC, complexity-corrected"), key="ood_remedy_hist"
)
broken = [r for r in rows if r.get("AUROC, complexity-corrected", 1.0) < 0.5]
if broken:
    st.info(
        "The correction is not free: it fails here on "
        + ", ".join(f"{r['set']} (AUROC {r['AUROC, complexity-corrected']:.2f})" for r in broken)
        + ". S(x) compares two code lengths of the same image, which only works when both "
        "describe the same data: PNG codes the 8-bit pixels, "
        + (
            "while a Bernoulli decoder on grey pixels is not a distribution over 8-bit images, "
            "so incompressible noise can look 'simple enough' to the model."
            if not ev.binarized
            else "while this model codes one binarization of them."
        )
    )
