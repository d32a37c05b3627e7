"""The model's prior object, the one KL rule, seeded Generators instead of a reseeded global RNG,
and a forward pass that is the training objective (so ``--compile`` compiles what trains)."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest
import torch

from tests.conftest import make_model
from vae_core.config import ModelConfig
from vae_core.evaluation.iwae import iwae_nll_fast
from vae_core.evaluation.scoring import iwae_nll
from vae_core.models.model import LatentVariableModel
from vae_core.models.priors import StandardNormalPrior, diag_gaussian_log_prob, kl_divergence
from vae_core.training.trainer import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]


def test_the_standard_prior_adds_no_tensor_to_the_checkpoint() -> None:
    model = make_model()
    assert all(k.startswith(("encoder.", "decoder.")) for k in model.state_dict())
    assert isinstance(model.prior, StandardNormalPrior)
    assert list(model.prior.state_dict()) == []


def test_standard_prior_log_prob_sample_and_ranges() -> None:
    prior = StandardNormalPrior(3)
    z = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    ref = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    assert torch.allclose(prior.log_prob(z), ref, atol=1e-5)
    a = prior.sample(4, torch.Generator().manual_seed(7), temperature=0.5)
    b = prior.sample(4, torch.Generator().manual_seed(7), temperature=0.5)
    assert a.shape == (4, 3) and torch.equal(a, b)
    assert torch.equal(prior.mean(), torch.zeros(3)) and torch.equal(prior.scale(), torch.ones(3))


class _SampledKLPrior(StandardNormalPrior):
    closed_form_kl = False  # a prior without an analytic KL (as a mixture would be)


def test_kl_is_closed_form_where_possible_and_monte_carlo_otherwise() -> None:
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g) * 0.3
    z = mu + (0.5 * logvar).exp() * torch.randn(6, 3, generator=g)
    kl, per_dim = kl_divergence(StandardNormalPrior(3), mu, logvar, z)
    assert torch.allclose(kl, per_dim.sum(1))
    mc, mc_dims = kl_divergence(_SampledKLPrior(3), mu, logvar, z)
    assert torch.allclose(
        mc, diag_gaussian_log_prob(z, mu, logvar) - StandardNormalPrior(3).log_prob(z)
    )
    # a prior that factorises: the per-dim one-sample shares sum to the Monte Carlo KL
    assert torch.allclose(mc_dims.sum(1), mc, atol=1e-5) and not torch.allclose(mc, kl)
    # many samples: the Monte Carlo estimate converges to the closed form
    zs = mu + (0.5 * logvar).exp() * torch.randn(20000, 6, 3, generator=g)
    mc_mean = (diag_gaussian_log_prob(zs, mu, logvar) - StandardNormalPrior(3).log_prob(zs)).mean(0)
    assert torch.allclose(mc_mean, kl, atol=0.05)


def test_a_seeded_model_init_is_the_seeded_global_init() -> None:
    cfg = ModelConfig(hidden=(32,), latent_dim=3)
    torch.manual_seed(5)
    a = LatentVariableModel(cfg)
    b = LatentVariableModel(cfg, torch.Generator().manual_seed(5))
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def _in_two_threads(run) -> list[torch.Tensor]:
    """run(1) and run(2) in two threads started together, each three times over (so their
    draws interleave); the last result of each."""
    results: list[torch.Tensor] = [torch.empty(0), torch.empty(0)]
    start = threading.Barrier(2)

    def work(i: int) -> None:
        start.wait()
        for _ in range(3):
            results[i] = run(i + 1)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.parametrize("estimator", ["fast", "generic"])
def test_two_seeded_nll_estimates_in_two_threads_match_a_sequential_run(
    tiny_images, estimator: str
) -> None:
    x, _ = tiny_images
    x = (x > 0.5).float()
    model = make_model().eval()
    if estimator == "fast":
        run = lambda seed: iwae_nll_fast(model, x, k=40, batch_size=4, seed=seed)  # noqa: E731
    else:
        run = lambda seed: iwae_nll(model, x, k=40, batch_size=4, seed=seed)  # noqa: E731
    sequential = [run(1), run(2)]
    parallel = _in_two_threads(run)
    assert torch.equal(parallel[0], sequential[0]) and torch.equal(parallel[1], sequential[1])


def test_nothing_in_vae_core_reseeds_the_global_rng() -> None:
    calls = []
    for path in (ROOT / "vae_core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = ast.unparse(node.func.value)
                if node.func.attr in ("manual_seed", "seed", "set_rng_state") and owner in (
                    "torch",
                    "torch.random",
                    "torch.cuda",
                    "np.random",
                ):
                    calls.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert calls == []


def _cfg(**kw) -> TrainConfig:
    base = {"epochs": 1, "batch_size": 16, "device": "cpu", "binarize": "dynamic", "log_every": 1}
    return TrainConfig(**{**base, **kw})


def test_compiled_and_eager_training_agree_on_the_cpu(tiny_images) -> None:
    x, y = tiny_images
    eager = train(make_model(), x, y, _cfg())
    compiled = train(make_model(), x, y, _cfg(compile=True))
    assert compiled.compiled and compiled.compile_error is None and not eager.compiled
    for a, b in zip(eager.history, compiled.history, strict=True):
        for key in ("loss", "elbo", "recon", "kl"):
            assert b.train[key] == pytest.approx(a.train[key], rel=1e-4, abs=1e-3)


def test_a_failed_compile_falls_back_to_eager_and_says_why(tiny_images, monkeypatch) -> None:
    x, y = tiny_images

    def broken_compile(model):
        def run(*args, **kwargs):
            raise RuntimeError("no C compiler found\ndetails")

        return run

    eager = train(make_model(), x, y, _cfg())
    monkeypatch.setattr(torch, "compile", broken_compile)
    result = train(make_model(), x, y, _cfg(compile=True))
    assert not result.compiled and result.compile_error == "RuntimeError: no C compiler found"
    assert result.history[0].train == pytest.approx(eager.history[0].train)


def test_train_config_from_dict_is_as_strict_as_the_model_config() -> None:
    from vae_core.config import ConfigError

    good = TrainConfig(epochs=3, adam_betas=(0.9, 0.99)).to_dict()
    good["adam_betas"] = list(good["adam_betas"])  # as JSON gives it back
    assert TrainConfig.from_dict(good) == TrainConfig(epochs=3, adam_betas=(0.9, 0.99))
    with pytest.raises(ConfigError, match="unknown train config keys: epoch"):
        TrainConfig.from_dict({"epoch": 3})
    with pytest.raises(ConfigError, match="'epochs' has the wrong type"):
        TrainConfig.from_dict({"epochs": "3"})
    with pytest.raises(ConfigError, match="must be a JSON object"):
        TrainConfig.from_dict([1, 2])
