"""Two app replicas behind HAProxy (``deploy/class_server.py``), in a real browser.

A browser stays on its replica (the balancer's cookie), two browsers land on different
replicas, and a model trained through one replica is in the other replica's picker: the
replicas share the model folder.
"""

from __future__ import annotations

import os
import shutil

import pytest

from deploy.class_server import COOKIE, class_server
from tests.e2e.conftest import open_page, start_training

pytestmark = [
    pytest.mark.skipif(shutil.which("haproxy") is None, reason="no haproxy (apt-get install)"),
    pytest.mark.skipif(not os.environ.get("VAE_LAB_DATA"), reason="needs VAE_LAB_DATA (MNIST)"),
]
PICKER = '[data-testid="stSidebar"] [data-testid="stSelectbox"]'


def _replica(context) -> str | None:
    return next((c["value"] for c in context.cookies() if c["name"] == COOKIE), None)


def test_a_model_trained_through_one_replica_is_in_the_others_picker(browser, tmp_path) -> None:
    env = {"VAE_LAB_UMAP_WARMUP": "0"}
    with class_server(2, runs=tmp_path / "runs", env=env, log_dir=tmp_path / "logs") as served:
        a = browser.new_context(viewport={"width": 1280, "height": 800})
        page_a = a.new_page()
        page_a.set_default_timeout(60_000)
        open_page(page_a, served.url)
        first = _replica(a)
        assert first in ("r1", "r2")
        others = []
        for _ in range(6):  # leastconn: the next browser goes to the replica without one
            b = browser.new_context(viewport={"width": 1280, "height": 800})
            page_b = b.new_page()
            page_b.set_default_timeout(60_000)
            open_page(page_b, served.url)
            if _replica(b) not in (None, first):
                break
            others.append(b)
        else:
            pytest.fail(f"every browser went to replica {first}")
        second = _replica(b)

        start_training(page_a, served.url, Hidden_layer_sizes=64, Epochs=1)
        assert _replica(a) == first  # sticky: the same replica for every request
        page_a.get_by_text("It is now the chosen model", exact=False).wait_for(timeout=300_000)
        trained = page_a.locator(f"{PICKER} input").input_value()
        assert " · trained " in trained

        open_page(page_b, served.url)  # a rerun on the other replica lists the shared folder
        assert _replica(b) == second != first
        page_b.locator(PICKER).first.click()
        option = page_b.get_by_role("option", name=trained)
        option.wait_for(timeout=30_000)
        option.click()
        page_b.wait_for_selector(
            '[data-testid="stApp"][data-test-script-state="notRunning"] [data-testid="stMain"]'
        )
        assert page_b.locator(f"{PICKER} input").input_value() == trained
        assert not page_b.locator('[data-testid="stException"]').count()
        for context in (a, b, *others):
            context.close()
