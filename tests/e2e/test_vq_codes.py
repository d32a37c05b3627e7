"""Browser test of the VQ code painter: a click on a cell and then on a code re-decodes the image
in the page, the grid reaches Python, and PyTorch's decode of it matches the page's.

AppTest cannot reach into the components-v2 element, so this is the check that the browser's
clicks reach Python and the in-page decoder agrees with the server.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ROOT, open_page

pytestmark = pytest.mark.browser
VQ_STEM = "mnist-vqvae-64"


def test_painting_a_cell_in_the_browser_redraws_the_decoded_image(page, app_url) -> None:
    if not (ROOT / "checkpoints" / f"{VQ_STEM}.safetensors").is_file():
        pytest.skip("no shipped VQ-VAE")
    open_page(page, app_url, f"VQ_codes?model={VQ_STEM}")
    canvas = page.locator('[data-testid="live-image"]')
    server = page.locator('[data-testid="server-image"]')
    server.wait_for()
    page.wait_for_function("el => el.dataset.gap !== undefined", arg=server.element_handle())
    frames, before = int(canvas.get_attribute("data-frames")), canvas.get_attribute("data-sum")
    server_frames = int(server.get_attribute("data-frames"))
    cell = page.locator('[data-testid="code-cell-3-3"]')
    old = int(cell.inner_text())
    new = (old + 1) % 64
    cell.click()
    page.locator(f'[data-testid="code-choice-{new}"]').click()
    page.wait_for_function(
        "([el, n]) => +el.dataset.frames > n", arg=[canvas.element_handle(), frames]
    )
    assert canvas.get_attribute("data-sum") != before  # decoded in the page at once
    page.wait_for_function(
        "([el, n]) => +el.dataset.frames > n", arg=[server.element_handle(), server_frames]
    )
    grid = page.locator('[data-testid="vq-painter"]').get_attribute("data-server-grid")
    assert int(grid.split(",")[3 * 7 + 3]) == new  # Python holds the painted grid
    assert float(server.get_attribute("data-gap")) < 1e-4  # and PyTorch agrees with the page
    assert int(cell.inner_text()) == new
    assert not page.locator('[data-testid="stException"]').count()
