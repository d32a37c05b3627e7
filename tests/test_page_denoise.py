"""AppTest smoke tests of the Denoising page on a synthetic test split and tiny models."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import ui.model_list
from tests.conftest import app_with_model, assert_clean, make_model, synthetic_app_env
from vae_core.io.checkpoint_file import save_checkpoint
from vae_core.training.trainer import TrainConfig

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "5_Denoise.py")
N_TEST = 40


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A data dir with a small MNIST-format test split, an empty runs dir, fresh caches, and
    no shipped models (each test says which models exist)."""
    empty = tmp_path / "shipped"
    empty.mkdir()
    monkeypatch.setattr(ui.model_list, "SHIPPED_DIR", empty)
    yield synthetic_app_env(monkeypatch, tmp_path, N_TEST)
    st.cache_data.clear()
    st.cache_resource.clear()


def app_with(runs: Path, state: dict | None = None, **cfg) -> AppTest:
    """The page on a fresh tiny model (``cfg``), with widget values ``state`` preset."""
    if not state:
        return app_with_model(PAGE, runs, **cfg)
    path = runs / "model.safetensors"
    save_checkpoint(make_model(**cfg), path, {"dataset": "mnist", "name": "tiny"})
    return open_page(path, **state)


SCORES = re.compile(r"^PSNR \*\*(.+)\*\* · SSIM \*\*(.+)\*\*$")


def metrics(at: AppTest) -> dict[str, list[str]]:
    """The PSNR and SSIM shown under each scored image, in page order."""
    found = [m.groups() for md in at.markdown if (m := SCORES.match(md.value))]
    return {"PSNR": [p for p, _ in found], "SSIM": [s for _, s in found]}


def image_captions(at: AppTest) -> list[str]:
    return [c for img in at.get("image") for c in img.captions]


def trace_names(at: AppTest) -> list[str]:
    return [t.get("name") for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]]


def save_tiny(runs: Path, name: str, train_noise: str, **cfg) -> Path:
    """A tiny MNIST model whose metadata carries a training recipe with ``train_noise``."""
    path = runs / f"{name}.safetensors"
    recipe = TrainConfig(train_noise=train_noise).to_dict()
    save_checkpoint(
        make_model(**cfg), path, {"dataset": "mnist", "name": name, "train_config": recipe}
    )
    return path


def open_page(model: Path, **state: object) -> AppTest:
    """The page on ``model`` with widget values preset (one run instead of two)."""
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.session_state["vae_lab_model_path"] = str(model)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def test_opens_on_occlusion_with_latent_optimisation(runs: Path) -> None:
    at = app_with(runs, latent_dim=2)
    assert_clean(at)
    assert at.selectbox(key="dn_kind").value == "occlusion-square"
    assert at.slider(key="dn_level_occlusion-square").value == 0.4
    assert "Latent optimisation" in image_captions(at)
    assert len(metrics(at)["PSNR"]) == 3  # noisy, reconstruction, latent optimisation
    assert any("Masked objective" in c.value for c in at.caption)
    assert "2-D VAE · chosen: latent optimisation" in trace_names(at)  # on the curves too
    assert not any("Why a VAE trained on clean digits" in i.value for i in at.info)


def test_gaussian_noise_shows_psnr_ssim_and_curves(runs: Path) -> None:
    at = app_with(runs, latent_dim=2)
    at.selectbox(key="dn_kind").set_value("gaussian").run()
    assert_clean(at)
    shown = metrics(at)
    assert len(shown["PSNR"]) == 2 and len(shown["SSIM"]) == 2  # noisy and reconstruction
    assert all(v.endswith(" dB") for v in shown["PSNR"])
    assert all(-1.0 <= float(v) <= 1.0 for v in shown["SSIM"])
    assert len(at.get("plotly_chart")) == 2  # PSNR and SSIM against the level
    assert image_captions(at) == [
        "Clean (the reference)",
        "Noisy input",
        "Reconstruction (decode μ)",
    ]
    assert any("Why a VAE trained on clean digits" in i.value for i in at.info)
    assert any("No standard / denoising VAE pair" in i.value for i in at.info)
    at.slider(key="dn_level_gaussian").set_value(0.0).run()
    assert_clean(at)
    assert metrics(at)["PSNR"][0] == "∞ (identical)"  # no noise: the input is the clean image
    assert metrics(at)["SSIM"][0] == "1.000"


def test_standard_and_denoising_vae_side_by_side(runs: Path) -> None:
    """Beside the chosen 2-D model: the 3-D pair, on the same noisy input and on the curves."""
    save_tiny(runs, "clean-3d", "none")
    save_tiny(runs, "denoising-3d", "gaussian:0.3")
    save_tiny(runs, "denoising-4d", "gaussian:0.3", latent_dim=4)  # no clean partner: unused
    at = open_page(save_tiny(runs, "chosen-2d", "none", latent_dim=2), dn_kind="gaussian")
    assert_clean(at)
    assert len(metrics(at)["PSNR"]) == 4  # the noisy input and one reconstruction per model
    labels = [m.value for m in at.markdown]
    assert {"**2-D VAE · chosen**", "**3-D VAE**", "**3-D denoising VAE**"} <= set(labels)
    captions = "\n".join(c.value for c in at.caption)
    assert "clean-3d (standard ELBO, trained on clean digits)" in captions
    assert "denoising-3d (denoising objective, trained on gaussian:0.3 noise)" in captions
    assert "trained alike except for the noise" in captions
    assert trace_names(at) == [
        "Noisy input",
        "2-D VAE · chosen: reconstruction",
        "3-D VAE: reconstruction",
        "3-D denoising VAE: reconstruction",
    ]


def test_chosen_denoising_model_is_paired_with_its_standard_twin(runs: Path) -> None:
    save_tiny(runs, "clean-3d", "none")
    at = open_page(save_tiny(runs, "denoising-3d", "gaussian:0.3"), dn_steps=20, dn_curve_fit=False)
    assert_clean(at)
    assert len(metrics(at)["PSNR"]) == 5  # noisy; two models x (reconstruction, latent fit)
    labels = [m.value for m in at.markdown]
    assert "**3-D denoising VAE · chosen**" in labels and "**3-D VAE**" in labels
    assert any("The chosen model and its partner" in c.value for c in at.caption)
    assert len(trace_names(at)) == 3  # noisy input and one reconstruction per model
    assert any("after 20 steps" in c.value for c in at.caption)


def test_occlusion_adds_latent_optimisation(runs: Path) -> None:
    at = app_with(runs, {"dn_kind": "occlusion-half", "dn_steps": 20}, latent_dim=3)
    assert_clean(at)
    assert len(metrics(at)["PSNR"]) == 3  # noisy, reconstruction, latent optimisation
    captions = "\n".join(c.value for c in at.caption)
    assert "Masked objective" in captions and "after 20 steps" in captions
    assert at.checkbox(key="dn_curve_fit").value is True  # the curves show it too
    assert "3-D VAE · chosen: latent optimisation" in trace_names(at)
    at.checkbox(key="dn_curve_fit").uncheck().run()
    assert not any("latent optimisation" in name for name in trace_names(at))


def test_cvae_uses_the_test_label_and_asks_for_uploads(runs: Path) -> None:
    at = app_with(runs, {"dn_curve_fit": False}, kind="cvae", latent_dim=2)
    assert_clean(at)
    at.selectbox(key="dn_class").set_value(4).run()
    assert_clean(at)
    assert any("class 4" in c.value for c in at.caption)
    at.radio(key="dn_source").set_value("Upload").run()
    assert_clean(at)
    assert "upload an image" in at.info[0].value  # nothing uploaded yet: a prompt, no crash
    assert not metrics(at)["PSNR"]


def test_draw_source_waits_for_a_drawing(runs: Path) -> None:
    at = app_with(runs, {"dn_source": "Draw"}, latent_dim=2)
    assert_clean(at)
    assert "draw a digit" in at.info[0].value
    assert not metrics(at)["PSNR"]
