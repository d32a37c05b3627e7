"""What every command shares: the user-facing error, argument types, the data-folder options,
loading a split, scoring a model with a progress bar, and printing the result.

The leaf of the CLI package: it imports no other ``vae_core.cli`` module, and every command
module imports only this one, so the package has no import cycle.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from vae_core.data.datasets import DATA_ENV_VAR, ImageSet, load_split
from vae_core.data.download import tqdm_progress
from vae_core.data.sources import get_source, imported_names, is_imported_name, known_names
from vae_core.evaluation.scoring import score_split
from vae_core.models.model import LatentVariableModel

T = TypeVar("T")
MAX_IW_SAMPLES = 100_000


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


# --- argument types (argparse ``type=``) -------------------------------------------------------


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text) if text.lstrip("-").isdigit() else -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def parse_list(text: str, item: Callable[[str], T], what: str) -> tuple[T, ...]:
    """Comma-separated values, blanks skipped: '512, 256,' -> (512, 256) with ``item=int``.

    The one splitter behind every list option; the typed parsers below add their own checks.
    """
    try:
        return tuple(item(v.strip()) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}") from None


def int_list(text: str) -> tuple[int, ...]:
    """'512,256' -> (512, 256), for --hidden / --conv-channels."""
    values = parse_list(text, int, "integers")
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def positive_float_list(text: str) -> tuple[float, ...]:
    """'0.5,1,2' -> (0.5, 1.0, 2.0), for --betas."""
    values = parse_list(text, float, "numbers")
    if not values or any(not v > 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive numbers, got {text!r}")
    return values


def choice_list(choices: Sequence[str], what: str) -> Callable[[str], tuple[str, ...]]:
    """A parser of comma-separated names from ``choices`` ('all' for every one), e.g. --ood."""

    def parse(text: str) -> tuple[str, ...]:
        names = parse_list(text, str, what)
        if names == ("all",):
            return tuple(choices)
        bad = [n for n in names if n not in choices]
        if bad or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {', '.join(bad) or text!r}; choose from {', '.join(choices)}, all"
            )
        return names

    return parse


# --- data ------------------------------------------------------------------------------------


def dataset_name(text: str) -> str:
    """--dataset: a shipped set or the name of an imported one (checked again in the data folder
    that --data-dir names, see :func:`check_dataset`, since argparse has not read it yet)."""
    if text in known_names() or is_imported_name(text):
        return text
    raise argparse.ArgumentTypeError(
        f"unknown dataset {text[:40]!r}; choose from {', '.join(known_names())} or an imported "
        "set's name (see import-images)"
    )


def check_dataset(args: argparse.Namespace) -> None:
    """Make the imported sets of --data-dir known (a checkpoint trained on one names it), and
    refuse a --dataset that is neither shipped nor imported there, listing the valid names."""
    data_dir = getattr(args, "data_dir", None)
    if data_dir and Path(data_dir).expanduser().is_dir():
        for name in imported_names(data_dir):
            get_source(name, data_dir)
    dataset = getattr(args, "dataset", None)
    if dataset and dataset not in known_names(data_dir):
        raise CliError(
            f"--dataset {dataset}: no such dataset; choose from {', '.join(known_names(data_dir))} "
            "(or import your images: python -m vae_core import-images PATH --name NAME)"
        )


def add_data_args(p: argparse.ArgumentParser | Any, dataset_default: str | None) -> None:
    """--dataset and --data-dir (``p`` is a parser or an argument group)."""
    p.add_argument(
        "--dataset",
        type=dataset_name,
        default=dataset_default,
        help="dataset"
        + (" (default: the one the checkpoint was trained on)" if not dataset_default else ""),
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder holding mnist/, fashion-mnist/ and imported sets (default: $VAE_LAB_DATA, else "
        "the user cache, downloading when missing)",
    )


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


# --- scoring (train and evaluate) ------------------------------------------------------------


def score(
    model: LatentVariableModel,
    image_set: ImageSet,
    binarize: str,
    iw_samples: int,
    limit: int | None = None,
    seen: bool | None = False,
) -> dict[str, Any]:
    """``score_split`` (the one test report) with a tqdm bar on stderr for the IWAE pass."""
    check_iw_samples(iw_samples)
    bar = tqdm(
        total=min(limit or len(image_set), len(image_set)),
        unit="img",
        desc=f"test NLL (K={iw_samples})",
        file=sys.stderr,
        disable=None if iw_samples and model.config.stochastic else True,
    )
    try:
        return score_split(
            model,
            image_set,
            binarize,
            iw_samples,
            limit,
            seen,
            progress=lambda done, _total: bar.update(done - bar.n),
        )
    finally:
        bar.close()


def check_iw_samples(iw_samples: int) -> None:
    """Refuse an absurd K before any work (``train`` checks it before training, not after)."""
    if iw_samples > MAX_IW_SAMPLES:
        raise CliError(f"--iw-samples must be at most {MAX_IW_SAMPLES:,}, got {iw_samples:,}")


def format_metrics(m: dict[str, Any]) -> str:
    """Human summary of a ``score`` dict (tolerant of older or app-written metadata)."""

    def num(key: str) -> str:
        value = m.get(key)
        return f"{value:.2f}" if isinstance(value, int | float) else "n/a"

    nll = num("nll") if m.get("nll") is not None else "n/a (skipped, or an AE: no density)"
    bits = " (fixed binarization, seed 0)" if m.get("binarized") else ""
    n = m.get("n")
    if isinstance(m.get("scored_on"), str):
        head = f"scored on {m['scored_on']}; nats per image:"
    elif isinstance(n, int):
        head = f"{m.get('split', 'test')} set, {n:,} images{bits}, nats per image:"
    else:
        head = "test metrics, nats per image:"
    lines = [
        head,
        f"  ELBO {num('elbo')}   recon {num('recon')}   KL {num('kl')}",
        f"  NLL (IWAE, K={m.get('iw_samples', '?')}) {nll}   active units "
        f"{m.get('active_units', '?')}/{len(m.get('kl_per_dim') or []) or '?'}",
    ]
    lines += comparable_lines(m)
    if m.get("data_source") == "offline-sample":
        lines.append(
            "  (offline sample: NOT the real test set; its digits come from the MNIST training set)"
        )
    return "\n".join(lines)


def comparable_lines(m: dict[str, Any]) -> list[str]:
    """The labelled comparable figure (``vae_core.evaluation.comparable``), if the dict has one."""
    fig = m.get("figure")
    lines = []
    if fig and m.get(fig["key"]) is not None:
        lines.append(
            f"  {fig['key']} {m[fig['key']]:.2f} ({m['bits_per_dim']:.4f} bits/dim): {fig['text']}"
        )
    if m.get("bayes_accuracy") is not None:
        lines.append(
            f"  CVAE as a classifier (p(y|x) ∝ p(y) p(x|y)): accuracy {m['bayes_accuracy']:.2%}"
        )
    return lines


# --- output ----------------------------------------------------------------------------------


def emit(report: dict[str, Any], as_json: bool, lines: list[str]) -> int:
    """Print the report as one JSON line (``--json``) or as the human ``lines``."""
    print(json.dumps(report) if as_json else "\n".join(lines))
    return 0


def command_line() -> str:
    """The command being run, as stored in the files it writes (reproducibility)."""
    return "python -m vae_core " + shlex.join(sys.argv[1:])


def add_limit_arg(p: argparse.ArgumentParser) -> None:
    """``--limit N``: score a seeded, class-stratified subset (the same rule as the app's)."""
    p.add_argument(
        "--limit",
        type=positive_int,
        default=None,
        help="only N images: a seeded subset, stratified by class",
    )
