"""AppTest smoke tests of the Interpolation page on a synthetic test split and tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import app_with_model, assert_clean, synthetic_app_env

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "6_Interpolate.py")
N_TEST = 60


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A data dir with a small MNIST-format test split, an empty runs dir, fresh caches."""
    yield synthetic_app_env(monkeypatch, tmp_path, N_TEST)
    st.cache_data.clear()
    st.cache_resource.clear()


def app_with(runs: Path, **cfg) -> AppTest:
    return app_with_model(PAGE, runs, **cfg)


def strips(at: AppTest) -> list[str]:
    return [c for img in at.get("image") for c in img.captions if "steps from A to B" in c]


def map_figure(at: AppTest) -> dict:
    return json.loads(at.get("plotly_chart")[1].proto.spec)


def test_two_images_slerp_then_compare(runs: Path) -> None:
    at = app_with(runs, latent_dim=2)
    assert_clean(at)
    assert strips(at) == ["slerp: 10 steps from A to B"]
    assert len(at.get("download_button")) == 2  # strip PNG and animated GIF
    assert len(at.get("plotly_chart")) == 2  # norms along the path and the latent map
    fig = map_figure(at)
    assert fig["layout"]["xaxis"]["title"]["text"] == "z₁"
    names = [t.get("name") for t in fig["data"]]
    assert "slerp path" in names and "A and B" in names
    at.radio(key="ip_method").set_value("compare both").run()
    at.slider(key="ip_steps").set_value(5).run()
    assert_clean(at)
    assert strips(at) == ["slerp: 5 steps from A to B", "lerp: 5 steps from A to B"]
    assert len(at.get("download_button")) == 4


def test_high_dimensional_path_is_drawn_in_the_pca_plane(runs: Path) -> None:
    at = app_with(runs, latent_dim=6)
    at.selectbox(key="ip_class_B").set_value(3).run()
    assert_clean(at)
    assert "PC 1" in map_figure(at)["layout"]["xaxis"]["title"]["text"]
    assert any("B: test #3" in c for img in at.get("image") for c in img.captions)


def test_cvae_two_classes(runs: Path) -> None:
    at = app_with(runs, kind="cvae", latent_dim=2)
    assert_clean(at)
    at.radio(key="ip_mode").set_value("Two classes (CVAE)").run()
    assert_clean(at)
    assert strips(at) == ["slerp: 10 steps from A to B"]
    at.checkbox(key="ip_same").uncheck().run()
    assert_clean(at)
