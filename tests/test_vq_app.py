"""The app with a VQ-VAE: the picker and Home card know it, the pages that need a Gaussian
posterior say why they do not apply (one st.info, no exception), the VQ codes page works.

Uses the shipped ``mnist-vqvae-64`` (a trained model, so its codes mean something) on a small
synthetic MNIST-format test split.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.conftest import make_model, synthetic_app_env
from ui.picker import MODEL_KEY
from ui.session import NOT_FOR_VQ
from vae_core.io.checkpoint_file import save_checkpoint
from vae_core.io.vq_checkpoint import load_vq_checkpoint

ROOT = Path(__file__).resolve().parents[1]
VQ_FILE = ROOT / "checkpoints" / "mnist-vqvae-64.safetensors"
N_TEST = 300
GAUSSIAN_PAGES = [
    "2_Latent_map.py",
    "3_Latent_sliders.py",
    "4_Generate.py",
    "5_Denoise.py",
    "6_Interpolate.py",
    "7_Likelihood.py",
    "8_Diagnostics.py",
    "9_Out_of_distribution.py",
    "10_pPCA.py",
    "11_CVAE_faithfulness.py",
    "12_Rate_distortion.py",
    "13_Compare.py",
]

pytestmark = pytest.mark.skipif(not VQ_FILE.is_file(), reason="no shipped VQ-VAE")


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return synthetic_app_env(monkeypatch, tmp_path, N_TEST)


def _open(page: str, path: Path = VQ_FILE) -> AppTest:
    at = AppTest.from_file(page, default_timeout=180)
    at.session_state[MODEL_KEY] = str(path)
    return at.run()


def _clean(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_the_pages_that_need_a_gaussian_posterior_say_so_for_a_vq_model(runs: Path) -> None:
    """One test over all such pages (each stops right after the picker, so this is quick)."""
    for page in GAUSSIAN_PAGES:
        at = _open(str(ROOT / "pages" / page))
        _clean(at)
        infos = [i.value for i in at.info]
        assert infos == [NOT_FOR_VQ], (page, infos)
        assert "VQ-VAE" in at.sidebar.caption[0].value, page


def test_a_vae_still_opens_those_pages_and_the_vq_page_refuses_it(runs: Path) -> None:
    path = runs / "vae.safetensors"
    save_checkpoint(make_model(), path, {"dataset": "mnist", "name": "tiny"})
    at = _open(str(ROOT / "pages" / "4_Generate.py"), path)
    _clean(at)
    assert NOT_FOR_VQ not in [i.value for i in at.info]
    at = _open(str(ROOT / "pages" / "14_VQ_codes.py"), path)
    _clean(at)
    assert "Pick a VQ-VAE" in at.info[0].value
    assert not at.get("plotly_chart")


def test_the_picker_lists_the_vq_model_but_model_lists_for_comparison_do_not() -> None:
    from ui.model_list import list_models, model_info

    assert str(VQ_FILE) in [e.path for e in list_models(include_vq=True)]
    assert str(VQ_FILE) not in [e.path for e in list_models()]
    info = model_info(str(VQ_FILE))
    assert info.is_vq and info.config.codebook_size == 64


def test_home_card_of_the_vq_model(runs: Path) -> None:
    at = _open(str(ROOT / "app.py"))
    _clean(at)
    metrics = {m.label: m.value for m in at.metric}
    meta = load_vq_checkpoint(VQ_FILE).meta["test_metrics"]
    assert metrics["Codebook size K"] == "64"
    assert metrics["Codes used"] == f"{meta['codes_used']} / 64"
    assert metrics["Perplexity"] == f"{meta['perplexity']:.1f}"
    assert metrics["Recon. log-likelihood"] == f"{meta['recon_log_likelihood']:.2f}"
    text = "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption])
    assert f"49 ln 64 = {49 * math.log(64):.2f} nats" in text
    assert "a constant" in text


def test_a_vq_checkpoint_can_be_uploaded(runs: Path) -> None:
    from ui.models import load_model, store_upload

    entry = store_upload(VQ_FILE.read_bytes(), "my-vq.safetensors")
    assert load_model(entry.path).model.config.codebook_size == 64


def _painter_image(at: AppTest) -> list[float]:
    return list(at.session_state["vq_painter_image"])


def test_painting_a_cell_changes_the_decoded_image(runs: Path) -> None:
    at = _open(str(ROOT / "pages" / "14_VQ_codes.py"))
    _clean(at)
    grid = list(at.session_state["vq_painter_grid"])
    before = _painter_image(at)
    new = (grid[3 * 7 + 3] + 1) % 64
    at.number_input(key="vq_set_code").set_value(new).run()
    at.button(key="vq_set").click().run()
    _clean(at)
    after_grid = list(at.session_state["vq_painter_grid"])
    assert after_grid[3 * 7 + 3] == new
    assert [a for i, a in enumerate(after_grid) if i != 24] == [
        g for i, g in enumerate(grid) if i != 24
    ]
    after = _painter_image(at)
    assert max(abs(a - b) for a, b in zip(before, after, strict=True)) > 0.05
    # the browser's report (what a click in the grid sends) is applied the same way, once
    token = at.session_state["vq_painter_token"]
    from ui import vq_codes

    report = {"grid": {"token": token, "grid": grid, "nonce": 0.5}}
    with pytest.MonkeyPatch.context() as mp:
        state: dict = {vq_codes.GRID_KEY: after_grid}
        mp.setattr(vq_codes.st, "session_state", state)
        vq_codes.apply_browser_report(report, token, 64)
        assert state[vq_codes.GRID_KEY] == grid
        state[vq_codes.GRID_KEY] = after_grid
        vq_codes.apply_browser_report(report, token, 64)  # the same report again: ignored
        assert state[vq_codes.GRID_KEY] == after_grid
        vq_codes.apply_browser_report(
            {"grid": {**report["grid"], "nonce": 1, "token": "x"}}, token, 64
        )
        assert state[vq_codes.GRID_KEY] == after_grid  # another start's report: ignored


def test_the_usage_histogram_counts_49_codes_per_image(runs: Path) -> None:
    at = AppTest.from_file(str(ROOT / "pages" / "14_VQ_codes.py"), default_timeout=180)
    at.session_state[MODEL_KEY] = str(VQ_FILE)
    at.session_state["vq_images"] = 200
    at.run()
    _clean(at)
    usage = next(c for c in at.get("plotly_chart") if "code index" in c.proto.spec)
    bars = json.loads(usage.proto.spec)["data"][0]["y"]
    assert len(bars) == 64 and sum(bars) == 49 * 200


def test_empirical_samples_use_only_codes_seen_in_their_cell(runs: Path) -> None:
    from vae_core.data.datasets import load_split
    from vae_core.latent.vq_codes import cell_counts, code_grids, sample_per_cell, sample_uniform

    model = load_vq_checkpoint(VQ_FILE).model
    x, _ = load_split("mnist", "test").tensors()
    codes = code_grids(model, x[:N_TEST])
    counts = cell_counts(codes, 64)
    assert counts.sum(1).tolist() == [N_TEST] * 49
    draws = sample_per_cell(counts, 500, torch.Generator().manual_seed(0)).reshape(500, 49)
    for cell in range(49):
        seen = set(codes.reshape(N_TEST, 49)[:, cell].tolist())
        assert set(draws[:, cell].tolist()) <= seen, cell
    uniform = sample_uniform(500, 64, torch.Generator().manual_seed(0)).reshape(500, 49)
    assert any(not set(uniform[:, c].tolist()) <= set(codes.reshape(N_TEST, 49)[:, c].tolist())
               for c in range(49))  # fmt: skip
    again = sample_per_cell(counts, 500, torch.Generator().manual_seed(0)).reshape(500, 49)
    assert torch.equal(draws, again)  # its own generator: reproducible without global seeding


def test_the_page_shows_the_samples_it_drew_from_per_cell_counts(runs: Path) -> None:
    at = _open(str(ROOT / "pages" / "14_VQ_codes.py"))
    _clean(at)
    sampled = at.session_state["vq_sampled_grids"]
    assert len(sampled["uniform"]) == len(sampled["per_cell"]) == 16
    assert any("PixelCNN" in m.value for m in at.markdown)


def test_the_codebook_map_colours_each_code_by_its_most_frequent_class() -> None:
    from vae_core.latent.vq_codes import codebook_map

    book = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    codes = torch.tensor([[[0, 0], [1, 1]], [[0, 1], [1, 1]]])  # 2 images with 2x2 grids
    cmap = codebook_map(book, codes, torch.tensor([3, 7]))
    assert cmap.top_class.tolist() == [3, 7, -1]  # code 0: 2 of 3 uses by class 3; code 2 unused
    assert cmap.uses.tolist() == [3, 5, 0]
    assert cmap.top_share[0].item() == pytest.approx(2 / 3)
    assert sum(cmap.explained) == pytest.approx(1.0)


def test_the_train_page_trains_a_vq_vae_through_the_one_pipeline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Kind "VQ-VAE" with its codebook settings: a tiny run ends as a VQ checkpoint, chosen."""
    from tests.test_page_train import PAGE, _by_label
    from ui import training_jobs
    from vae_core.data.idx import write_idx

    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 80), ("t10k", 30)):
        images = rng.integers(0, 256, (n, 28, 28)).astype("uint8")
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images)
        write_idx(
            folder / f"{prefix}-labels-idx1-ubyte",
            (np.arange(n) % 10).astype("uint8"),
        )
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setenv("VAE_LAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("VAE_LAB_RUNS", str(runs))
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    _by_label(at.selectbox, "Model").set_value("VQ-VAE")
    at.run()
    assert not any(w.label == "Latent dimensions" for w in at.number_input)
    _by_label(at.number_input, "Codebook size K").set_value(16)
    _by_label(at.number_input, "Code dimension D").set_value(4)
    _by_label(at.text_input, "Conv channels (two layers, stride 2)").set_value("8,8")
    _by_label(at.number_input, "Epochs").set_value(2)
    _by_label(at.number_input, "Batch size").set_value(32)
    at.button[0].click().run()
    _clean(at)
    (job_id,) = at.session_state["train_job_ids"]
    job = training_jobs.get_job(job_id)
    try:
        for _ in range(1200):
            if not job.snapshot().active:
                break
            job.beat()
            job.join(0.1)
        snap = job.snapshot()
        assert snap.state == "done", snap.error
    finally:
        job.request_stop()
        job.join(30)
    assert len(snap.history) == 2 and snap.steps  # the live curves got epochs and batches
    at.run()
    _clean(at)
    assert any("codes used" in s.value for s in at.success)
    ckpt = load_vq_checkpoint(snap.checkpoint)
    assert ckpt.model.config.codebook_size == 16 and ckpt.model.config.code_dim == 4
    tm = ckpt.meta["test_metrics"]
    assert tm["images"] == 30 and 1 <= tm["codes_used"] <= 16
    assert ckpt.meta["name"] == "VQ-VAE K=16 · mnist" and ckpt.meta["epoch"] == 2
    assert at.session_state[MODEL_KEY] == snap.checkpoint


def test_a_stopped_vq_run_keeps_its_last_epoch_unscored(tmp_path: Path) -> None:
    """Stop after the first epoch: the per-epoch checkpoint holds it, marked stopped, no score."""
    import threading

    from vae_core.config import VQConfig
    from vae_core.data.datasets import ImageSet
    from vae_core.training.pipeline import train_and_score
    from vae_core.training.trainer import TrainConfig

    rng = np.random.default_rng(0)
    names = tuple(str(d) for d in range(10))
    images = rng.integers(0, 256, (64, 28, 28)).astype(np.uint8)
    labels = np.arange(64) % 10
    split = ImageSet(images, labels, "mnist", "train", "files", "synthetic", names)
    stop = threading.Event()
    run = train_and_score(
        VQConfig(codebook_size=16, code_dim=4, conv_channels=(8, 8)),
        TrainConfig(epochs=3, batch_size=32),
        train_set=split,
        test_set=split,
        checkpoint=tmp_path / "vq.safetensors",
        name="stopped",
        device_label="cpu",
        on_epoch=lambda info: stop.set(),
        stop=stop,
    )
    assert run.test_metrics is None and run.result.stopped and len(run.result.history) == 1
    meta = load_vq_checkpoint(tmp_path / "vq.safetensors").meta
    assert meta["epoch"] == 1 and meta["stopped_early"] is True and "test_metrics" not in meta
