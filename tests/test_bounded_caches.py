"""Many users share one process: every cache is bounded and shared models are read-only.

A static check over the sources (every ``st.cache_*`` has ``max_entries`` or ``ttl``, every
``lru_cache`` a finite ``maxsize``, and no functools cache lives in a script that Streamlit
re-executes on each rerun), plus the shared model loader's contract.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import streamlit as st
import torch

from tests.conftest import make_model
from vae_core.io.checkpoint_file import save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]
MODULES = sorted((ROOT / "ui").glob("*.py")) + sorted((ROOT / "vae_core").rglob("*.py"))


def _name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    return ast.unparse(target)


def _decorated(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            for deco in fn.decorator_list:
                yield fn, deco, _name(deco)


def _keywords(deco: ast.expr) -> dict[str, ast.expr]:
    return {k.arg: k.value for k in deco.keywords} if isinstance(deco, ast.Call) else {}


def _takes_args(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    a = fn.args
    return bool(a.posonlyargs or a.args or a.kwonlyargs or a.vararg or a.kwarg)


@pytest.mark.parametrize("path", SCRIPTS + MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_cache_is_bounded(path: Path) -> None:
    problems = []
    for fn, deco, name in _decorated(path):
        kw = _keywords(deco)
        if name in ("st.cache_resource", "st.cache_data"):
            # a function without arguments has exactly one entry (e.g. a shared LRU store)
            if _takes_args(fn) and "max_entries" not in kw and "ttl" not in kw:
                problems.append(f"{fn.name}: {name} without max_entries or ttl")
        elif name in ("functools.cache", "cache"):
            problems.append(f"{fn.name}: unbounded {name}")
        elif name in ("functools.lru_cache", "lru_cache"):
            size = kw.get("maxsize") or (
                deco.args[0] if isinstance(deco, ast.Call) and deco.args else None
            )
            if not isinstance(deco, ast.Call) or (
                isinstance(size, ast.Constant) and size.value is None
            ):
                problems.append(f"{fn.name}: lru_cache without a finite maxsize")
    assert not problems, problems


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_no_functools_cache_in_rerun_scripts(path: Path) -> None:
    """app.py and pages/* run again on every rerun: a functools cache there starts empty each
    time (Home once re-parsed all twelve page files on every visit). Use ``st.cache_*`` or a
    ``ui`` module instead."""
    found = [
        f"{fn.name}: {name}"
        for fn, _, name in _decorated(path)
        if "functools" in name or name in ("lru_cache", "cache")
    ]
    assert not found, found


@pytest.fixture
def saved_model(tmp_path: Path) -> Path:
    path = tmp_path / "m.safetensors"
    save_checkpoint(make_model(), path, {"dataset": "mnist", "name": "tiny"})
    st.cache_resource.clear()
    yield path
    st.cache_resource.clear()


def test_models_are_loaded_once_and_frozen(saved_model: Path) -> None:
    from ui.models import load_model

    first, again = load_model(str(saved_model)), load_model(str(saved_model))
    assert first is again  # one instance per file version, shared by all sessions
    model = first.model
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())
    # gradients w.r.t. inputs still flow (inpainting optimises z through the frozen decoder)
    z = torch.zeros(1, model.config.latent_dim, requires_grad=True)
    model.decode(z).sum().backward()
    assert z.grad is not None
    assert all(p.grad is None for p in model.parameters())
