"""A very short run of the many-users load script (bench/load_test.py): it works, 0 errors.

Two browser sessions for a few seconds against the script's own ``streamlit run``; no timing is
asserted (that is what the full 10 x 60 s benchmark reports), only that nothing failed: no
exception box or error alert, no console error, no failed request, no server traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import CHROMIUM, ROOT

pytestmark = pytest.mark.browser


def test_short_load_run_has_no_errors(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    pytest.importorskip("playwright.async_api")
    env = {**os.environ, "VAE_LAB_RUNS": str(tmp_path / "runs"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "bench/load_test.py", "--sessions", "2", "--seconds", "6",
         "--no-warmup", "--ramp", "1", "--grace", "10", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.stdout.strip(), proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["errors"] == []
    assert result["sessions"] == 2
    assert result["memory"]["samples"] >= 5  # the server's RSS was followed throughout
