"""Latent map: where the test set lands in latent space, one point's posterior, your own digit,
and what the decoder draws across the plane (Kingma & Welling 2013, Fig. 4).

Thin UI: encoding and maps come from ``ui.latent_data``, the math from ``vae_core``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import torch

from ui import eval_cache as ec
from ui import links
from ui.draw_canvas import draw_digit
from ui.hover_thumbs import hover_thumbnails
from ui.images import show_image
from ui.latent_data import (
    LatentCodes,
    is_cached,
    latent_codes,
    latent_map,
    linear_projection,
    manifold_grid,
    maybe_warm_up_umap,
    projector_zip,
)
from ui.latent_plot import (
    add_ellipse,
    add_marker,
    add_rectangle,
    add_regions,
    selected_rows,
    shared_scatter,
)
from ui.session import current_model, model_test_data
from vae_core.data.datasets import seen_in_training
from vae_core.data.subsets import provenance_clause
from vae_core.evaluation.regions import map_extent, region_confusions
from vae_core.io.pictures import image_grid, png_bytes
from vae_core.io.uploads import ImageInputError, load_user_image
from vae_core.latent.ellipse import axis_lengths, ellipse_points
from vae_core.latent.manifold import GRID_MODES, grid_bounds, plane_grid, prior_plane_grid
from vae_core.latent.maps import (
    DEFAULT_PARAMS,
    METHODS,
    Embedding,
    EmbeddingError,
    LinearProjection,
    latent_table_csv,
    place_by_neighbours,
)

CHART_KEY = "lm_chart"
SELECTION_KEY = "lm_selection"  # survives the chart being re-keyed when its figure changes
N_SIGMA = 2.0
MAX_MARKED = 2000

st.set_page_config(page_title="Latent map · VAE Latent Lab", page_icon="🗺️", layout="wide")
ckpt = current_model()
st.title("Latent map")
data = model_test_data(ckpt)
images, x, y = data
model, cfg = ckpt.model, ckpt.config
names = images.class_names
codes: LatentCodes = latent_codes(ckpt, images, x, y)
maybe_warm_up_umap(codes)
overlays: list = []  # figure -> None callbacks, applied once the figure exists


def remember_selection() -> None:
    rows = selected_rows(st.session_state.get(CHART_KEY))
    st.session_state[SELECTION_KEY] = {"dataset": codes.dataset, "rows": rows}


def choose_method() -> tuple[str, dict]:
    if codes.dim == 2:
        return "latent", {}
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    key = f"lm_method_{codes.identity[:16]}"  # every model opens on instant PCA
    links.linked_choice("method", {m: m for m in ("pca", "umap", "tsne")}, key, "map method")
    links.show_notes("method")
    method = left.radio(
        f"Map of the {codes.dim}-D latent",
        ["pca", "umap", "tsne"],
        format_func=METHODS.get,
        horizontal=True,
        key=key,
        help="PCA is linear and exact (ellipses, decoded grid). UMAP and t-SNE keep "
        "neighbourhoods but have no inverse; they are computed once per model and saved.",
    )
    params: dict = {}
    with right.popover("UMAP / t-SNE settings", width="stretch"):
        umap_d, tsne_d = DEFAULT_PARAMS["umap"], DEFAULT_PARAMS["tsne"]
        if method == "umap":
            params["n_neighbors"] = st.slider("n_neighbors", 5, 100, umap_d["n_neighbors"])
            params["min_dist"] = st.slider("min_dist", 0.0, 0.99, umap_d["min_dist"], 0.01)
        elif method == "tsne":
            params["perplexity"] = st.slider("perplexity", 5.0, 100.0, tsne_d["perplexity"], 1.0)
        else:
            st.caption("PCA has no settings.")
    if method != "pca" and not is_cached(codes, method, params):
        st.caption(f"{METHODS[method]} is computed once for this model and setting, then saved.")
    links.write("method", method)  # the address bar: a link to this map
    return method, params


def axis_titles(emb: Embedding) -> tuple[str, str]:
    if emb.method == "latent":
        return "z₀", "z₁"
    if emb.method == "pca" and emb.projection is not None:
        e = emb.projection.explained
        return f"PC 1 ({e[0]:.0%} of variance)", f"PC 2 ({e[1]:.0%})"
    return f"{METHODS[emb.method]} 1", f"{METHODS[emb.method]} 2"


def posterior_table(mu: np.ndarray, logvar: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"dim": np.arange(len(mu)), "μ": mu, "σ": np.exp(0.5 * logvar)}).set_index(
        "dim"
    )


def show_ellipse(proj: LinearProjection | None, center, logvar: np.ndarray, name: str) -> None:
    """Queue the 2σ ellipse of q(z|x) on the map and say its size (or why there is none)."""
    if proj is None:
        st.caption(
            "The 2σ posterior ellipse is only shown on PCA or 2-D maps: UMAP and t-SNE "
            "are non-linear, so a covariance has no image on them."
        )
        return
    cov = proj.project_cov(np.exp(logvar))[0]
    major, minor = axis_lengths(cov, N_SIGMA)
    pts = ellipse_points(np.asarray(center, np.float64).ravel(), cov, N_SIGMA)
    overlays.append(lambda fig: add_ellipse(fig, pts, name))
    note = " (an AE's posterior is a point)" if not cfg.stochastic else ""
    st.caption(f"2σ ellipse on the map: semi-axes {major:.3g} × {minor:.3g}{note}.")


def image_pair(original: torch.Tensor, recon: torch.Tensor, caption: str) -> None:
    a, b = st.columns(2)
    show_image(png_bytes(original.squeeze().numpy(), scale=5), caption, where=a)
    show_image(png_bytes(recon.squeeze().numpy(), scale=5), "reconstruction (decoded μ)", where=b)


def selection_panel(emb: Embedding, rows: list[int]) -> int | None:
    """Details of the selected point(s); returns the inspected row."""
    if not rows:
        st.info(
            "Click a point on the map, or box/lasso-select a region (tools at the top "
            "right of the chart), to see its image, reconstruction and posterior."
        )
        return None
    marked = np.asarray(rows[:MAX_MARKED])
    if len(rows) > 1:
        counts = pd.Series(codes.labels[marked]).value_counts().sort_index()
        counts.index = [names[i] for i in counts.index]
        st.write(f"**{len(rows):,} points selected**")
        st.bar_chart(counts, height=160, x_label="class", y_label="count")
        show_image(image_grid(x[marked[:40]], nrow=10), "the first 40", width="stretch")
        overlays.append(
            lambda fig: add_marker(
                fig, emb.coords[marked], "selected", symbol="circle-open", size=8
            )
        )
    row = rows[0]
    if len(rows) > 1:
        row = st.selectbox(
            "Inspect", rows[:200], format_func=lambda r: f"#{r} · {names[codes.labels[r]]}"
        )
    xr, yr = x[row : row + 1], y[row : row + 1]
    image_pair(xr, model.reconstruct(xr, yr), f"#{row} · {names[int(yr)]}")
    overlays.append(lambda fig: add_marker(fig, emb.coords[row], f"#{row}"))
    show_ellipse(emb.projection, emb.coords[row], codes.logvar[row], f"2σ posterior of #{row}")
    with st.expander(f"μ and σ of q(z|x) for #{row}", expanded=codes.dim <= 16):
        st.dataframe(posterior_table(codes.mu[row], codes.logvar[row]), width="stretch")
    return row


def your_digit_panel(emb: Embedding) -> None:
    """Encode an uploaded or drawn image and place it (mean + ellipse) on the map."""
    how = st.radio("Input", ["Draw", "Upload"], horizontal=True, key="lm_digit_source")
    digit = None
    if how == "Upload":
        thing = "digit" if codes.dataset == "mnist" else "item (white on black, or black on white)"
        upload = st.file_uploader(f"An image (PNG, JPEG, …) of one {thing}", key="lm_upload")
        if upload is not None:
            try:
                digit = load_user_image(upload.getvalue())
            except ImageInputError as exc:
                st.error(str(exc))
    else:
        digit = draw_digit("lm_draw")
    if digit is None:
        st.caption("Draw or upload an image to see where the encoder puts it.")
        return
    label = None
    if cfg.conditional:
        label = st.selectbox(
            "Its class (a CVAE's encoder needs it)",
            range(len(names)),
            format_func=lambda k: names[k],
            key="lm_digit_class",
        )
    xt = torch.from_numpy(np.asarray(digit, np.float32))[None, None].to(model.device)
    with torch.no_grad():
        mu, logvar = (t.float().cpu() for t in model.encode(xt, label))
        recon = model.decode(mu.to(model.device), label).cpu()
    image_pair(xt.cpu(), recon, "your image (as the model sees it)")
    if cfg.conditional and cfg.stochastic:
        label_posterior_chart(digit)
    mu_np, lv_np = mu.numpy()[0], logvar.numpy()[0]
    if emb.projection is not None:
        where = emb.projection.transform(mu_np[None])
    else:
        where = place_by_neighbours(codes.mu, emb.coords, mu_np[None])
        st.caption(
            f"On a {METHODS[emb.method]} map your image is placed at the mean position of "
            "its 10 nearest mapped images in latent space."
        )
    overlays.append(lambda fig: add_marker(fig, where, "your image", "#d62728", "star", 18))
    show_ellipse(emb.projection, where, lv_np[None], "2σ posterior of your image")
    with st.expander("μ and σ of your image"):
        st.dataframe(posterior_table(mu_np, lv_np), width="stretch")


def label_posterior_chart(digit: np.ndarray) -> None:
    """The CVAE read as a classifier: p(y | x) ∝ p(y) p(x | y) for the user's image."""
    post = ec.label_posterior(ckpt, digit)
    probs = pd.Series(post["posterior"], index=list(names), name="p(y | x)")
    st.bar_chart(probs, height=200, x_label="class y", y_label="p(y | x)")
    best = int(np.argmax(post["posterior"]))
    how = (
        "Bayes' rule on the decoder"
        if post["likelihood"]
        else "a score: on grey pixels the Bernoulli cross-entropy stands in for log p(x | y), "
        "so this is no exact posterior"
    )
    st.caption(
        f"p(y | x) ∝ p(y) p(x | y) with a uniform p(y), each p(x | y) an IWAE estimate "
        f"(K = {ec.DIGIT_K}) on your image as the model scores it; {how}. Most probable: "
        f"**{names[best]}** ({post['posterior'][best]:.0%}). The class box above only feeds "
        "the encoder."
    )


def manifold_section(emb: Embedding, focus: int | None) -> None:
    """N x N decoded images over the 2-D latent (K&W Fig. 4) or over the PCA plane."""
    st.subheader("Decoded manifold")
    plane = linear_projection(codes)
    cols = st.columns(5)
    n = cols[0].slider("Grid size N", 5, 30, 15, key="lm_grid_n")
    mode = cols[1].radio(
        "Spacing", list(GRID_MODES), format_func=GRID_MODES.get, key="lm_grid_mode"
    )
    edge, half = 0.05, 3.0
    unit = "prior σ" if codes.dim == 2 else "σ of each principal axis"
    if mode == "inverse-cdf":
        edge = cols[2].slider(
            "Edge probability",
            0.01,
            0.2,
            0.05,
            0.01,
            key="lm_grid_edge",
            help="[edge, 1 − edge]² is mapped through Φ⁻¹ (K&W Fig. 4)",
        )
    else:
        half = cols[2].slider(f"Half-width ({unit})", 0.5, 6.0, 3.0, 0.5, key="lm_grid_half")
    anchor = None
    if codes.dim > 2:
        hold = cols[3].radio(
            "Other components held at",
            ["data mean", "selected point"],
            key="lm_grid_anchor",
            disabled=focus is None,
        )
        if hold == "selected point" and focus is not None:
            anchor = codes.mu[focus]
    label = None
    if cfg.conditional:
        label = cols[4].selectbox(
            "Decode as class",
            range(len(names)),
            format_func=lambda k: names[k],
            key="lm_grid_class",
        )
    if codes.dim == 2:  # the model's own prior, N(0, I) or a learned one
        points = prior_plane_grid(model.prior, n, mode, edge, half)
    else:
        points = plane_grid(n, mode, np.zeros(2), np.sqrt(plane.variance), edge, half)
    grid_png, grid = manifold_grid(codes, model, points, anchor, label, n)
    x0, x1, y0, y1 = grid_bounds(points)
    where = "z" if codes.dim == 2 else "the PCA plane (PC 1, PC 2)"
    left, right = st.columns([3, 2])
    show_image(
        grid_png,
        where=left,
        width="stretch",
        caption=f"{n}×{n} decoded images over {where}: x {x0:.2f}…{x1:.2f} "
        f"(left→right), y {y1:.2f}…{y0:.2f} (top→bottom)",
    )
    right.markdown(
        "Each tile is the decoder's mean image at one grid point. **Inverse-CDF** spacing "
        "(Kingma & Welling 2013, Fig. 4) gives each row and column equal prior probability; "
        "**linear** spacing gives equal width."
        + (
            ""
            if codes.dim == 2
            else " Above 2-D each point is lifted exactly through the PCA "
            "inverse, z = mean + Wᵀp, with the other directions held at the chosen point."
        )
    )
    right.download_button(
        "Download grid (PNG)",
        lambda: png_bytes(grid, scale=2),  # encoded only when clicked
        file_name="manifold-grid.png",
        mime="image/png",
        on_click="ignore",
    )
    if emb.projection is not None and right.checkbox("Show its extent on the map", True):
        overlays.append(lambda fig: add_rectangle(fig, (x0, x1, y0, y1)))
    elif emb.projection is None:
        right.caption("The grid spans the PCA plane; switch the map to PCA to see where.")


def regions_section(emb: Embedding) -> str | None:
    """The classifier's regions under the points of a 2-D or PCA map (a toggle and, once on, a
    checkbox to mark the points that fall in another class's region); returns the caption for
    below the map (``vae_core.evaluation.regions``)."""
    if emb.projection is None:
        return None  # UMAP / t-SNE have no inverse: no plane to decode
    if cfg.conditional:
        return "Classifier regions need an unconditional model: a CVAE decodes a class."
    if not st.toggle(
        "Classifier regions",
        key="lm_regions",
        help="Decode a 100×100 grid over the map, classify every decoded image with the shipped "
        "classifier, and colour the plane by its answer (paler where it is less sure).",
    ):
        return None
    plane = f"{codes.identity}|{codes.source}|{codes.n}|{emb.method}"
    try:
        regions = ec.classifier_regions(
            ckpt, images.dataset, plane, emb.projection, map_extent(emb.coords)
        )
    except ValueError as exc:  # no shipped classifier for this dataset
        return f"No classifier regions: {exc}"
    confused = region_confusions(regions, emb.coords, codes.labels)
    overlays.insert(0, lambda fig: add_regions(fig, regions, len(names)))
    if confused.size and st.checkbox(
        "Mark the points in another class's region", key="lm_regions_marked"
    ):
        marked = emb.coords[confused[:MAX_MARKED]]
        overlays.append(lambda fig: add_marker(fig, marked, "in another class's region", size=7))
    where = "plane" if codes.dim == 2 else "PCA plane (other directions at the data mean)"
    return (
        f"Colours: the class the classifier sees in the image decoded at each point of the "
        f"{where}, paler where it is less sure. **{len(confused):,} of {codes.n:,}** "
        f"{images.noun} ({len(confused) / codes.n:.1%}) lie in another class's region: the "
        "model's confusions (its encoder puts them where its decoder draws something else), "
        "or the classifier's."
    )


method, params = choose_method()
try:
    emb = latent_map(codes, method, params)
except EmbeddingError as exc:  # e.g. too few points for UMAP / t-SNE
    st.error(f"{METHODS[method]} failed: {exc}. Showing PCA instead.")
    method, emb = "pca", latent_map(codes, "pca")
kept = st.session_state.get(SELECTION_KEY) or {}  # row ids stay valid across models of a dataset
rows = [r for r in kept.get("rows", []) if 0 <= r < codes.n and kept["dataset"] == codes.dataset]
map_col, side_col = st.columns([3, 2], gap="medium")
with side_col:
    tab_sel, tab_you = st.tabs(["Selected point", "Your image"])
    with tab_sel:
        focus = selection_panel(emb, rows)
    with tab_you:
        your_digit_panel(emb)
manifold_section(emb, focus)

with map_col:
    origin = {
        "computed": f"computed in {emb.seconds:.1f} s",
        "shipped": "precomputed (shipped)",
        "cache": "loaded from the cache",
    }[emb.origin]
    provenance = provenance_clause(images, seen_in_training(images, ckpt.meta))
    st.caption(
        f"{codes.n:,} {images.noun} at their posterior means μ · {METHODS[method]} ({origin})"
        + (f" · {provenance}" if provenance else "")
        + (" · a CVAE's latent holds style, not class, so colours mix" if cfg.conditional else "")
    )
    regions_note = regions_section(emb)
    fig = shared_scatter(  # built once per map, a fresh copy per run for the overlays
        f"{codes.identity}|{codes.source}|{codes.n}|{emb.method}|{sorted(emb.params.items())}",
        emb.coords,
        codes.labels,
        names,
        axis_titles=axis_titles(emb),
        equal_aspect=emb.projection is not None,
    )
    for draw in overlays:
        draw(fig)
    fig.update_layout(uirevision=f"{codes.identity}-{method}")  # keep zoom across reruns
    st.plotly_chart(
        fig,
        on_select=remember_selection,
        selection_mode=("points", "box", "lasso"),
        key=CHART_KEY,
        config={"scrollZoom": True, "displaylogo": False},
    )
    hover_thumbnails(
        CHART_KEY,
        x[:, 0].numpy(),
        f"{images.dataset}|{images.split}|{images.source}|{len(x)}",
        codes.labels,
        names,
        noun=images.noun_one,
    )
    if regions_note:
        st.caption(regions_note)
    st.download_button(
        "Download latent coordinates (CSV)",
        lambda: latent_table_csv(codes.labels, codes.mu, codes.logvar, emb.coords, method, names),
        file_name=f"latent-{images.dataset}-{method}.csv",
        mime="text/csv",
        key="lm_csv",
        on_click="ignore",
    )
    st.download_button(  # TensorBoard's Embedding Projector: the codes, labels and thumbnails
        "Download for TensorBoard's projector (ZIP)",
        lambda: projector_zip(codes, images, ckpt.path.stem if ckpt.path else "model"),
        file_name=f"projector-{images.dataset}.zip",
        mime="application/zip",
        key="lm_projector",
        on_click="ignore",
        help="tensors.tsv (the posterior means E[z|x]), metadata.tsv, sprite.png and "
        "projector_config.pbtxt: unzip into a folder and run `tensorboard --logdir FOLDER`.",
    )
