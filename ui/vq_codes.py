"""The VQ codes page's parts: the code painter, code use and the codebook map, prior samples.

The maths is ``vae_core.latent.vq_codes``; this module caches it per checkpoint, draws it and
keeps the painter's grid in the session. The painter is a components-v2 element
(ui/vq_painter.js) inside an ``st.fragment``: a click on a code decodes the new grid in the page
at once (ui/live_decoder_math.js, with the codebook; ``export_vq_decoder``) and sends it to
Python; only the fragment reruns, PyTorch decodes the grid too, and the element shows that
image and its largest gap to the browser's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
import torch

from ui.images import show_image
from ui.live_decoder import GENERATED_DIR, static_url
from vae_core.io.atomic import atomic_write
from vae_core.io.decoder_export import ExportError, export_vq_decoder
from vae_core.io.pictures import image_grid
from vae_core.io.vq_checkpoint import VQCheckpoint
from vae_core.latent.vq_codes import (
    CodebookMap,
    cell_counts,
    code_grids,
    codebook_map,
    decode_grids,
    sample_per_cell,
    sample_uniform,
    usage_counts,
)
from vae_core.models.vqvae import GRID, N_CELLS, VQVAE, perplexity

COMPONENT_NAME = "vae_lab_vq_painter"
_HERE = Path(__file__).resolve().parent
_JS = "\n".join(
    (_HERE / name).read_text()
    for name in ("live_decoder_math.js", "decoder_loader.js", "vq_painter.js")
)
_CSS = (_HERE / "vq_painter.css").read_text()
_HTML = '<div class="vqp-root" data-testid="vq-painter"></div>'

PAINTER_KEY = "vq_painter"  # the component's state: {"grid": {token, grid, nonce}}
GRID_KEY = "vq_painter_grid"  # the grid now shown (49 ints)
START_KEY = "vq_painter_start"  # the grid the painter started from
TOKEN_KEY = "vq_painter_token"  # names the start (model, source, image or seed)
NONCE_KEY = "vq_painter_nonce"  # the last browser report applied (so it is applied once)
IMAGE_KEY = "vq_painter_image"  # the decoded image last sent to the browser (784 floats)
CLASS_COLOURS = px.colors.qualitative.D3  # ten distinct hues, one per class
SOURCES = ("a test image", "a random draw (per-cell code frequencies)")


@dataclass(frozen=True)
class VQPageDefaults:
    """Starting values of the page's widgets."""

    images: int = 2000  # test images whose codes feed the histogram, map and per-cell draws
    samples: int = 16  # prior samples of each kind
    seed: int = 0


DEFAULTS = VQPageDefaults()


@st.cache_data(max_entries=8, show_spinner="Encoding the test images…")
def test_codes(key: str, n: int, _model: VQVAE, _x: torch.Tensor) -> np.ndarray:
    """(n, 7, 7) code grids of the first n test images (cached per checkpoint and n)."""
    return code_grids(_model, _x[:n]).numpy()


@st.cache_resource(max_entries=8, show_spinner=False)
def _export(key: str, _model: VQVAE) -> tuple[str, str, dict[str, Any], bytes]:
    exported = export_vq_decoder(_model)
    return exported.digest, exported.filename, exported.spec, exported.weights


def publish_vq_decoder(ckpt: VQCheckpoint, stamp: str) -> dict[str, Any] | None:
    """Serve the decoder + codebook for the in-page decoder (static/generated/, content-
    addressed, fetched once per model); None when it has a layer the browser cannot run (the
    painter then shows the server's decodes only)."""
    try:
        digest, filename, spec, weights = _export(stamp, ckpt.model)
    except ExportError:
        return None
    target = GENERATED_DIR / filename
    if not target.exists() or target.stat().st_size != len(weights):
        atomic_write(target, weights)
    return {"hash": digest, "url": static_url(filename), "spec": spec, "nbytes": len(weights)}


def _decode(model: VQVAE, grid: Sequence[int]) -> np.ndarray:
    codes = torch.tensor(list(grid), dtype=torch.long).reshape(1, GRID, GRID)
    return decode_grids(model, codes)[0].numpy()


def _valid_grid(value: Any, k: int) -> list[int] | None:
    if not (isinstance(value, list) and len(value) == N_CELLS):
        return None
    if not all(isinstance(v, int) and 0 <= v < k for v in value):
        return None
    return list(value)


def apply_browser_report(report: Any, token: str, k: int) -> None:
    """Take the browser's edited grid once, for the current start only."""
    if not isinstance(report, Mapping):
        return
    grid = report.get("grid")
    if not isinstance(grid, Mapping) or grid.get("token") != token:
        return
    nonce = grid.get("nonce")
    new = _valid_grid(grid.get("grid"), k)
    if new is None or nonce is None or nonce == st.session_state.get(NONCE_KEY):
        return
    st.session_state[NONCE_KEY] = nonce
    st.session_state[GRID_KEY] = new


def set_cell(r: int, c: int, code: int) -> None:
    """Change one cell of the painter's grid (the by-number controls' callback)."""
    grid = list(st.session_state[GRID_KEY])
    grid[int(r) * GRID + int(c)] = int(code)
    st.session_state[GRID_KEY] = grid


def _start_grid(
    source: str, index: int, seed: int, codes: np.ndarray, counts: torch.Tensor
) -> list[int]:
    if source == SOURCES[0]:
        return [int(v) for v in codes[index].reshape(-1)]
    draw = sample_per_cell(counts, 1, torch.Generator().manual_seed(int(seed)))
    return [int(v) for v in draw.reshape(-1)]


def code_painter(
    ckpt: VQCheckpoint, stamp: str, x: torch.Tensor, codes: np.ndarray, counts: torch.Tensor
) -> None:
    """The painter: pick a start grid, click a cell and a code, see the decode (a fragment)."""
    model = ckpt.model
    k = model.config.codebook_size

    @st.fragment
    def _painter() -> None:
        left, mid, right = st.columns([2, 1, 1])
        source = left.radio("Start from", SOURCES, key="vq_source", horizontal=True)
        if source == SOURCES[0]:
            index = int(mid.number_input("Test image", 0, len(codes) - 1, 0, key="vq_index"))
            seed = 0
        else:
            index = 0
            seed = int(mid.number_input("Seed", 0, 2**31 - 1, DEFAULTS.seed, key="vq_draw_seed"))
        token = f"{stamp}|{source}|{index}|{seed}"
        if st.session_state.get(TOKEN_KEY) != token:
            start = _start_grid(source, index, seed, codes, counts)
            st.session_state.update({TOKEN_KEY: token, START_KEY: start, GRID_KEY: list(start)})
        apply_browser_report(st.session_state.get(PAINTER_KEY), token, k)
        if right.button("Reset the grid", key="vq_reset"):
            st.session_state[GRID_KEY] = list(st.session_state[START_KEY])
        grid = st.session_state[GRID_KEY]
        start = st.session_state[START_KEY]
        image = _decode(model, grid)
        st.session_state[IMAGE_KEY] = image.reshape(-1).tolist()
        edited = sum(a != b for a, b in zip(grid, start, strict=True))
        decoder = publish_vq_decoder(ckpt, stamp)
        renderer = st.components.v2.component(COMPONENT_NAME, html=_HTML, css=_CSS, js=_JS)
        view, orig = st.columns([4, 1])
        with view:
            renderer(
                data={
                    "token": token,
                    "K": k,
                    "grid": grid,
                    "start": start,
                    "edited": edited,
                    "image": [float(v) for v in image.reshape(-1)],  # exact: the JS compares
                    "decoder": decoder,
                },
                key=PAINTER_KEY,
                on_grid_change=lambda: None,
                height="content",
            )
        if source == SOURCES[0]:
            show_image(x[index, 0].numpy(), "the test image", where=orig, width=140)
            show_image(_decode(model, start), "its reconstruction", where=orig, width=140)
        with st.expander("Change a cell by number (keyboard)"):
            a, b, c, d = st.columns(4)
            r = a.number_input("Row", 0, GRID - 1, 3, key="vq_set_row")
            col = b.number_input("Column", 0, GRID - 1, 3, key="vq_set_col")
            code = c.number_input("Code", 0, k - 1, 0, key="vq_set_code")
            d.button("Set the cell", key="vq_set", on_click=set_cell, args=(r, col, code))

    _painter()


def usage_figure(counts: np.ndarray) -> go.Figure:
    fig = go.Figure(go.Bar(x=list(range(len(counts))), y=counts.tolist(), marker_color="#636efa"))
    fig.update_layout(
        height=300,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis_title="code index k",
        yaxis_title="cells using k",
        bargap=0.1,
    )
    return fig


def map_figure(cmap: CodebookMap, class_names: Sequence[str]) -> go.Figure:
    fig = go.Figure()
    xy = cmap.xy.numpy()
    top = cmap.top_class.numpy()
    for cls in sorted(set(top.tolist())):
        sel = top == cls
        name = "unused" if cls < 0 else class_names[cls] if cls < len(class_names) else str(cls)
        text = [
            f"code {k}: {int(cmap.uses[k])} uses, {100 * float(cmap.top_share[k]):.0f} % {name}"
            for k in np.flatnonzero(sel)
        ]
        fig.add_trace(
            go.Scatter(
                x=xy[sel, 0],
                y=xy[sel, 1],
                mode="markers+text",
                name=name,
                text=[str(k) for k in np.flatnonzero(sel)],
                textposition="top center",
                hovertext=text,
                hoverinfo="text",
                marker={
                    "size": 9,
                    "symbol": "x" if cls < 0 else "circle",
                    "color": "#999999" if cls < 0 else CLASS_COLOURS[cls % len(CLASS_COLOURS)],
                },
            )
        )
    pc1, pc2 = cmap.explained
    fig.update_layout(
        height=420,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis_title=f"PC 1 ({100 * pc1:.0f} % of variance)",
        yaxis_title=f"PC 2 ({100 * pc2:.0f} % of variance)",
        legend_title="used most by",
    )
    return fig


def usage_and_map(
    ckpt: VQCheckpoint, codes: np.ndarray, labels: torch.Tensor, class_names: Sequence[str]
) -> np.ndarray:
    """The code-use histogram and the codebook's PCA map; returns the counts."""
    model = ckpt.model
    k = model.config.codebook_size
    t = torch.from_numpy(codes)
    counts = usage_counts(t, k).numpy()
    used = int((counts > 0).sum())
    st.caption(
        f"{len(codes):,} test images × {N_CELLS} cells = {int(counts.sum()):,} code choices; "
        f"{used} of {k} codes used, perplexity {perplexity(t, k):.1f} (exp of the usage "
        f"entropy: {k} if all codes were used equally often)."
    )
    left, right = st.columns(2)
    with left:
        st.markdown("**Codebook usage** (test set)")
        st.plotly_chart(usage_figure(counts), key="vq_usage", width="stretch")
    with right:
        st.markdown("**The codebook, 2-D PCA**, coloured by the class that uses each code most")
        cmap = codebook_map(model.quantizer.codebook.detach(), t, labels[: len(codes)])
        st.plotly_chart(map_figure(cmap, class_names), key="vq_map", width="stretch")
    return counts


def prior_samples(ckpt: VQCheckpoint, counts: torch.Tensor, n: int, seed: int) -> None:
    """Decodes of grids from the uniform prior beside grids from per-cell code frequencies."""
    model = ckpt.model
    k = model.config.codebook_size
    uniform = sample_uniform(n, k, torch.Generator().manual_seed(seed))
    per_cell = sample_per_cell(counts, n, torch.Generator().manual_seed(seed))
    left, right = st.columns(2)
    show_image(
        image_grid(decode_grids(model, uniform), nrow=8),
        f"uniform prior: each cell's code uniform over the {k} codes",
        where=left,
        width="stretch",
    )
    show_image(
        image_grid(decode_grids(model, per_cell), nrow=8),
        "empirical per-cell frequencies: each cell's code from its own test-set histogram",
        where=right,
        width="stretch",
    )
    st.session_state["vq_sampled_grids"] = {  # what the figures show (for tests and curious eyes)
        "uniform": uniform.tolist(),
        "per_cell": per_cell.tolist(),
    }
    st.markdown(
        "The ELBO was trained with a uniform prior, yet uniform grids decode to texture, not "
        "digits; even drawing each cell from its own histogram gives broken strokes, because "
        "the cells of a real digit depend on each other. That is why a VQ-VAE needs a learned "
        "prior over the grid: van den Oord et al. fit a PixelCNN to the codes of the training "
        "images and sample it cell by cell, each conditioned on the cells before it."
    )


def per_cell_counts(codes: np.ndarray, k: int) -> torch.Tensor:
    return cell_counts(torch.from_numpy(codes), k)
