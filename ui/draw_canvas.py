"""A canvas to draw a digit with the mouse or a finger, returned as an MNIST-style 28x28 array.

A Streamlit v2 custom component (inline HTML/CSS/JS, no iframe, no npm build). The browser
sends the whole 280x280 canvas as a PNG data URL when a stroke ends; Python decodes it with
the same MNIST preprocessing as uploads (crop to the ink, 20 px box, centre of mass), because
a digit drawn in a corner or too small would otherwise look nothing like the training data.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

import numpy as np
import streamlit as st

from vae_core.io.uploads import ImageInputError, load_user_image

CANVAS_SIZE = 280
BRUSH = 22  # px on the 280 canvas: about 2.2 px at 28x28, like MNIST pen strokes
_PREFIX = "data:image/png;base64,"
_MAX_URL_CHARS = 4 * 2**20  # a 280x280 PNG is a few KiB; anything huge is not from our canvas

_HTML = f"""
<div class="vae-draw">
  <canvas data-testid="draw-canvas" width="{CANVAS_SIZE}" height="{CANVAS_SIZE}"
          aria-label="Drawing area: draw a digit in white"></canvas>
  <button type="button" data-testid="draw-canvas-clear">Clear</button>
</div>
"""

_CSS = """
.vae-draw { display: flex; flex-direction: column; gap: 0.4rem; align-items: flex-start; }
.vae-draw canvas {
  width: 280px; height: 280px; background: #000; border-radius: 6px;
  border: 1px solid var(--st-border-color, #ccc); touch-action: none; cursor: crosshair;
}
.vae-draw button {
  font: inherit; padding: 0.25rem 0.9rem; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--st-border-color, #ccc); background: var(--st-background-color, #fff);
  color: var(--st-text-color, #222);
}
"""

_COMPONENT = st.components.v2.component(
    "vae_lab_draw_canvas",
    html=_HTML,
    css=_CSS,
    js=(Path(__file__).with_name("draw_canvas.js")).read_text(encoding="utf-8"),
)


def decode_canvas_png(data_url: str | None) -> np.ndarray | None:
    """The canvas's PNG data URL -> (28, 28) float32 digit, or None when nothing is drawn.

    Raises ImageInputError for a malformed URL (the canvas never sends one; a tampered
    client might).
    """
    if not data_url:
        return None
    if not isinstance(data_url, str) or not data_url.startswith(_PREFIX):
        raise ImageInputError("the drawing did not arrive as a PNG data URL")
    if len(data_url) > _MAX_URL_CHARS:
        raise ImageInputError("the drawing is too large")
    try:
        raw = base64.b64decode(data_url[len(_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageInputError("the drawing's PNG data is not valid base64") from exc
    try:
        return load_user_image(raw)
    except ImageInputError as exc:
        if str(exc).startswith("no digit found"):
            return None  # an empty (or cleared) canvas: nothing drawn yet
        raise


def draw_digit(key: str) -> np.ndarray | None:
    """Show the canvas and return the drawn digit (28x28 float32 in [0, 1]) or None."""
    held = st.session_state.get(key)
    current = held.get("png") if isinstance(held, dict) else getattr(held, "png", None)
    result = _COMPONENT(
        key=key,
        data={"png": current, "brush": BRUSH},
        default={"png": current},
        on_png_change=lambda: None,
        width="content",
    )
    try:
        return decode_canvas_png(getattr(result, "png", None))
    except ImageInputError as exc:
        st.error(f"Could not read the drawing: {exc}")
        return None
