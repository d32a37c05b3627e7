"""ui.images: small pictures go inside the page (data: URL), large ones through /media/."""

from __future__ import annotations

import numpy as np
from streamlit.testing.v1 import AppTest


def _page() -> None:
    import numpy as np

    from ui.images import INLINE_MAX_BYTES, show_image
    from vae_core.io.pictures import png_bytes

    show_image(png_bytes(np.eye(28, dtype=np.float32), 4), "small")
    show_image(np.zeros((28, 28), np.float32), "array")
    rng = np.random.default_rng(0)  # noise does not compress: a PNG over the inline limit
    big = png_bytes(rng.random((1000, 1000)).astype(np.float32))
    assert len(big) > INLINE_MAX_BYTES
    show_image(big, "big")


def _urls(at: AppTest) -> list[str]:
    return [img.url for element in at.get("image") for img in element.proto.imgs]


def test_small_pictures_are_sent_inline_large_ones_as_media() -> None:
    at = AppTest.from_function(_page, default_timeout=60).run()
    assert not at.exception, [e.message for e in at.exception]
    small, array, big = _urls(at)
    assert small.startswith("data:image/png;base64,") and array.startswith("data:image/png;")
    assert "/media/" in big and not big.startswith("data:")  # AppTest serves "/mock/media/"


def test_data_url_knows_the_formats_it_inlines() -> None:
    from ui.images import data_url

    assert data_url(b"\xff\xd8\xff\xe0rest").startswith("data:image/jpeg;base64,")
    assert data_url(b"GIF89a").startswith("data:image/gif;")
    assert data_url(b"BM not inlined") is None
    assert np is not None
