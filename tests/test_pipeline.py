"""One train → score → checkpoint workflow: ``python -m vae_core train`` and the Train page's
job give the same model, the same test report and the same metadata for the same settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.test_cli import write_dataset
from ui.training_jobs import JobSpec, create_job
from vae_core.cli import main
from vae_core.config import ModelConfig
from vae_core.io.checkpoint_file import load_checkpoint
from vae_core.jobs.runner import run_job
from vae_core.training.trainer import TrainConfig

# Per-run facts, not results: when and where it ran, and how long it took.
RUN_FACTS = {"created", "training_seconds", "device", "name"}


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = write_dataset(tmp_path / "data")
    monkeypatch.setenv("VAE_LAB_DATA", str(root))  # the app reads its data from here
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return root


def test_cli_and_app_train_and_score_alike(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli.safetensors"
    argv = ["train", "--data-dir", str(data), "--epochs", "2", "--hidden", "16"]
    argv += ["--latent-dim", "2", "--batch-size", "32", "--threads", "1", "--seed", "3"]
    argv += ["--iw-samples", "4", "--out", str(out), "--json"]
    assert main(argv) == 0
    capsys.readouterr()
    cli = load_checkpoint(out)

    spec = JobSpec(
        name="app",
        model_config=ModelConfig(latent_dim=2, hidden=(16,)),
        train_config=TrainConfig(epochs=2, batch_size=32, binarize="dynamic", seed=3),
        test_images=None,  # the CPU default subset (1,000) is more than the 40 test images
        iw_samples=4,
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the job trains on cpu_threads() = 1 here too (2 cores)
    try:
        job = create_job(spec, tmp_path / "runs")
        run_job(job.store, job.id)  # the worker's task, in this process
    finally:
        torch.set_num_threads(threads)
    snap = job.snapshot()
    assert snap.state == "done", snap.error
    app = load_checkpoint(snap.checkpoint)

    assert cli.config == app.config
    cli_weights, app_weights = cli.model.state_dict(), app.model.state_dict()
    assert cli_weights.keys() == app_weights.keys()
    for name, value in cli_weights.items():
        torch.testing.assert_close(value, app_weights[name], rtol=1e-5, atol=1e-6, msg=name)
    assert set(cli.meta) - RUN_FACTS == set(app.meta) - RUN_FACTS
    cli_test, app_test = cli.meta["test_metrics"], app.meta["test_metrics"]
    assert cli_test.keys() == app_test.keys()
    assert cli_test["scored_on"] == app_test["scored_on"] and cli_test["n"] == 40
    for key in ("elbo", "recon", "kl", "nll"):
        assert cli_test[key] == pytest.approx(app_test[key], abs=1e-4), key
    assert cli.meta["stopped_early"] is app.meta["stopped_early"] is False
