"""Interpolation: walk between two codes (lerp, slerp or norm-slerp), see the strip and the path."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from ui.eval_cache import split_posteriors
from ui.images import show_image
from ui.latent_plot import latent_scatter
from ui.session import current_model, model_test_data
from vae_core.io.pictures import gif_bytes, image_grid, png_bytes
from vae_core.latent.interpolation import (
    METHODS,
    PlaneProjection,
    angle_between,
    class_morph,
    latent_path,
)

st.set_page_config(page_title="Interpolation · VAE Latent Lab", page_icon="🌈", layout="wide")
ckpt = current_model()
model = ckpt.model
cfg = model.config
SCALE = 3
PATH_COLORS = {"slerp": "#111111", "lerp": "#d62728", "norm-slerp": "#1f5fd6"}
COMPARE = "compare all"

st.title("Interpolation")
st.markdown(
    "Decode evenly spaced codes between two end points A and B. **lerp**, the straight line, "
    "cuts through the middle of the Gaussian prior, where codes are atypically short. "
    "**slerp** (White 2016) applies the great-circle formula "
    "z(t) = sin((1−t)ω)/sin ω · z_A + sin(tω)/sin ω · z_B, ω the angle between z_A and z_B, "
    "to the codes themselves: it keeps the norm only when ‖z_A‖ = ‖z_B‖. Otherwise its path is "
    "an arc of an ellipse, and when A and B are more than 90° apart its norm rises above the "
    "larger end norm and dips below the smaller one. **norm-slerp** turns the direction along "
    "the same great circle but changes the norm linearly from ‖z_A‖ to ‖z_B‖. The chart of ‖z‖ "
    "below shows all three for these ends."
)

loaded = model_test_data(ckpt)
test_set, x_test, y_test = loaded
class_names = test_set.class_names
labels_np = y_test.numpy()


def class_label(k: int) -> str:
    name = class_names[k] if k < len(class_names) else str(k)
    return name if name == str(k) else f"{k}: {name}"


def pick_image(col, tag: str, default_class: int) -> int:
    """A class filter and an image number for one end point; returns the test-set index."""
    k = col.selectbox(
        f"Class of {tag}", [-1, *range(len(class_names))], index=default_class + 1,
        format_func=lambda c: "any class" if c < 0 else class_label(c), key=f"ip_class_{tag}",
    )  # fmt: skip
    pool = np.arange(len(labels_np)) if k < 0 else np.flatnonzero(labels_np == k)
    n = int(
        col.number_input(
            f"Image number of {tag} (of {len(pool)})", 0, len(pool) - 1, 0, key=f"ip_n_{tag}"
        )
    )
    index = int(pool[min(n, len(pool) - 1)])
    show_image(
        png_bytes(x_test[index, 0].numpy(), 4), f"{tag}: {test_set.noun_one} #{index}", where=col
    )
    return index


def norm_caption(z0: torch.Tensor, z1: torch.Tensor, norms: dict[str, np.ndarray]) -> str:
    """What the ‖z‖ chart shows for these ends, in numbers measured on the plotted curves."""
    n0, n1 = float(z0.norm()), float(z1.norm())
    hi = max(n0, n1)
    angle = angle_between(z0, z1)
    s_lo, s_hi = float(norms["slerp"].min()), float(norms["slerp"].max())
    if abs(n0 - n1) <= 1e-3 * max(hi, 1e-12):
        slerp_text = "slerp keeps the norm (equal end norms)"
    elif angle > 90:  # then |z(t)| provably leaves the end norms' range near both ends
        slerp_text = (
            f"slerp's ‖z‖ leaves the range between them, from {s_lo:.2f} up to {s_hi:.2f}, "
            "because the ends are more than 90° apart"
        )
    else:  # for ω ≤ 90° every term of |z(t)|² grows with the end norms, so it stays in range
        slerp_text = f"slerp's ‖z‖ stays between them ({s_lo:.2f} to {s_hi:.2f}; ω ≤ 90°)"
    return (
        f"‖z_A‖ = {n0:.2f}, ‖z_B‖ = {n1:.2f}, ω = {angle:.0f}°: {slerp_text}; lerp's lowest is "
        f"{float(norms['lerp'].min()):.2f}; norm-slerp's is the straight line from "
        f"{n0:.2f} to {n1:.2f}."
    )


# ---------------------------------------------------------------- end points
modes = [f"Two {test_set.noun}"] + (["Two classes (CVAE)"] if cfg.conditional else [])
mode = st.radio("End points", modes, horizontal=True, key="ip_mode") if len(modes) > 1 else modes[0]
if mode == modes[0]:
    ca, cb = st.columns(2)
    ia = pick_image(ca, "A", 1 if len(class_names) > 1 else 0)
    ib = pick_image(cb, "B", 7 if len(class_names) > 7 else 0)
    ends = x_test[[ia, ib]]
    ya, yb = int(labels_np[ia]), int(labels_np[ib])
    with torch.no_grad():
        y_ends = torch.tensor([ya, yb]) if cfg.conditional else None
        mu, _ = model.encode(ends.to(model.device), y_ends)
    z0, z1 = mu[0].cpu(), mu[1].cpu()
else:
    c1, c2, c3, c4 = st.columns(4)
    ya = c1.selectbox("From class", range(cfg.n_classes), index=1, format_func=class_label)
    yb = c2.selectbox(
        "To class", range(cfg.n_classes), index=7 % cfg.n_classes, format_func=class_label
    )
    seed = int(c3.number_input("Seed for z", 0, 2**31 - 1, 0, key="ip_seed"))
    same = c4.checkbox("Same style z at both ends", value=True, key="ip_same")
    z0, z1 = model.prior.sample(2, torch.Generator().manual_seed(seed))
    z1 = z0.clone() if same else z1
    st.caption(
        "Codes from the prior; the label moves from one class to the other as a soft one-hot "
        "y = (1 − t)·e_a + t·e_b."
    )

# ---------------------------------------------------------------- strips
s1, s2 = st.columns(2)
choice = s1.radio("Method", [*METHODS, COMPARE], horizontal=True, key="ip_method")
steps = s2.slider("Steps", 3, 24, 10, key="ip_steps")
methods = list(METHODS) if choice == COMPARE else [choice]
y_path = class_morph(ya, yb, steps, cfg.n_classes) if cfg.conditional else None
paths: dict[str, torch.Tensor] = {}
frames: dict[str, np.ndarray] = {}
for method in methods:
    paths[method] = latent_path(z0, z1, steps, method)
    with torch.no_grad():
        decoded = model.decode(paths[method].to(model.device), y_path).cpu()
    frames[method] = decoded[:, 0].numpy()
    strip = image_grid(decoded, nrow=steps)
    show_image(png_bytes(strip, SCALE), f"{method}: {steps} steps from A to B")
    d1, d2 = st.columns(2)
    d1.download_button(
        f"Download {method} strip (PNG)", lambda strip=strip: png_bytes(strip, SCALE),
        file_name=f"interpolation-{method}.png", mime="image/png", key=f"ip_png_{method}",
        on_click="ignore",
    )  # fmt: skip
    loop = list(frames[method]) + list(frames[method][-2:0:-1])  # there and back again
    d2.download_button(
        f"Download {method} animation (GIF)",
        lambda loop=loop: gif_bytes(loop, duration_ms=120, scale=6),
        file_name=f"interpolation-{method}.gif", mime="image/gif", key=f"ip_gif_{method}",
        on_click="ignore",
    )  # fmt: skip

# ---------------------------------------------------------------- norms and map
left, right = st.columns([1, 2])
norm_fig = go.Figure()
t_dense = np.linspace(0, 1, 65)
norms = {m: latent_path(z0, z1, len(t_dense), m).norm(dim=1).numpy() for m in METHODS}
for method, dense in norms.items():
    norm_fig.add_trace(
        go.Scatter(x=t_dense, y=dense, name=method, line={"color": PATH_COLORS[method]})
    )
norm_fig.add_hline(
    y=float(np.sqrt(cfg.latent_dim)), line_dash="dot", line_color="#888",
    annotation_text="√D: typical norm under N(0, I)",
)  # fmt: skip
norm_fig.update_layout(
    title="‖z‖ along the path", xaxis_title="t", yaxis_title="‖z‖", height=380,
    margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend={"orientation": "h", "y": -0.2},
)  # fmt: skip
left.plotly_chart(norm_fig, key="ip_norms")
left.caption(norm_caption(z0, z1, norms))

means = split_posteriors(ckpt, test_set, x_test, y_test, binarized=False)[0]
proj = PlaneProjection(means)
fig = latent_scatter(
    proj(means), labels_np, class_names, axis_titles=proj.axis_labels, height=520,
    title="Path on the latent map" + ("" if cfg.latent_dim <= 2 else " (PCA of the test-set means)"),
)  # fmt: skip
# WebGL traces are drawn above SVG ones, so the overlays are WebGL too (else the cloud hides them).
for method, p in paths.items():
    xy = proj(p)
    fig.add_trace(
        go.Scattergl(
            x=xy[:, 0], y=xy[:, 1], mode="lines+markers", name=f"{method} path",
            line={"color": PATH_COLORS[method], "width": 3},
            marker={"size": 7, "color": PATH_COLORS[method]},
        )
    )  # fmt: skip
ends_xy = proj(torch.stack([z0, z1]))
fig.add_trace(
    go.Scattergl(
        x=ends_xy[:, 0], y=ends_xy[:, 1], mode="markers+text", text=["A", "B"], name="A and B",
        textposition="top center", textfont={"size": 16, "color": "#111"},
        marker={"size": 16, "color": "#ffd400", "symbol": "star", "line": {"width": 1.5, "color": "#111"}},
    )
)  # fmt: skip
right.plotly_chart(fig, key="ip_map")
if cfg.latent_dim > 2:
    right.caption(
        "The path is projected onto the two main directions of the test-set codes; a slerp "
        "arc in D dimensions can look nearly straight (or bent) in this shadow."
    )
