"""The README's Python example and every `python -m vae_core` command in it run here (real data
when available)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = [
    line.strip()
    for block in re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    for line in block.splitlines()
    if line.strip().startswith("python -m vae_core")
]
EXAMPLES = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
HAS_DATA = (
    bool(os.environ.get("VAE_LAB_DATA")) and Path(os.environ["VAE_LAB_DATA"], "mnist").is_dir()
)


def test_readme_documents_every_cli_command() -> None:
    documented = {shlex.split(c)[3] for c in COMMANDS}
    assert {"train", "evaluate", "sample", "info", "nll", "ppca", "faithfulness"} <= documented


@pytest.mark.slow
@pytest.mark.skipif(not HAS_DATA, reason="VAE_LAB_DATA with mnist/ and fashion-mnist/ is not set")
@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(shlex.split(c)[3:5]) for c in COMMANDS])
def test_readme_command_runs(command: str, tmp_path: Path) -> None:
    args = shlex.split(command)
    if args[3] == "train":  # the documented recipe, shortened to one epoch, written to tmp
        args[args.index("--epochs") + 1] = "1"
        args += ["--iw-samples", "10"]
    # the documented command on a seeded, stratified subset of each split (train: 2,000
    # training images, and as many test images scored)
    if args[3] in ("train", "ppca", "evaluate", "diagnostics") and "--limit" not in args:
        args += ["--limit", "2000"]
    if args[3] == "ppca" and "--k" not in args:  # the 8-bit estimate with K = 10, not 100
        args += ["--k", "10"]
    args = [  # whatever a command writes (its --out) goes to tmp, never into the repository
        str(tmp_path / Path(a).name) if i and args[i - 1] == "--out" else a
        for i, a in enumerate(args)
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, *args[1:]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() or any(tmp_path.iterdir())


@pytest.mark.slow
@pytest.mark.skipif(not HAS_DATA, reason="VAE_LAB_DATA with mnist/ and fashion-mnist/ is not set")
def test_readme_python_example_runs() -> None:
    """In a fresh interpreter, so the example's own imports (the public face) are all it has."""
    assert len(EXAMPLES) == 1 and "from vae_core import" in EXAMPLES[0]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", EXAMPLES[0]], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "'nll':" in done.stdout
