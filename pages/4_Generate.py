"""Generate: samples from the prior, per class for a CVAE, style vs content, and class morphs."""

from __future__ import annotations

import numpy as np
import plotly.express as px
import streamlit as st
import torch

from ui.figure_cache import checkpoint_stamp, shared_figure
from ui.images import show_image
from ui.session import current_model
from vae_core.data.sources import get_source
from vae_core.imaging import image_grid, png_bytes
from vae_core.interpolation import class_morph

st.set_page_config(page_title="Generate · VAE Latent Lab", page_icon="🎲", layout="wide")
ckpt = current_model()
stamp = checkpoint_stamp(ckpt)  # names the model in the shared figure cache
model = ckpt.model
cfg = model.config
dataset = str(ckpt.meta.get("dataset", "mnist"))
try:
    class_names = get_source(dataset).class_names
except ValueError:
    class_names = tuple(str(k) for k in range(cfg.n_classes))
SCALE = 3


def prior_codes(n: int, seed: int, temperature: float = 1.0) -> torch.Tensor:
    """z ~ N(0, temperature^2 I), seeded with its own generator (reproducible, thread-safe)."""
    g = torch.Generator().manual_seed(int(seed))
    return temperature * torch.randn(n, cfg.latent_dim, generator=g)


@torch.no_grad()
def decode(z: torch.Tensor, y: torch.Tensor | int | None) -> torch.Tensor:
    return model.decode(z.to(model.device), y)


def labelled_grid(grid: np.ndarray, columns: list[str], rows: list[str], tile: int, pad: int):
    """A plotly image of a grid with class names under the columns (crisp, zoomable)."""
    fig = px.imshow(grid, color_continuous_scale="gray", zmin=0, zmax=255, binary_string=True)
    step = tile + pad
    fig.update_xaxes(
        tickvals=[pad + step * i + tile / 2 for i in range(len(columns))], ticktext=columns
    )
    fig.update_yaxes(tickvals=[pad + step * i + tile / 2 for i in range(len(rows))], ticktext=rows)
    fig.update_layout(
        height=max(220, 60 * len(rows) + 80), margin={"l": 10, "r": 10, "t": 10, "b": 10}
    )
    return fig


def class_label(k: int) -> str:
    name = class_names[k] if k < len(class_names) else str(k)
    return name if name == str(k) else f"{k}: {name}"


st.title("Generate")
st.caption(
    "Decode codes drawn from the prior p(z) = N(0, I). Temperature scales z: below 1 gives "
    "typical, cleaner samples; above 1 reaches the tails of the prior, where the decoder saw "
    "little data."
)

# ---------------------------------------------------------------- samples
st.subheader("Samples")
if not cfg.conditional:
    st.info(
        f"This model is a {cfg.display_name}, not a conditional VAE: it cannot be asked for a "
        "class. Below are plain samples from the prior. Pick a CVAE in the sidebar to choose "
        "the class, to separate style from content and to morph between classes."
    )
controls = st.columns(4 if cfg.conditional else 3)
digit = None
if cfg.conditional:
    digit = controls[0].selectbox(
        "Class", range(cfg.n_classes), index=min(7, cfg.n_classes - 1), format_func=class_label
    )
n_samples = controls[-3].slider("Number of samples", 1, 64, 32)
temperature = controls[-2].slider("Temperature", 0.1, 2.0, 1.0, 0.05)
if "gen_seed" not in st.session_state:
    st.session_state["gen_seed"] = 0
seed = controls[-1].number_input("Seed", 0, 2**31 - 1, key="gen_seed")


def _new_seed() -> None:
    st.session_state["gen_seed"] = int(np.random.default_rng().integers(0, 2**31 - 1))


st.button("Generate new samples", on_click=_new_seed, type="primary")
if not cfg.stochastic:
    st.warning(
        "A plain autoencoder has no prior: its codes need not be near N(0, I), so these "
        "'samples' show what the decoder does with arbitrary codes."
    )
images = decode(prior_codes(n_samples, seed, temperature), digit)
grid = image_grid(images, nrow=min(8, n_samples))
what = f"class {class_label(digit)}" if digit is not None else "the prior"
samples_png = png_bytes(grid, SCALE)
show_image(samples_png, f"{n_samples} samples of {what}, T = {temperature:g}")
st.download_button("Download PNG", samples_png, file_name="samples.png", mime="image/png")

if cfg.conditional:
    # ---------------------------------------------------------- style vs content
    st.subheader("Same z, every class: style vs content")
    st.caption(
        "Each row decodes one code z with every class label. In a CVAE the label carries the "
        "content (which digit), so z is free to carry the style: slant, thickness, width."
    )
    m1, m2 = st.columns(2)
    n_rows = m1.slider("Number of codes (rows)", 1, 10, 5)
    matrix_seed = m2.number_input("Seed for the codes", 0, 2**31 - 1, 1, key="gen_matrix_seed")
    k = cfg.n_classes

    def style_matrix() -> np.ndarray:
        z = prior_codes(n_rows, matrix_seed, temperature)
        tiles = decode(z.repeat_interleave(k, 0), torch.arange(k).repeat(n_rows))
        return image_grid(tiles, nrow=k)

    # The samples above change on every click; this figure only with its own settings, so it is
    # built once and shared (ui.figure_cache), and its PNG is encoded only when downloaded.
    columns, rows = [class_label(i) for i in range(k)], [f"z{i + 1}" for i in range(n_rows)]
    st.plotly_chart(
        shared_figure(
            ("gen-style", stamp, n_rows, int(matrix_seed), float(temperature)),
            lambda: labelled_grid(style_matrix(), columns, rows, 28, 2),
        ),
        key="gen_matrix_chart",
    )
    st.download_button(
        "Download PNG",
        lambda: png_bytes(style_matrix(), SCALE),
        file_name="style-vs-content.png",
        mime="image/png",
        on_click="ignore",
    )

    # ---------------------------------------------------------- class morph
    st.subheader("Morph between two classes")
    st.caption(
        "Decode the same z with a soft label y = (1 − t)·e_a + t·e_b. The decoder never saw "
        "such labels in training, so the middle frames show how it blends two classes."
    )
    g1, g2, g3, g4 = st.columns(4)
    class_a = g1.selectbox("From class", range(k), index=1, format_func=class_label)
    class_b = g2.selectbox("To class", range(k), index=7 % k, format_func=class_label)
    steps = g3.slider("Steps", 3, 16, 10)
    morph_rows = g4.slider("Codes (rows)", 1, 6, 3)

    def morph_grid() -> np.ndarray:
        z = prior_codes(morph_rows, matrix_seed + 1, temperature)
        soft = class_morph(class_a, class_b, steps, k)
        frames = decode(z.repeat_interleave(steps, 0), soft.repeat(morph_rows, 1))
        return image_grid(frames, nrow=steps)

    ts = [f"t={t:.2f}" for t in np.linspace(0, 1, steps)]
    morph_key = (class_a, class_b, steps, morph_rows, int(matrix_seed), float(temperature))
    st.plotly_chart(
        shared_figure(
            ("gen-morph", stamp, *morph_key),
            lambda: labelled_grid(
                morph_grid(), ts, [f"z{i + 1}" for i in range(morph_rows)], 28, 2
            ),
        ),
        key="gen_morph_chart",
    )
    st.download_button(
        "Download PNG",
        lambda: png_bytes(morph_grid(), SCALE),
        file_name="class-morph.png",
        mime="image/png",
        on_click="ignore",
    )
