"""CUDA-graph training steps: when they apply, and (on a CUDA machine) that they train exactly
what eager steps train. The CUDA test is skipped here; ``bench/gpu_check.py`` runs it there."""

from __future__ import annotations

import pytest
import torch

from vae_core.config import ModelConfig
from vae_core.models.model import LatentVariableModel
from vae_core.training.cuda_graph import graph_unavailable
from vae_core.training.trainer import TrainConfig, train

CUDA = torch.device("cuda")
ELIGIBLE = {
    "wanted": True,
    "device": CUDA,
    "compile": False,
    "amp": False,
    "world_size": 1,
    "scheduled": False,
}


def test_graphs_apply_only_where_nothing_changes_between_steps() -> None:
    assert graph_unavailable(**ELIGIBLE) is None
    for change in (
        {"wanted": False},
        {"device": torch.device("cpu")},
        {"compile": True},
        {"amp": True},
        {"world_size": 2},
        {"scheduled": True},
    ):
        reason = graph_unavailable(**(ELIGIBLE | change))
        assert isinstance(reason, str) and reason, change


def test_a_cpu_run_reports_no_graph() -> None:
    x = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    model = LatentVariableModel(ModelConfig(latent_dim=2, hidden=(32,)), torch.Generator())
    result = train(model, x, torch.zeros(64, dtype=torch.long), TrainConfig(epochs=1, device="cpu"))
    assert not result.cuda_graph and result.cuda_graph_error is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("vae", {}),
        ("cvae", {}),
        ("vae", {"objective": "iwae"}),
        ("vae", {"train_noise": "gaussian:0.3"}),
    ],
)
def test_graphed_steps_train_what_eager_steps_train(kind: str, extra: dict) -> None:
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(1000, 1, 28, 28, generator=g) > 0.7).float()  # 7 full batches and one of 104
    y = torch.randint(0, 10, (1000,), generator=g)
    runs = []
    for graphs in (False, True):
        model_config = ModelConfig(kind=kind, latent_dim=4, hidden=(64,))
        model = LatentVariableModel(model_config, torch.Generator().manual_seed(0))
        config = TrainConfig(epochs=3, device="cuda", cuda_graphs=graphs, **extra)
        runs.append((train(model, x, y, config), model))
    (eager, eager_model), (graphed, graphed_model) = runs
    assert graphed.cuda_graph and graphed.cuda_graph_error is None
    for a, b in zip(eager.history, graphed.history, strict=True):
        assert b.train["loss"] == pytest.approx(a.train["loss"], rel=1e-4)
        assert b.val["elbo"] == pytest.approx(a.val["elbo"], rel=1e-4)
    for pa, pb in zip(eager_model.parameters(), graphed_model.parameters(), strict=True):
        torch.testing.assert_close(pb, pa, rtol=1e-3, atol=1e-4)
