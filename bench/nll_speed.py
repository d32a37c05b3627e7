"""IWAE NLL speed: the generic chunked estimator vs the fast Bernoulli-MLP path, same noise.

    PYTHONPATH=. python bench/nll_speed.py [--k 1000] [--n 10000] [--threads 2]
        [--checkpoint PATH ...] [--skip-generic] [--json]

Target (issue): K = 1000 on the 10,000 MNIST test images in <= 60 s on the 2-core CPU for the
shipped MLP models. Both paths see the same noise, so the table also prints the largest
per-image difference between them. The machine's load average is printed next to the figures:
the CPU is shared, and a busy machine makes every number here slower. Without --checkpoint
every shipped MLP VAE/CVAE with a Bernoulli decoder in checkpoints/ is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vae_core.data.datasets import load_split  # noqa: E402
from vae_core.evaluation.data_kind import uses_binary_test_data  # noqa: E402
from vae_core.evaluation.iwae import iwae_nll_fast  # noqa: E402
from vae_core.evaluation.scoring import scored_images  # noqa: E402
from vae_core.io.checkpoint_file import load_checkpoint, read_metadata  # noqa: E402
from vae_core.io.vq_checkpoint import is_vq_checkpoint  # noqa: E402


def shipped_mlp_models() -> list[Path]:
    out = []
    for path in sorted((ROOT / "checkpoints").glob("*.safetensors")):
        if is_vq_checkpoint(path):  # no Gaussian posterior: no IWAE NLL to time
            continue
        m = read_metadata(path)["model"]
        if m["arch"] == "mlp" and m["kind"] in ("vae", "cvae") and m["likelihood"] == "bernoulli":
            out.append(path)
    return out


def time_one(model, x, y, k: int, generic: bool) -> tuple[float, float, torch.Tensor]:
    """(wall seconds, CPU seconds of this process, per-image NLL)."""
    wall, cpu = time.perf_counter(), time.process_time()
    nll = iwae_nll_fast(model, x, y, k=k, seed=0, force_generic=generic)
    return time.perf_counter() - wall, time.process_time() - cpu, nll


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", action="append", default=None)
    ap.add_argument("--k", type=int, default=1000)
    ap.add_argument(
        "--n", type=int, default=10_000, help="N test images (the stratified subset --limit N uses)"
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-generic", action="store_true", help="time only the fast path")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    paths = [Path(p) for p in args.checkpoint] if args.checkpoint else shipped_mlp_models()
    if not paths:
        print("error: no shipped MLP Bernoulli checkpoints in checkpoints/", file=sys.stderr)
        return 2
    rows = []
    for path in paths:
        ckpt = load_checkpoint(path)
        dataset = str(ckpt.meta.get("dataset", "mnist"))  # each model on its own test set
        test_set = load_split(dataset, "test")
        binary = uses_binary_test_data(str(ckpt.meta.get("binarize", "none")))
        x, labels = scored_images(test_set, binary, args.n)  # the app's and CLI's subset of n
        load_before = os.getloadavg()[0]
        fast_s, fast_cpu, fast = time_one(ckpt.model, x, labels, args.k, generic=False)
        row = {
            "checkpoint": path.name,
            "dataset": dataset,
            "k": args.k,
            "n": len(x),
            "threads": args.threads,
            "fast_s": round(fast_s, 2),
            "fast_cpu_s": round(fast_cpu, 2),
            "nll": round(float(fast.mean()), 3),
        }
        if not args.skip_generic:
            gen_s, gen_cpu, gen = time_one(ckpt.model, x, labels, args.k, generic=True)
            row.update(
                generic_s=round(gen_s, 2),
                generic_cpu_s=round(gen_cpu, 2),
                speedup=round(gen_s / fast_s, 2),
                max_abs_diff=float((fast - gen).abs().max()),
            )
        row["loadavg_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        rows.append(row)
        if not args.json:
            gen = (
                f"  generic {row['generic_s']:7.1f} s (CPU {row['generic_cpu_s']:.1f})  "
                f"x{row['speedup']:.2f}  max|diff| {row['max_abs_diff']:.1e}"
                if "generic_s" in row
                else ""
            )
            print(
                f"{path.name:32s} K={args.k} N={len(x)}  fast {fast_s:7.1f} s "
                f"(CPU {fast_cpu:.1f}){gen}  NLL {row['nll']:.2f}  "
                f"load {row['loadavg_1min'][0]}->{row['loadavg_1min'][1]} on {os.cpu_count()} CPUs",
                flush=True,
            )
    if args.json:
        print(json.dumps({"rows": rows, "cpus": os.cpu_count(), "torch": torch.__version__}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
