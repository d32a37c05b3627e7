"""Command line: ``python -m vae_core COMMAND``; the dispatcher only.

Each command group registers its subcommands (``add_commands``) and the function that runs
each one (``run``); this module builds the parser from them and maps failures to one
``error: ...`` line and exit status 2 (no traceback for anything a user can cause: bad
arguments, missing or corrupt files, unavailable data).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import torch

from vae_core.cli import evaluate, export, imports, inspect, lab, train, worker
from vae_core.cli.common import CliError, check_dataset
from vae_core.training.trainer import TrainingDiverged

EXIT_USAGE = 2
COMMAND_GROUPS = (train, evaluate, inspect, export, lab, imports, worker)  # the order of ``--help``


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vae_core",
        description="VAE Latent Lab: train, evaluate and sample VAEs on MNIST / Fashion-MNIST.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_dataset(args)
    except CliError as exc:
        parser.error(str(exc))  # as argparse refuses a bad value: usage, exit status 2
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    try:
        return args.run(args)
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
