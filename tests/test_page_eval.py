"""AppTest smoke tests of the six evaluation pages on synthetic splits and tiny models.

Everything lives in a temp folder: an MNIST-format data dir (test + train, and Fashion-MNIST
test), a runs dir with tiny untrained models, and a stand-in 'shipped' folder with a classifier
and a β-sweep JSON. Caches are cleared around every test.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import ui.data
import ui.model_list
import ui.paths
from tests.conftest import make_model
from vae_core.data.idx import write_idx
from vae_core.evaluation.classifier import DigitClassifier, save_classifier
from vae_core.io.checkpoint_file import save_checkpoint

PAGES = Path(__file__).resolve().parents[1] / "pages"
N_IMAGES = 300


def _write_split(folder: Path, prefix: str, n: int, seed: int, by_class: bool = False) -> None:
    """``by_class``: the file sorted by class (like the offline sample), else classes cycling."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) * 10 // n if by_class else np.arange(n) % 10).astype(np.uint8)
    images = rng.integers(0, 40, size=(n, 28, 28)).astype(np.uint8)
    for i, k in enumerate(labels):  # a bright bar whose height depends on the class
        images[i, 2 + 2 * k : 5 + 2 * k, 4:24] = 230
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / f"{prefix}-images-idx3-ubyte", images)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Data, runs and 'shipped' folders in tmp_path; fresh caches; no network."""
    data = tmp_path / "data"
    _write_split(data / "mnist", "t10k", N_IMAGES, 0)
    _write_split(data / "mnist", "train", N_IMAGES, 1)
    _write_split(data / "fashion-mnist", "t10k", N_IMAGES, 2)
    runs, shipped = tmp_path / "runs", tmp_path / "shipped"
    runs.mkdir()
    (shipped / "classifiers").mkdir(parents=True)
    (shipped / "rate_distortion").mkdir()
    monkeypatch.setenv("VAE_LAB_DATA", str(data))
    monkeypatch.setenv("VAE_LAB_RUNS", str(runs))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(ui.paths, "SHIPPED_DIR", shipped)
    monkeypatch.setattr(ui.model_list, "SHIPPED_DIR", shipped)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield tmp_path
    st.cache_data.clear()
    st.cache_resource.clear()


def model(lab: Path, name: str, folder: str = "runs", binarize: str = "dynamic", **cfg) -> Path:
    path = lab / folder / f"{name}.safetensors"
    meta = {"dataset": "mnist", "name": name, "binarize": binarize}
    save_checkpoint(make_model(**cfg), path, meta)
    return path


def page(file: str, path: Path) -> AppTest:
    at = AppTest.from_file(str(PAGES / file), default_timeout=180)
    at.session_state["vae_lab_model_path"] = str(path)
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _plotly_array(value: object) -> np.ndarray:
    """A trace's array as plotly serialises it: a list, or {"dtype", "bdata": base64}."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value)


def text_of(at: AppTest) -> str:
    parts = [c.value for c in at.caption] + [m.value for m in at.markdown]
    parts += [w.value for w in at.warning] + [i.value for i in at.info]
    return "\n".join(parts)


# ---------------------------------------------------------------- Likelihood


def test_likelihood_defaults_run_and_k_grows(lab: Path) -> None:
    at = page("7_Likelihood.py", model(lab, "vae2", latent_dim=2))
    assert_clean(at)
    m = metrics(at)
    assert {"ELBO", "NLL, K = 100", "Bits per dim", "ELBO-to-NLL gap"} <= set(m)
    table = at.dataframe[0].value
    assert list(table["K"]) == [1, 10, 100]
    assert table["NLL (nats)"].iloc[-1] <= table["NLL (nats)"].iloc[0]  # IWAE is tighter
    assert len(at.get("plotly_chart")) == 2  # NLL vs K, per class
    assert "all 300 MNIST test images, binarized once with seed 0" in text_of(at)


def test_likelihood_on_a_subset_of_a_class_sorted_split_has_every_class(lab: Path) -> None:
    """The first 100 of a sorted file are classes 0-3 only: the page must not take them."""
    _write_split(lab / "data" / "mnist", "t10k", N_IMAGES, 0, by_class=True)
    at = page("7_Likelihood.py", model(lab, "vae2", latent_dim=2))
    at.select_slider[0].set_value(100).run()
    assert_clean(at)
    bars = json.loads(at.get("plotly_chart")[1].proto.spec)["data"][0]
    assert list(bars["x"]) == [str(c) for c in range(10)]  # one bar per class
    assert list(_plotly_array(bars["customdata"])) == [10] * 10  # 10 images of each
    assert "100 of the 300 MNIST test images" in text_of(at)
    assert "10 per class; seed 0" in text_of(at)


def test_likelihood_big_k_waits_for_the_button(lab: Path) -> None:
    at = page("7_Likelihood.py", model(lab, "vae2", latent_dim=2))
    at.select_slider[0].set_value(100)
    at.multiselect[0].set_value([1000, 5000]).run()
    assert_clean(at)
    assert "press Compute" in text_of(at)
    assert not at.dataframe
    at.button[0].click().run()
    assert_clean(at)
    assert list(at.dataframe[0].value["K"]) == [1000, 5000]
    assert "NLL, K = 5,000" in metrics(at)
    assert "press Compute" not in text_of(at)  # the text follows the state
    assert "All 2 estimates computed (600,000 decoder passes)" in text_of(at)
    assert at.button[0].disabled  # nothing left to compute
    at.multiselect[0].set_value([10, 1000, 5000]).run()  # one K added: only it is left to do
    assert "Work: 1,000 decoder passes for K = 10" not in text_of(at)  # it ran on its own
    assert "All 3 estimates computed" in text_of(at)


def test_likelihood_refuses_an_autoencoder(lab: Path) -> None:
    at = page("7_Likelihood.py", model(lab, "ae", kind="ae", latent_dim=2))
    assert_clean(at)
    assert "defines no density" in text_of(at)
    assert not at.get("plotly_chart")


def test_likelihood_labels_every_figure(lab: Path) -> None:
    at = page("7_Likelihood.py", model(lab, "vae2", latent_dim=2))
    assert "−log p(x), binarized pixels, marginal, IWAE estimate, K=100" in text_of(at)


def test_likelihood_of_a_cvae_shows_the_marginal_and_bayes_confusion(lab: Path) -> None:
    save_classifier(DigitClassifier(), lab / "shipped/classifiers/mnist-classifier.safetensors", {})
    at = page("7_Likelihood.py", model(lab, "cvae", kind="cvae", latent_dim=2))
    at.select_slider[0].set_value(100).run()
    assert_clean(at)
    m = metrics(at)
    assert "Conditional NLL, K = 100" in m  # the K table is labelled conditional
    assert {"Marginal NLL −log p(x), K = 10", "Conditional NLL −log p(x|y), K = 10"} <= set(m)
    text = text_of(at)
    assert "−log p(x), binarized pixels, marginal, IWAE estimate, K=10" in text
    assert "−log p(x | y), binarized pixels, conditional on the true label" in text
    marginal = float(m["Marginal NLL −log p(x), K = 10"].split()[0])
    conditional = float(m["Conditional NLL −log p(x|y), K = 10"].split()[0])
    assert marginal <= conditional + np.log(10) + 0.5
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]

    def chart(title: str) -> dict:
        found = [s for s in specs if s["layout"].get("title", {}).get("text", "").startswith(title)]
        assert len(found) == 1, title
        return found[0]

    bayes, clf = [chart("CVAE by Bayes' rule")], [chart("Shipped classifier")]
    conf = _plotly_array(bayes[0]["data"][0]["z"]).reshape(10, 10)
    assert conf.sum() == 100  # every one of the 100 images, once
    assert _plotly_array(clf[0]["data"][0]["z"]).sum() == 100
    assert "Bayes-rule accuracy" in m


def test_likelihood_of_a_gaussian_decoder_shows_the_8bit_figure(lab: Path) -> None:
    path = model(
        lab, "gauss2", binarize="none", latent_dim=2, likelihood="gaussian", learn_variance=True
    )
    at = page("7_Likelihood.py", path)
    assert_clean(at)
    m = metrics(at)
    assert "NLL (8-bit), K = 100" in m
    assert float(m["NLL (8-bit), K = 100"].split()[0]) > 0  # a probability: -log P >= 0
    assert float(m["Bits per dim"]) > 0
    text = text_of(at)
    assert "−log p(x), 8-bit pixels, marginal, IWAE estimate, K=100" in text
    assert "density on [0,1]^784, not comparable" in text
    table = at.dataframe[0].value
    assert (table["NLL (nats)"] > 0).all()
    assert "density NLL on [0,1]^784 (nats, not comparable)" in table.columns


# ---------------------------------------------------------------- Diagnostics


@pytest.mark.parametrize("dim", [2, 3])
def test_diagnostics_kl_units_and_aggregate(lab: Path, dim: int) -> None:
    at = page("8_Diagnostics.py", model(lab, f"vae{dim}", latent_dim=dim))
    assert_clean(at)
    m = metrics(at)
    assert m["Active units"].endswith(f"/ {dim}")
    plane, full = (
        "Prior mass in the holes of this plane",
        f"hole_mass in all {dim} dims (prior: standard N(0, I))",
    )
    if dim == 2:  # the plane is the latent: one figure, the diagnostics command's
        assert plane not in m and full not in m and "hole_mass (prior: standard N(0, I))" in m
    else:
        assert plane in m and full in m
    assert len(at.get("plotly_chart")) == 3  # KL, activity, q vs p
    assert len(at.get("image")) == 2  # prior and aggregate samples
    projected = "exact linear projection" in text_of(at)
    assert projected == (dim > 2)


# ---------------------------------------------------------------- Out-of-distribution


def test_ood_scores_every_set(lab: Path) -> None:
    at = page("9_Out_of_distribution.py", model(lab, "vae2", latent_dim=2))
    assert_clean(at)
    table = at.table[0].value
    assert len(table) == 5
    aurocs = table["AUROC (NLL)"].dropna()
    assert len(aurocs) == 4 and ((aurocs >= 0) & (aurocs <= 1)).all()
    assert table["AUROC (corrected)"].dropna().between(0, 1).all()
    assert len(at.get("plotly_chart")) == 2


def displayed(at: AppTest, index: int = 0):
    """An st.table as the browser shows it: the Styler's display strings where it has them."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    arrow = at.table[index].proto.arrow_data
    if not arrow.styler.display_values:
        return at.table[index].value.astype(str)  # a missing value shows as "None"
    return convert_arrow_bytes_to_pandas_df(arrow.styler.display_values)


def test_ood_table_shows_no_none(lab: Path) -> None:
    at = page("9_Out_of_distribution.py", model(lab, "vae2", latent_dim=2))
    assert_clean(at)
    shown = displayed(at)
    cells = {str(v) for v in shown.to_numpy().ravel()}
    assert not cells & {"None", "nan", "NaN", "<NA>"}, shown
    reference = shown[shown["set"].str.contains("in-distribution")].iloc[0]
    assert reference["AUROC (NLL)"] == reference["AUROC (corrected)"] == "— (the reference)"
    assert "no AUROC of its own" in text_of(at)


def fashion_vae(lab: Path, folder: str = "shipped") -> Path:
    path = lab / folder / "fashion-vae.safetensors"
    meta = {"dataset": "fashion-mnist", "name": "Fashion-MNIST VAE", "binarize": "none"}
    save_checkpoint(make_model(latent_dim=2), path, meta)
    return path


def test_ood_offers_the_fashion_vae_in_one_click(lab: Path) -> None:
    shipped = fashion_vae(lab)
    at = page("9_Out_of_distribution.py", model(lab, "vae2", latent_dim=2))
    assert_clean(at)
    assert "Nalisnick et al. (2019) found" in text_of(at)
    switch = at.button(key="ood_switch_fashion")
    assert switch.label == "Switch to the Fashion-MNIST VAE"
    switch.click().run()
    assert_clean(at)
    assert at.session_state["vae_lab_model_path"] == str(shipped)
    assert "Fashion-MNIST test images" in text_of(at)  # its own test split now
    assert not [b for b in at.button if b.key == "ood_switch_fashion"]  # no switch to itself


def test_ood_skips_fashion_when_unavailable(lab: Path, monkeypatch) -> None:
    for path in (lab / "data" / "fashion-mnist").iterdir():
        path.unlink()
    monkeypatch.setattr(ui.data, "_FAILED_DOWNLOADS", {("fashion-mnist", "test")})
    at = page("9_Out_of_distribution.py", model(lab, "vae2", latent_dim=2))
    assert_clean(at)
    assert "Fashion-MNIST test: Skipped" in text_of(at)
    assert len(at.table[0].value) == 4


def test_ood_refuses_a_cvae(lab: Path) -> None:
    at = page("9_Out_of_distribution.py", model(lab, "cvae", kind="cvae", latent_dim=2))
    assert_clean(at)
    assert "unconditional" in text_of(at)


# ---------------------------------------------------------------- pPCA


def test_ppca_page_with_and_without_a_gaussian_vae(lab: Path) -> None:
    path = model(lab, "vae2", latent_dim=2)
    at = page("10_pPCA.py", path)
    assert_clean(at)
    assert {"Test NLL, 8-bit", "Bits per dim", "Noise variance σ²"} <= set(metrics(at))
    assert len(at.get("plotly_chart")) == 4  # posterior mean, covariance, two maps
    assert "--likelihood gaussian --learn-variance --latent-dim 2" in text_of(at)
    rows = list(at.dataframe[0].value["model"])  # pPCA and the baseline even without a VAE
    assert rows == ["per-pixel Gaussians, no latent (exact)", "pPCA, M = 2 (IWAE estimate, K=100)"]
    model(lab, "gauss2", binarize="none", latent_dim=2, likelihood="gaussian", learn_variance=True)
    model(lab, "cvae-gauss2", binarize="none", kind="cvae", latent_dim=2, likelihood="gaussian")
    st.cache_data.clear()
    at = page("10_pPCA.py", path)
    assert_clean(at)
    table = at.dataframe[0].value
    assert len(table) == 3 and "gauss2" in table["model"].iloc[2]  # no conditional CVAE figure
    nats = table["−log P(x), 8-bit (nats/image)"]
    assert (nats > 0).all() and (table["bits/dim"] > 0).all()  # one unit: probabilities
    assert np.allclose(table["bits/dim"], nats / (784 * np.log(2)))
    assert table["density NLL on [0,1]^784 (not comparable)"].notna().all()  # all Gaussian
    text = text_of(at)
    assert "What the latent variable buys" in text and "What the variance floor does" in text
    assert "of gauss2's pixel log-variances sit at the decoder's clamp" in text


# ---------------------------------------------------------------- CVAE faithfulness


def test_faithfulness_with_a_classifier(lab: Path) -> None:
    save_classifier(DigitClassifier(), lab / "shipped/classifiers/mnist-classifier.safetensors", {})
    at = page("11_CVAE_faithfulness.py", model(lab, "cvae", kind="cvae", latent_dim=2))
    assert_clean(at)
    assert "Samples drawn as asked" in metrics(at)
    assert len(at.get("plotly_chart")) >= 3  # accuracy, diversity, sample grid
    at.select_slider[0].set_value(10).run()
    assert_clean(at)
    assert "10 per class (100 judged)" in text_of(at)


def test_faithfulness_needs_a_cvae_and_a_classifier(lab: Path) -> None:
    at = page("11_CVAE_faithfulness.py", model(lab, "vae2", latent_dim=2))
    assert_clean(at)
    assert "needs a conditional VAE" in text_of(at)
    at = page("11_CVAE_faithfulness.py", model(lab, "cvae", kind="cvae", latent_dim=2))
    assert at.error and "train-classifier" in at.error[0].value


def test_faithfulness_offers_the_shipped_cvae_of_the_same_data(lab: Path) -> None:
    model(lab, "shipped-vae", folder="shipped", latent_dim=2)
    cvae = model(lab, "shipped-cvae", folder="shipped", kind="cvae", latent_dim=2)
    save_classifier(DigitClassifier(), lab / "shipped/classifiers/mnist-classifier.safetensors", {})
    at = page("11_CVAE_faithfulness.py", model(lab, "vae2", latent_dim=2))
    assert "needs a conditional VAE" in text_of(at)
    button = at.button(key="switch_to_cvae")
    assert button.label == "Switch to shipped-cvae"
    button.click().run()
    assert_clean(at)
    assert at.session_state["vae_lab_model_path"] == str(cvae)
    assert at.sidebar.selectbox[0].value == str(cvae)  # the picker shows the switch
    assert "Samples drawn as asked" in metrics(at)


def test_faithfulness_judges_fashion_with_the_fashion_classifier(lab: Path) -> None:
    judges = lab / "shipped/classifiers"
    save_classifier(
        DigitClassifier(), judges / "mnist-classifier.safetensors", {"dataset": "mnist"}
    )
    path = lab / "runs/fashion-cvae.safetensors"
    meta = {"dataset": "fashion-mnist", "name": "fashion-cvae", "binarize": "none"}
    save_checkpoint(make_model(kind="cvae", latent_dim=2), path, meta)
    at = page("11_CVAE_faithfulness.py", path)
    assert at.error and "no classifier for Fashion-MNIST" in at.error[0].value
    assert "classifiers there: MNIST" in at.error[0].value
    meta = {"dataset": "fashion-mnist", "train_size": 60_000, "test_size": 10_000}
    save_classifier(DigitClassifier(), judges / "fashion-mnist-classifier.safetensors", meta)
    at = page("11_CVAE_faithfulness.py", path)
    assert_clean(at)
    assert "fashion-mnist-classifier.safetensors" in text_of(at)
    assert "Judge on reconstructions" in metrics(at)


def test_faithfulness_has_its_own_temperature(lab: Path) -> None:
    save_classifier(DigitClassifier(), lab / "shipped/classifiers/mnist-classifier.safetensors", {})
    at = page("11_CVAE_faithfulness.py", model(lab, "cvae", kind="cvae", latent_dim=2))
    assert at.slider(key="faith_temperature").value == 1.0
    assert "at T = 1," in text_of(at)
    at.slider(key="faith_temperature").set_value(0.5).run()
    assert_clean(at)
    assert "at T = 0.5," in text_of(at)


# ---------------------------------------------------------------- Rate-distortion


def test_rate_distortion_places_models_on_the_sweep(lab: Path) -> None:
    points = [
        {"beta": b, "rate": r, "distortion": d, "elbo": -(r + d), "active_units": 2}
        for b, r, d in ((0.5, 20.0, 90.0), (1.0, 12.0, 100.0), (4.0, 4.0, 130.0))
    ]
    sweep = {
        "dataset": "mnist",
        "points": points,
        "model": {"latent_dim": 16, "hidden": [256]},
        "train_config": {"epochs": 1, "binarize": "dynamic"},
        "command": "x",
    }
    (lab / "shipped/rate_distortion/mnist-16d.json").write_text(json.dumps(sweep))
    (lab / "shipped/rate_distortion/broken.json").write_text("{not json")
    model(lab, "shipped-vae", folder="shipped", latent_dim=2)
    gauss = dict(binarize="none", likelihood="gaussian", learn_variance=True, latent_dim=2)
    model(lab, "shipped-gauss", folder="shipped", **gauss)
    model(lab, "shipped-grey", folder="shipped", binarize="none", latent_dim=2)
    at = page("12_Rate_distortion.py", model(lab, "vae2", latent_dim=2))
    assert_clean(at)
    assert {"Rate R (KL)", "Distortion D", "Active units"} <= set(metrics(at))
    assert list(at.dataframe[0].value["β"]) == [0.5, 1.0, 4.0]
    assert "broken.json" in text_of(at)
    names = rd_trace_names(at)
    assert any(n.startswith("β sweep") for n in names)
    assert "shipped-vae" in names and any(n.startswith("chosen") for n in names)
    # a Gaussian density and a grey-pixel cross-entropy are other quantities: listed, not drawn
    assert "shipped-gauss" not in names and "shipped-grey" not in names
    text = text_of(at)
    assert "only models of the chosen model's data kind, **binarized pixels" in text
    assert "- shipped-gauss: grey pixels · Gaussian density" in text
    assert "- shipped-grey: grey pixels · Bernoulli cross-entropy" in text

    at = page("12_Rate_distortion.py", lab / "shipped" / "shipped-gauss.safetensors")
    assert_clean(at)
    names = rd_trace_names(at)
    assert [n for n in names if not n.startswith("D + R")] == ["chosen: shipped-gauss"]
    text = text_of(at)
    assert "- β sweep mnist-16d: binarized pixels · Bernoulli log-likelihood" in text
    assert "- shipped-vae: binarized pixels · Bernoulli log-likelihood" in text
    assert "No shipped β sweep of mnist scored as grey pixels · Gaussian density" in text


def rd_trace_names(at: AppTest) -> list[str]:
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    return [t.get("name", "") for t in fig["data"]]


def test_rate_distortion_skips_a_sweep_of_unknown_kind(lab: Path) -> None:
    point = {"beta": 1.0, "rate": 1.0, "distortion": 2.0, "elbo": -3.0}
    sweep = {"dataset": "mnist", "points": [point], "train_config": {"epochs": 1}}
    (lab / "shipped/rate_distortion/old.json").write_text(json.dumps(sweep))
    at = page("12_Rate_distortion.py", model(lab, "vae2", latent_dim=2))
    assert not at.exception
    assert "Skipped the β sweep old: it does not record its model" in text_of(at)
    assert not [n for n in rd_trace_names(at) if n.startswith("β sweep")]


def test_binarized_uniform_noise_is_not_blank(lab: Path) -> None:
    """Noise and the test protocol's binarization must not share one random stream."""
    import torch

    from ui.eval_cache import EvalSet, ood_inputs
    from vae_core.data.datasets import ImageSet

    grey = torch.rand(50, 1, 28, 28)
    labels = torch.zeros(50, dtype=torch.long)
    split = ImageSet(
        np.zeros((50, 28, 28), np.uint8), labels.numpy(), "mnist", "test", "files", "", ()
    )
    ev = EvalSet(grey, grey, labels, True, "mnist", "files", (), False, split)
    noise = next(s for s in ood_inputs(ev, 50, None, "offline") if s.name == "uniform-noise")
    assert 0.4 < float(noise.x.mean()) < 0.6
