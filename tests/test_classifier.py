"""The CNN judge: training, safetensors round trip, and the faithfulness score of a CVAE."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.conftest import make_model
from vae_core.evaluation.classifier import (
    DigitClassifier,
    accuracy,
    faithfulness,
    load_classifier,
    mean_pairwise_distance,
    save_classifier,
    train_classifier,
)


class AlwaysThree(DigitClassifier):
    """A judge that answers 3 whatever it sees, so the expected scores are known exactly."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(len(x), self.n_classes)
        logits[:, 3] = 1.0
        return logits


def test_classifier_learns_the_synthetic_digits(tiny_images) -> None:
    x, y = tiny_images
    model, recipe = train_classifier(x.repeat(3, 1, 1, 1), y.repeat(3), epochs=4, batch_size=32)
    assert accuracy(model, x, y) > 0.9
    assert recipe["train_size"] == 192 and recipe["epochs"] == 4


def test_save_and_load_round_trip(tmp_path: Path, tiny_images) -> None:
    x, _ = tiny_images
    torch.manual_seed(0)
    model = DigitClassifier()
    path = save_classifier(model, tmp_path / "c.safetensors", {"test_accuracy": 0.5})
    loaded, meta = load_classifier(path)
    assert meta == {"test_accuracy": 0.5, "n_classes": 10}
    assert torch.equal(loaded.predict(x), model.predict(x))
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="bad.safetensors"):
        load_classifier(tmp_path / "bad.safetensors")
    with pytest.raises(ValueError, match="no such"):
        load_classifier(tmp_path / "missing.safetensors")


def test_faithfulness_counts_per_class_hits() -> None:
    cvae = make_model(kind="cvae")
    r = faithfulness(cvae, AlwaysThree(), n_per_class=6, temperature=0.5)
    assert r["per_class"] == [0.0] * 3 + [1.0] + [0.0] * 6
    assert r["accuracy"] == pytest.approx(0.1)
    assert all(row == [0, 0, 0, 6, 0, 0, 0, 0, 0, 0] for row in r["confusion"])
    assert len(r["diversity"]) == 10 and all(d > 0 for d in r["diversity"])
    assert r["examples"].shape == (60, 1, 28, 28)
    with pytest.raises(ValueError, match="CVAE"):
        faithfulness(make_model(), AlwaysThree(), n_per_class=2)


def test_diversity_is_zero_for_copies_and_grows_with_spread() -> None:
    one = torch.rand(1, 1, 28, 28)
    assert mean_pairwise_distance(one.repeat(5, 1, 1, 1)) == 0.0
    a, b = torch.zeros(1, 1, 28, 28), torch.ones(1, 1, 28, 28)
    assert mean_pairwise_distance(torch.cat([a, b])) == pytest.approx(28.0)
