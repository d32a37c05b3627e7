"""Training on the importance-weighted bound (Burda et al. 2015): ``--objective iwae``.

The loss is -log (1/K) sum_k p(x, z_k) / q(z_k|x): with K = 1 it is the ELBO with a sampled KL,
its value is the estimator the Likelihood page reports, and it tightens as K grows.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from tests.conftest import make_model
from vae_core.cli import main
from vae_core.io.checkpoint_file import load_checkpoint
from vae_core.models.objectives import iwae_log_likelihood
from vae_core.training.run_metadata import default_name, objective_of
from vae_core.training.trainer import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_2D = ROOT / "checkpoints" / "mnist-vae-2d.safetensors"


def _binary(n: int, seed: int) -> torch.Tensor:
    return (torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed)) > 0.7).float()


def test_k1_is_the_elbo_with_a_sampled_kl() -> None:
    """A mixture prior has no closed-form KL, so its ELBO objective samples log q - log p at the
    same code: the IWAE loss with K = 1 and that noise is the same number."""
    model = make_model(prior="mog", prior_components=3, latent_dim=2).eval()
    x = _binary(16, 1)
    eps = torch.randn(16, 2, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        elbo = model(x, eps=eps)
        iwae = model(x, eps=eps[:, None, :])
    assert iwae.loss.item() == pytest.approx(elbo.loss.item(), rel=1e-6)
    assert iwae.elbo.item() == pytest.approx(elbo.elbo.item(), rel=1e-6)


def test_k1_matches_the_analytic_kl_elbo_in_expectation() -> None:
    """Under N(0, I) the ELBO objective uses the closed-form KL; K = 1 samples it: the two
    agree on average over the reparameterisation noise."""
    model = make_model(latent_dim=3).eval()
    x = _binary(8, 3)
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():
        elbo = torch.stack([-model(x, generator=gen).loss for _ in range(400)])
        iwae1 = torch.stack(
            [-model(x, eps=torch.randn(8, 1, 3, generator=gen)).loss for _ in range(400)]
        )
    se = math.sqrt(elbo.var() / 400 + iwae1.var() / 400)
    assert abs(elbo.mean() - iwae1.mean()) < 4 * se


def test_the_loss_is_the_iwae_estimate_of_the_likelihood_page() -> None:
    """Same noise, same number: the training loss and ``iwae_log_likelihood`` agree."""
    ckpt = load_checkpoint(SHIPPED_2D)
    model = ckpt.model.eval()
    x = _binary(20, 5)
    k = 50
    estimate = iwae_log_likelihood(model, x, k=k, generator=torch.Generator().manual_seed(6))
    eps = torch.randn(k, 20, 2, generator=torch.Generator().manual_seed(6)).transpose(0, 1)
    with torch.no_grad():
        loss = model(x, eps=eps).loss
    assert -loss.item() == pytest.approx(estimate.mean().item(), rel=1e-5)


def test_the_bound_grows_with_k_on_a_trained_model() -> None:
    model = load_checkpoint(SHIPPED_2D).model.eval()
    x = _binary(200, 7)
    gen = torch.Generator().manual_seed(8)
    with torch.no_grad():
        bounds = [-model(x, samples=k, generator=gen).loss.item() for k in (1, 5, 50)]
    assert bounds[0] < bounds[1] < bounds[2], bounds


def test_training_on_the_iwae_bound_improves_it(tiny_images) -> None:
    x, y = tiny_images
    model = make_model(latent_dim=2)
    config = TrainConfig(epochs=6, batch_size=16, lr=3e-3, objective="iwae", iw_train_samples=5)
    result = train(model, x, y, config)
    losses = [e.train["loss"] for e in result.history]
    assert losses[-1] < losses[0]
    # the loss is minus the IWAE bound, which is never below the ELBO of the same samples
    assert all(-e.train["loss"] >= e.train["elbo"] - 1e-3 for e in result.history)


def test_the_objective_refuses_what_it_cannot_train() -> None:
    with pytest.raises(ValueError, match="objective"):
        TrainConfig(objective="vimco")
    iwae = TrainConfig(objective="iwae")
    with pytest.raises(ValueError, match="beta = 1"):
        iwae.check_model(make_model(beta=4.0).config)
    with pytest.raises(ValueError, match="VAE or a CVAE"):
        iwae.check_model(make_model(kind="ae").config)
    iwae.check_model(make_model(kind="cvae").config)  # a CVAE trains on it


def test_cli_trains_with_iwae_and_the_checkpoint_says_so(tmp_path, capsys) -> None:
    from tests.test_cli import TINY, write_dataset

    data = write_dataset(tmp_path / "data")
    out = tmp_path / "iwae.safetensors"
    argv = ["train", "--data-dir", str(data), "--epochs", "1", "--iw-samples", "2", *TINY]
    assert main([*argv, "--objective", "iwae", "--iw-train-samples", "3", "--out", str(out)]) == 0
    ckpt = load_checkpoint(out)
    assert ckpt.meta["train_config"]["objective"] == "iwae"
    assert ckpt.meta["train_config"]["iw_train_samples"] == 3
    assert objective_of(ckpt.meta) == "IWAE bound, K = 3"
    assert "(IWAE, K=3)" in ckpt.meta["name"]
    capsys.readouterr()
    assert main([*argv, "--objective", "iwae", "--beta", "4", "--out", str(out)]) == 2
    assert "beta = 1" in capsys.readouterr().err
    assert load_checkpoint(out).meta["train_config"]["objective"] == "iwae"  # not overwritten


def test_older_checkpoints_read_as_elbo_models() -> None:
    meta = load_checkpoint(SHIPPED_2D).meta
    assert objective_of(meta) == "ELBO"
    model = make_model().config
    assert "IWAE" not in default_name(model, TrainConfig())
    assert json.dumps(TrainConfig.from_dict(meta["train_config"]).to_dict())
