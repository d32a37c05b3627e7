"""The six evaluation pages in a real browser with the shipped models: each draws its charts.

For every page the model is chosen on Home by its title, the page is opened from the sidebar
(same session), its last element is awaited, and
a full-page screenshot goes to test-artifacts/eval-*.png for a person to look at.
"""

from __future__ import annotations

import os
import re

import pytest

from bench.app_process import picker_label
from tests.e2e.conftest import open_page, screenshot, shipped_title

pytestmark = pytest.mark.browser

PICKER = '[data-testid="stSidebar"] [data-testid="stSelectbox"]'
DONE = """(sel) => {
  const el = document.querySelector(sel);
  return !!el && !el.closest('[data-stale="true"]')
    && !document.querySelector('[data-testid="stProgress"]')
    && !document.querySelector('[data-testid="stSpinner"]');
}"""


@pytest.fixture
def tall(browser):
    """A page tall enough that a full screenshot shows the whole evaluation page."""
    context = browser.new_context(viewport={"width": 1400, "height": 3200})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


def VAE_2D() -> str:  # noqa: N802 - reads like a constant at the call site
    return shipped_title("MNIST VAE, 2-D")


def VAE_BIG() -> str:  # noqa: N802
    return shipped_title("MNIST VAE, 16-D", "MNIST VAE, 2-D")


def CVAE() -> str:  # noqa: N802
    return shipped_title("MNIST CVAE, 2-D", "MNIST CVAE")


def chosen(pg) -> str:
    """The sidebar picker's current label (the value of its combobox input)."""
    return pg.locator(f"{PICKER} input").first.input_value()


def wait_done(pg, selector: str) -> None:
    """Wait until ``selector`` is drawn by the current run and nothing is computing, twice."""
    for _ in range(2):
        pg.wait_for_timeout(1000)
        pg.wait_for_function(DONE, arg=selector, timeout=300_000)


def visit(pg, app_url: str, path: str, title: str, last: str, shot: str) -> None:
    """Choose the model on Home, then open the page from the sidebar (same session)."""
    open_page(pg, app_url, "")
    if not picker_label(title).match(chosen(pg)):
        pg.locator(PICKER).first.click()
        label = picker_label(title)
        pg.locator('[role="option"]').filter(has_text=label).first.click()
        pg.wait_for_timeout(1500)
        pg.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]')")
    nav = pg.locator(f'[data-testid="stSidebarNav"] a[href$="/{path}"]')
    if nav.count() == 0:
        pg.locator('[data-testid="stSidebarNav"]').get_by_text("View").first.click()
    nav.first.click()
    wait_done(pg, last)
    assert picker_label(title).match(chosen(pg))
    assert pg.locator('[data-testid="stException"]').count() == 0
    for chart in pg.locator('[data-testid="stPlotlyChart"]').all():
        chart.scroll_into_view_if_needed()  # charts below the fold draw when first seen
        pg.wait_for_timeout(300)
    pg.wait_for_timeout(1000)
    screenshot(pg, shot)  # before the page's own checks, so a failure can be looked at


def charts(pg) -> int:
    return pg.locator('[data-testid="stPlotlyChart"]').count()


def test_likelihood(tall, app_url) -> None:
    visit(tall, app_url, "Likelihood", VAE_2D(), ".st-key-lik_per_class", "eval-likelihood")
    assert tall.get_by_text("ELBO-to-NLL gap").count() >= 1
    assert charts(tall) == 2


# The activity chart's y tick labels (value on the log axis, box) and the threshold line and
# its label, as drawn.
ACTIVITY_AXIS = """(gd) => {
  const box = e => { const r = e.getBoundingClientRect();
    return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; };
  const ticks = [...gd.querySelectorAll('g.ytick')].map(g => ({
    log: g.__data__ ? g.__data__.x : null, text: g.textContent, ...box(g) }));
  const line = gd.querySelector('.shapelayer path');
  const label = [...gd.querySelectorAll('g.annotation')]
    .find(a => a.textContent.includes('0.01'));
  return {ticks, line: line && box(line), label: label && box(label),
          labelText: label && label.textContent};
}"""


def test_diagnostics(tall, app_url) -> None:
    visit(tall, app_url, "Diagnostics", VAE_BIG(), '[data-testid="stImage"]', "eval-diagnostics")
    assert charts(tall) == 3
    assert tall.locator('[data-testid="stImage"]').count() == 2
    drawn = tall.locator(".st-key-diag_au_chart .js-plotly-plot").evaluate(ACTIVITY_AXIS)
    ticks = drawn["ticks"]
    assert len(ticks) >= 2
    # one label per decade (10^k), none overlapping the next
    assert all(abs(t["log"] - round(t["log"])) < 1e-9 for t in ticks), ticks
    ordered = sorted(ticks, key=lambda t: t["top"])
    assert all(a["bottom"] <= b["top"] for a, b in zip(ordered, ordered[1:], strict=False))
    # the threshold's label sits on its dashed line, not a decade away
    line_y = (drawn["line"]["top"] + drawn["line"]["bottom"]) / 2
    assert "0.01" in drawn["labelText"]
    assert abs(drawn["label"]["bottom"] - line_y) <= 4, (drawn["label"], line_y)


def test_out_of_distribution(tall, app_url) -> None:
    visit(tall, app_url, "Out_of_distribution", VAE_2D(), ".st-key-ood_remedy_hist", "eval-ood")
    assert charts(tall) == 2
    table = tall.locator('[data-testid="stTable"]')  # the AUROC table, as drawn
    assert table.count() == 1
    cells = [c.strip() for c in table.locator("td").all_inner_texts()]
    assert "None" not in cells and "nan" not in cells
    assert cells.count("— (the reference)") == 2  # the in-distribution row's two AUROCs
    # one click to the model that shows the famous failure (Nalisnick et al. 2019)
    fashion = shipped_title("Fashion-MNIST VAE")
    tall.get_by_role("button", name="Switch to the Fashion-MNIST VAE").click()
    wait_done(tall, ".st-key-ood_remedy_hist")
    assert picker_label(fashion).match(chosen(tall))
    assert tall.get_by_text("Fashion-MNIST test images").count() >= 1
    assert (
        tall.get_by_text(re.compile(r"this model rates MNIST test \(AUROC 0\.[0-4]")).count() == 1
    )
    assert tall.get_by_role("button", name=re.compile("^Switch to")).count() == 0
    screenshot(tall, "eval-ood-fashion")


def test_ppca(tall, app_url) -> None:
    visit(tall, app_url, "pPCA", VAE_2D(), ".st-key-ppca_vae_map", "eval-ppca")
    assert charts(tall) == 4


def test_cvae_faithfulness(tall, app_url) -> None:
    visit(tall, app_url, "CVAE_faithfulness", CVAE(), ".st-key-faith_grid", "eval-faithfulness")
    assert tall.get_by_text("Samples drawn as asked").count() == 1
    assert charts(tall) >= 3


@pytest.mark.skipif(not os.environ.get("VAE_LAB_DATA"), reason="needs Fashion-MNIST")
def test_faithfulness_switches_a_fashion_vae_to_its_cvae_on_a_laptop(browser, app_url) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    try:
        vae, cvae = shipped_title("Fashion-MNIST VAE"), shipped_title("Fashion-MNIST CVAE")
        visit(pg, app_url, "CVAE_faithfulness", vae, ".st-key-switch_to_cvae", "eval-faith-vae")
        pg.get_by_role("button", name=f"Switch to {cvae}").click()
        wait_done(pg, ".st-key-faith_grid")
        assert picker_label(cvae).match(chosen(pg))  # the sidebar picker shows the switch
        assert pg.get_by_text("fashion-mnist-classifier.safetensors").count() == 1
        assert pg.locator('[data-testid="stAlertContentError"]').count() == 0
        assert pg.get_by_text("Samples drawn as asked").count() == 1
        screenshot(pg, "eval-faith-fashion-cvae")
    finally:
        context.close()


def test_rate_distortion(tall, app_url) -> None:
    visit(tall, app_url, "Rate_distortion", VAE_BIG(), ".st-key-rd_chart", "eval-rate-distortion")
    assert charts(tall) == 1
    assert tall.get_by_text("Rate R (KL)").count() == 1
