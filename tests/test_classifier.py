"""The CNN judge: training, safetensors round trip, the faithfulness score of a CVAE, the lookup
by the model's dataset (refusing a judge of other data), seeding without the global RNG, and the
shipped Fashion-MNIST judge scoring the shipped Fashion-MNIST CVAE."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from tests.conftest import make_model
from vae_core.evaluation.classifier import (
    DigitClassifier,
    accuracy,
    check_fits,
    faithfulness,
    find_classifier,
    load_classifier,
    mean_pairwise_distance,
    save_classifier,
    train_classifier,
)
from vae_core.io.checkpoint_file import load_checkpoint
from vae_core.models.sampling import TEMPERATURE, prior_codes, typical_radius


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


SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints"
REAL = os.environ.get("VAE_LAB_DATA")


@pytest.fixture
def judges(tmp_path: Path) -> Path:
    for dataset in ("mnist", "fashion-mnist"):
        save_classifier(
            DigitClassifier(), tmp_path / f"{dataset}-classifier.safetensors", {"dataset": dataset}
        )
    return tmp_path


def test_lookup_picks_the_classifier_of_the_models_dataset(judges: Path) -> None:
    assert find_classifier(judges, "fashion-mnist").name == "fashion-mnist-classifier.safetensors"
    assert find_classifier(judges, "mnist").name == "mnist-classifier.safetensors"


def test_lookup_explains_when_no_classifier_fits(judges: Path) -> None:
    (judges / "fashion-mnist-classifier.safetensors").unlink()
    with pytest.raises(ValueError) as err:
        find_classifier(judges, "fashion-mnist")
    msg = str(err.value)
    assert "no classifier for Fashion-MNIST" in msg and "classifiers there: MNIST" in msg
    assert "train-classifier --dataset fashion-mnist" in msg
    with pytest.raises(ValueError, match="does not say which dataset"):
        find_classifier(judges, None)


def test_a_classifier_of_other_data_is_refused(judges: Path) -> None:
    path = judges / "mnist-classifier.safetensors"
    _, meta = load_classifier(path)
    with pytest.raises(ValueError, match="trained on MNIST, not on Fashion-MNIST"):
        check_fits(meta, "fashion-mnist", 10, path)
    with pytest.raises(ValueError, match="tells 10 classes apart, but this model has 3"):
        check_fits(meta, "mnist", 3, path)
    check_fits(meta, "mnist", 10, path)  # fits: no error


def test_faithfulness_and_training_leave_the_global_rng_alone() -> None:
    cvae = make_model(kind="cvae", latent_dim=2, hidden=(16,))
    clf = DigitClassifier()
    x = torch.rand(8, 1, 28, 28)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = faithfulness(cvae, clf, n_per_class=3, temperature=0.7, seed=5)
    b = faithfulness(cvae, clf, n_per_class=3, temperature=0.7, seed=5)
    m1, _ = train_classifier(x, torch.arange(8) % 10, epochs=1, batch_size=4, seed=2)
    m2, _ = train_classifier(x, torch.arange(8) % 10, epochs=1, batch_size=4, seed=2)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(a["examples"], b["examples"]) and a["confusion"] == b["confusion"]
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters(), strict=True))
    c = faithfulness(cvae, clf, n_per_class=3, temperature=0.7, seed=6)
    assert not torch.equal(a["examples"], c["examples"])


def test_reference_adds_the_reconstruction_ceiling() -> None:
    cvae = make_model(kind="cvae", latent_dim=2, hidden=(16,))
    x, y = torch.rand(12, 1, 28, 28), torch.arange(12) % 10
    r = faithfulness(cvae, DigitClassifier(), n_per_class=2, reference=(x, y))
    assert 0.0 <= r["reconstruction_accuracy"] <= 1.0 and r["reference_size"] == 12
    assert len(r["reference_diversity"]) == 10


def test_prior_codes_follow_the_temperature() -> None:
    g = torch.Generator().manual_seed(0)
    z = prior_codes(4000, 16, 1.5, g)
    assert z.shape == (4000, 16)
    assert float(z.norm(dim=1).mean()) == pytest.approx(typical_radius(16, 1.5), rel=0.03)
    assert TEMPERATURE.low < TEMPERATURE.samples < TEMPERATURE.high


def test_the_shipped_fashion_cvae_gets_a_faithfulness_score() -> None:
    ckpt = load_checkpoint(SHIPPED / "fashion-cvae-16d.safetensors")
    path = find_classifier(SHIPPED / "classifiers", ckpt.meta["dataset"])
    clf, meta = load_classifier(path)
    check_fits(meta, "fashion-mnist", ckpt.config.n_classes, path)
    assert meta["dataset"] == "fashion-mnist" and meta["train_size"] == 60_000
    assert meta["test_size"] == 10_000 and meta["test_accuracy"] > 0.88
    r = faithfulness(ckpt.model, clf, n_per_class=20, temperature=1.0)
    # far above chance (10 %): the judge tells the CVAE's garments apart
    assert 0.3 < r["accuracy"] <= 1.0 and len(r["per_class"]) == 10


@pytest.mark.slow
@pytest.mark.skipif(not REAL, reason="VAE_LAB_DATA is not set")
def test_shipped_fashion_classifier_accuracy_is_what_it_says() -> None:
    from vae_core.data.datasets import load_split

    clf, meta = load_classifier(SHIPPED / "classifiers" / "fashion-mnist-classifier.safetensors")
    x, y = load_split("fashion-mnist", "test", REAL, download=False).tensors()
    assert len(x) == 10_000
    assert accuracy(clf, x, y) == pytest.approx(meta["test_accuracy"], abs=1e-4)
