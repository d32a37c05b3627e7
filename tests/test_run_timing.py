"""The opt-in run timing hook (ui/run_timing.py): one JSON line per run when asked, else nothing."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from streamlit.runtime.scriptrunner.script_runner import ScriptRunner, ScriptRunnerEvent
from streamlit.testing.v1 import AppTest

from ui import run_timing


def _app() -> None:
    import time

    import streamlit as st

    time.sleep(0.03)  # a run that takes measurable time
    st.write("hello")


@pytest.fixture(autouse=True)
def _uninstalled():
    run_timing.uninstall()
    yield
    run_timing.uninstall()


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_unset_patches_nothing_and_writes_nothing(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv(run_timing.ENV_VAR, raising=False)
    original = ScriptRunner._run_script
    assert run_timing.install() is False
    assert ScriptRunner._run_script is original
    at = AppTest.from_function(_app)
    at.run()
    assert not at.exception
    assert list(tmp_path.iterdir()) == []


def test_set_writes_one_line_per_run(monkeypatch, tmp_path) -> None:
    log = tmp_path / "runs.jsonl"
    monkeypatch.setenv(run_timing.ENV_VAR, str(log))
    assert run_timing.install() is True
    assert run_timing.install() is True  # idempotent: still one line per run
    at = AppTest.from_function(_app)
    at.run()
    at.run()
    assert not at.exception
    lines = _lines(log)
    assert len(lines) == 2
    for line in lines:
        assert set(line) == {"page", "kind", "outcome", "start", "duration_ms", "cpu_ms", "session"}
        assert line["kind"] == "script" and line["outcome"] == "success"
        assert line["page"] == "Home"  # not a file under pages/
        assert 30 <= line["duration_ms"] < 30_000
        assert len(line["session"]) == 10
    assert lines[0]["session"] == lines[1]["session"]  # same session, tag not the raw id
    assert lines[0]["start"] <= lines[1]["start"]


def test_uninstall_restores_streamlit(monkeypatch, tmp_path) -> None:
    original = ScriptRunner._run_script
    monkeypatch.setenv(run_timing.ENV_VAR, str(tmp_path / "runs.jsonl"))
    run_timing.install()
    assert ScriptRunner._run_script is not original
    run_timing.uninstall()
    assert ScriptRunner._run_script is original


def test_fragment_and_interrupted_runs_are_named(tmp_path) -> None:
    """The listener alone, fed the events a fragment rerun and an interrupted run send."""
    log = tmp_path / "runs.jsonl"
    listener = run_timing._RunListener(log, "abc")
    pages = {"h": {"script_path": "/app/pages/3_Latent_sliders.py"}}
    listener(None, event=ScriptRunnerEvent.SCRIPT_STARTED, pages=pages, page_script_hash="h",
             fragment_ids_this_run=["frag"])  # fmt: skip
    listener(None, event=ScriptRunnerEvent.FRAGMENT_STOPPED_WITH_SUCCESS)
    listener(None, event=ScriptRunnerEvent.SCRIPT_STARTED, pages=pages, page_script_hash="h",
             fragment_ids_this_run=None)  # fmt: skip
    listener(None, event=ScriptRunnerEvent.SCRIPT_STOPPED_FOR_RERUN)
    listener(None, event=ScriptRunnerEvent.SCRIPT_STOPPED_WITH_SUCCESS)  # no start: ignored
    lines = _lines(log)
    assert [(x["page"], x["kind"], x["outcome"]) for x in lines] == [
        ("Latent sliders", "fragment", "success"),
        ("Latent sliders", "script", "interrupted"),
    ]


def test_page_labels() -> None:
    assert run_timing.page_label("/x/pages/12_Rate_distortion.py") == "Rate distortion"
    assert run_timing.page_label("/x/app.py") == "Home"
    assert run_timing.page_label(None) == "Home"


def test_concurrent_records_stay_whole_lines(tmp_path) -> None:
    log = tmp_path / "runs.jsonl"

    def write(i: int) -> None:
        for j in range(200):
            run_timing.record(log, {"thread": i, "j": j, "pad": "x" * 300})

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = _lines(log)
    assert len(lines) == 1600
    assert {(x["thread"], x["j"]) for x in lines} == {(i, j) for i in range(8) for j in range(200)}


def test_full_collections_are_logged_beside_the_runs(monkeypatch, tmp_path) -> None:
    import gc

    log = tmp_path / "runs.jsonl"
    monkeypatch.setenv(run_timing.ENV_VAR, str(log))
    assert run_timing.install() is True
    gc.collect(0)  # a young collection: not a full one, not logged
    gc.collect()  # a full one, timed by the callback
    AppTest.from_function(_app).run()  # a run's line takes the collections with it
    collections = _lines(run_timing.gc_log_path(log))
    assert len(collections) >= 1
    assert all(c["duration_ms"] >= 0 and c["start"] > 0 for c in collections)
    run_timing.uninstall()
    assert run_timing._time_full_collections not in gc.callbacks
