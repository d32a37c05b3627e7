"""Denoising: corrupt an image, reconstruct it through the latent space, measure PSNR / SSIM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from ui.cache_keys import file_key
from ui.denoise_pair import find_pair
from ui.draw_canvas import draw_digit
from ui.images import show_image
from ui.models import load_model
from ui.session import current_model, model_test_data
from vae_core.config import NO_TRAIN_NOISE, ModelConfig
from vae_core.data.datasets import seen_in_training
from vae_core.data.subsets import capitalized, describe_images, subset_of
from vae_core.evaluation.quality import denoising_curve, format_psnr, psnr, ssim
from vae_core.io.pictures import png_bytes
from vae_core.io.uploads import ImageInputError, load_user_image
from vae_core.latent.inpainting import inpaint
from vae_core.latent.noise import NOISE_KINDS, NOISE_LABELS, corrupt
from vae_core.models.model import LatentVariableModel
from vae_core.training.run_metadata import train_noise_of

st.set_page_config(page_title="Denoising · VAE Latent Lab", page_icon="🧽", layout="wide")
ckpt = current_model()
model = ckpt.model
cfg = model.config
SCALE = 5
# Opens on a case where the VAE helps: a hidden square, filled in by latent optimisation.
DEFAULT_KIND = "occlusion-square"
DEFAULT_LEVEL = {
    "gaussian": 0.3,
    "salt-pepper": 0.2,
    "occlusion-square": 0.4,
    "occlusion-half": 0.5,
}
CURVE_IMAGES = 200
CURVE_LEVELS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0]  # every default level is a point
MODEL_COLORS = ("#1f77b4", "#d62728", "#2ca02c")  # chosen, then the pair's other rows
ROW = [1.2, 1, 1]  # label | reconstruction | latent optimisation (fits a 1024 px window)
WHY_GAUSSIAN = """**Why a VAE trained on clean digits makes this worse.** Its encoder has only ever
seen clean digits, and nothing in its objective asked it to remove noise: the ELBO rewards
reconstructing the very image it is given. Noise on every pixel puts the image far from the
clean digits it learned (off the data manifold), so q(z|x̃) lands where the encoder was never
trained to be right, and the decoder draws a different or blurred digit. Occlusion is
different: most pixels are untouched, and latent optimisation can ignore the hidden ones.
**The remedy** is to train the encoder on noisy inputs and score the reconstruction against the
clean digit: the denoising criterion of Im et al. (2017). On the Train page, *More settings →
Training noise* `gaussian:0.3` (CLI: `--train-noise gaussian:0.3`)."""

st.title("Denoising")
st.caption(
    "The encoder maps a corrupted image to a code and the decoder turns it back into an image "
    "that looks like the training data: a VAE 'denoises' by projecting onto what it learned. "
    "PSNR and SSIM compare with the clean image (higher is better; SSIM 1 = identical)."
)

loaded = model_test_data(ckpt)
test_set, x_test, y_test = loaded
class_names = test_set.class_names
ONE_OF_SET = capitalized(test_set.noun_one)  # offline: not a test image


def class_label(k: int) -> str:
    name = class_names[k] if k < len(class_names) else str(k)
    return name if name == str(k) else f"{k}: {name}"


# ---------------------------------------------------------------- source image
st.subheader("1 · Image")
source = st.radio(
    "Source", [ONE_OF_SET, "Upload", "Draw"], horizontal=True, key="dn_source",
    help="Uploads and drawings are converted like MNIST: grey, white on black, the ink "
    "scaled into a 20 px box and centred by its centre of mass in 28×28.",
)  # fmt: skip
clean: np.ndarray | None = None
label: int | None = None
if source == ONE_OF_SET:
    s1, s2, s3 = st.columns([2, 2, 1])
    choice = s1.selectbox(
        "Class", [-1, *range(len(class_names))],
        format_func=lambda k: "any class" if k < 0 else class_label(k), key="dn_class",
    )  # fmt: skip
    pool = np.arange(len(y_test)) if choice < 0 else np.flatnonzero(y_test.numpy() == choice)
    if "dn_pick" not in st.session_state:
        st.session_state["dn_pick"] = 0

    def _random_pick(n: int) -> None:
        st.session_state["dn_pick"] = int(np.random.default_rng().integers(0, n))

    s3.button("Random image", on_click=_random_pick, args=(len(pool),), key="dn_random")
    pick = s2.number_input(
        f"Image number (of {len(pool)})", 0, len(pool) - 1, key="dn_pick"
    ) if len(pool) > 1 else 0  # fmt: skip
    index = int(pool[min(int(pick), len(pool) - 1)])
    clean = x_test[index, 0].numpy()
    label = int(y_test[index])
    st.caption(f"{ONE_OF_SET} #{index}, class {class_label(label)}")
elif source == "Upload":
    upload = st.file_uploader(
        "An image of a digit (PNG, JPEG, GIF, BMP, WebP, TIFF)",
        type=["png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff"], key="dn_upload",
    )  # fmt: skip
    if upload is not None:
        try:
            clean = load_user_image(upload.getvalue())
        except ImageInputError as exc:
            st.error(f"Cannot use {Path(upload.name).name!r}: {exc}.")
else:
    st.caption("Draw a digit in white; the page updates when you lift the pen.")
    clean = draw_digit("dn_canvas")

if clean is None:
    st.info(f"Choose one of the {test_set.noun}, upload an image or draw a digit to continue.")
    st.stop()
if cfg.conditional and label is None:
    label = st.selectbox(
        "Class given to the CVAE (it needs a label for uploads and drawings)",
        range(cfg.n_classes), format_func=class_label, key="dn_given_class",
    )  # fmt: skip
y = torch.tensor([label]) if cfg.conditional else None

# ---------------------------------------------------------------- noise
st.subheader("2 · Noise")
n1, n2, n3 = st.columns([2, 2, 1])
kind = n1.selectbox(
    "Noise", NOISE_KINDS, index=NOISE_KINDS.index(DEFAULT_KIND), format_func=NOISE_LABELS.get,
    key="dn_kind",
)  # fmt: skip
level = n2.slider("Level", 0.0, 1.0, DEFAULT_LEVEL[kind], 0.05, key=f"dn_level_{kind}")
seed = int(n3.number_input("Seed", 0, 2**31 - 1, 0, key="dn_seed"))
x = torch.from_numpy(np.ascontiguousarray(clean, dtype=np.float32))[None, None]
corruption = corrupt(x, kind, level, seed)
steps = 0
if corruption.is_occlusion:
    steps = st.slider(
        "Latent optimisation steps (Adam)", 20, 300, 150, 10, key="dn_steps",
        help="Start from the encoder's μ and maximise log p(observed pixels | z) + log p(z).",
    )  # fmt: skip


def short_label(config: ModelConfig, train_noise: str) -> str:
    """'16-D VAE' / '16-D denoising VAE': what tells the compared models apart."""
    noisy = "denoising " if train_noise != NO_TRAIN_NOISE else ""
    return f"{config.latent_dim}-D {noisy}{config.display_name}"


# The chosen model, then the standard / denoising pair of one architecture (ui.denoise_pair).
chosen_noise = train_noise_of(ckpt.meta)
shown: list[tuple[str, str, str, LatentVariableModel, torch.Tensor | None]] = []
pair = find_pair(str(ckpt.path))
roles = {}
if pair is not None:
    roles = {
        pair.standard.path: "standard ELBO, trained on clean digits",
        pair.denoising.path: f"denoising objective, trained on {pair.train_noise} noise",
    }
chosen_role = roles.get(str(ckpt.path), "")
shown.append(
    (
        f"{short_label(cfg, chosen_noise)} · chosen",
        ckpt.meta.get("name", ckpt.path.stem) + (f" ({chosen_role})" if chosen_role else ""),
        str(ckpt.path),
        model,
        y,
    )
)
for path, role in roles.items():
    if path != str(ckpt.path):
        other = load_model(path)
        other_label = short_label(other.config, train_noise_of(other.meta))
        shown.append(
            (other_label, f"{other.meta.get('name', '')} ({role})", path, other.model, None)
        )


def _picture(col, arr: np.ndarray, caption: str, scored: bool = True) -> None:
    """One image, its name and (against the clean image) its scores, compact enough that three
    rows of them fit a laptop screen."""
    show_image(png_bytes(arr, SCALE), caption, where=col, width=28 * SCALE)
    if scored:
        col.markdown(f"PSNR **{format_psnr(psnr(clean, arr))}** · SSIM **{ssim(clean, arr):.3f}**")


# ---------------------------------------------------------------- results
st.subheader("3 · Result")
noisy = corruption.noisy[0, 0].numpy()
cols = st.columns(ROW)
cols[0].markdown("**Input**")
_picture(cols[1], clean, "Clean (the reference)", scored=False)
_picture(cols[2], noisy, "Noisy input")
fit = None
for label, detail, _, row_model, row_y in shown:
    cols = st.columns(ROW)
    cols[0].markdown(f"**{label}**")
    cols[0].caption(detail)
    with torch.no_grad():
        mu, _ = row_model.encode(corruption.noisy.to(row_model.device), row_y)
        recon = row_model.decode(mu, row_y).cpu()[0, 0].numpy()
    _picture(cols[1], recon, "Reconstruction (decode μ)")
    if corruption.is_occlusion:
        row_fit = inpaint(row_model, corruption.noisy, corruption.observed, row_y, steps=steps)
        fit = fit or row_fit  # the chosen model's, for the caption
        arr = row_fit.image.cpu()[0, 0].numpy()
        _picture(cols[2], arr, "Latent optimisation")
if fit is not None:
    st.caption(
        f"Masked objective log p(x_obs|z) + log p(z) of the chosen model: {fit.objective[0]:.1f} → "
        f"{fit.objective[-1]:.1f} nats after {steps} steps. The plain reconstruction feeds the "
        "grey occluder to the encoder; latent optimisation ignores the hidden pixels and fills "
        "them in from what the decoder has learned."
    )
if pair is None:
    st.info(
        "No standard / denoising VAE pair of one architecture is available for this dataset. "
        "Train one on the Train page: the same settings twice, once with *More settings → "
        "Training noise* `gaussian:0.3`; both then appear here."
    )
else:
    same = (
        "trained alike except for the noise"
        if not pair.differences
        else f"also trained differently in: {', '.join(pair.differences)}"
    )
    who = (
        "The chosen model and its partner are"
        if chosen_role
        else "Below the chosen model: a standard and a denoising VAE,"
    )
    st.caption(
        f"{who} one architecture, {same}, so the difference between those two rows is the "
        "objective. Every row decodes the same noisy image; PSNR and SSIM are against the "
        "clean one."
    )
if not corruption.is_occlusion:
    st.info(WHY_GAUSSIAN)


# ---------------------------------------------------------------- curve
@st.cache_data(max_entries=32, show_spinner=False)
def _curve(
    path: str, version: str, data_source: str, kind: str, n: int, inpaint_steps: int
) -> dict[str, list[float]]:
    """Mean quality over the test split's stratified subset of n at each level (cached per
    model file)."""
    curve_model = load_model(path).model
    idx = torch.from_numpy(subset_of(test_set, n))
    xs, ys = x_test[idx], y_test[idx]
    return denoising_curve(curve_model, xs, ys, kind, CURVE_LEVELS, 0, inpaint_steps)


st.subheader("4 · Quality against noise level")
curve_images = describe_images(
    test_set, CURVE_IMAGES, processing="grey pixels", seen=seen_in_training(test_set, ckpt.meta)
)
st.caption(
    f"Mean over {curve_images}; noise seed 0. Identical images (level 0) count as 60 dB PSNR."
)
with_fit = False
if kind.startswith("occlusion"):
    with_fit = st.checkbox(
        "Include latent optimisation (100 steps per level; computed once per model, it takes "
        "a while)",
        value=True,
        key="dn_curve_fit",
    )
curves = []
with st.spinner(f"Corrupting and reconstructing {test_set.noun}…"):
    for label, _, path, _, _ in shown:
        curve = _curve(
            path,
            file_key(path),
            test_set.source,
            kind,
            CURVE_IMAGES,
            100 if with_fit else 0,
        )
        curves.append((label, curve))
f1, f2 = st.columns(2)
for col, metric, unit in ((f1, "psnr", "PSNR (dB)"), (f2, "ssim", "SSIM")):
    fig = go.Figure()
    levels = curves[0][1]["level"]
    fig.add_trace(
        go.Scatter(x=levels, y=curves[0][1][f"{metric}_noisy"], mode="lines+markers",
                   name="Noisy input", line={"color": "#888", "dash": "dash"})
    )  # fmt: skip
    for (label, curve), color in zip(curves, MODEL_COLORS, strict=False):
        fitted = f"{metric}_inpaint" in curve  # then the plain reconstruction is drawn dotted
        series = (("recon", "reconstruction", "dot" if fitted else "solid"),
                  ("inpaint", "latent optimisation", "solid"))  # fmt: skip
        for key, what, dash in series:
            if f"{metric}_{key}" in curve:
                fig.add_trace(
                    go.Scatter(x=levels, y=curve[f"{metric}_{key}"], mode="lines+markers",
                               name=f"{label}: {what}", line={"color": color, "dash": dash})
                )  # fmt: skip
    fig.add_vline(x=level, line_dash="dot", line_color="#888")
    fig.update_layout(
        xaxis_title=NOISE_LABELS[kind], yaxis_title=unit, height=300 + 22 * len(fig.data),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        legend={"orientation": "h", "yanchor": "top", "y": -0.22},
    )  # fmt: skip
    col.plotly_chart(fig, key=f"dn_curve_{metric}")
