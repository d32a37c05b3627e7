"""AppTest smoke tests of the Interpolation page on a synthetic test split and tiny models."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
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


def values(v) -> np.ndarray:
    """A plotly JSON array: a list, or a typed array {"dtype", "bdata" (base64)}."""
    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), v["dtype"]).astype(float)
    return np.asarray(v, float)


def norm_curves(at: AppTest) -> dict[str, np.ndarray]:
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    return {t["name"]: values(t["y"]) for t in fig["data"]}


def norm_caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("‖z_A‖"))


def numbers(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"\d+\.\d+", text)]


@pytest.mark.parametrize(("seed", "obtuse"), [(4, True), (2, False)])
def test_norm_chart_and_its_caption_agree(runs: Path, seed: int, obtuse: bool) -> None:
    """Two prior codes 151° (seed 4) or 75° (seed 2) apart, of unequal norms."""
    at = app_with(runs, kind="cvae", latent_dim=2)
    at.radio(key="ip_mode").set_value("Two classes (CVAE)").run()
    at.checkbox(key="ip_same").uncheck().run()
    at.number_input(key="ip_seed").set_value(seed).run()
    assert_clean(at)
    curves = norm_curves(at)
    assert set(curves) == {"slerp", "lerp", "norm-slerp"}
    slerp, norm_slerp = curves["slerp"], curves["norm-slerp"]
    a, b = norm_slerp[0], norm_slerp[-1]
    assert np.allclose(norm_slerp, np.linspace(a, b, len(norm_slerp)), atol=1e-5)  # linear
    caption = norm_caption(at)
    n_a, n_b = numbers(caption)[:2]
    assert (n_a, n_b) == (round(a, 2), round(b, 2))
    assert f"from {slerp.min():.2f} up to {slerp.max():.2f}" in caption or (
        f"({slerp.min():.2f} to {slerp.max():.2f}" in caption
    )
    outside = slerp.max() > max(a, b) + 1e-3 and slerp.min() < min(a, b) - 1e-3
    assert outside == obtuse  # what the chart shows ...
    assert ("leaves the range" in caption) == obtuse  # ... is what the caption says
    assert ("stays between them" in caption) == (not obtuse)
    assert "keeps the norm only when" in at.markdown[0].value  # never "slerp keeps the norm"


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
    at.radio(key="ip_method").set_value("compare all").run()
    at.slider(key="ip_steps").set_value(5).run()
    assert_clean(at)
    assert strips(at) == [
        "slerp: 5 steps from A to B",
        "lerp: 5 steps from A to B",
        "norm-slerp: 5 steps from A to B",
    ]
    assert len(at.get("download_button")) == 6
    names = [t.get("name") for t in map_figure(at)["data"]]
    assert {"slerp path", "lerp path", "norm-slerp path"} <= set(names)


def test_high_dimensional_path_is_drawn_in_the_pca_plane(runs: Path) -> None:
    at = app_with(runs, latent_dim=6)
    at.selectbox(key="ip_class_B").set_value(3).run()
    assert_clean(at)
    assert "PC 1" in map_figure(at)["layout"]["xaxis"]["title"]["text"]
    assert any("B: MNIST test image #3" in c for img in at.get("image") for c in img.captions)


def test_cvae_two_classes(runs: Path) -> None:
    at = app_with(runs, kind="cvae", latent_dim=2)
    assert_clean(at)
    at.radio(key="ip_mode").set_value("Two classes (CVAE)").run()
    assert_clean(at)
    assert strips(at) == ["slerp: 10 steps from A to B"]
    at.checkbox(key="ip_same").uncheck().run()
    assert_clean(at)
