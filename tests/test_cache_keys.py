"""One cache key per checkpoint version (ui/cache_keys.py), and no page or helper making its own."""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import SimpleNamespace

from tests.conftest import make_model
from ui.cache_keys import checkpoint_key, file_key
from vae_core.io.checkpoint_file import load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def test_a_rewritten_file_gets_a_new_key_and_two_loads_share_one(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_checkpoint(make_model(), path, {"dataset": "mnist"})
    a, b = load_checkpoint(path), load_checkpoint(path)
    before = checkpoint_key(a)
    assert before == checkpoint_key(b) == file_key(path)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # rewritten
    assert checkpoint_key(load_checkpoint(path)) != before


def test_an_unsaved_model_gets_a_process_local_key() -> None:
    model = make_model()
    ckpt = SimpleNamespace(path=None, model=model)
    assert checkpoint_key(ckpt) == f"mem-{id(model):x}"


def test_no_other_module_builds_a_file_version_key() -> None:
    """The 'path@mtime' rule lives in ui/cache_keys.py (the model list's change check aside)."""
    makers = [
        str(p.relative_to(ROOT))
        for folder in ("ui", "pages")
        for p in (ROOT / folder).rglob("*.py")
        if re.search(r"st_mtime_ns", p.read_text())
    ]
    assert sorted(makers) == ["ui/cache_keys.py", "ui/model_list.py"]
