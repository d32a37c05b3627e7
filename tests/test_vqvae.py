"""VQ-VAE: quantization, straight-through gradients, EMA codebook, dead-code restarts, the
uniform-prior ELBO and checkpoint round trips."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from tests.test_cli import write_dataset
from vae_core.cli import main
from vae_core.config import VQConfig
from vae_core.io.checkpoint_file import CheckpointError, load_checkpoint
from vae_core.io.vq_checkpoint import is_vq_checkpoint, load_vq_checkpoint, vq_checkpoint_bytes
from vae_core.models.vqvae import VQVAE, VectorQuantizer, perplexity, uniform_prior_kl


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _images(n: int = 8) -> torch.Tensor:
    return (torch.rand(n, 1, 28, 28, generator=_gen(1)) > 0.5).float()


def test_quantization_picks_the_nearest_code() -> None:
    q = VectorQuantizer(VQConfig(codebook_size=16, code_dim=2))
    with torch.no_grad():
        q.codebook.copy_(torch.stack([torch.arange(16.0), torch.zeros(16)], 1))
    z_e = torch.tensor([[[[3.2]], [[0.1]]], [[[10.6]], [[-0.2]]]])  # (2, 2, 1, 1)
    z_q, idx, _, _ = q(z_e)
    assert idx.flatten().tolist() == [3, 11]
    assert torch.allclose(z_q.flatten(1), torch.tensor([[3.0, 0.0], [11.0, 0.0]]))


def test_gradients_reach_the_encoder_through_the_straight_through_path() -> None:
    model = VQVAE(VQConfig(commitment=0.0), _gen())
    terms = model(_images())
    (-terms.recon).backward()  # reconstruction only: no commitment path to the encoder
    grad = model.encoder[0].weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_perplexity_of_uniform_usage_is_k() -> None:
    k = 32
    assert math.isclose(perplexity(torch.arange(k).repeat(5), k), k, rel_tol=1e-9)
    assert math.isclose(perplexity(torch.zeros(50, dtype=torch.long), k), 1.0)


def test_ema_update_moves_a_code_toward_the_mean_of_its_vectors() -> None:
    q = VectorQuantizer(VQConfig(codebook_size=16, code_dim=2, ema_decay=0.9))
    q.reset_parameters(_gen())
    target = torch.tensor([1.0, -2.0])
    flat = target + 0.1 * torch.randn(20, 2, generator=_gen(2))
    idx = torch.zeros(20, dtype=torch.long)
    before = (q.codebook[0] - flat.mean(0)).norm()
    for _ in range(5):
        q.ema_update(flat, idx)
    after = (q.codebook[0] - flat.mean(0)).norm()
    assert after < 0.7 * before
    assert torch.allclose(q.codebook[5], q.ema_sum[5] / q.ema_count[5], rtol=1e-3)


def test_dead_code_restart_revives_an_unused_code() -> None:
    q = VectorQuantizer(VQConfig(codebook_size=16, code_dim=2))
    q.reset_parameters(_gen())
    flat = torch.randn(30, 2, generator=_gen(3)) + 5.0
    idx = torch.zeros(30, dtype=torch.long)  # only code 0 used
    n = q.restart_dead(flat, idx, _gen(4))
    assert n == 15
    revived = q.codebook[7]
    assert any(torch.equal(revived, row) for row in flat)
    # after the restart the encoder outputs are spread over more codes than one
    assert len(set(q.nearest(flat).tolist())) > 1


def test_elbo_is_recon_minus_49_log_k() -> None:
    model = VQVAE(VQConfig(codebook_size=128), _gen())
    with torch.no_grad():
        t = model(_images())
    assert math.isclose(uniform_prior_kl(128), 49 * math.log(128))
    assert torch.isclose(t.elbo, t.recon - 49 * math.log(128))


def test_checkpoint_round_trip_gives_identical_decodes() -> None:
    model = VQVAE(VQConfig(codebook_size=16, code_dim=4), _gen())
    model(_images(), update=True, generator=_gen(5))  # move the EMA buffers off their init
    model.eval()
    loaded = load_vq_checkpoint(vq_checkpoint_bytes(model, {"epochs": 1})).model
    codes = torch.randint(0, 16, (3, 7, 7), generator=_gen(6))
    with torch.no_grad():
        assert torch.equal(model.decode_codes(codes), loaded.decode_codes(codes))
        assert torch.equal(model.encode_codes(_images()), loaded.encode_codes(_images()))
    assert loaded.config == model.config


def test_ordinary_loader_refuses_a_vq_checkpoint_with_a_checkpoint_error() -> None:
    """Pages that need a Gaussian posterior load through ``load_checkpoint``: a VQ file must be
    refused with a message, never built as a wrong model."""
    data = vq_checkpoint_bytes(VQVAE(VQConfig(codebook_size=16), _gen()), {})
    assert is_vq_checkpoint(data)
    with pytest.raises(CheckpointError):
        load_checkpoint(data)


def test_cli_train_and_evaluate_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In-process (``cli.main``), as the error cases of tests/test_cli.py: two subprocesses
    would spend most of the test importing PyTorch."""
    monkeypatch.delenv("VAE_LAB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # never a download
    data = write_dataset(tmp_path / "data")
    out = tmp_path / "vq.safetensors"
    train = ["train", "--kind", "vqvae", "--codebook-size", "16", "--code-dim", "4"]
    opts = ["--epochs", "1", "--batch-size", "32", "--json", "--out", str(out)]
    assert main([*train, *opts, "--data-dir", str(data)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["epoch", "test"]
    assert main(["evaluate", str(out), "--json", "--limit", "20", "--data-dir", str(data)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == "VQ-VAE"
    assert report["codebook_size"] == 16
    assert 1 <= report["codes_used"] <= 16
    assert 1.0 <= report["perplexity"] <= report["codes_used"] + 1e-9
    assert report["data_kind"] == "binarized/bernoulli"
    assert report["recon_unit"] == report["elbo_unit"] == "nats per image"
    assert "bound" in report["elbo_note"]
    assert math.isclose(
        report["elbo_uniform_prior"], report["recon_log_likelihood"] - 49 * math.log(16)
    )
    assert report["mse"] >= 0
