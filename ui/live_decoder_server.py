"""The server half of the Latent sliders page: what it draws for the z the browser reported.

A slider release reruns one fragment, and that run lies on the release-to-image path: Streamlit
does not preempt a running fragment for a widget change (a quick second release waits for the
whole first run), and the browser re-renders the whole page for every batch of messages the run
sends (bench/ui_latency.py traces: 3-4 React passes of 10-35 ms per release). Hence:

- the static frame (headings) is drawn once by the full run (``result_slots``); a release only
  refills the slots, and the z readout lives in the component (no element per release);
- the PyTorch decode is sent first and inline, as a ``data:`` URI, so the browser shows it
  without a round trip to the media endpoint (``show_server_decode``);
- the traversals (9 decodes per dim, 3-15 ms, and a large picture for the browser) are not part
  of a release's run: it re-sends the last picture unchanged and names a follow-up;
  the browser asks for that second run after painting the first, and it draws the traversals
  for the new z (``show_traversals``). A release during the follow-up simply names a new one;
- the inference runs on one intra-op thread: one code, or 9 codes per dim, gain nothing from
  OpenMP, and with the browser busy on the other core the second OpenMP thread turns every op
  into a wait for the scheduler (2-core dev machine: the conv decoder's one-code decode took
  65-90 ms on 2 threads inside the server, 2 ms on 1).
"""

from __future__ import annotations

import base64
import hashlib
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
    traversals: DeltaGenerator


def result_slots() -> Slots:
    """Draw the page's static frame (once per full run) and return its empty slots.

    Lean on purpose: each heading or caption here is re-rendered by the browser on every
    release, so explanations go into the images' captions (plain text) instead.
    """
    live = st.container()
    left, right = st.columns([1, 3], gap="large")
    server = left.container(key="sl_server")
    right.subheader("Traversals")
    return Slots(live, server, right.container(key="sl_traversals"))


@dataclass(frozen=True)
class DrawnTraversals:
    """The traversal picture last drawn in this session and what it depends on: the start point
    (``token``: model and start), the CVAE class and z.
    """

    token: str
    label: int | None
    z: tuple[float, ...]
    png: bytes  # encoded once: re-sending it while a follow-up is due costs no encoding


TRAVERSALS_STATE = "sl_traversals_drawn"
TRAVERSAL_CAPTION = (
    "Each row decodes the current z with one dim swept across its slider range (left to right), "
    "in the same order as the sliders."
)


def followup_name(token: str, label: int | None, z: list[float]) -> str:
    """A name for 'the traversals of this z, class and start point' (short, stable)."""
    text = f"{token}|{label}|" + ",".join(f"{v:.4f}" for v in z)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def plan_traversals(token: str, label: int | None, z: list[float], requested: object) -> str:
    """'reuse' the drawn picture (same start, class and z), 'defer' to a follow-up run (a
    release: same start and class, new z, and this is not the follow-up run asked for it), or
    'compute' now (first draw, new start or class, or the follow-up run itself).

    ``requested`` is the follow-up name the browser asked for with this run (None otherwise).
    """
    drawn = st.session_state.get(TRAVERSALS_STATE)
    if drawn is None or (drawn.token, drawn.label) != (token, label):
        return "compute"
    if drawn.z == tuple(z):
        return "reuse"
    return "compute" if requested == followup_name(token, label, z) else "defer"


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
    """The exact PyTorch decode of ``z`` in ``slot``, inline, with its gap to the browser's
    ``pixels`` (the browser's decode of the same z, if it sent one). The PNG download is the
    component's (its canvas, no element per release).
    """
    with one_thread():
        image = decode_one(model, z, label)
    png = png_bytes(image_grid(image[None], pad=0), scale=SERVER_SCALE)
    caption = "PyTorch decode of z on the server (E[x|z])"
    if pixels is not None:
        gap = float(np.abs(np.asarray(pixels) - image.numpy().ravel()).max())
        caption += f" · Browser vs PyTorch: max difference {gap:.1e} per pixel (values in [0, 1])"
    with slot:
        st.image(inline_png(png), caption=caption)


_CACHED = None


def show_traversals(
    slot: DeltaGenerator,
    model: LatentVariableModel,
    z: list[float],
    label: int | None,
    dims: LatentDims,
    token: str,
    plan: str,
) -> None:
    """Draw the traversals of ``z`` in ``slot`` per ``plan`` (see ``plan_traversals``): the
    drawn picture (also while a follow-up is due: it follows within one run) or a new one.
    """
    drawn = st.session_state.get(TRAVERSALS_STATE)
    if plan == "compute" or drawn is None:
        with one_thread():
            strips = traversals(model, z, label, dims)
        labels = []
        for j in dims.order:
            lo, hi = dims.bounds(j)
            tag = " · collapsed" if dims.collapsed[j] else ""
            labels.append(
                f"z{j}\n{dims.score_name} {dims.score[j]:.2f}{tag}\n{lo:+.1f} … {hi:+.1f}"
            )
        picture = png_bytes(traversal_image(strips[dims.order], labels))
        drawn = DrawnTraversals(token, label, tuple(z), picture)
        st.session_state[TRAVERSALS_STATE] = drawn
    with slot:  # deferred: the same bytes and caption, so the browser redraws nothing here
        st.image(drawn.png, caption=TRAVERSAL_CAPTION, width="content")
