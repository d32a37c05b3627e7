"""Latent sliders: one slider per latent dim, decoded live in the browser while you drag."""

from __future__ import annotations

import numpy as np
import streamlit as st

from ui import links
from ui.images import show_image
from ui.latent_dims import encode_start, latent_dims, random_start
from ui.live_decoder import ExportError, live_decoder, publish_decoder, reported_state
from ui.session import current_model, model_test_tensors
from ui.slider_results import Slots, result_slots, show_traversals
from vae_core.data.sources import get_source
from vae_core.data.subsets import capitalized
from vae_core.io.pictures import image_grid, upscale

st.set_page_config(page_title="Latent sliders · VAE Latent Lab", page_icon="🎚️", layout="wide")
ckpt = current_model()
model, cfg = ckpt.model, ckpt.config
dataset = str(ckpt.meta.get("dataset", "mnist"))
try:
    class_names = list(get_source(dataset).class_names)
except ValueError:
    class_names = [str(k) for k in range(cfg.n_classes)]

st.title("Latent sliders")
st.caption(
    "Each slider moves one latent dimension of z; the decoder runs in your browser, so the image "
    "follows the slider while you drag. Sliders are ordered by how much information the dim "
    "carries (KL to the prior); dims marked *collapsed* are ignored by the decoder. On release "
    "the server decodes the same z with PyTorch, shown beside the browser's image."
)

try:
    published = publish_decoder(ckpt)
except ExportError as exc:
    st.error(f"This model's decoder cannot run in the browser: {exc}")
    st.stop()

test = model_test_tensors(ckpt)
dims = latent_dims(ckpt, test)
st.caption(f"Dim order: {dims.source}.")

ONE_OF_SET = "test image" if test is None else test[0].noun_one  # offline: not a test image
START_MODES = ["Prior mean", "Random prior sample", f"Encoded {ONE_OF_SET}"]
LINK_MODE = "The link's code"  # ?z=...[&y=...] in the address bar (ui/links.py)
linked = links.fresh_code(model, st.session_state.get("sl_class"))
if linked is not None:
    if linked[0] is not None:
        st.session_state["sl_link"] = (str(ckpt.path), linked[0])
        st.session_state["sl_start"] = LINK_MODE
    if linked[1] is not None:
        st.session_state["sl_class"] = linked[1]
link_z = st.session_state.get("sl_link")
if link_z is not None and link_z[0] == str(ckpt.path):
    START_MODES.append(LINK_MODE)
elif st.session_state.get("sl_start") == LINK_MODE:  # that link was for another model
    st.session_state["sl_start"] = START_MODES[0]
links.show_notes("z")
c_start, c_opts, c_class = st.columns([2, 3, 2])
mode = c_start.radio("Start from", START_MODES, key="sl_start", horizontal=False)
label: int | None = None
if cfg.conditional:
    label = c_class.selectbox(
        "Class (the CVAE's one-hot)",
        range(cfg.n_classes),
        format_func=lambda k: class_names[k] if k < len(class_names) else str(k),
        key="sl_class",
    )

if mode == "Prior mean":
    z_start, start_key = list(dims.center), "mean"
elif mode == LINK_MODE:
    z_start = list(link_z[1])
    start_key = f"link:{links.code_text(z_start)}"
elif mode == "Random prior sample":
    seed = int(c_opts.number_input("Seed", 0, 2**31 - 1, 0, step=1, key="sl_seed"))
    z_start, start_key = random_start(dims, seed), f"random:{seed}"
else:
    if test is None:
        st.error("The test set is unavailable, so there is no test image to encode.")
        st.stop()
    images, x, y = test
    choices = ["any class", *class_names]
    wanted = c_opts.selectbox(f"{capitalized(ONE_OF_SET)} of class", range(len(choices)), key="sl_filter",
                              format_func=lambda k: choices[k])  # fmt: skip
    pool = np.arange(len(x)) if wanted == 0 else np.flatnonzero(y.numpy() == wanted - 1)
    if len(pool) == 0:
        st.error(f"The test set has no image of class {choices[wanted]}.")
        st.stop()
    pick = int(c_opts.number_input(f"Which one (0–{len(pool) - 1})", 0, len(pool) - 1, 0,
                                   key="sl_pick"))  # fmt: skip
    idx = int(pool[pick])
    true_label = int(y[idx])
    show_image(upscale(image_grid(x[idx : idx + 1], pad=0), 3), where=c_opts,
               caption=f"{ONE_OF_SET} #{idx} ({class_names[true_label]})")  # fmt: skip
    z_start = encode_start(model, x[idx], true_label if cfg.conditional else None)
    start_key = f"test:{idx}"

token = f"{published.digest[:16]}|{start_key}"


@st.fragment
def sliders_and_results(slots: Slots) -> None:
    """The live component and what depends on its z: a release reruns only this fragment."""
    remembered = st.session_state.get("sl_last")
    z_now = remembered[1] if remembered and remembered[0] == token else z_start
    live = reported_state(token, len(z_start))
    z = live.z if live.z is not None else z_now
    st.session_state["sl_last"] = (token, z)  # survives a visit to another page
    # The address bar holds z only while the page shows the link's own code: a link never
    # claims a code the sliders have left (the component's "Copy link" gives the current one).
    showing_link = mode == LINK_MODE and links.code_text(z) == links.code_text(z_start)
    links.write("z", links.code_text(z) if showing_link else None)
    links.write("y", str(label) if showing_link and label is not None else None)
    with slots.live:
        live_decoder(published, dims, z_start=z_start, z_now=z, token=token, label=label,
                     link_model=ckpt.path.stem if ckpt.path else None)  # fmt: skip
    show_traversals(slots.traversals, model, z, label, dims, token)


sliders_and_results(result_slots())
