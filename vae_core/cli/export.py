"""``export-projector``: a checkpoint's latent codes as files for TensorBoard's Embedding
Projector (``vae_core.io.projector``: tensors.tsv, metadata.tsv, sprite.png, projector_config.pbtxt)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vae_core.cli.common import CliError, add_data_args, load_data, positive_int
from vae_core.data.sources import known_names
from vae_core.io.checkpoint_file import load_checkpoint
from vae_core.io.projector import MAX_POINTS, export_split


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-projector",
        help="posterior means of the test split as TensorBoard Embedding Projector files",
    )
    p.add_argument("checkpoint")
    p.add_argument("--out", required=True, help="folder for the four files (created if needed)")
    add_data_args(p, None)
    p.add_argument(
        "--limit",
        type=positive_int,
        default=None,
        help=f"only N images: a seeded subset, stratified by class (at most {MAX_POINTS:,})",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the --limit subset")
    p.set_defaults(run=run_export_projector)


def run_export_projector(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CliError(f"--out {args.out} is a file; it must be a folder")
    ckpt = load_checkpoint(args.checkpoint)
    dataset = args.dataset or ckpt.meta.get("dataset")
    if dataset not in known_names(args.data_dir):
        raise CliError("no known training dataset in the checkpoint metadata; pass --dataset")
    image_set = load_data(dataset, "test", args.data_dir)
    files = export_split(ckpt.model, image_set, args.limit, args.seed, Path(args.checkpoint).stem)
    files.write(out)
    print(
        f"wrote {out}/: {files.n:,} codes of {files.dim} dims (tensors.tsv, metadata.tsv, "
        f"sprite.png, projector_config.pbtxt); open with: tensorboard --logdir {out}",
        file=sys.stderr,
    )
    return 0
