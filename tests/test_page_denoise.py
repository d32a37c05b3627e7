"""AppTest smoke tests of the Denoising page on a synthetic test split and tiny models."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import app_with_model, assert_clean, synthetic_app_env

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "5_Denoise.py")
N_TEST = 40


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A data dir with a small MNIST-format test split, an empty runs dir, fresh caches."""
    yield synthetic_app_env(monkeypatch, tmp_path, N_TEST)
    st.cache_data.clear()
    st.cache_resource.clear()


def app_with(runs: Path, **cfg) -> AppTest:
    return app_with_model(PAGE, runs, **cfg)


def metrics(at: AppTest) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in at.metric:
        out.setdefault(m.label, []).append(m.value)
    return out


def test_gaussian_noise_shows_psnr_ssim_and_curves(runs: Path) -> None:
    at = app_with(runs, latent_dim=2)
    assert_clean(at)
    shown = metrics(at)
    assert len(shown["PSNR"]) == 2 and len(shown["SSIM"]) == 2  # noisy and reconstruction
    assert all(v.endswith(" dB") for v in shown["PSNR"])
    assert all(-1.0 <= float(v) <= 1.0 for v in shown["SSIM"])
    assert len(at.get("plotly_chart")) == 2  # PSNR and SSIM against the level
    assert len(at.get("image")) == 3  # clean, noisy, reconstruction
    at.slider(key="dn_level_gaussian").set_value(0.0).run()
    assert_clean(at)
    assert metrics(at)["PSNR"][0] == "∞ (identical)"  # no noise: the input is the clean image
    assert metrics(at)["SSIM"][0] == "1.000"


def test_occlusion_adds_latent_optimisation(runs: Path) -> None:
    at = app_with(runs, latent_dim=3)
    at.selectbox(key="dn_kind").set_value("occlusion-half").run()
    assert_clean(at)
    at.slider(key="dn_steps").set_value(20).run()
    assert_clean(at)
    assert len(metrics(at)["PSNR"]) == 3  # noisy, reconstruction, latent optimisation
    captions = "\n".join(c.value for c in at.caption)
    assert "Masked objective" in captions and "after 20 steps" in captions
    assert at.checkbox(key="dn_curve_fit").value is False


def test_cvae_uses_the_test_label_and_asks_for_uploads(runs: Path) -> None:
    at = app_with(runs, kind="cvae", latent_dim=2)
    assert_clean(at)
    at.selectbox(key="dn_class").set_value(4).run()
    assert_clean(at)
    assert any("class 4" in c.value for c in at.caption)
    at.radio(key="dn_source").set_value("Upload").run()
    assert_clean(at)
    assert "upload an image" in at.info[0].value  # nothing uploaded yet: a prompt, no crash
    assert not at.metric


def test_draw_source_waits_for_a_drawing(runs: Path) -> None:
    at = app_with(runs, latent_dim=2)
    at.radio(key="dn_source").set_value("Draw").run()
    assert_clean(at)
    assert "draw a digit" in at.info[0].value
    assert not at.metric
