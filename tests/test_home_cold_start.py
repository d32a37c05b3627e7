"""The Home page's first run on a fresh server imports no PyTorch, and completes after it.

Run in a fresh interpreter (this test process has PyTorch loaded already): AppTest runs the
real ``app.py`` there, and the script reports what the page showed and what was imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, sys
from streamlit.testing.v1 import AppTest

def seen(at):
    text = [m.proto.body for m in at.get("markdown")] + [c.value for c in at.caption]
    return {
        "torch": "torch" in sys.modules,
        "exceptions": [e.message for e in at.exception],
        "errors": [e.value for e in at.error],
        "picker": len(at.sidebar.selectbox),
        "subheader": [s.value for s in at.subheader],
        "metrics": len(at.metric),
        "charts": len(at.get("plotly_chart")),
        "compute": [t for t in text if "compute:" in t],
        "sidebar": [c.value for c in at.sidebar.caption],
    }

at = AppTest.from_file(sys.argv[1], default_timeout=120)
first = seen(at.run())
second = seen(at.run())  # stands for the browser's first poll of the pending device badge
from ui import torch_warmup
ready = torch_warmup.wait(180)
third = seen(at.run())
print(json.dumps({"runs": [first, second, third], "ready": ready}))
"""


def test_first_run_needs_no_pytorch_and_the_rerun_completes_the_card() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT / "app.py")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    report = json.loads(out.stdout.strip().splitlines()[-1])
    first, second, third = report["runs"]
    for run in (first, second, third):
        assert not run["exceptions"] and not run["errors"], run
        assert run["picker"] == 1 and run["subheader"] and run["metrics"] >= 4
    # First run: the card from metadata, no PyTorch, no charts yet, the device pending.
    assert first["torch"] is False
    assert first["charts"] == 0
    assert len(first["compute"]) == 1 and "loading PyTorch" in first["compute"][0]
    assert not any("CPU" in c or "CUDA" in c or "MPS" in c for c in first["sidebar"])
    # The next run (the browser's first poll) starts the warm-up; once it is done, the page
    # has the device on its badge and in the sidebar, and both charts.
    assert report["ready"] is True
    assert third["torch"] is True
    assert third["charts"] == 2
    assert len(third["compute"]) == 1 and "loading" not in third["compute"][0]
    device = (
        third["compute"][0].split("compute: ")[1].rstrip("]")
    )  # badge markdown: :color-badge[…]
    assert device.startswith(("CPU", "CUDA", "MPS")), device
    assert any(device in c for c in third["sidebar"]), third["sidebar"]


def _fresh_interpreter(code: str) -> dict:
    """Run ``code`` in a new Python in the repository; the JSON its last line prints."""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_server_start_warm_up_fills_the_home_caches_without_pytorch() -> None:
    """``ui.home.warm_caches`` (run by app.py when the server starts) does the first run's
    session-free work, and like that run it imports no PyTorch."""
    code = (
        "import sys, json\n"
        "from ui import home, page_index\n"
        "from ui.model_list import _entry\n"
        "home.warm_caches()\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'emojis': 'streamlit.emojis' in "
        "sys.modules, 'summaries': page_index._summary.cache_info().currsize, "
        "'pages': len(page_index.page_files()), 'entries': _entry.cache_info().currsize}))\n"
    )
    seen = _fresh_interpreter(code)
    assert not seen["torch"]
    assert seen["emojis"]
    assert seen["summaries"] == seen["pages"] > 0
    assert seen["entries"] > 0  # the shipped checkpoints' headers were read


def test_preload_imports_the_heavy_modules_in_one_thread_only_when_a_page_waits() -> None:
    """``ui.preload.start`` (server start) does the Home page's work and imports no PyTorch;
    the first ``wait`` (any other page, or the Home page's device warm-up) imports the heavy
    modules in one thread and returns once they are in, with what is loaded frozen out of the
    garbage collector's full walks."""
    code = (
        "import sys, json, time\n"
        "from ui import preload\n"
        "preload.start(); time.sleep(3)\n"
        "before = 'torch' in sys.modules or 'pandas' in sys.modules\n"
        "import gc; frozen_before = gc.get_freeze_count()\n"
        "preload.wait()\n"
        "print(json.dumps({'before': before, 'after': all(m in sys.modules for m in "
        "preload.HEAVY_MODULES), 'home': 'ui.home' in sys.modules,\n"
        "'frozen': gc.get_freeze_count() > 100_000 > frozen_before}))\n"
    )
    seen = _fresh_interpreter(code)
    # the loaded modules are frozen out of the garbage collector's full walks
    assert seen == {"before": False, "after": True, "home": True, "frozen": True}
