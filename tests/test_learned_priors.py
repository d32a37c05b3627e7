"""Learned priors (a mixture of Gaussians, the VampPrior): densities, sampling, config,
checkpoints, the Monte Carlo KL and IWAE, and the hole diagnostic."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from tests.test_page_eval import lab  # noqa: F401 - fixture
from tests.test_page_train import runs  # noqa: F401 - fixture
from vae_core.cli import main
from vae_core.config import ConfigError, ModelConfig
from vae_core.evaluation.aggregate_posterior import pca_components
from vae_core.evaluation.iwae import elbo_per_image, iwae_nll_fast
from vae_core.evaluation.prior_holes import diagnostics_report, hole_map, hole_mass
from vae_core.io.checkpoint_file import load_checkpoint, save_checkpoint
from vae_core.models.model import LatentVariableModel
from vae_core.models.priors import (
    MixtureOfGaussiansPrior,
    StandardNormalPrior,
    diag_gaussian_log_prob,
    gaussian_kl,
    kl_divergence,
)
from vae_core.training.run_metadata import default_name
from vae_core.training.trainer import TrainConfig

SHIPPED_2D = Path(__file__).resolve().parents[1] / "checkpoints" / "mnist-vae-2d.safetensors"


def _model(prior: str, seed: int = 0, **kw) -> LatentVariableModel:
    cfg = ModelConfig(hidden=(32,), latent_dim=2, prior=prior, prior_components=5, **kw)
    return LatentVariableModel(cfg, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("prior", ["mog", "vamp"])
def test_a_learned_prior_density_integrates_to_one_on_a_2d_grid(prior: str) -> None:
    p = _model(prior).prior
    g = torch.linspace(-8, 8, 401, dtype=torch.float64)
    zy, zx = torch.meshgrid(g, g, indexing="ij")
    z = torch.stack([zx.reshape(-1), zy.reshape(-1)], 1)
    with torch.no_grad():
        mass = p.log_prob(z).exp().sum() * (g[1] - g[0]) ** 2
    assert float(mass) == pytest.approx(1.0, abs=2e-3)
    assert p.closed_form_kl is False


def test_one_mog_component_at_the_origin_is_the_standard_prior_and_its_elbo() -> None:
    mog = MixtureOfGaussiansPrior(3, 1)
    with torch.no_grad():
        mog.means.zero_()
    std = StandardNormalPrior(3)
    z = torch.randn(50, 3, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(mog.log_prob(z), std.log_prob(z), atol=1e-5)
    # the Monte Carlo KL averages to the closed form: the same ELBO in expectation
    mu, logvar = torch.tensor([[0.5, -1.0, 0.2]]), torch.tensor([[-0.5, 0.3, -1.0]])
    eps = torch.randn(200_000, 3, generator=torch.Generator().manual_seed(2))
    zq = mu + (0.5 * logvar).exp() * eps
    with torch.no_grad():
        mc, per_dim = kl_divergence(mog, mu.expand_as(zq), logvar.expand_as(zq), zq)
    assert float(mc.mean()) == pytest.approx(float(gaussian_kl(mu, logvar).sum()), abs=0.01)
    # one component factorises: the per-dim shares (to the 1-D marginals) average to the closed form
    torch.testing.assert_close(per_dim.mean(0), gaussian_kl(mu, logvar)[0], atol=0.01, rtol=0)
    assert torch.allclose(mc, diag_gaussian_log_prob(zq, mu, logvar) - std.log_prob(zq), atol=1e-4)


@pytest.mark.parametrize("prior", ["mog", "vamp"])
def test_sampling_uses_only_the_generator_and_matches_the_moments(prior: str) -> None:
    p = _model(prior).prior
    state = torch.get_rng_state()
    a = p.sample(20_000, torch.Generator().manual_seed(3))
    b = p.sample(20_000, torch.Generator().manual_seed(3))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, b) and a.shape == (20_000, 2)
    assert torch.allclose(a.mean(0), p.mean(), atol=0.05)
    assert torch.allclose(a.std(0), p.scale(), rtol=0.05)
    cold = p.sample(20_000, torch.Generator().manual_seed(3), temperature=0.5)
    assert bool((cold.std(0) < a.std(0)).all())


def test_config_reads_old_dicts_as_standard_and_refuses_bad_priors() -> None:
    old = ModelConfig().to_dict()
    del old["prior"], old["prior_components"]
    assert ModelConfig.from_dict(old).prior == "standard"
    with pytest.raises(ConfigError, match="prior must be one of"):
        ModelConfig(prior="flow")
    with pytest.raises(ConfigError, match="prior_components"):
        ModelConfig(prior="mog", prior_components=0)
    for kind in ("cvae", "ae"):
        with pytest.raises(ConfigError, match="needs kind 'vae'"):
            ModelConfig(kind=kind, prior="vamp")


@pytest.mark.parametrize("prior", ["mog", "vamp"])
def test_a_learned_prior_round_trips_through_a_checkpoint(prior: str, tmp_path) -> None:
    model = _model(prior)
    names = [k for k in model.state_dict() if k.startswith("prior.")]
    assert names == (
        ["prior.means", "prior.logvars", "prior.logits"]
        if prior == "mog"
        else ["prior.pseudo_inputs"]
    )
    with torch.no_grad():  # trained-looking values, not the init
        for k in names:
            model.state_dict()[k].add_(0.3)
    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "m.safetensors", {}))
    assert loaded.config.prior == prior and loaded.config.prior_components == 5
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.model.state_dict()[k])
    z = torch.randn(10, 2)
    assert torch.allclose(model.prior.log_prob(z), loaded.model.prior.log_prob(z))


def test_a_learned_prior_is_named_in_the_models_title() -> None:
    names = {
        prior: default_name(
            ModelConfig(latent_dim=2, prior=prior, prior_components=50), TrainConfig()
        )
        for prior in ("standard", "mog", "vamp")
    }
    assert names == {
        "standard": "MNIST VAE, 2-D latent",
        "mog": "MNIST VAE (mixture of 50 Gaussians), 2-D latent",
        "vamp": "MNIST VAE (VampPrior, 50 pseudo-inputs), 2-D latent",
    }


def test_a_shipped_checkpoint_still_loads_with_the_standard_prior() -> None:
    ckpt = load_checkpoint(SHIPPED_2D)
    assert ckpt.config.prior == "standard"
    assert isinstance(ckpt.model.prior, StandardNormalPrior)


def test_seeded_learned_prior_models_are_reproducible() -> None:
    for prior in ("mog", "vamp"):
        a, b = _model(prior, seed=4), _model(prior, seed=4)
        for k, v in a.state_dict().items():
            assert torch.equal(v, b.state_dict()[k])


def test_iwae_on_a_mog_model_uses_its_prior_and_tightens_with_k() -> None:
    model = _model("mog").eval()
    x = (torch.rand(40, 1, 28, 28, generator=torch.Generator().manual_seed(5)) > 0.7).float()
    with torch.no_grad():
        nll1 = torch.stack([iwae_nll_fast(model, x, k=1, seed=s) for s in range(30)]).mean(0)
        elbo = torch.stack([elbo_per_image(model, x, seed=s) for s in range(30)]).mean(0)
        nll100 = iwae_nll_fast(model, x, k=100, seed=0)
        # with the prior replaced the estimate changes: IWAE asks the model's prior
        with torch.no_grad():
            model.prior.means.add_(3.0)
        shifted = iwae_nll_fast(model, x, k=100, seed=0)
    assert float(nll1.mean()) == pytest.approx(-float(elbo.mean()), rel=0.01)
    assert float(nll100.mean()) < float(nll1.mean())
    assert not torch.allclose(shifted, nll100)
    assert math.isfinite(float(nll100.mean()))


# --- hole_mass and the diagnostics command ----------------------------------------------------


@pytest.mark.parametrize("dim", [2, 3])  # the grid and the Monte Carlo paths
def test_hole_mass_is_zero_when_the_aggregate_is_the_prior_and_one_when_far_away(dim) -> None:
    prior = StandardNormalPrior(dim)
    gen = torch.Generator().manual_seed(0)
    same = hole_mass(prior, torch.zeros(1, dim), torch.zeros(1, dim), generator=gen)
    far = hole_mass(prior, torch.full((1, dim), 40.0), torch.full((1, dim), -4.0), generator=gen)
    assert same == pytest.approx(0.0, abs=1e-9)
    assert far == pytest.approx(1.0, abs=1e-6)


def test_hole_mass_under_a_mixture_prior_whose_components_are_the_posteriors() -> None:
    prior = _model("mog").prior
    with torch.no_grad():  # five well-separated components of weight 1/5 each
        prior.means.copy_(torch.tensor([[0.0, 0.0], [12, 0], [0, 12], [-12, 0], [0, -12]]))
    _, mu, logvar = prior.components()
    assert hole_mass(prior, mu, logvar) == pytest.approx(0.0, abs=1e-9)
    # one component left in the aggregate: the other four's share of the prior is a hole
    assert hole_mass(prior, mu[:1], logvar[:1]) == pytest.approx(0.8, abs=0.01)


def test_diagnostics_report_on_a_learned_prior_model() -> None:
    model = _model("vamp").eval()
    x = torch.rand(30, 1, 28, 28, generator=torch.Generator().manual_seed(6))
    r = diagnostics_report(model, x)
    assert r["prior"] == "vamp" and r["prior_components"] == 5
    assert len(r["kl_per_dim"]) == 2 and all(math.isfinite(v) for v in r["kl_per_dim"])
    assert 0 <= r["active_units"] <= 2 and 0.0 <= r["hole_mass"] <= 1.0
    assert r == diagnostics_report(model, x)  # seeded: the same numbers twice


def test_cli_trains_a_mog_model_and_reports_its_prior(tmp_path, capsys) -> None:
    from tests.test_cli import TINY, write_dataset

    data = write_dataset(tmp_path / "data")
    out = tmp_path / "mog.safetensors"
    argv = ["train", "--data-dir", str(data), "--epochs", "1", "--iw-samples", "2", *TINY]
    assert main([*argv, "--prior", "mog", "--prior-components", "3", "--out", str(out)]) == 0
    ckpt = load_checkpoint(out)
    assert (ckpt.config.prior, ckpt.config.prior_components) == ("mog", 3)
    capsys.readouterr()
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["prior"] == "mog"
    assert main(["diagnostics", str(out), "--data-dir", str(data), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["prior"] == "mog" and {"kl_per_dim", "active_units", "hole_mass"} <= set(r)
    assert main(["evaluate", str(out), "--data-dir", str(data), "--iw-samples", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["prior"] == "mog"
    assert main(["info", str(SHIPPED_2D), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["prior"] == "standard"
    assert main([*argv, "--kind", "cvae", "--prior", "vamp", "--out", str(out)]) == 2


def test_the_hole_map_of_a_2d_model_is_hole_mass_drawn() -> None:
    """The Diagnostics plane draws the model's own prior: its red mass is hole_mass, and a
    mixture prior whose components are the posteriors has no hole although N(0, I) would."""
    prior = _model("mog").prior
    with torch.no_grad():
        prior.means.copy_(torch.tensor([[0.0, 0.0], [3, 3], [3, -3], [-3, 3], [-3, -3]]))
        prior.logvars.fill_(-2.0)  # five tight clusters, sd 0.37
    _, mu, logvar = (t.detach() for t in prior.components())
    filled = hole_map(prior, mu, logvar)
    assert filled.explained is None and not bool(filled.holes.any())
    assert filled.prior_mass_in_holes == 0.0
    area = float((filled.grid_x[1] - filled.grid_x[0]) * (filled.grid_y[1] - filled.grid_y[0]))
    assert float(filled.p.sum()) * area == pytest.approx(1.0, abs=1e-3)  # the grid holds p
    assert float(filled.q.sum()) * area == pytest.approx(1.0, abs=1e-3)
    standard = hole_map(StandardNormalPrior(2), mu, logvar)
    assert standard.prior_mass_in_holes > 0.5  # N(0, I) between the clusters is empty
    one = hole_map(prior, mu[:1], logvar[:1])  # four of five components unused
    assert one.prior_mass_in_holes == pytest.approx(hole_mass(prior, mu[:1], logvar[:1]), abs=0.01)
    assert one.prior_mass_in_holes == pytest.approx(0.8, abs=0.01)


def test_the_hole_map_projects_the_prior_of_a_larger_latent_exactly() -> None:
    gen = torch.Generator().manual_seed(3)
    mu, logvar = torch.randn(400, 6, generator=gen) * 2, torch.full((400, 6), -1.0)
    m = hole_map(StandardNormalPrior(6), mu, logvar)
    assert m.explained is not None and m.explained[0] >= m.explained[1] > 0
    # an orthonormal projection of N(0, I_6) is N(0, I_2) in the plane
    zy, zx = torch.meshgrid(m.grid_y, m.grid_x, indexing="ij")
    expected = torch.exp(-0.5 * (zx**2 + zy**2)) / (2 * math.pi)
    torch.testing.assert_close(m.p, expected, rtol=1e-9, atol=1e-12)
    # a one-component mixture off the origin: the plane's prior is centred at its projection
    mog = MixtureOfGaussiansPrior(6, 1)
    with torch.no_grad():
        mog.means.fill_(1.0)
        mog.logvars.zero_()
    shifted = hole_map(mog, mu, logvar)
    peak = divmod(int(shifted.p.argmax()), len(shifted.grid_x))
    axes, _ = pca_components(mu)
    centre = axes.double() @ torch.ones(6, dtype=torch.float64)
    step = float(shifted.grid_x[1] - shifted.grid_x[0]) + float(
        shifted.grid_y[1] - shifted.grid_y[0]
    )
    assert float(shifted.grid_x[peak[1]]) == pytest.approx(float(centre[0]), abs=step)
    assert float(shifted.grid_y[peak[0]]) == pytest.approx(float(centre[1]), abs=step)


# --- pages -------------------------------------------------------------------------------------


def test_train_page_offers_the_prior_and_refuses_a_learned_prior_for_a_cvae(request) -> None:
    from tests.test_page_train import _by_label, _page

    runs_dir = request.getfixturevalue("runs")
    at = _page()
    prior = _by_label(at.selectbox, "Prior")
    assert prior.value == ModelConfig().prior and prior.options == [
        "standard N(0, I)",
        "mixture of Gaussians",
        "VampPrior",
    ]
    components = _by_label(at.number_input, "Prior components")
    assert components.value == ModelConfig().prior_components and components.disabled
    prior.set_value("vamp")
    _by_label(at.selectbox, "Model").set_value("CVAE")
    at.run()
    assert not _by_label(at.number_input, "Prior components").disabled
    at.button[0].click().run()
    assert any("needs kind 'vae'" in e.value for e in at.error)
    assert not list(runs_dir.glob("*.safetensors"))


def test_diagnostics_page_shows_hole_mass_under_the_model_prior(request) -> None:
    from tests.test_page_eval import assert_clean, metrics, page, text_of

    path = request.getfixturevalue("lab") / "runs" / "mog.safetensors"
    save_checkpoint(_model("mog"), path, {"dataset": "mnist", "name": "mog", "binarize": "dynamic"})
    at = page("8_Diagnostics.py", path)
    assert_clean(at)
    value = metrics(at)["hole_mass (prior: mixture of Gaussians)"]
    assert 0.0 <= float(value.rstrip("%")) <= 100.0
    specs = [json.loads(c.proto.spec)["data"] for c in at.get("plotly_chart")]
    legends = [[t.get("name") for t in data] for data in specs]
    assert ["holes", "q(z)", "p(z), mixture of Gaussians"] in legends  # its own prior, drawn
    assert "aggregate posterior's density is below 0.1 of the prior's" in text_of(at)


def test_diagnostics_sets_the_shipped_learned_prior_beside_the_standard_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import streamlit as st

    from tests.test_page_eval import assert_clean, metrics, page

    monkeypatch.setenv("VAE_LAB_RUNS", str(tmp_path))  # the shipped models and no others
    st.cache_data.clear()
    shipped = SHIPPED_2D.parent
    at = page("8_Diagnostics.py", shipped / "mnist-vae-2d-vamp.safetensors")
    assert_clean(at)
    table = next(d.value for d in at.dataframe if "hole_mass" in d.value.columns)
    assert list(table["prior"]) == ["standard N(0, I)", "VampPrior"]
    # the chosen model's row is the figure the page measured above it, on the same images
    assert table["hole_mass"].iloc[1] == metrics(at)["hole_mass (prior: VampPrior)"]
    nll = table["test NLL, −log p(x) binarized, nats per image (stored)"]
    for row, name in enumerate(("mnist-vae-2d", "mnist-vae-2d-vamp")):
        stored = load_checkpoint(shipped / f"{name}.safetensors").meta["test_metrics"]
        assert nll.iloc[row] == f"{stored['nll']:.2f} (K=100, 10,000 images)"


def test_generate_names_the_learned_prior_it_samples(monkeypatch, tmp_path: Path) -> None:
    from tests.test_page_eval import assert_clean, page

    monkeypatch.setenv("VAE_LAB_RUNS", str(tmp_path))
    at = page("4_Generate.py", SHIPPED_2D.parent / "mnist-vae-2d-vamp.safetensors")
    assert_clean(at)
    assert any(
        "prior p(z), VampPrior. Temperature T scales each component" in c.value for c in at.caption
    )
    assert not any("N(0, I)" in c.value for c in at.caption)


def test_the_home_card_names_the_prior() -> None:
    from ui.model_card import card_facts, metric_values

    for name, prior in (
        ("mnist-vae-2d", "standard N(0, I)"),
        ("mnist-vae-2d-vamp", "VampPrior, 50 pseudo-inputs (Tomczak & Welling 2018)"),
    ):
        ckpt = load_checkpoint(SHIPPED_2D.parent / f"{name}.safetensors")
        assert dict(card_facts(ckpt.meta, ckpt.config))["Prior p(z)"] == prior
    assert "KL (Monte Carlo)" in metric_values(ckpt.meta, ckpt.config)  # no closed form
