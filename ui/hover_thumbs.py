"""Hover thumbnails on the latent map: the test image under the cursor, drawn in the page.

Plotly cannot put images in hover labels (plotly.js#1323), and a server round trip per hover
would be far too slow, so the thumbnails travel once: the split's images as one sprite PNG
(``vae_core.io.projector.sprite_image``, the Embedding Projector's layout), written to
``static/generated/`` under its content hash and served by Streamlit's static file serving. A
components-v2 element of no height (ui/hover_thumbs.js) finds the map's plotly chart in the page,
listens to its ``plotly_hover`` events (each point's dataset row rides in ``customdata``) and
draws that cell of the sprite beside the cursor (``data-testid="hover-thumb"``). It only listens,
so pan, zoom and selection stay plotly's own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import streamlit as st

from ui.live_decoder import GENERATED_DIR, static_url
from vae_core.io.atomic import atomic_write
from vae_core.io.pictures import png_bytes
from vae_core.io.projector import THUMB, sprite_image

COMPONENT_NAME = "vae_lab_hover_thumbs"
_JS = (Path(__file__).resolve().parent / "hover_thumbs.js").read_text()
_HTML = '<div class="vll-hover" hidden></div>'


@st.cache_resource(max_entries=8, show_spinner=False)
def _publish(key: str, _images: np.ndarray) -> tuple[str, int]:
    """Write the sprite once per image set; returns (its URL, thumbnails per sprite row)."""
    sprite = sprite_image(_images)
    data = png_bytes(sprite)
    filename = f"sprite-{hashlib.sha256(data).hexdigest()[:20]}.png"
    target = GENERATED_DIR / filename
    if not target.exists() or target.stat().st_size != len(data):
        atomic_write(target, data)  # content-addressed: concurrent writers write equal bytes
    return static_url(filename), sprite.shape[1] // THUMB


def hover_thumbnails(
    chart_key: str,
    images: np.ndarray,
    images_key: str,
    labels: np.ndarray,
    class_names: Sequence[str],
    noun: str = "test image",
) -> None:
    """Show the image of the point under the cursor on the chart drawn with ``key=chart_key``.

    ``images`` (N, 28, 28) in [0, 1] are the rows the chart's ``customdata`` names;
    ``images_key`` names that set (the same key, the same sprite: it is written once).
    """
    url, per_row = _publish(images_key, np.asarray(images))
    renderer = st.components.v2.component(COMPONENT_NAME, html=_HTML, js=_JS)
    renderer(
        data={
            "chart": f"st-key-{chart_key}",
            "sprite": url,
            "perRow": per_row,
            "thumb": THUMB,
            "labels": np.asarray(labels).astype(int).tolist(),
            "names": list(class_names),
            "noun": noun,
        },
        key=f"{chart_key}_hover",
        height=0,
    )
