"""AppTest smoke tests of the Generate page with tiny CVAE / VAE / AE checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import make_model
from vae_core.io.checkpoint_file import save_checkpoint

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "4_Generate.py")


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("VAE_LAB_RUNS", str(tmp_path))
    st.cache_data.clear()
    st.cache_resource.clear()
    yield tmp_path
    st.cache_data.clear()
    st.cache_resource.clear()


def app_with(runs: Path, dataset: str = "mnist", **cfg) -> AppTest:
    path = runs / "model.safetensors"
    save_checkpoint(make_model(**cfg), path, {"dataset": dataset, "name": "tiny"})
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["vae_lab_model_path"] = str(path)
    return at.run()


def image_captions(at: AppTest) -> list[str]:
    return [c for img in at.get("image") for c in img.captions]


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_cvae_samples_matrix_and_morph(runs: Path) -> None:
    at = app_with(runs, kind="cvae", latent_dim=2)
    assert_clean(at)
    cls = next(s for s in at.selectbox if s.label == "Class")
    assert cls.value == 7
    assert any("samples of class 7" in c for c in image_captions(at))
    assert len(at.get("plotly_chart")) == 2  # the style-vs-content matrix and the morph
    assert len(at.get("download_button")) == 3
    cls.set_value(3).run()
    assert_clean(at)
    assert any("samples of class 3" in c for c in image_captions(at))
    seed = at.number_input(key="gen_seed").value
    at.button[0].click().run()
    assert_clean(at)
    assert at.number_input(key="gen_seed").value != seed


def test_fashion_class_names(runs: Path) -> None:
    at = app_with(runs, dataset="fashion-mnist", kind="cvae", latent_dim=2)
    assert_clean(at)
    assert any("7: Sneaker" in c for c in image_captions(at))


def test_plain_vae_offers_prior_samples(runs: Path) -> None:
    at = app_with(runs, kind="vae", latent_dim=4)
    assert_clean(at)
    assert "not a conditional VAE" in at.info[0].value
    assert not [s for s in at.selectbox if s.label == "Class"]
    assert any("samples of the prior" in c for c in image_captions(at))
    assert not at.get("plotly_chart")
    at.slider[0].set_value(5).run()  # number of samples
    assert_clean(at)
    assert any(c.startswith("5 samples") for c in image_captions(at))


def test_autoencoder_is_flagged(runs: Path) -> None:
    at = app_with(runs, kind="ae", latent_dim=2)
    assert_clean(at)
    assert any("no prior" in w.value for w in at.warning)


def figure_inputs(at: AppTest) -> tuple[tuple[str, ...], str, str]:
    """What each figure shows: the samples' caption and image, the two charts' specs."""
    samples = tuple(image_captions(at)) + tuple(
        i.url for img in at.get("image") for i in img.proto.imgs
    )
    charts = at.get("plotly_chart")
    assert len(charts) == 2
    return samples, charts[0].proto.spec, charts[1].proto.spec


@pytest.mark.parametrize(
    "key, changes",
    [("gen_t_samples", 0), ("gen_t_matrix", 1), ("gen_t_morph", 2)],
)
def test_each_figure_has_its_own_temperature(runs: Path, key: str, changes: int) -> None:
    at = app_with(runs, kind="cvae", latent_dim=2)
    keys = ("gen_t_samples", "gen_t_matrix", "gen_t_morph")
    assert [at.slider(key=k).value for k in keys] == [1.0, 1.0, 1.0]
    before = figure_inputs(at)
    at.slider(key=key).set_value(1.5).run()
    assert_clean(at)
    after = figure_inputs(at)
    assert [at.slider(key=k).value for k in keys] == [1.5 if k == key else 1.0 for k in keys]
    changed = [i for i in range(3) if before[i] != after[i]]
    assert changed == [changes]  # only the figure under the moved control
    if key == "gen_t_samples":
        assert any("T = 1.5" in c for c in after[0])
    if key == "gen_t_matrix":
        assert any("Codes drawn at T = 1.5: |z| ≈ T·√D = 2.1" in c.value for c in at.caption)


def test_plain_vae_offers_the_shipped_cvae(runs: Path) -> None:
    at = app_with(runs, kind="vae", latent_dim=2)
    button = at.button(key="switch_to_cvae")
    button.click().run()
    assert_clean(at)
    chosen = Path(at.session_state["vae_lab_model_path"])
    assert chosen.parent.name == "checkpoints" and chosen.name.startswith("mnist-cvae-2d")
    assert [s for s in at.selectbox if s.label == "Class"]  # now a CVAE: the class control
