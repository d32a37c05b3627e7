"""Looking at one checkpoint: ``sample`` (decode codes from the prior into a PNG grid) and ``info``
(check the file fully and print its metadata)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

from vae_core.cli.common import CliError, format_metrics, positive_int
from vae_core.config import NO_TRAIN_NOISE
from vae_core.io.atomic import atomic_write
from vae_core.io.checkpoint_file import load_checkpoint
from vae_core.io.pictures import image_grid, png_bytes

MAX_SAMPLES = 4096


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample", help="decode codes from the model's prior (spread times T) into a PNG grid"
    )
    p.add_argument("checkpoint")
    p.add_argument(
        "--n",
        type=positive_int,
        default=64,
        help="number of samples (a CVAE without --label: about n/10 per class row)",
    )
    p.add_argument("--label", type=int, default=None, help="class to generate (CVAE only)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--nrow", type=positive_int, default=8, help="images per grid row")
    p.add_argument("--scale", type=positive_int, default=1, help="pixel upscale factor")
    p.add_argument("--out", required=True, help="PNG path")
    p.set_defaults(run=run_sample)

    p = sub.add_parser("info", help="check a checkpoint fully and print its metadata")
    p.add_argument("checkpoint")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_info)


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
    gen = torch.Generator().manual_seed(args.seed)
    images = model.sample(n, labels, temperature=args.temperature, generator=gen)
    grid = image_grid(images, nrow=nrow)
    atomic_write(args.out, png_bytes(grid, scale=args.scale))
    h, w = grid.shape
    print(f"wrote {args.out}: {n} samples, {w * args.scale}x{h * args.scale} px", file=sys.stderr)
    return 0


def run_info(args: argparse.Namespace) -> int:
    """Print the metadata of a checkpoint that loads: a file with good metadata but broken
    weights is reported (exit 2) here too, rather than described as if it were usable."""
    ckpt = load_checkpoint(args.checkpoint)
    meta = ckpt.meta
    if args.json:  # the prior as the model has it: files from before learned priors omit it
        print(json.dumps({**meta, "prior": ckpt.config.prior}, indent=2))
        return 0
    m = meta["model"]
    hist = meta.get("history") or []
    print(f"{meta.get('name', Path(args.checkpoint).name)}")
    print(
        f"  model:     {m['kind']} {m['arch']} latent_dim={m['latent_dim']} hidden={m['hidden']}"
        + (f" conv_channels={m['conv_channels']}" if m["arch"] == "conv" else "")
        + f" likelihood={m['likelihood']} beta={m['beta']:g} prior={ckpt.config.prior}"
        + (f" ({ckpt.config.prior_components})" if ckpt.config.prior != "standard" else "")
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
            f"training noise {tc.get('train_noise', NO_TRAIN_NOISE)}"
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
