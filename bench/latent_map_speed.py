"""How long the Latent map takes: encoding, PCA, UMAP (fresh process / warm / cached), t-SNE.

    PYTHONPATH=. python bench/latent_map_speed.py [--checkpoint PATH] [--json] [--skip-tsne]

UMAP runs on numba. Its compiled code is kept on disk (``vae_core.latent.numba_cache``), so only
the first process on a machine compiles it (about a minute here); the app fills that cache in a
background warm-up (``vae_core.latent.maps.warm_up_umap``) when the Latent map first opens, PCA
being shown meanwhile (or ``python -m vae_core.latent.numba_cache`` fills it up front). Each UMAP
figure comes from a fresh interpreter, as in a freshly started server, given the model's codes it
has never mapped: import, [the warm-up], the first UMAP of the codes (timed with the seconds numba
spent compiling during it), then a second fit. It runs three times on one numba cache folder:
empty with the warm-up (the first start on a machine: the warm-up compiles and fills the cache),
filled with the warm-up, and filled with no warm-up. The target figure, ``umap_first_map_s``, is
the last: a user who picks UMAP at once in a fresh server on a machine whose cache is filled
(import + first fit, any compiling included; the app's warm-up then runs alongside and does not
delay it). ``..._filled_cache_first_map_s`` adds the warm-up before the fit (its serial upper
bound). The three maps must be identical. "cached" is reading a map back from the map cache.
Without --checkpoint ``mnist-vae-16d`` (else the first shipped checkpoint with a latent above
2-D) maps its 10,000 test codes; with none a 16-D Gaussian mixture stands in for the codes. Each
figure is printed with the load average (1, 5, 15 min).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vae_core.data.datasets import DatasetUnavailable  # noqa: E402
from vae_core.io.checkpoint_file import CheckpointError  # noqa: E402
from vae_core.latent.map_cache import EmbeddingKey, load_coords, save_coords  # noqa: E402
from vae_core.latent.maps import compute_embedding  # noqa: E402


def _child_umap(path: str, warm_up: bool) -> None:
    """Runs in a fresh interpreter: import, [the app's warm-up], first fit, second fit."""
    t0 = time.perf_counter()
    from vae_core.latent.maps import umap_coords, warm_up_umap  # noqa: PLC0415
    from vae_core.latent.numba_cache import import_umap  # noqa: PLC0415

    import_umap()
    from numba.core import event  # noqa: PLC0415 - imported by umap

    compiling: list[float] = [0.0]

    class CompileTimer(event.Listener):
        """Seconds numba spends compiling (outermost compiles only, nested ones are inside)."""

        def __init__(self) -> None:
            self.started: list[float] = []

        def on_start(self, ev: event.Event) -> None:
            self.started.append(time.perf_counter())

        def on_end(self, ev: event.Event) -> None:
            begun = self.started.pop()
            if not self.started:
                compiling[0] += time.perf_counter() - begun

    event.register("numba:compile", CompileTimer())
    t1 = time.perf_counter()
    warm_s = warm_up_umap() if warm_up else None
    warm_compile_s = compiling[0]
    mu = np.load(path)
    t2 = time.perf_counter()
    coords = umap_coords(mu)
    t3 = time.perf_counter()
    fit_compile_s = compiling[0] - warm_compile_s
    umap_coords(mu)
    t4 = time.perf_counter()
    np.save(path + (".warm" if warm_up else ".cold") + ".coords.npy", coords)
    times = {"import_s": t1 - t0, "warm_up_s": warm_s, "first_fit_s": t3 - t2}
    times |= {"warm_up_compile_s": warm_compile_s, "first_fit_compile_s": fit_compile_s}
    print(json.dumps({**times, "second_fit_s": t4 - t3, "load": os.getloadavg()}))


def _run_child(npy: Path, warm_up: bool, numba_cache: Path) -> tuple[dict, np.ndarray]:
    """One fresh interpreter with ``numba_cache`` as its numba cache; (figures, first map)."""
    cmd = [sys.executable, __file__, "--child-umap", str(npy)]
    cmd += [] if warm_up else ["--no-warm-up"]
    env = {**os.environ, "NUMBA_CACHE_DIR": str(numba_cache)}
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    coords = np.load(str(npy) + (".warm" if warm_up else ".cold") + ".coords.npy")
    return json.loads(res.stdout.strip().splitlines()[-1]), coords


def _codes(checkpoint: str | None, n: int) -> tuple[np.ndarray, str, float | None]:
    from vae_core.data.datasets import load_split  # noqa: PLC0415 - needs the real test split
    from vae_core.evaluation.scoring import posterior_means  # noqa: PLC0415
    from vae_core.io.checkpoint_file import load_checkpoint, read_metadata  # noqa: PLC0415

    if checkpoint is None and (ROOT / "checkpoints" / "mnist-vae-16d.safetensors").exists():
        checkpoint = str(ROOT / "checkpoints" / "mnist-vae-16d.safetensors")
    if checkpoint is None:
        for path in sorted((ROOT / "checkpoints").glob("*.safetensors")):
            if read_metadata(path)["model"]["latent_dim"] > 2:
                checkpoint = str(path)
                break
    if checkpoint is None:
        rng = np.random.default_rng(0)
        centers = rng.normal(scale=3.0, size=(10, 16))
        mu = centers[rng.integers(0, 10, n)] + rng.normal(size=(n, 16))
        return mu.astype(np.float32), "synthetic 16-D mixture", None
    ckpt = load_checkpoint(checkpoint)
    if ckpt.config.latent_dim <= 2:
        raise ValueError(f"{Path(checkpoint).name} has a 2-D latent: it is its own map")
    dataset = str(ckpt.meta.get("dataset", "mnist"))
    images = load_split(dataset, "test", download=False, allow_offline_sample=False)
    from vae_core.data.subsets import subset_of  # noqa: PLC0415

    x, y = images.tensors()
    idx = subset_of(images, n)
    x, y = x[idx], y[idx]
    t = time.perf_counter()
    mu, _ = posterior_means(ckpt.model, x, y)
    return mu.numpy(), Path(checkpoint).name, time.perf_counter() - t


def _load(avg: tuple[float, float, float] | list[float]) -> str:
    return " ".join(f"{v:.2f}" for v in avg)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skip-umap", action="store_true")
    parser.add_argument("--skip-tsne", action="store_true")
    parser.add_argument("--child-umap", help=argparse.SUPPRESS)
    parser.add_argument("--no-warm-up", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_umap:
        _child_umap(args.child_umap, warm_up=not args.no_warm_up)
        return 0
    try:
        mu, source, encode_s = _codes(args.checkpoint, args.n)
    except (CheckpointError, DatasetUnavailable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out: dict = {"codes": source, "n": len(mu), "dim": int(mu.shape[1]), "encode_s": encode_s}
    pca = [compute_embedding(mu, "pca").seconds for _ in range(7)]
    out["pca_median_s"] = statistics.median(pca)
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_umap:
            npy = Path(tmp) / "mu.npy"
            np.save(npy, mu)
            numba_cache = Path(tmp) / "numba"
            maps = []
            for state, warm_up in (("empty", True), ("filled", True), ("filled", False)):
                child, coords = _run_child(npy, warm_up=warm_up, numba_cache=numba_cache)
                maps.append(coords)
                tag = f"umap_{state}_cache" + ("" if warm_up else "_no_warm_up")
                out[f"{tag}_import_s"] = child["import_s"]
                if warm_up:
                    out[f"{tag}_background_warm_up_s"] = child["warm_up_s"]
                    out[f"{tag}_warm_up_numba_compile_s"] = child["warm_up_compile_s"]
                    out[f"{tag}_first_fit_after_warm_up_s"] = child["first_fit_s"]
                    first = child["import_s"] + child["warm_up_s"] + child["first_fit_s"]
                    out[f"{tag}_first_map_s"] = first
                else:
                    out[f"{tag}_first_fit_s"] = child["first_fit_s"]
                    out["umap_first_map_s"] = child["import_s"] + child["first_fit_s"]
                out[f"{tag}_first_fit_numba_compile_s"] = child["first_fit_compile_s"]
                out[f"{tag}_second_fit_s"] = child["second_fit_s"]
                out[f"{tag}_load_1_5_15"] = _load(child["load"])
            out["umap_first_map_load_1_5_15"] = out["umap_filled_cache_no_warm_up_load_1_5_15"]
            out["umap_same_map_in_all_three"] = all(np.array_equal(maps[0], m) for m in maps)
        key = EmbeddingKey.make("0" * 64, "bench", "test", len(mu), "umap", {})
        save_coords(key, mu[:, :2], Path(tmp))
        t = time.perf_counter()
        load_coords(key, [Path(tmp)])
        out["cached_load_s"] = time.perf_counter() - t
    if not args.skip_tsne:
        out["tsne_s"] = compute_embedding(mu, "tsne").seconds
        out["tsne_load_1_5_15"] = _load(os.getloadavg())
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for name, value in out.items():
            shown = f"{value:.4f} s" if isinstance(value, float) and name.endswith("_s") else value
            print(f"{name:>48}: {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
