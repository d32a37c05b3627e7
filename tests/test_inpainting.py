"""Latent optimisation over observed pixels improves its own objective and ignores hidden ones."""

from __future__ import annotations

import pytest
import torch

from vae_core.config import ModelConfig
from vae_core.latent.inpainting import inpaint, masked_objective, pixel_log_prob
from vae_core.latent.noise import corrupt
from vae_core.models.model import LatentVariableModel
from vae_core.models.objectives import elbo_terms


def bars(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Vertical bars at random columns: a 1-D family a 3-D latent can learn in seconds."""
    g = torch.Generator().manual_seed(seed)
    cols = torch.randint(4, 22, (n,), generator=g)
    x = torch.zeros(n, 1, 28, 28)
    for i, c in enumerate(cols):
        x[i, :, 5:23, c : c + 3] = 1.0
    return x, torch.ones(n, dtype=torch.long)


def trained(kind: str) -> LatentVariableModel:
    """A tiny model fitted for a few hundred steps, so its decoder really depends on z."""
    model = tiny(kind)
    x, y = bars(128)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        loss = elbo_terms(model, x, y if kind == "cvae" else None).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    opt.zero_grad(set_to_none=True)
    for p in model.parameters():
        p.grad = None
    return model.eval()


def tiny(kind: str = "vae", likelihood: str = "bernoulli", **kw) -> LatentVariableModel:
    torch.manual_seed(0)
    cfg = ModelConfig(kind=kind, latent_dim=3, hidden=(32,), likelihood=likelihood, **kw)
    return LatentVariableModel(cfg).eval()


@pytest.fixture
def x() -> torch.Tensor:
    img = torch.zeros(4, 1, 28, 28)
    img[:, :, 6:22, 12:16] = 1.0  # a bar, like a '1'
    return img


@pytest.mark.parametrize(
    ("likelihood", "extra"),
    [
        ("bernoulli", {}),
        ("gaussian", {}),
        ("gaussian", {"learn_variance": True}),
        ("categorical", {}),
    ],
)
def test_pixel_terms_sum_to_the_model_log_prob(likelihood, extra, x):
    model = tiny(likelihood=likelihood, **extra)
    with torch.no_grad():
        out = model.decoder_output(torch.randn(4, 3))
        per_pixel = pixel_log_prob(model, out, x)
        assert per_pixel.shape == (4, 1, 28, 28)
        assert torch.allclose(per_pixel.flatten(1).sum(1), model.log_prob(out, x), rtol=1e-4)


def test_hidden_pixels_do_not_count(x):
    model = tiny()
    c = corrupt(x, "occlusion-half", 0.5)
    z = torch.randn(4, 3)
    changed = x.clone()
    changed[~c.observed] = torch.rand(int((~c.observed).sum()))
    with torch.no_grad():
        a = masked_objective(model, z, x, c.observed)
        b = masked_objective(model, z, changed, c.observed)
    assert torch.allclose(a, b)


@pytest.mark.parametrize("kind", ["vae", "cvae", "ae"])
def test_inpainting_improves_the_masked_objective(kind):
    model = trained(kind)
    x, y = bars(8, seed=1)
    y = y if kind == "cvae" else None
    c = corrupt(x, "occlusion-half", 0.5)
    before = [p.detach().clone() for p in model.parameters()]
    result = inpaint(model, c.noisy, c.observed, y, steps=80, lr=0.05)
    assert len(result.objective) == 81
    assert result.objective[-1] > result.objective[0] + 5.0  # nats per image
    with torch.no_grad():
        start = masked_objective(model, model.encode(c.noisy, y)[0], x, c.observed, y).mean()
    assert result.objective[0] == pytest.approx(float(start), rel=1e-5)
    assert result.image.shape == x.shape and float(result.image.min()) >= 0
    assert float(result.image.max()) <= 1
    # the shared model is untouched: same weights, no gradients left behind
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))
    assert all(p.grad is None for p in model.parameters())


def test_prior_term_only_for_stochastic_models(x):
    observed = torch.ones_like(x, dtype=torch.bool)
    z = torch.full((4, 3), 2.0)
    with torch.no_grad():
        vae, ae = tiny("vae"), tiny("ae")
        out = vae.decoder_output(z)
        ll = vae.log_prob(out, x)
        gap = ll - masked_objective(vae, z, x, observed)
        expected = 0.5 * 12.0 + 1.5 * torch.log(torch.tensor(2 * torch.pi))  # -log N(z; 0, I)
        assert torch.allclose(gap, expected.expand(4), rtol=1e-5)
        assert torch.allclose(
            masked_objective(ae, z, x, observed), ae.log_prob(ae.decoder_output(z), x)
        )
