"""The fast IWAE estimator must equal the generic one sample for sample (same noise)."""

from __future__ import annotations

import math

import pytest
import torch

from tests.conftest import make_model
from vae_core.evaluation.iwae import (
    fast_path_available,
    iwae_nll_fast,
    likelihood_report,
    per_class_mean,
)
from vae_core.evaluation.scoring import iwae_nll
from vae_core.evaluation.units import bits_per_dim


@pytest.mark.parametrize("kind", ["vae", "cvae"])
def test_fast_path_equals_generic_estimator(tiny_images, kind: str) -> None:
    x, y = tiny_images
    xb = torch.bernoulli(x, generator=torch.Generator().manual_seed(1))
    model = make_model(kind=kind, hidden=(32, 16))
    assert fast_path_available(model)
    labels = y if kind == "cvae" else None
    generic = iwae_nll(model, xb, labels, k=37, batch_size=24, seed=3)
    # a tiny rows_per_chunk forces several chunks over K, which must not change the result
    fast = iwae_nll_fast(model, xb, y, k=37, batch_size=24, seed=3, rows_per_chunk=100)
    assert fast.shape == (len(x),)
    assert torch.allclose(fast, generic, atol=1e-3, rtol=0)
    other_seed = iwae_nll_fast(model, xb, y, k=37, batch_size=24, seed=4)
    assert not torch.allclose(other_seed, generic, atol=1e-3, rtol=0)


def test_fast_path_on_grey_pixels_and_forced_generic(tiny_images) -> None:
    x, _ = tiny_images
    model = make_model()
    fast = iwae_nll_fast(model, x, k=10, seed=0)
    generic = iwae_nll_fast(model, x, k=10, seed=0, force_generic=True)
    assert torch.allclose(fast, generic, atol=1e-3, rtol=0)
    assert torch.equal(generic, iwae_nll(model, x, None, k=10, seed=0))


def test_gaussian_decoder_falls_back_to_generic(tiny_images) -> None:
    x, _ = tiny_images
    model = make_model(likelihood="gaussian")
    assert not fast_path_available(model)
    assert torch.equal(iwae_nll_fast(model, x, k=5, seed=2), iwae_nll(model, x, None, k=5, seed=2))


def test_progress_reports_every_batch(tiny_images) -> None:
    x, _ = tiny_images
    calls: list[tuple[int, int]] = []
    iwae_nll_fast(make_model(), x, k=3, batch_size=20, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(20, 64), (40, 64), (60, 64), (64, 64)]


def test_more_samples_tighten_the_bound(tiny_images) -> None:
    x, y = tiny_images
    model = make_model()
    nll_1, nll_200 = (float(iwae_nll_fast(model, x, y, k=k).mean()) for k in (1, 200))
    assert nll_200 < nll_1  # IWAE is a tighter (higher) bound, so a lower NLL


def test_bad_arguments_are_refused(tiny_images) -> None:
    x, _ = tiny_images
    with pytest.raises(ValueError, match="k must be"):
        iwae_nll_fast(make_model(), x, k=0)
    with pytest.raises(ValueError, match="AE"):
        iwae_nll_fast(make_model(kind="ae"), x, k=5)


def test_bits_per_dim_and_per_class_mean() -> None:
    assert bits_per_dim(784 * math.log(2)) == pytest.approx(1.0)
    values = torch.tensor([1.0, 3.0, 10.0])
    assert per_class_mean(values, torch.tensor([0, 0, 2]), 3) == [2.0, None, 10.0]


def test_likelihood_report_gap_is_consistent(tiny_images) -> None:
    x, y = tiny_images
    r = likelihood_report(make_model(), x, y, k=50)
    assert r["gap_nats"] == pytest.approx(r["neg_elbo"] - r["nll"], rel=1e-9)
    assert r["gap_bpd"] == pytest.approx(r["gap_nats"] / (784 * math.log(2)))
    assert r["gap_nats"] > 0  # K = 50 samples beat one sample on an untrained model
    present = [v for v in r["per_class_nll"] if v is not None]
    assert len(present) == len(set(y.tolist()))
