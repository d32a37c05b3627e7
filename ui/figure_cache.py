"""Plotly figures built once per key and shared by all sessions (bounded, read-only).

Building a plotly figure validates every property in Python; for the app's figures (a 10,000
point latent map, image grids as base64 PNGs, training curves) that was often the most expensive
part of a rerun, and under many users it all runs under one GIL. The validated figure is kept as
a plain spec; every call gets a fresh, unvalidated ``go.Figure`` over it, so a page may add
overlays to its copy without touching the cache or another session's figure.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
import streamlit as st

if TYPE_CHECKING:
    pass

MAX_SHARED_FIGURES = 64  # ~200 KB each at most (the latent map): ~13 MB in the worst case


@st.cache_resource(max_entries=MAX_SHARED_FIGURES, show_spinner=False)
def _spec(key: Hashable, _build: Callable[[], go.Figure]) -> dict[str, Any]:
    return _build().to_dict()


def shared_figure(key: Hashable, build: Callable[[], go.Figure]) -> go.Figure:
    """``build()`` once per ``key``; ``key`` must name everything the figure depends on."""
    return go.Figure(_spec(key, build), _validate=False)
