"""UMAP's numba code is kept on disk: set up before umap is imported, loaded (not recompiled)
by a later process, and the map it gives is the same as a freshly compiled one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vae_core.latent.numba_cache import numba_cache_dir, numba_cache_filled

ROOT = Path(__file__).resolve().parents[1]

# A fresh interpreter, as a freshly started server: the first UMAP through the lab's code, then
# where numba put pynndescent's cache (decided when pynndescent was imported) and how many of
# umap's and pynndescent's compiled signatures came from the disk cache.
CHILD = """
import gc, json, sys
import numpy as np
from vae_core.latent.maps import umap_coords
assert "umap" not in sys.modules and "numba" not in sys.modules
rng = np.random.default_rng(0)
mu = np.concatenate([rng.normal(size=(60, 5)), rng.normal(size=(60, 5)) + 8]).astype(np.float32)
coords = umap_coords(mu, n_neighbors=10)
import numba, pynndescent.utils
from numba.core import types
from numba.core.dispatcher import Dispatcher
hits = misses = 0
for d in gc.get_objects():
    if isinstance(d, Dispatcher) and d.py_func.__module__.split(".")[0] in ("umap", "pynndescent"):
        hits += sum(d._cache_hits.values())
        # a signature with a function argument cannot be cached (see numba_cache)
        misses += sum(n for sig, n in d._cache_misses.items()
                      if not any(isinstance(t, types.Callable) for t in getattr(sig, "args", sig)))
np.save(sys.argv[1], coords)
print(json.dumps({"config": numba.config.CACHE_DIR,
                  "pynndescent": pynndescent.utils.make_heap._cache._cache_path,
                  "hits": hits, "misses": misses}))
"""


def run_child(out: Path) -> dict:
    """The child above, in this process's environment (so with this process's cache folder)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run(
        [sys.executable, "-c", CHILD, str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_cache_dir_is_the_labs_unless_numba_cache_dir_is_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert numba_cache_dir() == tmp_path / "vae-latent-lab" / "numba"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert numba_cache_dir() == tmp_path / "mine"


def test_the_cache_counts_as_filled_once_umap_kernels_are_saved_there(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What the Latent map's status box uses to say whether the first UMAP will compile."""
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert not numba_cache_filled()
    (tmp_path / "pynndescent_0a1b").mkdir()
    (tmp_path / "pynndescent_0a1b" / "utils.make_heap-1.py311.nbi").write_bytes(b"x")
    assert not numba_cache_filled()  # pynndescent's alone: umap's kernels still compile
    (tmp_path / "umap_2c3d").mkdir()
    (tmp_path / "umap_2c3d" / "layouts.clip-1.py311.nbi").write_bytes(b"x")
    assert numba_cache_filled()


@pytest.mark.slow
def test_a_fresh_process_loads_umap_from_the_disk_cache_and_maps_the_same(tmp_path: Path) -> None:
    """This process maps first (compiling UMAP into the lab's cache folder unless an earlier run
    filled it, as the first start on a machine does); a fresh interpreter then loads that code
    instead of compiling it, and its seeded map is the same, number for number."""
    from vae_core.latent.maps import umap_coords

    rng = np.random.default_rng(0)  # the child's data, drawn the same way
    mu = np.concatenate([rng.normal(size=(60, 5)), rng.normal(size=(60, 5)) + 8]).astype(np.float32)
    here = umap_coords(mu, n_neighbors=10)  # the lab's path: the exact neighbour graph
    gap = np.linalg.norm(here[:60].mean(0) - here[60:].mean(0))
    assert gap > here[:60].std(0).max() * 2  # a real map: two far-apart clusters stay apart
    import numba  # noqa: PLC0415 - after the lab's import of umap, as in the app

    folder = numba_cache_dir()
    assert str(folder) == numba.config.CACHE_DIR  # set before umap / pynndescent were imported
    assert any(folder.glob("umap_*/*.nbi"))
    child = run_child(tmp_path / "child.npy")
    assert child["config"] == str(folder)
    assert Path(child["pynndescent"]).is_relative_to(folder)
    # all but a few kernels numba itself refuses to cache (it warns of "dynamic globals") load
    # (kernels inlined into a loaded caller are neither hits nor misses)
    assert child["hits"] > 20 and child["misses"] * 10 < child["hits"], child
    np.testing.assert_array_equal(here, np.load(tmp_path / "child.npy"))
