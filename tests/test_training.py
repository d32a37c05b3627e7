"""The training loop: it learns, it can be stopped, and it survives a NaN."""

from __future__ import annotations

import threading

import pytest
import torch

from tests.conftest import make_model
from vae_core.io.checkpoint_file import load_checkpoint
from vae_core.models.objectives import elbo_terms
from vae_core.training.trainer import TrainConfig, TrainingDiverged, train


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(
        **{"epochs": 3, "batch_size": 16, "lr": 3e-3, "device": "cpu", "log_every": 2, **kw}
    )


def test_one_optimizer_step_changes_the_weights(tiny_images) -> None:
    x, _ = tiny_images
    model = make_model()
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    elbo_terms(model, x).loss.backward()
    opt.step()
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize("kind", ["vae", "cvae", "ae"])
def test_short_training_lowers_the_loss(tiny_images, kind: str) -> None:
    x, y = tiny_images
    model = make_model(kind=kind)
    # From PyTorch's default init (the mean-image start of vae_core.models.output_bias already removes
    # most of what 6 epochs on these tiny images can learn; tests/test_output_bias.py covers it).
    result = train(model, x, y, _cfg(epochs=6, binarize="none", init_output_bias=False))
    losses = [e.train["loss"] for e in result.history]
    assert len(losses) == 6 and losses[-1] < losses[0] - 20
    assert set(result.history[-1].val) >= {"elbo", "recon", "kl"}


def test_training_is_seeded_and_reproducible(tiny_images) -> None:
    x, y = tiny_images
    a, b = make_model(), make_model()
    train(a, x, y, _cfg(epochs=2))
    train(b, x, y, _cfg(epochs=2))
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_stop_flag_and_checkpoint_each_epoch(tiny_images, tmp_path) -> None:
    x, y = tiny_images
    stop = threading.Event()
    seen = []

    def on_epoch(info) -> None:
        seen.append(info.epoch)
        if info.epoch == 2:
            stop.set()

    path = tmp_path / "run.safetensors"
    result = train(
        make_model(), x, y, _cfg(epochs=10), on_epoch=on_epoch, stop=stop, checkpoint_path=path,
        checkpoint_meta=lambda r: {"epoch": len(r.history)},
    )  # fmt: skip
    assert result.stopped and seen == [1, 2]
    assert load_checkpoint(path).meta["epoch"] >= 2


def test_nan_loss_stops_training_and_keeps_last_good_state(tiny_images, tmp_path) -> None:
    x, y = tiny_images
    model = make_model()
    path = tmp_path / "run.safetensors"

    def poison(info) -> None:
        if info.epoch == 2:
            with torch.no_grad():
                next(model.parameters()).fill_(float("nan"))

    with pytest.raises(TrainingDiverged, match="epoch 2"):
        train(model, x, y, _cfg(epochs=4), on_step=poison, checkpoint_path=path)
    assert all(torch.isfinite(p).all() for p in model.parameters())  # restored weights
    good = load_checkpoint(path)  # the epoch-1 checkpoint survives
    assert all(torch.isfinite(t).all() for t in good.model.state_dict().values())
