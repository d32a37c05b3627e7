"""``evaluate``, ``sample`` and ``info`` commands, plus the data/scoring helpers ``train`` shares.

Scores are nats per image on the test split. Models trained on binarized pixels are scored on
one fixed binarization of the whole split (``binarize_static(x, seed=0)``, then sliced), so every
run and device sees the same bits (Burda et al. 2015 protocol); others are scored on grey pixels.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from vae_core.checkpoints import atomic_write, load_checkpoint
from vae_core.cli import CliError
from vae_core.data.binarize import binarize_static
from vae_core.data.datasets import DATA_ENV_VAR, ImageSet, load_split
from vae_core.data.download import tqdm_progress
from vae_core.evaluation import evaluate_model
from vae_core.imaging import image_grid, png_bytes
from vae_core.metadata import uses_binary_test_data
from vae_core.model import LatentVariableModel

MAX_SAMPLES = 4096
MAX_IW_SAMPLES = 100_000


def named_data_dir(data_dir: str | None) -> tuple[str, Path] | None:
    """(how it was named, folder) when the user chose a data folder: --data-dir or $VAE_LAB_DATA.

    A named folder must exist and be a folder: silently downloading elsewhere (or falling back
    to the offline sample) because of a typo would score or train on data nobody asked for.
    """
    if data_dir:
        label, folder = "--data-dir", data_dir
    elif os.environ.get(DATA_ENV_VAR):
        label, folder = f"${DATA_ENV_VAR}", os.environ[DATA_ENV_VAR]
    else:
        return None
    path = Path(folder).expanduser()
    if not path.exists():
        raise CliError(f"{label} {folder}: no such folder")
    if not path.is_dir():
        raise CliError(
            f"{label} {folder} is a file; it must be a folder holding mnist/ and fashion-mnist/"
        )
    return label, path


def load_data(dataset: str, split: str, data_dir: str | None) -> ImageSet:
    """load_split with download bars, saying plainly on stderr when it fell back to the sample.

    The offline sample is a fallback only when no data folder was named: with --data-dir or
    $VAE_LAB_DATA set, missing files that cannot be downloaded are an error (exit status 2).
    """
    named = named_data_dir(data_dir)
    image_set = load_split(
        dataset, split, data_dir, progress=tqdm_progress, allow_offline_sample=named is None
    )
    if image_set.source == "offline-sample":
        print(
            f"warning: using the OFFLINE SAMPLE, not real data. {image_set.note}", file=sys.stderr
        )
    return image_set


def score(
    model: LatentVariableModel,
    image_set: ImageSet,
    binarize: str,
    iw_samples: int,
    limit: int | None = None,
) -> dict[str, Any]:
    """evaluate_model on a split (first ``limit`` images), with a tqdm bar for the IWAE pass."""
    if iw_samples > MAX_IW_SAMPLES:
        raise CliError(f"--iw-samples must be at most {MAX_IW_SAMPLES:,}, got {iw_samples:,}")
    x, y = image_set.tensors()
    binary = uses_binary_test_data(binarize)
    if binary:
        x = binarize_static(x, seed=0)  # whole split first, then slice: same bits for any limit
    if limit is not None:
        x, y = x[:limit], y[:limit]
    labels = y if model.config.conditional else None
    bar = tqdm(
        total=len(x),
        unit="img",
        desc=f"test NLL (K={iw_samples})",
        file=sys.stderr,
        disable=None if iw_samples and model.config.stochastic else True,
    )

    def progress(done: int, total: int) -> None:
        bar.update(done - bar.n)

    try:
        metrics = evaluate_model(model, x, labels, iw_samples=iw_samples, progress=progress)
    finally:
        bar.close()
    metrics["binarized"] = binary
    metrics["split"] = image_set.split
    metrics["data_source"] = image_set.source  # "offline-sample": not the real test set
    return metrics


def format_metrics(m: dict[str, Any]) -> str:
    """Human summary of a ``score`` dict (tolerant of older or app-written metadata)."""

    def num(key: str) -> str:
        value = m.get(key)
        return f"{value:.2f}" if isinstance(value, int | float) else "n/a"

    nll = num("nll") if m.get("nll") is not None else "n/a (skipped, or an AE: no density)"
    bits = " (fixed binarization, seed 0)" if m.get("binarized") else ""
    n = m.get("n")
    lines = [
        f"{m.get('split', 'test')} set, {n:,} images{bits}, nats per image:"
        if isinstance(n, int)
        else "test metrics, nats per image:",
        f"  ELBO {num('elbo')}   recon {num('recon')}   KL {num('kl')}",
        f"  NLL (IWAE, K={m.get('iw_samples', '?')}) {nll}   active units "
        f"{m.get('active_units', '?')}/{len(m.get('kl_per_dim') or []) or '?'}",
    ]
    if m.get("data_source") == "offline-sample":
        lines.append(
            "  (offline sample: NOT the real test set; its digits come from the MNIST training set)"
        )
    return "\n".join(lines)


def run_evaluate(args: argparse.Namespace) -> int:
    ckpt = load_checkpoint(args.checkpoint)
    meta = ckpt.meta
    dataset = args.dataset or meta.get("dataset")
    if dataset not in ("mnist", "fashion-mnist"):
        raise CliError(
            f"{args.checkpoint}: no known training dataset in its metadata; pass --dataset"
        )
    image_set = load_data(dataset, args.split, args.data_dir)
    metrics = score(
        ckpt.model, image_set, str(meta.get("binarize", "none")), args.iw_samples, args.limit
    )
    config = ckpt.config
    report = {
        "checkpoint": str(args.checkpoint),
        "dataset": dataset,
        "split": args.split,
        "data_source": image_set.source,
        "data_note": image_set.note,
        "model": config.display_name,
        "arch": config.arch,
        "likelihood": config.likelihood,
        "latent_dim": config.latent_dim,
        **metrics,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"{meta.get('name', Path(args.checkpoint).name)} ({config.display_name}, "
            f"{config.arch}, {config.latent_dim}-D, {config.likelihood})"
        )
        print(f"data: {image_set.note}")
        print(format_metrics(metrics))
    return 0


def run_sample(args: argparse.Namespace) -> int:
    if not 1 <= args.n <= MAX_SAMPLES:
        raise CliError(f"--n must be in 1..{MAX_SAMPLES}, got {args.n}")
    if not (math.isfinite(args.temperature) and 0 <= args.temperature <= 10):
        raise CliError(f"--temperature must be in [0, 10], got {args.temperature}")
    if not args.out.lower().endswith(".png"):
        raise CliError(f"--out must end in .png, got {args.out}")
    model = load_checkpoint(args.checkpoint).model
    config = model.config
    nrow = args.nrow
    if args.label is not None:
        if not config.conditional:
            raise CliError(f"--label needs a CVAE checkpoint; this one is a {config.display_name}")
        if not 0 <= args.label < config.n_classes:
            raise CliError(f"--label must be in 0..{config.n_classes - 1}, got {args.label}")
        labels: torch.Tensor | None = torch.full((args.n,), args.label, dtype=torch.long)
    elif config.conditional:  # one row per class
        nrow = -(-args.n // config.n_classes)
        labels = torch.arange(config.n_classes).repeat_interleave(nrow)
    else:
        labels = None
    n = args.n if labels is None else len(labels)
    torch.manual_seed(args.seed)
    images = model.sample(n, labels, temperature=args.temperature)
    grid = image_grid(images, nrow=nrow)
    atomic_write(args.out, png_bytes(grid, scale=args.scale))
    h, w = grid.shape
    print(f"wrote {args.out}: {n} samples, {w * args.scale}x{h * args.scale} px", file=sys.stderr)
    return 0


def run_info(args: argparse.Namespace) -> int:
    """Print the metadata of a checkpoint that loads: a file with good metadata but broken
    weights is reported (exit 2) here too, rather than described as if it were usable."""
    meta = load_checkpoint(args.checkpoint).meta
    if args.json:
        print(json.dumps(meta, indent=2))
        return 0
    m = meta["model"]
    hist = meta.get("history") or []
    print(f"{meta.get('name', Path(args.checkpoint).name)}")
    print(
        f"  model:     {m['kind']} {m['arch']} latent_dim={m['latent_dim']} hidden={m['hidden']}"
        + (f" conv_channels={m['conv_channels']}" if m["arch"] == "conv" else "")
        + f" likelihood={m['likelihood']} beta={m['beta']:g}"
    )
    print(f"  dataset:   {meta.get('dataset', '?')} (binarize={meta.get('binarize', '?')})")
    if meta.get("dataset_note"):
        print(f"  note:      {meta['dataset_note']}")
    print(
        f"  trained:   {meta.get('epoch', len(hist))}/{meta.get('epochs', '?')} epochs, "
        f"{meta.get('training_seconds', '?')} s on {meta.get('device', '?')}, "
        f"created {meta.get('created', '?')}"
    )
    tc = meta.get("train_config") or {}
    if tc:
        print(
            f"  recipe:    batch {tc.get('batch_size')}, lr {tc.get('lr')} "
            f"({tc.get('lr_schedule')}), seed {tc.get('seed')}, "
            f"training noise {tc.get('train_noise', 'none')}"
        )
    train_elbo = (hist[-1].get("train") or {}).get("elbo") if hist else None
    if train_elbo is not None:
        val = (hist[-1].get("val") or {}).get("elbo")
        print(
            f"  last epoch: train ELBO {train_elbo:.2f}"
            + (f", val ELBO {val:.2f}" if val is not None else "")
        )
    if meta.get("test_metrics"):
        print(format_metrics(meta["test_metrics"]))
    else:
        print("  no test metrics (an interrupted or in-progress run)")
    return 0
