"""The Compare page on a synthetic test split and tiny models: partners of the same dataset,
figures in one column only when they measure the same thing, linked selection, shared codes."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import make_model, synthetic_app_env
from ui.compare import ComparedFigure, figures_table
from vae_core.io.checkpoint_file import save_checkpoint

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "13_Compare.py")


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    runs = synthetic_app_env(monkeypatch, tmp_path, 60)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield runs
    st.cache_data.clear()
    st.cache_resource.clear()


def saved(runs: Path, name: str, dataset: str = "mnist", **cfg) -> Path:
    path = runs / f"{name}.safetensors"
    meta = {"dataset": dataset, "name": name, "binarize": "dynamic"}
    save_checkpoint(make_model(**cfg), path, meta)
    return path


def opened(path: Path, other: str | None = None, **state) -> AppTest:
    """The page on ``path``, compared with the partner whose label starts with ``other``."""
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.session_state["vae_lab_model_path"] = str(path)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    if other is not None:
        box = at.selectbox(key="cmp_other")
        box.set_value(next(o for o in box.options if o.startswith(other))).run()
    return at


def test_two_vaes_share_one_column_and_both_maps_ring_the_selection(runs: Path) -> None:
    a = saved(runs, "alpha", latent_dim=2)
    saved(runs, "beta", latent_dim=2)
    saved(runs, "fashion", dataset="fashion-mnist", latent_dim=2)
    at = opened(a, "beta", cmp_selection=[3, 7])
    assert not at.exception, [e.value for e in at.exception]
    options = at.selectbox(key="cmp_other").options
    assert any(o.startswith("beta") for o in options) and not [o for o in options if "fashion" in o]
    table = at.dataframe[0].value
    assert list(table.index) == ["alpha", "beta"]
    likelihood_columns = [c for c in table.columns if c != "bits/dim"]
    assert len(likelihood_columns) == 1 and "binarized pixels, marginal" in likelihood_columns[0]
    assert (table["bits/dim"] > 0).all()
    assert "(2 selected)" in "\n".join(c.value for c in at.caption)
    charts = at.get("plotly_chart")
    assert len(charts) == 2
    for chart in charts:
        assert '"name":"selected"' in chart.proto.spec.replace(" ", "")
    assert "The same codes, decoded by both" in "\n".join(s.value for s in at.subheader)
    assert not at.info  # equal latent sizes: the shared codes are drawn


def test_a_cvae_and_a_vae_keep_their_figures_apart(runs: Path) -> None:
    a = saved(runs, "alpha", latent_dim=2)
    saved(runs, "cond", kind="cvae", latent_dim=3)
    at = opened(a, "cond")
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    likelihood_columns = [c for c in table.columns if c != "bits/dim"]
    assert len(likelihood_columns) == 2  # marginal -log p(x) and conditional -log p(x|y)
    assert any("conditional on the true label" in c for c in likelihood_columns)
    assert table.isna().sum().sum() == 2  # each model has no value in the other's column
    assert "each has its own column" in "\n".join(c.value for c in at.caption)
    assert "latent sizes differ (2 and 3)" in at.info[0].value


def test_no_partner_says_so(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ui.compare

    real = ui.compare.list_models
    monkeypatch.setattr(
        ui.compare, "list_models", lambda: [e for e in real() if e.source != "shipped"]
    )
    at = opened(saved(runs, "alone", latent_dim=2))
    assert "No other model trained on mnist" in at.info[0].value


def test_figures_table_rule() -> None:
    same = figures_table([ComparedFigure("a", "L", 1.0), ComparedFigure("b", "L", 2.0)])
    assert list(same.columns) == ["L", "bits/dim"]
    apart = figures_table([ComparedFigure("a", "L1", 1.0), ComparedFigure("b", "L2", None)])
    assert set(apart.columns) == {"L1", "L2", "bits/dim"}
    assert apart.loc["b"].isna().all()
