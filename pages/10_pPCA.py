"""pPCA: the linear-Gaussian latent variable model, solved exactly, beside the VAE.

Probabilistic PCA (Tipping & Bishop 1999) is a VAE with a linear decoder and a Gaussian
likelihood: its log-likelihood and true posterior p(z|x) have closed forms, so it is the
yardstick for what a deep decoder and an amortised encoder buy. Thin UI: ``vae_core.evaluation.ppca``.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch

from ui import eval_cache as ec
from ui.data import get_split, split_tensors
from ui.images import show_image
from ui.latent_plot import add_ellipse, add_marker, latent_scatter
from ui.models import load_model
from ui.session import current_model, model_test_tensors
from vae_core.data.datasets import DatasetUnavailable
from vae_core.data.subsets import capitalized
from vae_core.io.pictures import image_grid, png_bytes
from vae_core.latent.ellipse import ellipse_points
from vae_core.latent.maps import fit_pca

M_CHOICES = (1, 2, 3, 4, 8, 16, 32, 64, 128)
MAP_POINTS = 2000
VAE_K, VAE_N = 100, 500  # the Gaussian VAE's NLL estimate: K samples on N images

st.set_page_config(page_title="pPCA · VAE Latent Lab", page_icon="📐", layout="wide")
ckpt = current_model()
st.title("Probabilistic PCA: the exactly solvable latent model")
st.caption(
    "x = W z + μ + ε with z ~ N(0, I_M) and ε ~ N(0, σ² I). Tipping & Bishop (1999) give the "
    "maximum-likelihood W and σ² in closed form from the eigenvectors of the data covariance, "
    "the exact marginal p(x) = N(μ, W Wᵀ + σ² I) and the exact posterior p(z|x). A VAE replaces "
    "the linear decoder by a network and the exact posterior by an encoder's guess."
)
data = model_test_tensors(ckpt)
if data is None:
    st.stop()
ev = ec.eval_set(ckpt, *data)
try:
    train = get_split(ev.dataset, "train")
except DatasetUnavailable as exc:
    st.error(f"pPCA is fitted on the training images, which are unavailable: {exc}")
    st.stop()
x_train, _ = split_tensors(train.dataset, "train", train.source)

default_m = ckpt.config.latent_dim if ckpt.config.latent_dim in M_CHOICES else 2
m = st.select_slider("pPCA latent dimension M", M_CHOICES, value=default_m)
fit = ec.ppca_fit(train, x_train, m)
nll = ec.ppca_test_nll(train, x_train, m, ev, ev.n)
c1, c2, c3 = st.columns(3)
c1.metric("Test NLL (exact)", f"{nll.mean():.1f} nats", help=f"mean over {len(nll):,} images")
c2.metric("Noise variance σ²", f"{fit.sigma2:.4f}", help="mean of the discarded eigenvalues")
c3.metric("Training images", f"{len(x_train):,}")
st.caption(
    f"Fitted on {len(x_train):,} {train.noun} ({train.note}); scored on "
    f"{ev.describe(ev.n, grey=True)} in [0, 1] with a Gaussian density. A negative NLL is "
    "possible: a density on a continuous space can exceed 1."
)

# ---------------------------------------------------------------- the true posterior
st.subheader(f"The true posterior p(z | x) of one {ev.images.noun_one}")
idx = int(st.number_input(f"{capitalized(ev.images.noun_one)} #", 0, ev.n - 1, 0))
x_one = ev.grey[idx : idx + 1]
post_mean, post_cov = fit.posterior(x_one.reshape(1, -1))
recon = fit.decode(post_mean).reshape(1, 1, 28, 28).clamp(0, 1).float()
a, b, c = st.columns([1, 2, 2])
show_image(
    png_bytes(image_grid(torch.cat([x_one, recon]), nrow=2), 3),
    where=a,
    caption="the image · W E[z|x] + μ",
)
mean_fig = go.Figure(go.Bar(x=[f"z{i}" for i in range(m)], y=post_mean[0].tolist()))
mean_fig.update_xaxes(type="category")
mean_fig.update_layout(
    title="posterior mean M⁻¹ Wᵀ(x − μ)", height=280, margin={"l": 10, "r": 10, "t": 40, "b": 10}
)
b.plotly_chart(mean_fig, key="ppca_post_mean")
dims = [f"z{i}" for i in range(m)]
cov_fig = go.Figure(go.Heatmap(z=post_cov.numpy(), x=dims, y=dims, colorscale="Blues"))
cov_fig.update_layout(
    title="posterior covariance σ² M⁻¹ (the same for every x)",
    height=280,
    margin={"l": 10, "r": 10, "t": 40, "b": 10},
)
cov_fig.update_yaxes(autorange="reversed")
c.plotly_chart(cov_fig, key="ppca_post_cov")

# ---------------------------------------------------------------- maps
st.subheader("Latent maps: pPCA beside the VAE")
n_map = min(MAP_POINTS, ev.n)
labels = ev.subset(n_map)[2].numpy()
names = list(ev.class_names)
pp_mean, _ = fit.posterior(ev.grey_subset(n_map).reshape(n_map, -1))
left, right = st.columns(2)
if m >= 2:
    pp_fig = latent_scatter(
        pp_mean[:, :2].numpy(), labels, names, height=480, title="pPCA: E[z|x], z₀ and z₁"
    )
    pp2 = post_mean[0, :2].numpy()
    add_ellipse(pp_fig, ellipse_points(pp2, post_cov[:2, :2].numpy()), name=f"#{idx}: 2σ")
    add_marker(pp_fig, pp2[None], name=f"#{idx}")
    left.plotly_chart(pp_fig, key="ppca_map")
else:
    left.info("M = 1: the pPCA latent is a line; choose M ≥ 2 for a map.")
mu, _ = ec.posteriors(ckpt, ev, n_map)
if mu.shape[1] == 2:
    vae_xy, vae_title = mu, f"{ckpt.config.display_name}: E_q[z|x]"
else:
    vae_xy = fit_pca(mu).transform(mu)
    vae_title = f"{ckpt.config.display_name}: PCA of the {mu.shape[1]}-D E_q[z|x]"
right.plotly_chart(
    latent_scatter(vae_xy, labels, names, height=480, title=vae_title), key="ppca_vae_map"
)
st.caption(
    f"Both maps show {ev.describe(n_map)}"
    + ("; pPCA sees their grey pixels. " if ev.binarized else ". ")
    + "pPCA's axes are the top principal directions of the pixels, ordered by variance; the "
    "VAE's encoder is free to bend the space, so classes usually separate better."
)

# ---------------------------------------------------------------- Gaussian VAE comparison
st.subheader(f"A Gaussian-decoder VAE with the same {m}-D latent")
matches = ec.gaussian_vaes(ev.dataset, m)
if not matches:
    st.info(
        f"No {ev.dataset} VAE with a Gaussian decoder and a {m}-D latent is among the models. "
        "Train one on the **Train** page (likelihood: Gaussian, latent dim "
        f"{m}, no binarization), or from the command line:\n\n"
        f"`python -m vae_core train --dataset {ev.dataset} --likelihood gaussian "
        f"--latent-dim {m} --binarize none --epochs 10`"
    )
else:
    gauss = load_model(matches[0].path)
    gev = ec.eval_set(gauss, *data)
    g_nll = ec.iwae_nll(gauss, gev, VAE_N, VAE_K)
    g_elbo = ec.elbo_report(gauss, gev, VAE_N)
    table = pd.DataFrame(
        [
            {"model": f"pPCA, M = {m} (exact)", "NLL (nats)": float(nll[ev.indices(VAE_N)].mean())},
            {"model": f"{matches[0].title}: −ELBO", "NLL (nats)": -g_elbo["elbo"]},
            {"model": f"{matches[0].title}: IWAE, K = {VAE_K}", "NLL (nats)": float(g_nll.mean())},
        ]
    )
    st.dataframe(
        table,
        column_config={"NLL (nats)": st.column_config.NumberColumn(format="%.1f")},
        hide_index=True,
        key="ppca_vs_vae",
    )
    st.caption(f"Both on {gev.describe(VAE_N, grey=True)}. Lower is better.")
st.warning(
    "**Units.** pPCA and a Gaussian-decoder VAE are densities over grey pixels in ℝ⁷⁸⁴: their "
    "nats compare directly (the VAE's fixed σ matters a lot). A Bernoulli VAE's NLL is a "
    "probability of *binarized* pixels, a different quantity: never compare it with a Gaussian "
    "density's NLL, not even its sign.",
    icon="⚖️",
)
