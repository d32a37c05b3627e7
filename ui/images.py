"""Pictures on the pages, sent inside the page itself (a ``data:`` URL) when they are small.

``st.image`` of bytes or an array stores the picture in Streamlit's media file manager and sends
the browser a ``/media/…`` URL to fetch. The manager deletes a run's pictures as soon as a later
run of the same session finishes without them. When reruns come a keypress apart (a slider
stepped with the arrow keys), the browser asks for pictures that are gone already: a 404 in the
console and, for a moment, a broken image. A ``data:`` URL travels in the run's own message,
which Streamlit passes to ``<img>`` as it is (no manager, nothing left to fetch). Larger pictures
still go through the manager: a data URL is a third larger than the file and is not cached by
the browser across reruns.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import streamlit as st

from vae_core.io.pictures import png_bytes

INLINE_MAX_BYTES = 512 * 1024  # the digit pictures are 2-60 KB; a 1400 px grid is ~300 KB
_MIME = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF8": "image/gif"}


def data_url(picture: bytes) -> str | None:
    """``data:image/…;base64,…`` for a PNG, JPEG or GIF file's bytes (None: another format)."""
    mime = next((m for magic, m in _MIME.items() if picture.startswith(magic)), None)
    if mime is None:
        return None
    return f"data:{mime};base64,{base64.b64encode(picture).decode('ascii')}"


def show_image(
    picture: bytes | np.ndarray,
    caption: str | None = None,
    *,
    where: Any = st,
    **kwargs: Any,
) -> None:
    """``where.image(picture, caption, **kwargs)`` (``where``: ``st``, a column, a container),
    inline when small. ``picture``: PNG/JPEG/GIF bytes, or a grey array in [0, 1] (sent as PNG).
    """
    data = png_bytes(picture) if isinstance(picture, np.ndarray) else bytes(picture)
    url = data_url(data) if len(data) <= INLINE_MAX_BYTES else None
    where.image(url if url is not None else data, caption=caption, **kwargs)
