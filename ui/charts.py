"""Plotly chart builders shared by the pages: training curves and KL per latent dimension.

Pure functions from plain lists/dicts (checkpoint metadata or a live job snapshot) to figures,
so they work for a finished model and a running training alike and can be tested without a page.
All values are nats per image; the ELBO is the per-image lower bound on log p(x) (higher is
better), recon is E_q[log p(x|z)] and KL is KL(q(z|x) || p(z)) (Kingma & Welling 2013, eq. 3).
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

PANELS = (
    ("elbo", "ELBO (higher is better)"),
    ("recon", "Reconstruction log p(x|z)"),
    ("kl", "KL(q‖p)"),
)
TRAIN_COLOR, VAL_COLOR, STEP_COLOR = "#1f77b4", "#d62728", "rgba(31,119,180,0.25)"
COLLAPSED_KL = 0.01  # nats: a dimension below this carries (almost) no information


def training_curves(
    history: list[dict[str, Any]],
    steps: list[dict[str, float]] | None = None,
    height: int = 320,
) -> go.Figure:
    """Train (per epoch, plus optional live per-step points) and validation ELBO / recon / KL.

    ``history`` entries look like checkpoint metadata: {epoch, train:{elbo,recon,kl}, val:{...}}.
    ``steps`` entries are {x (fractional epoch), elbo, recon, kl} from a running job.
    """
    fig = make_subplots(rows=1, cols=3, subplot_titles=[title for _, title in PANELS])
    epochs = [h["epoch"] for h in history]
    for col, (key, _) in enumerate(PANELS, start=1):
        first = col == 1
        if steps:
            fig.add_trace(
                go.Scatter(
                    x=[p["x"] for p in steps],
                    y=[p[key] for p in steps],
                    mode="lines",
                    line={"color": STEP_COLOR, "width": 1},
                    name="train (batches)",
                    legendgroup="steps",
                    showlegend=first,
                ),
                row=1,
                col=col,
            )
        train_y = [h.get("train", {}).get(key) for h in history]
        val_y = [h.get("val", {}).get(key) for h in history]
        for ys, name, color in ((train_y, "train", TRAIN_COLOR), (val_y, "validation", VAL_COLOR)):
            if any(v is not None for v in ys):
                fig.add_trace(
                    go.Scatter(
                        x=epochs,
                        y=ys,
                        mode="lines+markers",
                        line={"color": color},
                        name=name,
                        legendgroup=name,
                        showlegend=first,
                    ),
                    row=1,
                    col=col,
                )
        fig.update_xaxes(title_text="epoch", row=1, col=col)
    fig.update_yaxes(title_text="nats / image", row=1, col=1)
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": -0.35, "x": 0},
    )
    return fig


def kl_per_dim_bars(kl_per_dim: list[float], height: int = 260, title: str = "") -> go.Figure:
    """One bar per latent dimension; grey bars are collapsed (KL < 0.01 nats, unused by the code).

    Posterior collapse of unused dimensions is expected in VAEs (Burda et al. 2015 count "active
    units"); a dimension's KL is how many nats of information about x it carries on average.
    """
    colors = [TRAIN_COLOR if v >= COLLAPSED_KL else "#b0b0b0" for v in kl_per_dim]
    fig = go.Figure(
        go.Bar(
            x=[f"z{i}" for i in range(len(kl_per_dim))],
            y=kl_per_dim,
            marker_color=colors,
            hovertemplate="%{x}: %{y:.3f} nats<extra></extra>",
        )
    )
    fig.update_layout(
        title=title or None,
        height=height,
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        xaxis_title="latent dimension",
        yaxis_title="KL (nats)",
        bargap=0.15,
    )
    return fig
