"""Denoising: corrupt an image, reconstruct it through the latent space, measure PSNR / SSIM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from ui.draw_canvas import draw_digit
from ui.images import show_image
from ui.models import load_model
from ui.session import current_model, model_test_tensors
from vae_core.data.datasets import seen_in_training
from vae_core.data.subsets import capitalized, describe_images, subset_of
from vae_core.evaluation.quality import denoising_curve, format_psnr, psnr, ssim
from vae_core.io.pictures import png_bytes
from vae_core.io.uploads import ImageInputError, load_user_image
from vae_core.latent.inpainting import inpaint
from vae_core.latent.noise import NOISE_KINDS, NOISE_LABELS, corrupt

st.set_page_config(page_title="Denoising · VAE Latent Lab", page_icon="🧽", layout="wide")
ckpt = current_model()
model = ckpt.model
cfg = model.config
SCALE = 6
DEFAULT_LEVEL = {
    "gaussian": 0.3,
    "salt-pepper": 0.2,
    "occlusion-square": 0.4,
    "occlusion-half": 0.5,
}
CURVE_IMAGES = 200
CURVE_LEVELS = [0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0]

st.title("Denoising")
st.caption(
    "The encoder maps a corrupted image to a code and the decoder turns it back into an image "
    "that looks like the training data: a VAE 'denoises' by projecting onto what it learned. "
    "PSNR and SSIM compare with the clean image (higher is better; SSIM 1 = identical)."
)

loaded = model_test_tensors(ckpt)
if loaded is None:
    st.stop()
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
kind = n1.selectbox("Noise", NOISE_KINDS, format_func=NOISE_LABELS.get, key="dn_kind")
level = n2.slider("Level", 0.0, 1.0, DEFAULT_LEVEL[kind], 0.05, key=f"dn_level_{kind}")
seed = int(n3.number_input("Seed", 0, 2**31 - 1, 0, key="dn_seed"))
x = torch.from_numpy(np.ascontiguousarray(clean, dtype=np.float32))[None, None]
corruption = corrupt(x, kind, level, seed)
with torch.no_grad():
    mu, _ = model.encode(corruption.noisy.to(model.device), y)
    recon = model.decode(mu, y).cpu()

results = {"Noisy input": corruption.noisy, "Reconstruction (decode μ)": recon}
if corruption.is_occlusion:
    steps = st.slider(
        "Latent optimisation steps (Adam)", 20, 300, 150, 10, key="dn_steps",
        help="Start from the encoder's μ and maximise log p(observed pixels | z) + log p(z).",
    )  # fmt: skip
    fit = inpaint(model, corruption.noisy, corruption.observed, y, steps=steps)
    results["Latent optimisation (observed pixels only)"] = fit.image.cpu()

# ---------------------------------------------------------------- results
st.subheader("3 · Result")
cols = st.columns(1 + len(results))
show_image(png_bytes(clean, SCALE), "Clean (the reference)", where=cols[0], width=28 * SCALE)
for col, (name, img) in zip(cols[1:], results.items(), strict=True):
    arr = img[0, 0].numpy()
    show_image(png_bytes(arr, SCALE), name, where=col, width=28 * SCALE)
    col.metric("PSNR", format_psnr(psnr(clean, arr)))
    col.metric("SSIM", f"{ssim(clean, arr):.3f}")
if corruption.is_occlusion:
    st.caption(
        f"Masked objective log p(x_obs|z) + log p(z): {fit.objective[0]:.1f} → "
        f"{fit.objective[-1]:.1f} nats after {steps} steps. The plain reconstruction feeds the "
        "grey occluder to the encoder; latent optimisation ignores the hidden pixels and fills "
        "them in from what the decoder has learned."
    )


# ---------------------------------------------------------------- curve
@st.cache_data(max_entries=32, show_spinner=False)
def _curve(
    path: str, mtime: int, data_source: str, kind: str, n: int, inpaint_steps: int
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
        "Include latent optimisation (100 steps per level; takes a while)", key="dn_curve_fit"
    )
path = str(ckpt.path)
with st.spinner(f"Corrupting and reconstructing {test_set.noun}…"):
    curve = _curve(
        path,
        Path(path).stat().st_mtime_ns,
        test_set.source,
        kind,
        CURVE_IMAGES,
        100 if with_fit else 0,
    )
series = {"noisy": "Noisy input", "recon": "Reconstruction", "inpaint": "Latent optimisation"}
f1, f2 = st.columns(2)
for col, metric, unit in ((f1, "psnr", "PSNR (dB)"), (f2, "ssim", "SSIM")):
    fig = go.Figure()
    for key, name in series.items():
        if f"{metric}_{key}" in curve:
            fig.add_trace(
                go.Scatter(
                    x=curve["level"], y=curve[f"{metric}_{key}"], mode="lines+markers", name=name
                )
            )
    fig.add_vline(x=level, line_dash="dot", line_color="#888")
    fig.update_layout(
        xaxis_title=NOISE_LABELS[kind], yaxis_title=unit, height=360,
        margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend={"orientation": "h", "y": 1.12},
    )  # fmt: skip
    col.plotly_chart(fig, key=f"dn_curve_{metric}")
