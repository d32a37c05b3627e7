"""``import-images``: a user's folder, .zip or .npz of images as a dataset every command can use
(``vae_core.io.imports``)."""

from __future__ import annotations

import argparse

from vae_core.cli.common import CliError, emit, positive_int
from vae_core.io.imports import ImportLimits, ImportRefused, import_images

_LIMITS = ImportLimits()


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import-images",
        help="import your own images (class folders, a .zip of them, or an .npz) as a dataset",
        description="Convert every image to 28x28 grey as the app's upload does, split train/test "
        "(seeded, stratified by class) and store the set as DATA_DIR/NAME/ in MNIST's IDX format; "
        "then use it with --dataset NAME.",
    )
    p.add_argument("path", help="a folder with one sub-folder per class, a .zip of one, or an .npz")
    p.add_argument("--name", required=True, help="dataset name: lowercase letters, digits, - and _")
    p.add_argument("--test-fraction", type=_fraction, default=0.2, help="share held out for test")
    p.add_argument("--seed", type=int, default=0, help="seed of the train/test split")
    p.add_argument("--force", action="store_true", help="replace an existing set of that name")
    p.add_argument(
        "--data-dir",
        default=None,
        help="data folder to store it in, created if needed (default: $VAE_LAB_DATA, else the "
        "user cache)",
    )
    p.add_argument("--max-files", type=positive_int, default=_LIMITS.max_files)
    p.add_argument(
        "--max-pixels",
        type=positive_int,
        default=_LIMITS.max_pixels,
        help="largest width x height of one image",
    )
    p.add_argument(
        "--max-mib",
        type=positive_int,
        default=_LIMITS.max_total_bytes // 2**20,
        help="largest total size of the images in MiB (a zip's declared uncompressed size)",
    )
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")
    p.set_defaults(run=run_import_images)


def run_import_images(args: argparse.Namespace) -> int:
    limits = ImportLimits(args.max_files, args.max_pixels, args.max_mib * 2**20)
    try:
        result = import_images(
            args.path, args.name, args.data_dir, args.test_fraction, args.seed, args.force, limits
        )
    except ImportRefused as exc:
        raise CliError(str(exc)) from exc
    lines = [f"imported {args.name!r} into {result.folder}:"]
    for k, cls in enumerate(result.class_names):
        train, test = result.counts["train"][k], result.counts["test"][k]
        lines.append(f"  {cls}: {train:,} train, {test:,} test")
    lines.append(f"refused {len(result.refused)} file(s)" + (":" if result.refused else ""))
    lines += [f"  {name}: {reason}" for name, reason in result.refused]
    lines.append(f"train on it: python -m vae_core train --dataset {args.name}")
    return emit(result.to_dict(), args.json, lines)
