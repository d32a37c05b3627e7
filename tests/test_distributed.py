"""``torchrun --nproc_per_node=2 -m vae_core train`` on the CPU (gloo) follows the loss curve of
one process with the same global batch and seed, and rank 0 alone writes the checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli import cli_env, write_dataset
from vae_core.io.checkpoint_file import load_checkpoint

# Two processes sum each batch's loss in another order than one does (float32), and Adam
# carries those last-bit differences from step to step: over the few steps here the epoch
# losses agree to about 1e-6 relative; 1e-4 leaves room for other BLAS builds.
RTOL = 1e-4
# 96 training images, 4 held out: 92 per epoch, so batches of 32 end in a short one of 28.
ARGS = ["--epochs", "3", "--hidden", "16", "--latent-dim", "2", "--batch-size", "32"]
ARGS += ["--iw-samples", "2", "--seed", "5", "--json"]


def epoch_lines(stdout: str) -> list[dict]:
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "epoch"]


@pytest.mark.slow
def test_two_gloo_processes_follow_the_single_process_curve(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data")
    env = {**cli_env(tmp_path), "OMP_NUM_THREADS": "1"}
    single, double = tmp_path / "one.safetensors", tmp_path / "two.safetensors"
    base = [*ARGS, "--data-dir", str(data)]
    one = subprocess.run(
        [sys.executable, "-m", "vae_core", "train", *base, "--threads", "1", "--out", str(single)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert one.returncode == 0, one.stderr[-2000:]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    launcher += ["--nproc_per_node=2", "-m", "vae_core", "train"]
    two = subprocess.run(
        [*launcher, *base, "--device", "cpu", "--out", str(double)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert two.returncode == 0, two.stderr[-3000:]

    curve_one, curve_two = epoch_lines(one.stdout), epoch_lines(two.stdout)
    assert len(curve_one) == len(curve_two) == 3  # rank 0 alone reports
    for a, b in zip(curve_one, curve_two, strict=True):
        for key in ("loss", "elbo", "kl"):
            assert b["train"][key] == pytest.approx(a["train"][key], rel=RTOL), (a, b)
        assert b["val"]["elbo"] == pytest.approx(a["val"]["elbo"], rel=RTOL)
    meta_one, meta_two = load_checkpoint(single).meta, load_checkpoint(double).meta
    assert (meta_one["world_size"], meta_two["world_size"]) == (1, 2)
    assert "2 processes" in meta_two["device"]
    assert meta_two["test_metrics"]["nll"] == pytest.approx(
        meta_one["test_metrics"]["nll"], rel=1e-3
    )
    assert sorted(p.name for p in tmp_path.glob("*.safetensors")) == [
        "one.safetensors",
        "two.safetensors",
    ]
    assert not os.environ.get("WORLD_SIZE")  # the test process itself never joined a group
