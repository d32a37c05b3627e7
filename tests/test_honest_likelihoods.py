"""Comparable likelihoods: 8-bit bin masses, pPCA's discrete NLL, a CVAE's marginal NLL and the
CVAE as a Bayes classifier (small synthetic data and tiny models)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch

from tests.conftest import make_model
from vae_core.config import ModelConfig
from vae_core.evaluation.comparable import (
    bayes_log_posterior,
    bayes_report,
    class_log_likelihoods,
    comparable_figures,
    marginal_nll,
    uniform_label_prior,
)
from vae_core.evaluation.discrete import (
    LOG_BIN_WIDTH,
    check_8bit,
    discrete_view,
    discretized_gaussian_log_prob,
    fit_pixel_gaussians,
    pixel_gaussians_log_likelihood,
    ppca_dequantization_bound,
    ppca_discrete_log_likelihood,
)
from vae_core.evaluation.ppca import fit_ppca
from vae_core.evaluation.scoring import iwae_nll
from vae_core.evaluation.units import comparable_data
from vae_core.models.likelihoods import LOGVAR_MIN
from vae_core.training.trainer import TrainConfig, train

LEVELS = torch.arange(256, dtype=torch.float64) / 255


@pytest.mark.parametrize("mean", [-3.0, 0.0, 0.3, 0.5 + 0.5 / 255, 0.999, 1.0, 4.0])
@pytest.mark.parametrize("sigma", [1e-6, 1e-3, 0.011, 0.2, 10.0, 1e4])
def test_bin_masses_sum_to_one_for_any_mean_and_scale(mean: float, sigma: float) -> None:
    log_p = discretized_gaussian_log_prob(
        LEVELS, torch.tensor(mean), torch.tensor(2 * math.log(sigma))
    )
    assert torch.isfinite(log_p).all() and (log_p <= 0).all()
    assert float(torch.logsumexp(log_p, 0)) == pytest.approx(0.0, abs=1e-9)


def test_a_far_tail_bin_keeps_its_mass_instead_of_zero() -> None:
    # 0.5 is 50 sigmas above the mean: Phi(b) - Phi(a) underflows in plain arithmetic
    far = discretized_gaussian_log_prob(
        torch.tensor(0.5), torch.tensor(0.0), torch.tensor(-2 * 4.6)
    )
    assert torch.isfinite(far) and float(far) < -1000


def _smooth_ppca_data(n: int, d: int, m: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    w = 0.05 * torch.randn(d, m, generator=g, dtype=torch.float64)
    z = torch.randn(n, m, generator=g, dtype=torch.float64)
    x = 0.5 + z @ w.T + 0.1 * torch.randn(n, d, generator=g, dtype=torch.float64)
    return (x.clamp(0.2, 0.8) * 255).round() / 255  # 8-bit, far from the open edge bins


def test_ppca_discrete_nll_matches_density_plus_d_ln_255_when_smooth() -> None:
    d, m = 20, 2
    x = _smooth_ppca_data(400, d, m)
    model = fit_ppca(x, m)  # sigma ~ 0.1, 25 bin widths: the density is flat within a bin
    g = torch.Generator().manual_seed(1)
    discrete = -ppca_discrete_log_likelihood(model, x[:60], k=300, generator=g)
    approx = -model.log_likelihood(x[:60]) - d * LOG_BIN_WIDTH
    bound = -ppca_dequantization_bound(model, x[:60])
    # discretization error ~ D w^2 / (24 sigma^2) ~ 1e-3 nats per image; MC error smaller
    assert (discrete - approx).abs().max() < 0.01
    assert (bound - approx).abs().max() < 0.01 and (bound >= approx).all()
    assert float(discrete.mean()) > 0  # a probability of 8-bit images: -log P >= 0


def test_dequantization_bound_is_loose_at_the_open_edge_bins() -> None:
    # a quarter of the pixels sit in the bottom bin, as MNIST's background does
    d, m = 16, 2
    x = _smooth_ppca_data(300, d, m)
    x[:, :4] = 0.0
    model = fit_ppca(x, m)
    g = torch.Generator().manual_seed(2)
    discrete = -ppca_discrete_log_likelihood(model, x[:40], k=300, generator=g)
    bound = -ppca_dequantization_bound(model, x[:40])
    assert (bound > discrete).all()  # the bound ignores the bottom bin's mass below 0


def test_non_8bit_images_are_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="k/255"):
        check_8bit(torch.full((2, 1, 28, 28), 0.5))


def test_discrete_view_of_a_gaussian_decoder_is_a_probability() -> None:
    model = make_model(likelihood="gaussian", learn_variance=True).eval()
    x = torch.randint(0, 256, (8, 1, 28, 28)).float() / 255
    view = discrete_view(model)
    assert view.decoder is model.decoder  # the same weights
    with torch.no_grad():
        out = model.decoder_output(torch.randn(8, model.config.latent_dim))
        assert (view.log_prob(out, x) <= 0).all()
        assert not torch.equal(view.log_prob(out, x), model.log_prob(out, x))
    assert discrete_view(make_model()).likelihood.name == "bernoulli"


def test_cvae_marginal_nll_and_bayes_posterior() -> None:
    model = make_model(kind="cvae", hidden=(16,), latent_dim=2).eval()
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(40, 1, 28, 28, generator=g) > 0.7).float()
    y = torch.arange(40) % 10
    k = 20
    log_px_y = class_log_likelihoods(model, x, k=k, seed=0)
    prior = uniform_label_prior(10)
    nll = iwae_nll(model, x, y, k=k, seed=0)  # the conditional -log p(x | y_true)
    marginal = marginal_nll(log_px_y, prior)
    assert torch.allclose(-log_px_y[torch.arange(40), y], nll, atol=1e-3)
    assert float(marginal.mean()) <= float(nll.mean()) + math.log(10) + 1e-3
    assert float(marginal.mean()) >= float(nll.mean()) - 50  # same scale, not another quantity
    post = bayes_log_posterior(log_px_y, prior).exp()
    assert torch.allclose(post.sum(1), torch.ones(40, dtype=torch.float64))


def _two_class_images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0 lights the top half, class 1 the bottom half (pixels flip with prob. 0.05)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.zeros(n, 1, 28, 28)
    x[y == 0, :, :14] = 1.0
    x[y == 1, :, 14:] = 1.0
    flip = torch.rand(x.shape, generator=g) < 0.05
    return torch.where(flip, 1 - x, x), y


def test_a_two_class_cvae_classifies_separated_classes_perfectly() -> None:
    x, y = _two_class_images(256, 0)
    model = make_model(kind="cvae", hidden=(32,), latent_dim=2, n_classes=2)
    cfg = TrainConfig(epochs=4, batch_size=32, lr=3e-3, device="cpu", binarize="none")
    train(model, x, y, cfg)
    model.eval()
    x_te, y_te = _two_class_images(60, 1)
    report = bayes_report(class_log_likelihoods(model, x_te, k=10), y_te, uniform_label_prior(2))
    assert report["bayes_accuracy"] == 1.0
    assert report["bayes_confusion"] == [[30, 0], [0, 30]]


def test_comparable_figures_label_every_kind() -> None:
    x = torch.randint(0, 256, (10, 1, 28, 28)).float() / 255
    y = torch.arange(10)
    gauss = make_model(likelihood="gaussian", learn_variance=True)
    r = comparable_figures(gauss, {"binarize": "none"}, x, y, k=3, nll=-900.0)
    assert r["data_kind"] == "8-bit" and r["figure"]["key"] == "nll_8bit" and r["nll_8bit"] > 0
    assert r["bits_per_dim"] == pytest.approx(r["nll_8bit"] / (784 * math.log(2)))
    cvae = make_model(kind="cvae")
    r = comparable_figures(cvae, {"binarize": "dynamic"}, (x > 0.5).float(), y, k=3, nll=1.0)
    assert r["conditional"] is True and r["figure"]["key"] == "nll_marginal"
    assert r["data_kind"] == "binarized" and "marginal" in r["figure"]["text"]
    assert 0 <= r["bayes_accuracy"] <= 1
    grey = comparable_figures(make_model(), {"binarize": "none"}, x, y, k=3, nll=200.0)
    assert grey["data_kind"] == "grey" and grey["figure"]["likelihood"] is False
    assert "not a likelihood" in grey["figure"]["text"]
    assert comparable_data(ModelConfig(likelihood="categorical"), {"binarize": "none"}) == "8-bit"


def test_per_pixel_baseline_is_exact_and_floored() -> None:
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(50, 1, 28, 28, generator=g) * 255).round() / 255
    x[:, :, :2] = 0.0  # constant pixels: the variance floor holds them
    mean, logvar = fit_pixel_gaussians(x)
    assert float(logvar.min()) == LOGVAR_MIN
    ll = pixel_gaussians_log_likelihood(x, mean, logvar)
    per_pixel = discretized_gaussian_log_prob(x.reshape(50, -1).double(), mean, logvar)
    assert torch.allclose(ll, per_pixel.sum(1)) and (ll <= 0).all()


def test_a_users_image_is_scored_as_the_model_scores_its_data() -> None:
    """An upload is off the 8-bit grid and grey: each model gets it on its own data."""
    from vae_core.evaluation.comparable import as_scored, image_label_posterior

    x = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    gauss = make_model(kind="cvae", likelihood="gaussian", learn_variance=True).eval()
    on_grid = as_scored(gauss, {"binarize": "none"}, x)
    check_8bit(on_grid)  # would raise for x itself
    with pytest.raises(ValueError):
        check_8bit(x)
    binary = as_scored(make_model(kind="cvae"), {"binarize": "dynamic"}, x)
    assert set(binary.unique().tolist()) <= {0.0, 1.0}
    out = image_label_posterior(gauss, {"binarize": "none"}, x, k=5)
    assert out["likelihood"] and out["posterior"].shape == (2, 10)
    assert torch.allclose(out["posterior"].sum(1), torch.ones(2, dtype=torch.float64))
    grey = image_label_posterior(make_model(kind="cvae"), {"binarize": "none"}, x, k=5)
    assert not grey["likelihood"]  # a cross-entropy score, said so
    with pytest.raises(ValueError, match="conditional"):
        image_label_posterior(make_model(), {"binarize": "none"}, x)


def test_variance_floor_fraction_counts_clamped_pixels() -> None:
    from vae_core.evaluation.discrete import variance_floor_fraction

    model = make_model(likelihood="gaussian", learn_variance=True).eval()
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert variance_floor_fraction(model, x) == 0.0  # an untrained decoder: log σ² near 0
    last = [m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.bias.view(2, -1)[1, :392] = -50.0  # half the variance channel far below the clamp
        last.weight.view(2, 784, -1)[1, :392] = 0.0
    assert variance_floor_fraction(model, x) == pytest.approx(0.5)
    assert variance_floor_fraction(make_model(), x) is None  # no variance to clamp


@pytest.mark.skipif(
    not (
        os.environ.get("VAE_LAB_DATA")
        and Path(os.environ["VAE_LAB_DATA"], "fashion-mnist").is_dir()
    ),
    reason="needs Fashion-MNIST in VAE_LAB_DATA",
)
def test_the_likelihood_page_never_calls_a_grey_cross_entropy_an_nll(monkeypatch, tmp_path) -> None:
    from streamlit.testing.v1 import AppTest

    root = Path(__file__).resolve().parents[1]
    monkeypatch.setenv("VAE_LAB_RUNS", str(tmp_path))
    at = AppTest.from_file(str(root / "pages" / "7_Likelihood.py"), default_timeout=300)
    at.session_state["vae_lab_model_path"] = str(
        root / "checkpoints" / "fashion-vae-16d.safetensors"
    )
    at.run()
    assert not at.exception and not at.error
    labels = [m.label for m in at.metric]
    assert "ELBO-to-cross-entropy gap" in labels and "Cross-entropy, K = 100" in labels
    assert not any("NLL" in label for label in labels), labels
    columns = [c for d in at.dataframe for c in d.value.columns]
    assert "gap −ELBO − cross-entropy (nats)" in columns and not any("NLL" in c for c in columns)
    ood = AppTest.from_file(str(root / "pages" / "9_Out_of_distribution.py"), default_timeout=300)
    ood.session_state["vae_lab_model_path"] = at.session_state["vae_lab_model_path"]
    ood.run()
    assert not ood.exception and not ood.error
    header = list(ood.table[0].value.columns)
    assert header == [
        "set",
        "mean cross-entropy (nats)",
        "AUROC (cross-entropy)",
        "AUROC (corrected)",
    ]
