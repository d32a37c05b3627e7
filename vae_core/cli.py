"""Command line: ``python -m vae_core train | evaluate | sample | info``.

This module only builds the argument parser and maps failures to one ``error: ...`` line and
exit status 2 (no traceback for anything a user can cause: bad arguments, missing or corrupt
files, unavailable data). The commands themselves live in ``cli_commands`` / ``cli_train``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from vae_core.config import ARCHITECTURES, LIKELIHOODS, MODEL_KINDS
from vae_core.data.binarize import BINARIZATIONS
from vae_core.data.sources import DATASET_NAMES

EXIT_USAGE = 2


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


def int_list(text: str) -> tuple[int, ...]:
    """Parse '512,256' into (512, 256) for --hidden / --conv-channels."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text) if text.lstrip("-").isdigit() else -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _add_data_args(p: argparse.ArgumentParser, dataset_default: str | None) -> None:
    p.add_argument(
        "--dataset",
        choices=DATASET_NAMES,
        default=dataset_default,
        help="dataset"
        + (" (default: the one the checkpoint was trained on)" if not dataset_default else ""),
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder holding mnist/ and fashion-mnist/ IDX files (default: $VAE_LAB_DATA, else "
        "the user cache, downloading when missing)",
    )


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model and write a checkpoint")
    m = p.add_argument_group("model")
    m.add_argument("--kind", choices=MODEL_KINDS, default="vae")
    m.add_argument("--arch", choices=ARCHITECTURES, default="mlp")
    m.add_argument("--latent-dim", type=int, default=2)
    m.add_argument("--hidden", type=int_list, default=(512, 256), help="e.g. 512,256")
    m.add_argument("--conv-channels", type=int_list, default=(32, 64), help="e.g. 32,64")
    m.add_argument("--likelihood", choices=LIKELIHOODS, default="bernoulli")
    m.add_argument("--gaussian-std", type=float, default=0.1)
    m.add_argument("--learn-variance", action="store_true", help="Gaussian: learn sigma per pixel")
    m.add_argument("--beta", type=float, default=1.0, help="KL weight (beta-VAE when != 1)")
    d = p.add_argument_group("data and optimisation")
    _add_data_args(d, "mnist")
    d.add_argument("--epochs", type=positive_int, default=10)
    d.add_argument("--batch-size", type=positive_int, default=128)
    d.add_argument("--lr", type=float, default=1e-3)
    d.add_argument("--lr-schedule", choices=("constant", "onecycle"), default="constant")
    d.add_argument(
        "--binarize",
        choices=BINARIZATIONS,
        default=None,
        help="default: dynamic for a Bernoulli model on MNIST, none otherwise",
    )
    d.add_argument(
        "--train-noise",
        default=None,
        metavar="SPEC",
        help="denoising objective (Im et al. 2017): corrupt each batch with fresh noise, encode "
        "it, reconstruct the clean image; KIND:LEVEL with a Denoise-page noise, e.g. "
        "gaussian:0.3, salt-pepper:0.2, occlusion-square:0.4 (default: none). The test ELBO "
        "stays the standard ELBO on clean images",
    )
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--device", choices=("auto", "cuda", "mps", "cpu"), default="auto")
    d.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA only)")
    d.add_argument("--compile", action="store_true", help="torch.compile (CUDA only)")
    d.add_argument("--threads", type=positive_int, default=None, help="CPU threads for torch")
    o = p.add_argument_group("output")
    o.add_argument(
        "--iw-samples",
        type=non_negative_int,
        default=100,
        help="importance samples for the final test NLL (0 skips it)",
    )
    o.add_argument("--name", default=None, help="short title stored in the checkpoint")
    o.add_argument("--out", default=None, help="checkpoint path (.safetensors)")
    o.add_argument("--json", action="store_true", help="one JSON line per epoch on stdout")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="ELBO, IWAE NLL and active units of a checkpoint")
    p.add_argument("checkpoint")
    _add_data_args(p, None)
    p.add_argument("--split", choices=("test", "train"), default="test")
    p.add_argument("--iw-samples", type=non_negative_int, default=100)
    p.add_argument("--limit", type=positive_int, default=None, help="only the first N images")
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads for torch")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _add_sample(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="decode z ~ N(0, T^2 I) into a PNG grid")
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


def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="check a checkpoint fully and print its metadata")
    p.add_argument("checkpoint")
    p.add_argument("--json", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vae_core",
        description="VAE Latent Lab: train, evaluate and sample VAEs on MNIST / Fashion-MNIST.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_train, _add_evaluate, _add_sample, _add_info):
        add(sub)
    from vae_core.cli_lab import add_lab_commands  # evaluation lab (no torch import at parse)

    add_lab_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Imported late so `--help` and argument errors answer without loading torch.
    import torch

    from vae_core import cli_commands, cli_train
    from vae_core.training import TrainingDiverged

    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)

    commands = {
        "train": cli_train.run_train,
        "evaluate": cli_commands.run_evaluate,
        "sample": cli_commands.run_sample,
        "info": cli_commands.run_info,
    }
    try:
        return (getattr(args, "run", None) or commands[args.command])(args)
    except BrokenPipeError:  # e.g. `info --json | head`: the reader left, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except TrainingDiverged as exc:
        return _fail(f"training diverged: {exc}")
    except (CliError, ValueError, OSError, RuntimeError) as exc:
        # ValueError covers ConfigError, CheckpointError and IdxFormatError; RuntimeError covers
        # DatasetUnavailable and an unavailable --device. VAE_LAB_DEBUG=1 shows the traceback.
        if os.environ.get("VAE_LAB_DEBUG"):
            raise
        return _fail(str(exc) or type(exc).__name__)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def _fail(message: str) -> int:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_USAGE
