"""``streamlit run app.py`` starts cleanly: no warning about the static folder.

The static folder (``server.enableStaticServing``) is checked once, when the server starts; the
decoder weights are written to ``static/generated/`` only later, so the folder itself must be
part of the repository, or every fresh checkout warns at every start.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from bench.app_process import free_port, stop_process, streamlit_command

ROOT = Path(__file__).resolve().parents[1]


def test_the_static_folder_is_in_the_repository() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(
        ["git", "ls-files", "static"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked, "static/ holds no tracked file: a fresh checkout has no static folder"
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "static/generated/x.bin"], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0, "static/generated/ (written at run time) must be ignored"


def test_the_server_starts_without_the_static_folder_warning(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "streamlit.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            streamlit_command(port), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
                    break
                except OSError:
                    time.sleep(0.3)
            else:
                pytest.fail(f"streamlit did not start: {log.read_text()[-2000:]}")
        finally:
            stop_process(proc)
    text = log.read_text()
    assert "Static file serving is enabled, but no static folder" not in text, text
