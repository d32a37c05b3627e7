"""Generate: samples from the prior, per class for a CVAE, style vs content, and class morphs."""

from __future__ import annotations

import numpy as np
import plotly.express as px
import streamlit as st
import torch

from ui import links
from ui.cache_keys import checkpoint_key
from ui.figure_cache import shared_figure
from ui.images import show_image
from ui.model_switch import offer_cvae
from ui.session import current_model
from vae_core.config import PRIOR_LABELS
from vae_core.data.sources import get_source
from vae_core.io.pictures import image_grid, png_bytes
from vae_core.latent.interpolation import class_morph
from vae_core.models.sampling import TEMPERATURE, typical_radius

st.set_page_config(page_title="Generate · VAE Latent Lab", page_icon="🎲", layout="wide")
ckpt = current_model()
stamp = checkpoint_key(ckpt)  # names the model in the shared figure cache
model = ckpt.model
cfg = model.config
dataset = str(ckpt.meta.get("dataset", "mnist"))
try:
    class_names = get_source(dataset).class_names
except ValueError:
    class_names = tuple(str(k) for k in range(cfg.n_classes))
SCALE = 3


def codes(n: int, seed: int, temperature: float) -> torch.Tensor:
    """n codes from the model's prior at ``temperature``, seeded with their own generator
    (reproducible, thread-safe)."""
    return model.prior.sample(n, torch.Generator().manual_seed(int(seed)), temperature=temperature)


def temperature_slider(where, key: str, default: float, label: str = "Temperature") -> float:
    """One figure's own temperature control (range and starting values: vae_core.models.sampling)."""
    return where.slider(
        label,
        TEMPERATURE.low,
        TEMPERATURE.high,
        default,
        TEMPERATURE.step,
        key=key,
        help=(
            "z ~ N(0, T² I)"
            if cfg.prior == "standard"
            else f"z from the {PRIOR_LABELS[cfg.prior]}, each component's spread times T"
        )
        + ". Drives only the figure below it.",
    )


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
scaled = "T scales z" if cfg.prior == "standard" else "T scales each component's spread"
st.caption(
    f"Decode codes drawn from the prior p(z), {PRIOR_LABELS[cfg.prior]}. Temperature {scaled}: "
    "below 1 gives typical, cleaner samples; above 1 reaches the tails of the prior, where the "
    "decoder saw little data. Each figure below has its own temperature control."
)

# ---------------------------------------------------------------- samples
st.subheader("Samples")
if not cfg.conditional:
    st.info(
        f"This model is a {cfg.display_name}, not a conditional VAE: it cannot be asked for a "
        "class. Below are plain samples from the prior. Pick a CVAE in the sidebar to choose "
        "the class, to separate style from content and to morph between classes."
    )
    offer_cvae(dataset, cfg.latent_dim)
controls = st.columns(4 if cfg.conditional else 3)
digit = None
if cfg.conditional:
    classes = {str(c): c for c in range(cfg.n_classes)}  # ?class=7 or ?class=<its name>
    classes.update({name: c for c, name in enumerate(class_names[: cfg.n_classes])})
    st.session_state.setdefault("gen_class", min(7, cfg.n_classes - 1))
    links.linked_choice("class", classes, "gen_class", "class")
    links.show_notes("class")
    digit = controls[0].selectbox(
        "Class", range(cfg.n_classes), format_func=class_label, key="gen_class"
    )
    links.write("class", str(digit))
n_samples = controls[-3].slider("Number of samples", 1, 64, 32)
temperature = temperature_slider(controls[-2], "gen_t_samples", TEMPERATURE.samples)
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
images = decode(codes(n_samples, seed, temperature), digit)
grid = image_grid(images, nrow=min(8, n_samples))
what = f"class {class_label(digit)}" if digit is not None else "the prior"
samples_png = png_bytes(grid, SCALE)
show_image(samples_png, f"{n_samples} samples of {what}, T = {temperature:g}")
st.download_button(
    "Download PNG",
    lambda: samples_png,
    file_name="samples.png",
    mime="image/png",
    on_click="ignore",
)

if cfg.conditional:
    # ---------------------------------------------------------- style vs content
    st.subheader("Same z, every class: style vs content")
    noun, style = (
        ("garment", "width, length, shading")
        if dataset == "fashion-mnist"
        else ("digit", "slant, thickness, width")
    )
    st.caption(
        "Each row decodes one code z with every class label. In a CVAE the label carries the "
        f"content (which {noun}), so z is free to carry the style: {style}."
    )
    m1, m2, m3 = st.columns(3)
    n_rows = m1.slider("Number of codes (rows)", 1, 10, 5)
    matrix_seed = m2.number_input("Seed for the codes", 0, 2**31 - 1, 1, key="gen_matrix_seed")
    matrix_t = temperature_slider(m3, "gen_t_matrix", TEMPERATURE.style_matrix)
    k = cfg.n_classes

    def style_matrix() -> np.ndarray:
        z = codes(n_rows, matrix_seed, matrix_t)
        tiles = decode(z.repeat_interleave(k, 0), torch.arange(k).repeat(n_rows))
        return image_grid(tiles, nrow=k)

    # The samples above change on every click; this figure only with its own settings, so it is
    # built once and shared (ui.figure_cache), and its PNG is encoded only when downloaded.
    columns, rows = [class_label(i) for i in range(k)], [f"z{i + 1}" for i in range(n_rows)]
    st.plotly_chart(
        shared_figure(
            ("gen-style", stamp, n_rows, int(matrix_seed), float(matrix_t)),
            lambda: labelled_grid(style_matrix(), columns, rows, 28, 2),
        ),
        key="gen_matrix_chart",
    )
    radius = typical_radius(cfg.latent_dim, matrix_t)
    prior = "" if matrix_t == 1 else f" (at T = 1: {typical_radius(cfg.latent_dim):.1f})"
    st.caption(
        f"Codes drawn at T = {matrix_t:g}: |z| ≈ T·√D = {radius:.1f}{prior}. When a row shows "
        f"the same {noun} under every label at high T, that is the model, not a bug: such codes "
        "lie beyond most codes the encoder gives real images, and the longer z is, the more its "
        "pull on the decoder outweighs the label's, so z rather than y decides the class (the "
        "CVAE faithfulness page measures how often y still wins)."
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
    g1, g2, g3 = st.columns(3)
    class_a = g1.selectbox("From class", range(k), index=1, format_func=class_label)
    class_b = g2.selectbox("To class", range(k), index=7 % k, format_func=class_label)
    steps = g3.slider("Steps", 3, 16, 10)
    g4, g5, g6 = st.columns(3)
    morph_rows = g4.slider("Codes (rows)", 1, 6, 3)
    morph_seed = g5.number_input("Seed for the codes", 0, 2**31 - 1, 2, key="gen_morph_seed")
    morph_t = temperature_slider(g6, "gen_t_morph", TEMPERATURE.morph)

    def morph_grid() -> np.ndarray:
        z = codes(morph_rows, morph_seed, morph_t)
        soft = class_morph(class_a, class_b, steps, k)
        frames = decode(z.repeat_interleave(steps, 0), soft.repeat(morph_rows, 1))
        return image_grid(frames, nrow=steps)

    ts = [f"t={t:.2f}" for t in np.linspace(0, 1, steps)]
    morph_key = (class_a, class_b, steps, morph_rows, int(morph_seed), float(morph_t))
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
