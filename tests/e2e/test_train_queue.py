"""Browser test: two sessions' trainings go through the job queue of one app, one at a time,
and a model trained in one session is in the other's picker."""

from __future__ import annotations

import os

import pytest

from tests.e2e.conftest import open_page, screenshot, start_training


def _start(pg, app_url: str, latent: int, epochs: int) -> None:
    start_training(pg, app_url, Hidden_layer_sizes=16, Latent_dimensions=latent, Epochs=epochs)


@pytest.mark.skipif(not os.environ.get("VAE_LAB_DATA"), reason="needs VAE_LAB_DATA (real MNIST)")
def test_a_second_session_waits_in_the_queue_then_trains(browser, app_url) -> None:
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1400}) for _ in range(2)]
    first, second = (c.new_page() for c in contexts)
    try:
        for pg in (first, second):
            pg.set_default_timeout(60_000)
        _start(first, app_url, latent=2, epochs=500)
        first.get_by_text("Step ", exact=False).first.wait_for()  # training in the worker
        _start(second, app_url, latent=3, epochs=500)
        second.get_by_text("number 1 in the queue", exact=False).wait_for()
        assert second.get_by_text("MNIST VAE, 2-D latent", exact=False).count()  # who it waits on
        screenshot(second, "train-queued")
        first.get_by_role("button", name="Stop training").click()
        first.get_by_text("Stopped by the user", exact=False).first.wait_for()
        second.get_by_text("Step ", exact=False).first.wait_for()  # it left the queue
        second.get_by_role("button", name="Stop training").click()
        second.get_by_text("Stopped by the user", exact=False).first.wait_for()
        screenshot(second, "train-after-queue")
        open_page(first, app_url, "Train")  # the other session's model is in this one's picker
        first.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').click()
        first.get_by_role("option", name="MNIST VAE, 3-D latent", exact=False).first.wait_for()
        for pg in (first, second):
            assert not pg.locator('[data-testid="stException"]').count()
    finally:
        for c in contexts:
            c.close()
