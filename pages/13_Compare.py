"""Compare: two models trained on the same data, side by side.

Their latent maps with linked selection (select points in one, the same test images light up in
the other), their likelihoods in one table in the comparable unit, reconstructions of the same
test images, and, for equal latent sizes, the same codes decoded by both.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from ui import compare
from ui import eval_cache as ec
from ui.images import show_image
from ui.latent_data import latent_codes, latent_map
from ui.latent_plot import add_marker, latent_scatter, selected_rows
from ui.models import load_model
from ui.session import current_model, model_test_data
from vae_core.io.pictures import image_grid

SELECTION_KEY = "cmp_selection"
N_SCORED, K = 500, 20  # the table: 500 test images, IWAE with K = 20 (seconds on a CPU)
N_SHOWN = 8

st.set_page_config(page_title="Compare · VAE Latent Lab", page_icon="⚖️", layout="wide")
st.title("Compare two models")
ckpt_a = current_model()
data = model_test_data(ckpt_a)
images, x, y = data
dataset = images.dataset
others = compare.partners(str(ckpt_a.path), dataset)
if not others:
    st.info(f"No other model trained on {dataset} yet: train one on the Train page to compare.")
    st.stop()
other = st.selectbox(
    "Compare the sidebar's model with", others, format_func=lambda e: e.label, key="cmp_other"
)
ckpt_b = load_model(other.path)
name_a = str(ckpt_a.meta.get("name") or ckpt_a.path.stem)
name_b = str(ckpt_b.meta.get("name") or ckpt_b.path.stem)
if name_a == name_b:
    name_a, name_b = f"{name_a} (A)", f"{name_b} (B)"


def remember(key: str) -> None:
    st.session_state[SELECTION_KEY] = selected_rows(st.session_state.get(key))


# ---------------------------------------------------------------- the two maps
st.subheader("Latent maps, linked")
rows = [r for r in st.session_state.get(SELECTION_KEY, []) if 0 <= r < len(x)]
names = list(images.class_names)
cols = st.columns(2, gap="medium")
for col, ckpt, name, key in (
    (cols[0], ckpt_a, name_a, "cmp_map_a"),
    (cols[1], ckpt_b, name_b, "cmp_map_b"),
):
    codes = latent_codes(ckpt, images, x, y)
    emb = latent_map(codes, "latent" if codes.dim == 2 else "pca")
    how = "latent z" if codes.dim == 2 else f"PCA of the {codes.dim}-D latent"
    fig = latent_scatter(emb.coords, codes.labels, names, height=430, title=f"{name}: {how}")
    if rows:
        add_marker(
            fig, emb.coords[np.asarray(rows[:2000])], "selected", symbol="circle-open", size=8
        )
    col.plotly_chart(
        fig,
        key=key,
        on_select=lambda key=key: remember(key),
        selection_mode=("points", "box", "lasso"),
        config={"displaylogo": False},
    )
st.caption(
    f"Both maps show the {len(x):,} {images.noun} at their posterior means. Box- or "
    "lasso-select in either: the same images are ringed in both"
    + (f" ({len(rows):,} selected)." if rows else ".")
)

# ---------------------------------------------------------------- the likelihoods
st.subheader("Likelihood, in the comparable unit")
ev_a = ec.eval_set(ckpt_a, images, x, y)
ev_b = ec.eval_set(ckpt_b, images, x, y)
with st.spinner(f"IWAE on {N_SCORED} test images, K = {K}…"):
    figures = [
        compare.likelihood_figure(ckpt_a, ev_a, name_a, N_SCORED, K),
        compare.likelihood_figure(ckpt_b, ev_b, name_b, N_SCORED, K),
    ]
table = compare.figures_table(figures)
st.dataframe(table, width="stretch")
same = figures[0].label == figures[1].label
st.caption(
    f"Nats per image on the same {ev_a.describe(N_SCORED)}. "
    + (
        "Both figures measure the same thing, so they share a column."
        if same
        else "The two figures measure different things (see the column labels), so each has "
        "its own column: comparing them would compare different quantities."
    )
)

# ---------------------------------------------------------------- the same images
st.subheader("Reconstructions of the same test images")
shown = rows[:N_SHOWN] or ev_a.indices(N_SHOWN).tolist()
originals = ev_a.grey[shown]
grid = torch.cat(
    [
        originals,
        compare.reconstructions(ckpt_a, ev_a, shown),
        compare.reconstructions(ckpt_b, ev_b, shown),
    ]
)
show_image(
    image_grid(grid, nrow=len(shown)),
    f"top: the test images ({'the first selected' if rows else 'one per class'}); middle: "
    f"{name_a}; bottom: {name_b}",
    width="stretch",
)

# ---------------------------------------------------------------- the same codes
st.subheader("The same codes, decoded by both")
if ckpt_a.config.latent_dim != ckpt_b.config.latent_dim:
    st.info(
        f"The latent sizes differ ({ckpt_a.config.latent_dim} and {ckpt_b.config.latent_dim}): "
        "a code of one means nothing to the other."
    )
else:
    seed = st.number_input("Seed for the codes", 0, 2**31 - 1, 0, key="cmp_seed")
    dec_a, dec_b = compare.shared_codes(ckpt_a, ckpt_b, N_SHOWN, int(seed))
    show_image(
        image_grid(torch.cat([dec_a, dec_b]), nrow=N_SHOWN),
        f"{N_SHOWN} codes from {name_a}'s prior; top: {name_a}, bottom: {name_b}. Two models "
        "trained apart need not use the same code for the same image: their latent spaces are "
        "only defined up to the prior's symmetries.",
        width="stretch",
    )
