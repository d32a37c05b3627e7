"""The GPU check: one script of at most about 5 minutes for a machine with CUDA.

It measures what a class's GPU machine is for, and prints each figure as it goes:

1. Training speed: the default 16-D model (``ModelConfig(latent_dim=16)``, its default MLP and
   Bernoulli decoder, grey pixels as ``default_binarization`` gives Fashion-MNIST) on the full
   Fashion-MNIST training set, in seconds per 60,000-image epoch, eagerly (``--no-cuda-graphs``),
   with bf16 autocast (``--amp``), with ``torch.compile`` (``--compile``) and as the trainer
   runs by default on CUDA, replaying each step as one CUDA graph; with the graphed run's loss
   against the eager one's (same seed, same draws). Two epochs each; the figure is the second,
   so compilation, capture and CUDA warm-up are not counted as training (they are printed too).
2. The IWAE NLL with K = 1000 on the 10,000 MNIST test images (binarized once with seed 0, the
   lab's protocol) for the shipped ``mnist-vae-16d``: wall time and the estimate.
3. The app's pages through Streamlit's AppTest with PyTorch on the GPU: each page's run time and
   whether it raised.

``--parts`` runs some of the three (``--parts pages`` on a machine that holds the app's
packages, ``--parts train,iwae`` on one that holds only PyTorch and the data). On a machine
without CUDA it says so and exits 0. ``--device cpu --smoke`` runs every part on
small sizes (a few hundred images, K = 10, two pages): the test suite uses it to keep this script
working on machines that have no GPU; its figures are not benchmarks.

Run: PYTHONPATH=. python bench/gpu_check.py [--data-dir DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vae_core.config import ModelConfig  # noqa: E402
from vae_core.data.binarize import default_binarization  # noqa: E402
from vae_core.data.datasets import load_split  # noqa: E402
from vae_core.device import device_label  # noqa: E402
from vae_core.evaluation.iwae import iwae_nll_fast  # noqa: E402
from vae_core.evaluation.scoring import scored_images  # noqa: E402
from vae_core.io.checkpoint_file import load_checkpoint  # noqa: E402
from vae_core.models.model import LatentVariableModel  # noqa: E402
from vae_core.training.trainer import TrainConfig, train  # noqa: E402

SHIPPED_IWAE_MODEL = ROOT / "checkpoints" / "mnist-vae-16d.safetensors"
PAGES = ["app.py", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))]
SMOKE_PAGES = ["app.py", "pages/4_Generate.py"]
PARTS = ("train", "iwae", "pages")


def parts_list(text: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        raise argparse.ArgumentTypeError(f"unknown part(s) {unknown}; choose from {PARTS}")
    return parts


def say(report: dict[str, Any], key: str, value: Any, text: str) -> None:
    report[key] = value
    print(text, file=sys.stderr, flush=True)


def training_speed(device: torch.device, n_images: int | None, report: dict[str, Any]) -> None:
    """Seconds per epoch over the Fashion-MNIST training images, for each way of running."""
    images = load_split("fashion-mnist", "train", allow_offline_sample=False)
    x, y = images.tensors()
    if n_images is not None:
        x, y = x[:n_images], y[:n_images]
    model_config = ModelConfig(latent_dim=16)
    binarize = default_binarization(model_config.likelihood, "fashion-mnist")
    losses: dict[str, float] = {}
    for mode, flags in (
        ("eager", {"cuda_graphs": False}),
        ("amp", {"amp": True}),
        ("compile", {"compile": True}),
        ("graph", {}),
    ):
        config = TrainConfig(
            dataset="fashion-mnist",
            epochs=2,
            binarize=binarize,
            device=device.type,
            val_fraction=0.0,  # every image trains: the figure is per whole epoch
            **flags,
        )
        model = LatentVariableModel(model_config, torch.Generator().manual_seed(0))
        start = time.perf_counter()
        result = train(model, x, y, config)
        if device.type == "cuda":
            torch.cuda.synchronize()
        first, second = (
            result.history[0].elapsed,
            result.history[1].elapsed - result.history[0].elapsed,
        )
        losses[mode] = result.history[1].train["loss"]
        extra = ""
        if mode == "compile" and not result.compiled:
            extra = f" (did not compile: {result.compile_error}; eager steps)"
        if mode == "graph":
            report["train_graph_captured"] = result.cuda_graph
            report["train_graph_loss_minus_eager"] = losses["graph"] - losses["eager"]
            extra = (
                f"; loss minus eager's {losses['graph'] - losses['eager']:+.2e}"
                if result.cuda_graph
                else f" (no CUDA graph: {result.cuda_graph_error or 'CUDA only'}; eager steps)"
            )
        say(
            report,
            f"train_{mode}_s_per_epoch",
            round(second, 3),
            f"train {mode:8s}: {second:6.2f} s per {len(x):,}-image epoch "
            f"(first epoch {first:.2f} s, with warm-up; loss {result.history[1].train['loss']:.2f})"
            f"{extra}",
        )
        report[f"train_{mode}_first_epoch_s"] = round(first, 3)
        report[f"train_{mode}_total_s"] = round(time.perf_counter() - start, 2)


def iwae_speed(device: torch.device, n_images: int | None, k: int, report: dict[str, Any]) -> None:
    """IWAE NLL of the shipped 16-D MNIST VAE on the binarized MNIST test images."""
    ckpt = load_checkpoint(SHIPPED_IWAE_MODEL, device=device.type)
    test = load_split("mnist", "test", allow_offline_sample=False)
    x, _ = scored_images(test, True, n_images)
    iwae_nll_fast(ckpt.model, x[:100], k=k, seed=0)  # warm-up: kernels, allocator
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    nll = iwae_nll_fast(ckpt.model, x, k=k, seed=0)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    say(
        report,
        "iwae_seconds",
        round(seconds, 2),
        f"IWAE K={k:,} on {len(x):,} binarized MNIST test images ({SHIPPED_IWAE_MODEL.name}): "
        f"{seconds:.2f} s, NLL {float(nll.mean()):.2f} nats per image",
    )
    report["iwae_k"], report["iwae_images"] = k, len(x)
    report["iwae_nll"] = round(float(nll.mean()), 3)


def pages_on_device(pages: list[str], report: dict[str, Any]) -> None:
    """Each page through AppTest in this process, where PyTorch picks the same device."""
    from streamlit.testing.v1 import AppTest

    results = {}
    for page in pages:
        start = time.perf_counter()
        at = AppTest.from_file(str(ROOT / page), default_timeout=120).run()
        seconds = time.perf_counter() - start
        errors = [str(e.value)[:200] for e in at.exception]
        results[page] = {"seconds": round(seconds, 2), "errors": errors}
        status = "ok" if not errors else f"RAISED: {errors[0]}"
        print(f"page {page:34s} {seconds:6.2f} s  {status}", file=sys.stderr, flush=True)
    report["pages"] = results
    report["pages_failed"] = sorted(p for p, r in results.items() if r["errors"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--smoke", action="store_true", help="small sizes, to test the script")
    parser.add_argument("--data-dir", default=None, help="sets VAE_LAB_DATA for this run")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        type=parts_list,
        help=f"comma-separated, of {', '.join(PARTS)} (default: all three)",
    )
    args = parser.parse_args(argv)
    if args.data_dir:
        os.environ["VAE_LAB_DATA"] = args.data_dir
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device on this machine; nothing to measure.", file=sys.stderr)
        if args.json:
            print(json.dumps({"cuda": False}))
        return 0
    device = torch.device(args.device)
    report: dict[str, Any] = {"cuda": device.type == "cuda", "device": device_label(device)}
    report["torch"] = torch.__version__
    print(f"gpu_check on {report['device']} (torch {torch.__version__})", file=sys.stderr)
    start = time.perf_counter()
    if "train" in args.parts:
        training_speed(device, 256 if args.smoke else None, report)
    if "iwae" in args.parts:
        iwae_speed(device, 200 if args.smoke else None, 10 if args.smoke else 1000, report)
    if "pages" in args.parts:
        pages_on_device(SMOKE_PAGES if args.smoke else PAGES, report)
    report["total_seconds"] = round(time.perf_counter() - start, 1)
    print(f"total {report['total_seconds']:.1f} s", file=sys.stderr)
    if args.json:
        print(json.dumps(report))
    return 1 if report.get("pages_failed") else 0


if __name__ == "__main__":
    raise SystemExit(main())
