"""Every file of the hostile-checkpoint corpus, through the library, the CLI and the app's upload.

For each file: no code runs (the pickle payloads would touch a marker file), the refusal is one
short line naming the reason, and the app goes on serving (a good upload afterwards works).
Files that claim gigabytes are refused quickly and without allocating them.
"""

from __future__ import annotations

import gc
import io
import pickle
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
import torch

from tests.conftest import make_model, synthetic_app_env
from tests.hostile_checkpoints import BY_NAME, CORPUS, PAYLOAD_FILES, MiB, valid_bytes, write_corpus
from vae_core.cli import main
from vae_core.io.checkpoint_file import CheckpointError, load_checkpoint
from vae_core.io.header import MAX_REASON_CHARS, SUMMARIES

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
IDS = [case.name for case in CORPUS]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], Path]:
    folder = tmp_path_factory.mktemp("hostile")
    marker = folder / "PAYLOAD-FIRED"
    return write_corpus(folder / "files", marker), marker


# the student's summary some refusals must get (the others: any of SUMMARIES)
EXPECTED_KIND = {"pickle": "pickle", "without VAE Latent Lab metadata": "foreign",
                 "NaN or infinite": "nan", "has shape": "weights", "format version": "version",
                 "header claims": "not-safetensors"}  # fmt: skip


def summary_kind(summary: str) -> str:
    return next(kind for kind, text in SUMMARIES.items() if text == summary)


def check_reason(message: str, case_name: str) -> None:
    """One short line that contains the corpus entry's reason fragment."""
    case = BY_NAME[case_name]
    assert "\n" not in message and "Traceback" not in message, message
    assert len(message) <= MAX_REASON_CHARS + 60, message
    assert case.reason.lower() in message.lower(), (case.name, message)


def test_corpus_covers_the_issue() -> None:
    assert len(CORPUS) >= 22
    for name in (  # every kind the issue lists
        "pickle-payload",
        "torch-zip-pt",
        "truncated-body",
        "header-claims-5gib",
        "wrong-latent-dim",
        "dtype-float64",
        "classifier-checkpoint",
        "foreign-network",
        "metadata-missing",
        "metadata-not-json",
        "metadata-history-string",
        "zero-bytes",
    ):
        assert name in BY_NAME, name


@pytest.mark.parametrize("name", PAYLOAD_FILES)
def test_payloads_are_armed(name: str, tmp_path: Path) -> None:
    """Proof that the corpus is dangerous: unpickling a copy (other marker) does run code."""
    armed = tmp_path / "armed"
    data = BY_NAME[name].build(armed)
    if name.startswith("torch"):
        torch.load(io.BytesIO(data), weights_only=False)
    else:
        pickle.loads(data)
    assert armed.exists()


@pytest.mark.parametrize("name", IDS)
def test_library_refuses_path_and_bytes(name: str, corpus) -> None:
    paths, marker = corpus
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(paths[name])
    check_reason(str(err.value), name)
    if BY_NAME[name].uploadable:
        with pytest.raises(CheckpointError) as err:
            load_checkpoint(paths[name].read_bytes())
        check_reason(str(err.value), name)
    assert not marker.exists()


def _max_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


@pytest.mark.parametrize(
    "name",
    [
        "header-claims-5gib",
        "config-gigabytes",
        "config-gigabytes-matching-table",
        "shape-claims-gigabytes",
        "header-over-4mib",
        "metadata-3mb-name",
        "header-nested-100k",
        "metadata-nested-100k",
    ],
)
def test_gigabyte_claims_are_refused_fast_without_allocating(name: str, corpus) -> None:
    """tracemalloc sees Python objects (parsed JSON, byte copies); the peak RSS would show a
    real model of the ~1-billion-weight config (4 GB, every page touched by its init)."""
    data = corpus[0][name].read_bytes()
    gc.collect()
    rss_before = _max_rss()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(CheckpointError):
            load_checkpoint(data)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 2.0, elapsed
    assert peak < 4 * len(data) + 16 * MiB, (peak, len(data))
    assert _max_rss() - rss_before < 256 * MiB


# ---------------------------------------------------------------------------------------- CLI
@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No data env, a private cache, and downloading made impossible; returns an empty dir."""
    from vae_core.data import datasets
    from vae_core.data.download import DownloadError

    def no_network(*args, **kwargs):
        raise DownloadError("network disabled in tests")

    monkeypatch.setattr(datasets, "fetch_dataset_files", no_network)
    monkeypatch.delenv("VAE_LAB_DATA", raising=False)
    monkeypatch.delenv("VAE_LAB_DEBUG", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    empty = tmp_path / "empty-data"
    empty.mkdir()
    return empty


@pytest.mark.parametrize("name", IDS)
def test_cli_exits_2_with_one_error_line(name: str, corpus, offline: Path, tmp_path, capsys):
    paths, marker = corpus
    path = str(paths[name])
    png = tmp_path / "s.png"
    for argv in (
        ["info", path],
        ["info", path, "--json"],
        ["sample", path, "--out", str(png)],
        ["evaluate", path, "--data-dir", str(offline)],
        ["nll", path, "--data-dir", str(offline)],
    ):
        assert main(argv) == 2, argv
        captured = capsys.readouterr()
        err = captured.err.strip()
        assert err.startswith("error: ") and captured.out == "", (argv, captured)
        check_reason(err, name)
    assert not png.exists() and not marker.exists()


@pytest.mark.parametrize(
    ("name", "command"),
    [("pickle-payload", "info"), ("config-gigabytes-matching-table", "evaluate")],
)
def test_cli_subprocess(name: str, command: str, corpus, tmp_path: Path) -> None:
    paths, marker = corpus
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "vae_core", command, str(paths[name])],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("error: ")
    check_reason(proc.stderr.strip(), name)
    assert not marker.exists()


# ---------------------------------------------------------------------------------- the app
def test_app_upload_refuses_each_file_and_keeps_serving(
    corpus, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from streamlit.testing.v1 import AppTest

    from vae_core.io.checkpoint_file import save_checkpoint

    paths, marker = corpus
    runs = synthetic_app_env(monkeypatch, tmp_path, 30)
    good = runs / "good.safetensors"
    save_checkpoint(make_model(), good, {"name": "Good model", "dataset": "mnist"})
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["vae_lab_model_path"] = str(good)
    at.run()
    assert not at.exception and at.subheader[0].value == "Good model"

    for case in CORPUS:
        if not case.uploadable:  # 300 MiB: over the 32 MiB server.maxUploadSize anyway
            continue
        upload = (f"{case.name}.safetensors", paths[case.name].read_bytes(), "application/x")
        at.file_uploader(key="home_upload").set_value(upload)
        at.run()
        assert not at.exception, (case.name, [e.message for e in at.exception])
        errors = [e.value for e in at.error]
        assert len(errors) == 1, (case.name, errors)
        summary, _, detail = errors[0].partition("\n\nTechnical detail: ")
        assert summary in SUMMARIES.values(), (case.name, errors[0])  # for a student first
        assert summary == SUMMARIES[EXPECTED_KIND.get(case.reason, summary_kind(summary))]
        check_reason(detail.strip("`"), case.name)  # then the exact reason, as the CLI says it
        assert at.subheader[0].value == "Good model", case.name  # the card still renders

    uploads = runs / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())  # nothing bad was stored
    assert not marker.exists()

    data = valid_bytes(name="Uploaded after the attacks")
    at.file_uploader(key="home_upload").set_value(("fine.safetensors", data, "application/x"))
    at.run()
    assert not at.exception and not at.error
    assert at.subheader[0].value == "Uploaded after the attacks"
    other = AppTest.from_file(APP, default_timeout=120)  # another visitor's session
    other.session_state["vae_lab_model_path"] = str(good)
    other.run()
    assert not other.exception and not other.error
    assert other.subheader[0].value == "Good model"


ODD_BUT_VALID = [  # accepted: the card must still render them without an exception
    {
        "name": "<script>alert(1)</script> **bold** | pipe ✓",
        "history": [{"epoch": 1}],
        "test_metrics": {"n": 5},
        "dataset_note": "x" * 2000,
        "stopped_early": True,
        "unknown_key": {"from": "a newer version"},
    },
    {
        "history": [{"epoch": 1, "train": {}, "val": {"elbo": None}, "kl_per_dim": []}],
        "test_metrics": {"kl_per_dim": [], "nll": None},
    },
    {"history": [], "test_metrics": {}, "epoch": 0, "epochs": 0, "training_seconds": -5},
    {
        "history": [{"epoch": 3, "kl_per_dim": [1e308, -1e308, float("nan")]}],
        "test_metrics": {"elbo": float("inf"), "kl_per_dim": [float("nan")]},
    },
]


def test_odd_but_valid_metadata_renders(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from streamlit.testing.v1 import AppTest

    synthetic_app_env(monkeypatch, tmp_path, 30)
    at = AppTest.from_file(APP, default_timeout=120).run()
    for i, meta in enumerate(ODD_BUT_VALID):
        at.file_uploader(key="home_upload").set_value(
            (f"odd{i}.safetensors", valid_bytes(**meta), "a/b")
        )
        at.run()
        assert not at.exception, (i, [e.message for e in at.exception])
        assert not at.error, (i, [e.value for e in at.error])
        assert at.subheader[0].value == meta.get("name", "tiny")
