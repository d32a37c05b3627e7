"""``bench/gpu_check.py`` keeps working on machines without a GPU: its no-CUDA exit, and every
part of it on the CPU at small sizes (its figures are not benchmarks; the README's GPU figures
come from a run on a CUDA machine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu_check.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=600
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_without_cuda_it_says_so_and_exits_0() -> None:
    proc = run("--json")
    assert proc.returncode == 0, proc.stderr
    assert "no CUDA device" in proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"cuda": False}


@pytest.mark.skipif(not os.environ.get("VAE_LAB_DATA"), reason="VAE_LAB_DATA is not set")
def test_every_part_runs_on_the_cpu_in_smoke_mode() -> None:
    proc = run("--device", "cpu", "--smoke", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    for mode in ("eager", "amp", "compile"):
        assert report[f"train_{mode}_s_per_epoch"] > 0
    assert (report["iwae_k"], report["iwae_images"]) == (10, 200)
    # the shipped 16-D MNIST VAE scores about 99 nats with K = 100 on all 10,000 images
    assert 85 < report["iwae_nll"] < 120
    assert set(report["pages"]) == {"app.py", "pages/4_Generate.py"}
    assert report["pages_failed"] == []
