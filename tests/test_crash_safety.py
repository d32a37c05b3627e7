"""kill -9 at random moments of training, including mid-checkpoint-write: the file always loads."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vae_core.io.checkpoint_file import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent

# A child that trains a small model and rewrites its checkpoint after every epoch, as fast as it
# can, so that a random kill often lands inside a write. It prints a line after each write.
CHILD = """
import sys, torch
from vae_core.config import ModelConfig
from vae_core.models.model import LatentVariableModel
from vae_core.training.trainer import TrainConfig, train
path = sys.argv[1]
torch.manual_seed(0)
x = torch.rand(64, 1, 28, 28); y = torch.randint(0, 10, (64,))
model = LatentVariableModel(ModelConfig(hidden=(256,), latent_dim=8))
cfg = TrainConfig(epochs=1, batch_size=64, device="cpu", val_fraction=0)
for epoch in range(100000):
    train(model, x, y, cfg, checkpoint_path=path, checkpoint_meta=lambda r: {"epoch": epoch})
    print("WROTE", epoch, flush=True)
"""


@pytest.mark.slow
def test_last_good_checkpoint_survives_kill_9(tmp_path: Path) -> None:
    rng = random.Random(0)
    path = tmp_path / "run.safetensors"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    epochs_seen = []
    for _ in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, env=env, text=True
        )
        assert proc.stdout is not None
        for _ in range(rng.randint(1, 4)):  # let it write a few times, then kill at random
            assert proc.stdout.readline().startswith("WROTE")
        time.sleep(rng.uniform(0.0, 0.03))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        checkpoint = load_checkpoint(path)  # must never raise
        epochs_seen.append(checkpoint.meta["epoch"])
        leftovers = [p for p in tmp_path.iterdir() if p.name != path.name]
        for p in leftovers:  # an interrupted temp file may remain; it is never the checkpoint
            assert p.name.endswith(".tmp")
    assert max(epochs_seen) > 0  # the child really rewrote the file before being killed
