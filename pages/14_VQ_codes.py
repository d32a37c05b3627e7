"""VQ codes: paint a VQ-VAE's 7×7 grid of codebook indices, see which codes it uses, and sample its prior.

A VQ-VAE (van den Oord et al. 2017) has no continuous z: each image becomes 49 indices into a
codebook of K vectors. This page replaces the sliders for such a model: the code painter, the
codebook's usage and 2-D map, and samples from the uniform prior beside samples from the
per-cell code frequencies. Thin UI: ``ui.vq_codes`` draws, ``vae_core.latent.vq_codes`` computes.
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="VQ codes · VAE Latent Lab", page_icon="🧩", layout="wide")

from ui import vq_codes  # noqa: E402 - after set_page_config by design
from ui.cache_keys import checkpoint_key  # noqa: E402
from ui.session import current_vq_model, model_test_data  # noqa: E402
from ui.vq_card import uniform_kl_text  # noqa: E402
from vae_core.data.sources import get_source  # noqa: E402

ckpt = current_vq_model()
k = ckpt.model.config.codebook_size
_, x, y = model_test_data(ckpt)
dataset = str(ckpt.meta.get("dataset", "mnist"))
try:
    class_names = get_source(dataset).class_names
except ValueError:
    class_names = tuple(str(c) for c in range(10))

st.title("VQ codes")
st.caption(
    f"This VQ-VAE encodes each image as a 7×7 grid of indices into a codebook of K = {k} vectors; "
    "the decoder turns the grid's vectors back into an image. With a uniform prior over codes "
    f"its KL term is a constant, {uniform_kl_text(k)}, for every image."
)
n = int(
    st.number_input(
        "Test images to encode",
        1,
        len(x),
        min(vq_codes.DEFAULTS.images, len(x)),
        step=100,
        key="vq_images",
        help="Their codes feed the histogram, the codebook map and the per-cell draws.",
    )
)
stamp = checkpoint_key(ckpt)
codes = vq_codes.test_codes(stamp, n, ckpt.model, x)
counts = vq_codes.per_cell_counts(codes, k)

with st.container(key="vq_painter_head"):
    st.subheader("Code painter")
    st.caption(
        "Click a cell of the grid, then a code in the palette: your browser decodes the new "
        "grid at once, and PyTorch's decode on the server follows as a check (only this part "
        "of the page reruns). Each cell mostly drives the 4×4-pixel patch under it, through "
        "the decoder's convolutions a little beyond."
    )
vq_codes.code_painter(ckpt, stamp, x[:n], codes, counts)

st.subheader("Which codes are used")
vq_codes.usage_and_map(ckpt, codes, y, class_names)

st.subheader("Samples from two priors over the grid")
a, b = st.columns(2)
n_samples = int(a.slider("Samples of each kind", 4, 64, vq_codes.DEFAULTS.samples, 4))
seed = int(b.number_input("Seed", 0, 2**31 - 1, vq_codes.DEFAULTS.seed, key="vq_sample_seed"))
vq_codes.prior_samples(ckpt, counts, n_samples, seed)
