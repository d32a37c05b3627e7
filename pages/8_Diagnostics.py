"""Diagnostics: which latent dimensions are used, and where q(z) leaves holes in the prior.

KL per dimension and active units (Burda et al. 2015, sec. 5.2), the aggregate posterior
q(z) = E_x q(z|x) against the prior p(z) (Hoffman & Johnson 2016, "ELBO surgery"), and
decoded samples from both. Thin UI: all math is in ``vae_core`` via ``ui.eval_cache``.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from ui import eval_cache as ec
from ui.charts import COLLAPSED_KL, kl_per_dim_bars
from ui.images import show_image
from ui.prior_comparison import prior_comparison, share_text
from ui.session import current_model, model_eval_set
from vae_core.config import PRIOR_LABELS
from vae_core.data.subsets import capitalized
from vae_core.evaluation.prior_holes import HOLE_RATIO
from vae_core.io.pictures import image_grid, png_bytes
from vae_core.models.objectives import ACTIVE_UNIT_THRESHOLD, active_units

N_CHOICES = (500, 1000, 2000, 5000, 10000)
SCALE = 3

st.set_page_config(page_title="Diagnostics · VAE Latent Lab", page_icon="🩺", layout="wide")
ckpt = current_model()
st.title("Diagnostics")
ev = model_eval_set(ckpt)
cfg = ckpt.config
model = ckpt.model

n = st.select_slider(capitalized(ev.images.noun), *ev.sizes(N_CHOICES, 2000))
st.caption(f"Computed on {ev.describe(n)}.")

# ---------------------------------------------------------------- KL per dim, active units
st.subheader("Which latent dimensions carry information?")
elbo = ec.elbo_report(ckpt, ev, n)
mu, logvar = ec.posteriors(ckpt, ev, n)
au, var = active_units(torch.from_numpy(np.array(mu)))
kl = list(elbo["kl_per_dim"])
left, right = st.columns(2)
left.plotly_chart(
    kl_per_dim_bars(kl, title="KL(q(z_j|x) ‖ p(z_j)) per dimension"), key="diag_kl_chart"
)
THRESHOLD = ACTIVE_UNIT_THRESHOLD
au_fig = go.Figure(
    go.Bar(
        x=[f"z{i}" for i in range(len(var))],
        y=var.tolist(),
        marker_color=["#1f77b4" if v > THRESHOLD else "#b0b0b0" for v in var.tolist()],
        hovertemplate="%{x}: Var = %{y:.4f}<extra></extra>",
    )
)
# One labelled tick per decade; the threshold's decade is always in range, with room below it.
positive = [v for v in var.tolist() if v > 0]
lo = math.floor(math.log10(min([THRESHOLD, *positive]))) - 0.3
hi = math.log10(max([THRESHOLD, *positive])) + 0.25
au_fig.add_hline(y=THRESHOLD, line_dash="dash", line_color="#333")
au_fig.add_annotation(  # add_hline's own label is misplaced on a log axis (it skips the log10)
    x=1,
    xref="paper",
    y=math.log10(THRESHOLD),  # annotations on a log axis take log10 of the value
    yref="y",
    text=f"active if > {THRESHOLD:g}",
    showarrow=False,
    xanchor="right",
    yanchor="bottom",
    font={"size": 11, "color": "#333"},
    bgcolor="rgba(255,255,255,0.8)",
)
au_fig.update_layout(
    title="Activity Cov_x(E_q[z_j]) per dimension",
    height=260,
    margin={"l": 10, "r": 10, "t": 40, "b": 10},
    yaxis={"type": "log", "range": [lo, hi], "dtick": 1, "exponentformat": "power"},
    xaxis_title="latent dimension",
)
right.plotly_chart(au_fig, key="diag_au_chart")
low_kl = [i for i, v in enumerate(kl) if v < COLLAPSED_KL]
inactive = [i for i, v in enumerate(var.tolist()) if v <= THRESHOLD]
m1, m2, m3 = st.columns(3)
m1.metric(
    "Active units", f"{au} / {cfg.latent_dim}", help=f"Burda et al. 2015: Var > {THRESHOLD:g}"
)
m2.metric("Dims with KL ≥ 0.01 nats", f"{cfg.latent_dim - len(low_kl)} / {cfg.latent_dim}")
m3.metric("Total KL", f"{elbo['kl']:.2f} nats")
if not cfg.stochastic:
    st.info("A plain autoencoder has no KL term: every dimension is deterministic.")
elif low_kl or inactive:
    dims = sorted(set(low_kl) | set(inactive))
    st.warning(
        f"Posterior collapse in {len(dims)} of {cfg.latent_dim} dimensions: "
        + ", ".join(f"z{i}" for i in dims[:32])
        + (" …" if len(dims) > 32 else "")
        + ". Their q(z_j|x) is (almost) the prior whatever x is, so the decoder ignores them."
    )
else:
    st.success(f"Every latent dimension is in use (KL ≥ 0.01 nats and Var > {THRESHOLD:g}).")
with st.expander("What is posterior collapse?"):
    st.markdown(
        "The ELBO charges KL(q(z|x) ‖ p(z)) nats for every bit a code carries. A dimension "
        "that does not pay for itself in reconstruction is switched off: q(z_j|x) = N(0, 1) "
        "for every x, its KL is 0 and the encoder mean no longer varies with x (an *inactive "
        "unit*, Burda et al. 2015). A few collapsed dimensions in a large latent are normal, "
        "the model just needs fewer. Collapse of *all* dimensions (a decoder strong enough to "
        "model x alone, Bowman et al. 2016) or too large a β (Higgins et al. 2017) wastes the "
        "latent; KL annealing or free bits (Kingma et al. 2016) are the usual remedies."
    )


# ---------------------------------------------------------------- aggregate posterior
def aggregate_section() -> None:
    """q(z) against the model's own prior on the latent plane, with the holes and hole_mass."""
    prior_name = PRIOR_LABELS[cfg.prior]
    st.subheader("Aggregate posterior q(z) vs the prior p(z)")
    st.caption(
        "q(z) = (1/N) Σ_n q(z|x_n) is the distribution of codes the decoder was trained on; samples "
        f"from the prior (here {prior_name}) land wherever p(z) has mass. Red regions are "
        f"**holes**: inside the prior's bulk (p(z) at least 1% of its peak), q(z) is below "
        f"{HOLE_RATIO:g} of p(z), so the prior puts mass there but "
        f"almost no {ev.images.noun_one} is encoded there; the decoder never learnt what to "
        "draw, and prior samples from them look poor."
    )
    maps = ec.aggregate_maps(ckpt, ev, n)
    axis = ("z₀", "z₁") if maps.explained is None else ("PC 1", "PC 2")
    fig = go.Figure()
    fig.add_trace(
        go.Heatmap(
            x=maps.grid_x.numpy(),
            y=maps.grid_y.numpy(),
            z=np.where(maps.holes.numpy(), 1.0, np.nan),
            colorscale=[[0, "rgba(214,39,40,0.35)"], [1, "rgba(214,39,40,0.35)"]],
            showscale=False,
            hoverinfo="skip",
            name="holes",
        )
    )
    for dens, name, color in (
        (maps.q, "q(z)", "#1f77b4"),
        (maps.p, f"p(z), {prior_name}", "#d62728"),
    ):
        fig.add_trace(
            go.Contour(
                x=maps.grid_x.numpy(),
                y=maps.grid_y.numpy(),
                z=dens.numpy(),
                contours={"coloring": "lines", "showlabels": False},
                line={"width": 1.5},
                colorscale=[[0, color], [1, color]],
                showscale=False,
                name=name,
                showlegend=True,
                ncontours=8,
            )
        )
    fig.update_layout(
        height=560,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis_title=axis[0],
        yaxis_title=axis[1],
        legend={"orientation": "h", "y": -0.12},
    )
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    c_map, c_text = st.columns([3, 2])
    c_map.plotly_chart(fig, key="diag_aggregate_chart")
    if maps.explained is None:  # the plane is the latent: its red mass is hole_mass
        c_text.metric(
            f"hole_mass (prior: {prior_name})",
            share_text(ec.prior_hole_mass(ckpt, ev, n)),
            help="∫ p(z) over every point where q(z) < 0.1 p(z), on a fine grid: the same "
            "number as `python -m vae_core diagnostics` (it also counts the prior's thin "
            "outskirts, which the red cells leave out)",
        )
    else:
        c_text.metric(
            "Prior mass in the holes of this plane",
            share_text(maps.prior_mass_in_holes),
            help="∫ p(z) over the red cells of the projected densities",
        )
        c_text.metric(
            f"hole_mass in all {cfg.latent_dim} dims (prior: {prior_name})",
            share_text(ec.prior_hole_mass(ckpt, ev, n)),
            help="Monte Carlo over 20,000 prior draws: the same number as "
            "`python -m vae_core diagnostics`. High-dimensional latents are mostly 'hole' by this "
            "test: narrow posteriors leave gaps between them.",
        )
    c_text.caption(
        "hole_mass is the probability, under the model's own prior, of the region where the "
        f"aggregate posterior's density is below {HOLE_RATIO:g} of the prior's: the share of prior "
        f"samples that decode from codes no {ev.images.noun_one} resembles (0 is no holes)."
    )
    if maps.explained is not None:
        ex = maps.explained
        c_text.caption(
            f"The {cfg.latent_dim}-D latent is shown through the exact linear projection onto the "
            f"top two principal axes of the posterior means ({ex[0]:.0%} + {ex[1]:.0%} of their "
            "variance), through the origin: each Gaussian of q(z) and of the prior projects to a 2-D "
            "Gaussian with a full covariance. Holes in the plane are a lower bound on the holes in "
            "the full space."
        )
    else:
        c_text.caption(f"Blue: contours of q(z). Red lines: contours of the prior, {prior_name}.")
    prior_comparison(ckpt, ev, n)


if cfg.stochastic:
    aggregate_section()
else:
    st.info("A plain autoencoder has no prior to sample from, so it has no holes to measure.")

# ---------------------------------------------------------------- samples
st.subheader("Decoded samples: prior vs aggregate posterior")
s1, s2 = st.columns(2)
n_samples = s1.slider("Samples", 8, 64, 32, step=8)
seed = int(s2.number_input("Seed", 0, 2**31 - 1, 0))
z_prior, z_agg = ec.diagnostic_codes(ckpt, ev, n, n_samples, seed)
y = torch.arange(n_samples) % cfg.n_classes if cfg.conditional else None
with torch.no_grad():
    prior_imgs = model.decode(torch.as_tensor(z_prior, dtype=torch.float32), y)
    agg_imgs = model.decode(torch.as_tensor(z_agg, dtype=torch.float32), y)
a, b = st.columns(2)
show_image(
    png_bytes(image_grid(prior_imgs, nrow=8), SCALE),
    f"z ~ p(z), {PRIOR_LABELS[cfg.prior]}",
    where=a,
)
show_image(
    png_bytes(image_grid(agg_imgs, nrow=8), SCALE),
    where=b,
    caption=f"z ~ q(z): pick a {ev.images.noun_one} at random, then z ~ q(z|x)",
)
if cfg.conditional:
    st.caption("CVAE: both grids decode with labels 0, 1, …, 9 repeating.")
