"""The server half of the Latent sliders page: what a rerun draws for the z the browser reported.

The release's server image does not come from here: the component fetches the exact PyTorch
decode from the app's decode route the moment the slider is released (``ui/decode_route.py``)
and draws it beside its own. Only then does it report z, which reruns one fragment to keep z
and redraw the traversals. Every batch of messages a run sends makes the browser re-render the
whole page (3-4 React passes of 10-35 ms each on a 2-core machine, traced with
bench/ui_latency.py), so:

- the static frame (headings) is drawn once by the full run (``result_slots``); a release only
  refills the slots, and the z readout lives in the component (no element per release);
- the traversal picture is kept per (start point, class, z) and sent again unchanged when none
  of them changed (``show_traversals``);
- the inference runs on one intra-op thread (``one_thread``): one code, or 9 codes per dim, gain
  nothing from OpenMP, and with the browser busy on the other core the second OpenMP thread
  turns every op into a wait for the scheduler (2-core dev machine: the conv decoder's one-code
  decode took 65-90 ms on 2 threads inside the server, 2 ms on 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from ui.images import show_image
from ui.latent_dims import LatentDims, one_thread, traversal_image, traversals
from vae_core.io.pictures import jpeg_bytes
from vae_core.models.model import LatentVariableModel


@dataclass(frozen=True)
class Slots:
    """Where a release's results go; created outside the fragment, refilled by each release."""

    live: DeltaGenerator  # the component (inside the fragment's reach, so a release reruns it)
    traversals: DeltaGenerator


def result_slots() -> Slots:
    """Draw the page's static frame (once per full run) and return its empty slots.

    Lean on purpose: each heading or caption here is re-rendered by the browser on every
    release, so explanations go into the images' captions (plain text) instead.
    """
    live = st.container()
    st.subheader("Traversals")
    return Slots(live, st.container(key="sl_traversals"))


@dataclass(frozen=True)
class DrawnTraversals:
    """The traversal picture last drawn in this session and what it depends on: the start point
    (``token``: model and start), the CVAE class and z.
    """

    token: str
    label: int | None
    z: tuple[float, ...]
    jpeg: bytes  # encoded once: sending it again costs no encoding


TRAVERSALS_STATE = "sl_traversals_drawn"
TRAVERSAL_CAPTION = (
    "Each row decodes the current z with one dim swept across its slider range (left to right), "
    "in the same order as the sliders."
)


def show_traversals(
    slot: DeltaGenerator,
    model: LatentVariableModel,
    z: list[float],
    label: int | None,
    dims: LatentDims,
    token: str,
) -> None:
    """The traversals of ``z`` in ``slot``: the picture drawn last if it is for the same start
    point, class and z (a rerun that changed none of them), else a new one.
    """
    drawn = st.session_state.get(TRAVERSALS_STATE)
    if drawn is None or (drawn.token, drawn.label, drawn.z) != (token, label, tuple(z)):
        with one_thread():
            strips = traversals(model, z, label, dims)
        labels = []
        for j in dims.order:
            lo, hi = dims.bounds(j)
            tag = " · collapsed" if dims.collapsed[j] else ""
            labels.append(
                f"z{j}\n{dims.score_name} {dims.score[j]:.2f}{tag}\n{lo:+.1f} … {hi:+.1f}"
            )
        picture = jpeg_bytes(traversal_image(strips[dims.order], labels))
        drawn = DrawnTraversals(token, label, tuple(z), picture)
        st.session_state[TRAVERSALS_STATE] = drawn
    with slot:
        show_image(drawn.jpeg, TRAVERSAL_CAPTION, width="content")
