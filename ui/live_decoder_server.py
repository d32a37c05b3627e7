"""The server half of the Latent sliders page: what it draws for the z the browser reported.

A slider release reruns one fragment, and all of that run lies on the release-to-image path:
Streamlit does not preempt a running fragment for a widget change (a quick second release waits
for the whole first run), and the browser re-renders everything the run sends. Hence:

- the static frame (headings, captions) is drawn once by the full run (``result_slots``); a
  release only refills the slots;
- the PyTorch decode is sent first (before the component's ~25 kB delta and the details) and
  inline, as a ``data:`` URI, so the browser shows it without a round trip to the media
  endpoint (``show_server_decode``); the z table and traversals follow (``show_details``);
- the inference runs on one intra-op thread: one code, or 9 codes per dim, gain nothing from
  OpenMP, and with the browser busy on the other core the second OpenMP thread turns every op
  into a wait for the scheduler (2-core dev machine: the conv decoder's one-code decode took
  65-90 ms on 2 threads inside the server, 2 ms on 1).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch
from streamlit.delta_generator import DeltaGenerator

from ui.latent_dims import LatentDims, decode_one, traversal_image, traversals
from vae_core.imaging import image_grid, png_bytes
from vae_core.model import LatentVariableModel

SERVER_SCALE = 8  # 28 px -> 224 px


@dataclass(frozen=True)
class Slots:
    """Where a release's results go; created outside the fragment, refilled by each release."""

    live: DeltaGenerator  # the component (inside the fragment's reach, so a release reruns it)
    server: DeltaGenerator
    table: DeltaGenerator
    traversals: DeltaGenerator


def result_slots() -> Slots:
    """Draw the page's static frame (once per full run) and return its empty slots."""
    live = st.container()
    st.divider()
    left, right = st.columns([1, 2])
    left.subheader("PyTorch decode")
    server = left.container(key="sl_server")
    right.subheader("Current z")
    table = right.container()
    st.subheader("Traversals")
    st.caption(
        "Each row decodes the current z with one dim swept across its slider range (left to "
        "right), in the same order as the sliders."
    )
    return Slots(live, server, table, st.container())


@contextmanager
def one_thread() -> Iterator[None]:
    """Run tiny inferences on one intra-op thread, restoring the count afterwards."""
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def inline_png(png: bytes) -> str:
    """A ``data:`` URI for a small PNG, which st.image passes through untouched."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def show_server_decode(
    slot: DeltaGenerator,
    model: LatentVariableModel,
    z: list[float],
    label: int | None,
    pixels: list[float] | None,
) -> None:
    """The exact PyTorch decode of ``z`` in ``slot``, its gap to the browser's ``pixels`` (the
    browser's decode of the same z, if it sent one) and a PNG download.
    """
    with one_thread():
        image = decode_one(model, z, label)
    png = png_bytes(image_grid(image[None], pad=0), scale=SERVER_SCALE)
    with slot:
        st.image(inline_png(png), caption="E[x|z] decoded on the server")
        if pixels is not None:
            gap = float(np.abs(np.asarray(pixels) - image.numpy().ravel()).max())
            st.caption(
                f"Browser vs PyTorch: max difference {gap:.1e} per pixel (values in [0, 1])."
            )
        st.download_button("Download PNG", png, file_name="latent-sliders.png",
                           mime="image/png", on_click="ignore")  # fmt: skip


def show_details(
    slots: Slots, model: LatentVariableModel, z: list[float], label: int | None, dims: LatentDims
) -> None:
    """The z table and the traversals (after the server decode: they can wait a few ms)."""
    with one_thread():
        strips = traversals(model, z, label, dims)
    with slots.table:
        show_z_table(z, dims)
    with slots.traversals:
        labels = []
        for j in dims.order:
            lo, hi = dims.bounds(j)
            tag = " · collapsed" if dims.collapsed[j] else ""
            labels.append(
                f"z{j}\n{dims.score_name} {dims.score[j]:.2f}{tag}\n{lo:+.1f} … {hi:+.1f}"
            )
        st.image(traversal_image(strips[dims.order], labels), width="content")


def show_z_table(z: list[float], dims: LatentDims) -> None:
    """The current z, one row per dim in slider order, and as a copyable Python list."""
    rows = [
        {"dim": f"z{j}", "value": round(z[j], 4), dims.score_name: round(dims.score[j], 4),
         "collapsed": dims.collapsed[j]}
        for j in dims.order
    ]  # fmt: skip
    st.dataframe(rows, hide_index=True, width="stretch", height=min(38 + 35 * len(rows), 420))
    st.code("z = [" + ", ".join(f"{v:.4f}" for v in z) + "]", language="python", wrap_lines=True)
