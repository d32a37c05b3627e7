"""The Home page (what the app is, pick or upload a model, the model's card); app.py routes to it.

Cold start matters (the first page a visitor sees), and ``import torch`` was most of it: so the
first run imports no PyTorch. The picker and the card come from checkpoint metadata, the test
split is read with numpy (dataset badge), and ``ui.torch_warmup`` imports PyTorch in the
background once the browser has drawn the page (see ``ui.model_card``); once it is in, the page
reruns, shows the device and the card's charts, and checks the weights too (NaN weights in a
file dropped into checkpoints/ are refused there, as on every other page).
"""

from __future__ import annotations

import streamlit as st

from ui import torch_warmup
from ui.model_card import render_model_card
from ui.model_list import (
    UNLOADABLE,
    ModelEntry,
    ModelInfo,
    checkpoint_problem,
    list_models,
    model_info,
)
from ui.page_index import page_files, page_summary
from ui.picker import chosen_entry, select_model, sidebar_model_caption, sidebar_training_status
from vae_core.io.header import CheckpointError

UPLOAD_KEY = "home_upload_result"  # (file_id, error or None): act on each upload only once

ICONS = {
    "Train": ":material/model_training:",
    "Latent map": ":material/scatter_plot:",
    "Latent sliders": ":material/tune:",
    "Generate": ":material/auto_awesome:",
    "Denoise": ":material/healing:",
    "Interpolate": ":material/linear_scale:",
    "Likelihood": ":material/functions:",
    "Diagnostics": ":material/monitor_heart:",
}

INTRO = """
A **variational autoencoder** (Kingma & Welling, *Auto-Encoding Variational Bayes*, 2013) learns
two networks at once: an *encoder* q(z|x) that maps an image to a small Gaussian cloud in a
**latent space**, and a *decoder* p(x|z) that turns any point z of that space back into an image.
It is trained by maximising the **ELBO**, the reconstruction log-likelihood minus the KL divergence
that keeps the codes close to the prior N(0, I), so that decoding random points gives plausible
images. A **CVAE** (Sohn et al., 2015) also feeds the class label to both networks, which frees the
latent space to encode *style*; a **β-VAE** (Higgins et al., 2017) weights the KL term by β; a plain
**AE** drops sampling and the KL term altogether, for comparison. This lab lets you train such
models on handwritten digits (MNIST) and clothes (Fashion-MNIST) and explore what their latent
spaces have learned.
"""


def _page_links() -> None:
    pages = page_files()
    cols = st.columns(2, gap="medium")
    for i, path in enumerate(pages):
        label, summary = page_summary(path)
        with cols[i % 2]:
            st.page_link(
                f"pages/{path.name}", label=label, icon=ICONS.get(label, ":material/science:")
            )
            st.caption(summary)


def _uploader() -> None:
    """Upload a checkpoint: a bad file gets a one-line reason, a good one becomes the choice."""
    upload = st.file_uploader(
        "Upload a checkpoint (.safetensors, saved by this app or `python -m vae_core train`)",
        type=["safetensors"],
        key="home_upload",
    )
    if upload is None:
        st.session_state.pop(UPLOAD_KEY, None)
        return
    done = st.session_state.get(UPLOAD_KEY)
    if done is None or done[0] != upload.file_id:
        from ui.models import store_upload  # full validation needs PyTorch: only on upload

        try:
            entry = store_upload(upload.getvalue(), upload.name)
        except CheckpointError as exc:
            done = (upload.file_id, checkpoint_problem(exc))
        else:
            select_model(entry.path)
            done = (upload.file_id, None)
        st.session_state[UPLOAD_KEY] = done
    if done[1] is not None:
        st.error(done[1], icon=":material/error:")
    else:
        st.success(f"Loaded {upload.name}; it is now the chosen model (see the sidebar).")


def _chosen_model(entry: ModelEntry) -> tuple[ModelInfo, str | None]:
    """The chosen model's metadata and the device (None while PyTorch loads); once PyTorch is
    loaded, the model's weights are checked as well.

    Stops the page with a one-line reason for a file that cannot be loaded.
    """
    try:
        info = model_info(entry.path)
        device = torch_warmup.device_text()
        if device is not None:
            from ui.models import load_model  # PyTorch is in memory by now

            load_model(entry.path)  # cached: the next page gets it without waiting
    except (CheckpointError, OSError) as exc:
        st.error(checkpoint_problem(exc, UNLOADABLE))
        st.stop()
    sidebar_training_status()
    sidebar_model_caption(info.config, info.meta, device)
    return info, device


def warm_caches() -> None:
    """Do, at server start (``ui.preload``), the work of the Home page's first run that does not need
    a session: the first browser then waits only for its own page (measured in-process: the
    first run 0.54 s, a warm one 0.01 s).

    The page icon emoji makes Streamlit import ``streamlit.emojis`` and compile its 170 ms emoji
    regex; each page file is parsed for its summary (about 100 ms for all); the model list
    reads every checkpoint's header. All three keep their results in process-wide caches.
    """
    from streamlit.string_util import is_emoji  # noqa: PLC0415 - Streamlit's own check

    is_emoji("🧪")
    for path in page_files():
        page_summary(path)
    list_models(include_vq=True)


def render_home() -> None:
    """The whole Home page (``st.set_page_config`` first, as Streamlit requires)."""
    st.set_page_config(page_title="VAE Latent Lab", page_icon="🧪", layout="wide")
    st.title("VAE Latent Lab")
    st.markdown(INTRO)
    with st.container(border=True):
        st.markdown("**Pages**")
        _page_links()

    st.header("Model")
    st.caption(
        "Pick a model in the sidebar (shipped, trained here, or uploaded) or upload a checkpoint; "
        "the other pages use the same choice."
    )
    _uploader()
    if not list_models(include_vq=True):
        st.info("No models yet: train one on the Train page or upload a checkpoint above.")
    entry = chosen_entry()  # the sidebar picker (stops the page when there are no models)
    render_model_card(*_chosen_model(entry))
