"""Browser tests: the Home page's model card, and a live training on the Train page."""

from __future__ import annotations

import os
import re
import time

import pytest

from tests.e2e.conftest import ROOT, open_page, screenshot, start_training
from vae_core.io.checkpoint_file import load_checkpoint

pytestmark = pytest.mark.browser


def test_home_shows_the_card_of_a_shipped_model(page, app_url) -> None:
    if not list((ROOT / "checkpoints").glob("*.safetensors")):
        pytest.skip("no shipped checkpoint in checkpoints/")
    start = time.perf_counter()
    open_page(page, app_url)
    page.get_by_text("Test metrics", exact=True).wait_for()
    print(f"home page interactive after {time.perf_counter() - start:.1f} s")  # noqa: T201
    page.locator(".js-plotly-plot").first.wait_for()
    page.set_viewport_size({"width": 1400, "height": 2600})  # Streamlit scrolls inside stMain
    page.locator(".js-plotly-plot").nth(1).wait_for()
    screenshot(page, "home")
    main = page.locator('[data-testid="stMain"]')
    assert main.get_by_role("heading", name="VAE Latent Lab").is_visible()
    for text in ("Architecture", "Latent dimensions", "Training curves", "Binarization"):
        assert main.get_by_text(text, exact=True).first.is_visible(), text
    assert page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').is_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download checkpoint (.safetensors)").click()
    assert download.value.suggested_filename.endswith(".safetensors")
    assert load_checkpoint(download.value.path()).config.latent_dim >= 1  # the real file
    assert page.get_by_role("link", name="Train").first.is_visible()
    assert not page.locator('[data-testid="stException"]').count()


@pytest.mark.skipif(not os.environ.get("VAE_LAB_DATA"), reason="needs VAE_LAB_DATA (real MNIST)")
def test_train_page_shows_live_progress_and_curves(page, app_url) -> None:
    page.set_viewport_size({"width": 1400, "height": 1800})
    start_training(page, app_url, Hidden_layer_sizes=128, Epochs=1)
    page.get_by_text("Step ", exact=False).first.wait_for(timeout=300_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=300_000)  # live batch curve
    screenshot(page, "train-live")
    page.get_by_text("It is now the chosen model", exact=False).wait_for(timeout=300_000)
    picker = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"] input')
    assert " · trained " in picker.input_value()  # "<name> · trained <time>"
    assert page.get_by_role("button", name="Start training").is_enabled()
    assert not page.locator('[data-testid="stException"]').count()
    page.locator(".js-plotly-plot").nth(1).wait_for()  # the KL-per-dim bars
    screenshot(page, "train-done")


@pytest.mark.skipif(not os.environ.get("VAE_LAB_DATA"), reason="needs VAE_LAB_DATA (real MNIST)")
def test_training_survives_a_visit_to_another_page(page, app_url) -> None:
    """The sidebar's status fragment keeps the heartbeat going on every page."""
    start_training(page, app_url, Hidden_layer_sizes=128, Epochs=200)
    page.get_by_text("Step ", exact=False).first.wait_for(timeout=300_000)
    page.locator('[data-testid="stSidebarNav"] a').first.click()  # Home, same session
    page.get_by_text("Test metrics", exact=True).wait_for()
    status = page.locator('[data-testid="stSidebar"]').get_by_text("Training MNIST VAE")
    status.first.wait_for()
    time.sleep(11)  # longer than the app's 8 s heartbeat timeout: only the sidebar poll beats
    text = status.first.inner_text()
    screenshot(page, "home-while-training")
    page.locator('[data-testid="stSidebarNav"] a', has_text="Train").first.click()
    if "training" not in text:  # say why it stopped
        pytest.fail(f"{text}: {page.locator('[data-testid=stAlert]').first.inner_text()}")
    page.get_by_role("button", name="Stop training").click()
    page.get_by_text("Stopped by the user", exact=False).wait_for(timeout=300_000)


def test_navigation_calls_the_first_page_home(page, app_url) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    open_page(page, app_url)
    links = page.locator('[data-testid="stSidebarNav"] a')
    assert links.first.inner_text().strip() == "Home"
    assert "app" not in [t.strip() for t in links.all_inner_texts()]
    links.filter(has_text="Train").first.click()  # the other pages keep their names and URLs
    page.wait_for_url(re.compile(re.escape(f"{app_url}/Train") + r"(\?.*)?$"))  # ?model=...
    page.get_by_role("heading", name="Train a model").wait_for()
    links.first.click()
    page.get_by_role("heading", name="VAE Latent Lab").wait_for()


def test_the_picker_tooltip_shows_the_whole_model_name(page, app_url) -> None:
    """The sidebar's box cuts long names ("· shipp..."); the tooltip has all of it."""
    page.set_viewport_size({"width": 1280, "height": 800})
    open_page(page, app_url)
    box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first
    label = box.locator("input").input_value()
    box.locator('[data-testid="stTooltipIcon"]').hover()
    tip = page.locator('[data-testid="stTooltipContent"]')
    tip.wait_for()
    assert label in tip.inner_text().replace("\n", " "), (label, tip.inner_text())
