"""UMAP with its numba code compiled once per machine, not once per process.

umap-learn and pynndescent are written in numba. pynndescent declares ``cache=True`` on most
of its kernels, umap-learn on only one, so without a disk cache every fresh process spends about a
minute compiling UMAP's graph and layout kernels and pynndescent's parallel NN-descent kernels before
its first map. (The few NN-descent kernels that take the distance function as an argument cannot
be cached, see ``_static_args_cache``: about 15 s of compiling in each process that uses them,
which is why the lab gives UMAP the exact neighbour graph, ``maps.exact_neighbours``, and
NN-descent runs only above ``maps.EXACT_NEIGHBOURS_MAX`` points.) Numba can keep compiled
machine code on disk (its ``cache=True`` option, stored under ``NUMBA_CACHE_DIR``); this module

* points ``NUMBA_CACHE_DIR`` at the lab's user cache folder *before* umap / pynndescent are
  imported (numba picks each function's cache folder when the function is decorated, i.e. at
  import), unless the user has chosen one, and
* turns numba's own disk cache on for umap-learn's module-level kernels that do not ask for it,
  before any of them is compiled, so the first process fills the cache and later ones load it.

The cache is filled once per machine: by the app's background warm-up the first time the Latent
map opens (PCA is shown meanwhile), or up front with ``python -m vae_core.latent.numba_cache``.
Cached code is numba's own compiled output, loaded instead of rebuilt: a seeded map is the same
with or without it (``tests/test_numba_cache.py``).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from vae_core.data.datasets import default_cache_dir

CACHE_ENV_VAR = "NUMBA_CACHE_DIR"
#: the packages whose module-level kernels get numba's disk cache
CACHED_PACKAGES = ("umap", "pynndescent")

_LOCK = threading.Lock()
_UMAP: ModuleType | None = None


def numba_cache_dir() -> Path:
    """Where compiled numba code is kept: ``$NUMBA_CACHE_DIR`` if set, else the lab's cache."""
    chosen = os.environ.get(CACHE_ENV_VAR, "")
    return Path(chosen) if chosen else default_cache_dir() / "numba"


def numba_cache_filled() -> bool:
    """Whether an earlier process saved UMAP's compiled kernels here (the first map is then
    seconds, not a minute of compiling)."""
    return any(numba_cache_dir().glob("umap_*/*.nbi"))


def configure_numba_cache() -> Path:
    """Set numba's cache folder for this process (before umap is imported); returns it.

    Numba reads ``NUMBA_CACHE_DIR`` when it is imported; if something imported it earlier its
    config attribute is set too, which still reaches every function decorated from now on.
    """
    folder = numba_cache_dir()
    os.environ[CACHE_ENV_VAR] = str(folder)
    numba = sys.modules.get("numba")
    if numba is not None:
        numba.config.CACHE_DIR = str(folder)
    return folder


def _static_args_cache(py_func: Callable[..., Any]) -> Any:
    """Numba's on-disk function cache, minus the signatures that take a function argument.

    A jitted function passed as an argument (pynndescent's ``dist``) is typed by numba with its
    memory address, so such a signature never matches in a later process: saving it would only
    make the cache miss and grow on every run (lmcinnes/pynndescent#226).
    """
    from numba.core import types  # noqa: PLC0415 - numba is imported by umap
    from numba.core.caching import FunctionCache  # noqa: PLC0415

    class StaticArgsCache(FunctionCache):
        def save_overload(self, sig: Any, data: Any) -> None:
            args = getattr(sig, "args", sig)  # the dispatcher passes a tuple of arg types
            if not any(isinstance(t, (types.Callable, types.FunctionType)) for t in args):
                super().save_overload(sig, data)

    return StaticArgsCache(py_func)


def _enable_disk_cache(modules: list[ModuleType]) -> int:
    """Give numba's disk cache to the not-yet-compiled module-level kernels of ``modules``.

    This is what ``@njit(cache=True)`` does (``Dispatcher.enable_caching`` sets ``_cache``),
    with the filter above. Numba's cache key is the Python function, not the jit options, so
    when one function is jitted twice (umap compiles its layout step both serial and
    ``parallel=True``) only the serial one is cached: seeded maps, the only kind the lab makes,
    use that one. Returns how many kernels were given the cache.
    """
    from numba.core.caching import NullCache  # noqa: PLC0415 - numba is imported by umap
    from numba.core.dispatcher import Dispatcher  # noqa: PLC0415

    by_function: dict[object, list[Dispatcher]] = {}
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, Dispatcher):
                by_function.setdefault(value.py_func, []).append(value)
    enabled = 0
    for dispatchers in by_function.values():
        unique = list({id(d): d for d in dispatchers}.values())
        if any(not isinstance(d._cache, NullCache) for d in unique):
            continue  # already cached by its package
        if len(unique) > 1:
            unique = [d for d in unique if not d.targetoptions.get("parallel")]
        if len(unique) != 1 or unique[0].overloads:
            continue  # ambiguous, or compiled already (nothing left to save)
        unique[0]._cache = _static_args_cache(unique[0].py_func)
        enabled += 1
    return enabled


def import_umap() -> ModuleType:
    """``import umap`` with numba's disk cache set up for it (once per process)."""
    global _UMAP
    with _LOCK:
        if _UMAP is None:
            configure_numba_cache()
            import umap  # noqa: PLC0415 - heavy (numba); only when a UMAP is asked for

            modules = [
                m
                for name, m in list(sys.modules.items())
                if m is not None and name.split(".")[0] in CACHED_PACKAGES
            ]
            _enable_disk_cache(modules)
            _UMAP = umap
        return _UMAP


def main() -> int:
    """``python -m vae_core.latent.numba_cache``: fill the cache now (after install, say)
    instead of in the app's background warm-up when the Latent map first opens."""
    from vae_core.latent.maps import warm_up_umap  # noqa: PLC0415 - maps imports this module

    seconds = warm_up_umap()
    print(f"UMAP's numba code is in {numba_cache_dir()} ({seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
