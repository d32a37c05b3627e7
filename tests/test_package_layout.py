"""The shape of ``vae_core``: layers without import cycles, a small top level, a public face,
and the old checkpoint import path still working."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import vae_core

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "vae_core"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports when it is imported (module-level
    statements; imports inside functions and under ``if TYPE_CHECKING`` run later or never)."""
    modules = {module_name(p): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        base = name.split(".") if is_package else name.split(".")[:-1]
        edges: set[str] = set()
        for node in ast.parse(path.read_text()).body:
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                stem = node.module or ""
                if node.level:
                    stem = ".".join(base[: len(base) - node.level + 1] + ([stem] if stem else []))
                targets = [
                    f"{stem}.{a.name}" if f"{stem}.{a.name}" in modules else stem
                    for a in node.names
                ]
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_vae_core_has_no_import_cycle() -> None:
    graph = import_graph()
    assert "vae_core.cli.common" in graph and "vae_core.io.header" in graph  # the walk works
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_ui_has_no_import_cycle() -> None:
    graph = import_graph(ROOT / "ui")
    assert "ui.picker" in graph and "ui.model_list" in graph["ui.picker"]  # the walk works
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_top_level_is_small_and_the_layers_are_subpackages() -> None:
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(modules) <= 12, modules
    for layer in ("models", "training", "jobs", "evaluation", "latent", "io", "data", "cli"):
        assert (PACKAGE / layer / "__init__.py").is_file(), layer


def test_public_names_resolve() -> None:
    assert sorted(vae_core.__all__) == sorted(vae_core._EXPORTS)
    for name in vae_core.__all__:
        value = getattr(vae_core, name)
        assert value is getattr(importlib.import_module(vae_core._EXPORTS[name]), name)


def test_old_checkpoint_path_still_works() -> None:
    from vae_core import checkpoints
    from vae_core.io import checkpoint_file

    for name in ("load_checkpoint", "save_checkpoint", "Checkpoint", "CheckpointError"):
        assert getattr(checkpoints, name) is getattr(checkpoint_file, name)


# Lowest first: a module may import (at module level) its own layer and the layers before it.
LAYERS = (
    "config", "device", "data", "models", "io", "latent", "evaluation", "training", "jobs", "cli"
)  # fmt: skip


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    rank = {name: i for i, name in enumerate(LAYERS)}
    bad = []
    for module, targets in graph.items():
        here = layer_of(module)
        for target in targets:
            there = layer_of(target)
            if here and there and rank[there] > rank[here]:
                bad.append(f"{module} -> {target}")
    return sorted(bad)


def test_the_layers_import_only_downwards() -> None:
    """Training builds on evaluation and evaluation never on training, so a new measurement can
    never pull in the trainer, and the CLI sits on top of everything."""
    assert layer_violations(import_graph()) == []


def test_the_layer_check_finds_an_upward_import() -> None:
    graph = {"vae_core.evaluation.units": {"vae_core.training.trainer"}}
    assert layer_violations(graph) == ["vae_core.evaluation.units -> vae_core.training.trainer"]
