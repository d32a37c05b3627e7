"""The decoder starts at the mean training image, for every decoder family."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import make_model
from vae_core.models.likelihoods import N_LEVELS, Categorical
from vae_core.models.output_bias import init_output_bias
from vae_core.training.trainer import TrainConfig, train


def _images(n: int = 64) -> torch.Tensor:
    torch.manual_seed(1)
    x = torch.rand(n, 1, 28, 28) ** 3  # mostly dark, like digits
    x[:, :, :2] = 0.0  # always-black rows, as on MNIST's border
    return x


def test_mlp_bernoulli_decodes_the_mean_image_from_a_zero_hidden_state() -> None:
    x = _images()
    model = make_model()
    assert init_output_bias(model, x)
    p = torch.sigmoid(model.decoder[-2].bias).view(1, 28, 28)
    assert torch.allclose(p, x.mean(0).clamp(1e-3, 1 - 1e-3), atol=1e-5)


def test_learned_gaussian_variance_channel_is_left_alone() -> None:
    x = _images()
    model = make_model(likelihood="gaussian", learn_variance=True)
    before = model.decoder[-2].bias.detach().clone()
    assert init_output_bias(model, x)
    after = model.decoder[-2].bias
    assert torch.equal(after[784:], before[784:])
    assert torch.allclose(torch.sigmoid(after[:784]), x.mean(0).flatten().clamp(1e-3, 1 - 1e-3))


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_categorical_starts_at_the_grey_level_frequencies(arch: str) -> None:
    x = _images()
    model = make_model(likelihood="categorical", arch=arch, conv_channels=(4, 8))
    assert init_output_bias(model, x)
    probs = model.decoder[-1].bias.softmax(0)
    counts = torch.bincount(Categorical.levels(x).flatten(), minlength=N_LEVELS).float()
    assert torch.allclose(probs, (counts + 1) / (counts + 1).sum(), atol=1e-6)
    assert int(probs.argmax()) == 0  # black is the commonest level


def test_conv_bernoulli_uses_the_global_mean() -> None:
    x = _images()
    model = make_model(arch="conv", conv_channels=(4, 8))
    assert init_output_bias(model, x)
    bias = model.decoder[-1].bias.detach()
    assert float(torch.sigmoid(bias[0])) == pytest.approx(float(x.mean()), 1e-5)


def test_train_applies_it_unless_turned_off() -> None:
    x, y = _images(), torch.zeros(64, dtype=torch.long)
    logit_mean = torch.logit(x.mean(0).flatten().clamp(1e-3, 1 - 1e-3))
    cfg = {"epochs": 1, "batch_size": 64, "lr": 1e-9, "device": "cpu", "val_fraction": 0.0}
    on = make_model()
    train(on, x, y, TrainConfig(binarize="none", **cfg))
    assert torch.allclose(on.decoder[-2].bias, logit_mean, atol=1e-4)
    off = make_model()
    train(off, x, y, TrainConfig(binarize="none", init_output_bias=False, **cfg))
    assert not torch.allclose(off.decoder[-2].bias, logit_mean, atol=0.1)


def test_adam_betas_survive_a_json_round_trip() -> None:
    cfg = TrainConfig(adam_betas=(0.9, 0.99))
    data = cfg.to_dict()
    data["adam_betas"] = list(data["adam_betas"])  # what JSON gives back
    assert TrainConfig.from_dict(data).adam_betas == (0.9, 0.99)
    with pytest.raises(ValueError, match="adam_betas"):
        TrainConfig(adam_betas=(0.9, 1.5))
