"""IWAE NLL speed: the bfloat16 decoder path vs the float32 fast path (and the generic
estimator), all on the same noise.

    PYTHONPATH=. python bench/nll_speed.py [--k 1000] [--n 10000] [--threads 2]
        [--checkpoint PATH ...] [--skip-generic] [--json]

Target (issue 16): K = 1000 on the 10,000 MNIST test images in <= 25 s on the 2-core CPU for
each shipped MLP model, the estimate within 0.05 nats per image of the float32 path. All paths
see the same noise, so the table prints the bf16 path's mean and largest per-image difference
from float32. The bf16 kernel is compiled once per process (torch.compile, with inductor's
disk cache): that one-off is timed on its own, on 100 images, before the first model. The machine's load average is printed next to the figures:
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
from vae_core.evaluation.iwae import bf16_path_available, iwae_nll_fast  # noqa: E402
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


def time_one(model, x, y, k: int, **how) -> tuple[float, float, torch.Tensor]:
    """(wall seconds, CPU seconds of this process, per-image NLL)."""
    wall, cpu = time.perf_counter(), time.process_time()
    nll = iwae_nll_fast(model, x, y, k=k, seed=0, **how)
    return time.perf_counter() - wall, time.process_time() - cpu, nll


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", action="append", default=None)
    ap.add_argument("--k", type=int, default=1000)
    ap.add_argument(
        "--n", type=int, default=10_000, help="N test images (the stratified subset --limit N uses)"
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-generic", action="store_true", help="skip the generic estimator")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    paths = [Path(p) for p in args.checkpoint] if args.checkpoint else shipped_mlp_models()
    if not paths:
        print("error: no shipped MLP Bernoulli checkpoints in checkpoints/", file=sys.stderr)
        return 2
    rows = []
    compile_s = None
    for path in paths:
        ckpt = load_checkpoint(path)
        dataset = str(ckpt.meta.get("dataset", "mnist"))  # each model on its own test set
        test_set = load_split(dataset, "test")
        binary = uses_binary_test_data(str(ckpt.meta.get("binarize", "none")))
        x, labels = scored_images(test_set, binary, args.n)  # the app's and CLI's subset of n
        bf16 = bf16_path_available(ckpt.model)
        if bf16 and compile_s is None:  # the once-per-process compile, apart from the figures
            compile_s, _, _ = time_one(
                ckpt.model, x[:100], labels[:100], args.k, arithmetic="bfloat16"
            )
        load_before = os.getloadavg()[0]
        row = {"checkpoint": path.name, "dataset": dataset, "k": args.k, "n": len(x)}
        row["threads"] = args.threads
        if bf16:
            s, cpu, new = time_one(ckpt.model, x, labels, args.k, arithmetic="bfloat16")
            row.update(bf16_s=round(s, 2), bf16_cpu_s=round(cpu, 2), nll_bf16=float(new.mean()))
        s, cpu, f32 = time_one(ckpt.model, x, labels, args.k, arithmetic="float32")
        row.update(
            float32_s=round(s, 2), float32_cpu_s=round(cpu, 2), nll_float32=float(f32.mean())
        )
        if bf16:
            diff = new - f32
            row.update(
                speedup=round(row["float32_s"] / row["bf16_s"], 2),
                mean_diff=float(diff.mean()),
                max_abs_diff=float(diff.abs().max()),
            )
        if not args.skip_generic:
            s, cpu, gen = time_one(ckpt.model, x, labels, args.k, force_generic=True)
            row.update(generic_s=round(s, 2), generic_max_abs_diff=float((f32 - gen).abs().max()))
        row["loadavg_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        rows.append(row)
        if not args.json:
            new_path = (
                f"bf16 {row['bf16_s']:6.1f} s (CPU {row['bf16_cpu_s']:.1f})  x{row['speedup']:.2f}  "
                f"NLL diff mean {row['mean_diff']:+.4f}, max/image {row['max_abs_diff']:.4f}  "
                if bf16
                else "bf16 n/a (no native bf16 here)  "
            )
            gen = f"  generic {row['generic_s']:.1f} s" if "generic_s" in row else ""
            print(
                f"{path.name:32s} K={args.k} N={len(x)}  {new_path}float32 {row['float32_s']:6.1f} s"
                f"{gen}  NLL {row['nll_float32']:.2f}  "
                f"load {row['loadavg_1min'][0]}->{row['loadavg_1min'][1]} on {os.cpu_count()} CPUs",
                flush=True,
            )
    if compile_s is not None and not args.json:
        print(f"bf16 kernel compile + first 100 images (once per process): {compile_s:.1f} s")
    if args.json:
        out = {"rows": rows, "compile_s": compile_s, "cpus": os.cpu_count()}
        print(json.dumps({**out, "torch": torch.__version__}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
