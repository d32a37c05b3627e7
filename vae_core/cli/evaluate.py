"""Scoring a checkpoint: ``evaluate`` (ELBO, IWAE NLL, active units; ``--ood`` adds
out-of-distribution AUROCs), ``nll`` (the IWAE NLL in detail: ELBO gap, bits/dim, per class) and
``diagnostics`` (the prior, KL per dim, active units and the prior mass in posterior holes).

Scores are nats per image, on the inputs the scoring protocol prescribes
(``vae_core.evaluation.scoring``): one fixed binarization of the whole split for models trained
on binarized pixels, grey pixels otherwise. ``--limit N`` scores the split's seeded
class-stratified subset of N (``vae_core.data.subsets``), the very images the app's figures on
N use.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from vae_core.cli.common import (
    CliError,
    add_data_args,
    add_limit_arg,
    choice_list,
    comparable_lines,
    emit,
    format_metrics,
    load_data,
    non_negative_int,
    positive_int,
    score,
)
from vae_core.data.datasets import ImageSet, load_split, seen_in_training
from vae_core.data.sources import known_names
from vae_core.data.subsets import describe_images
from vae_core.evaluation.comparable import comparable_figures
from vae_core.evaluation.data_kind import uses_binary_test_data
from vae_core.evaluation.iwae import MAX_K, fast_path_available, likelihood_report
from vae_core.evaluation.ood import build_ood_sets, ood_report, other_datasets, set_name_for
from vae_core.evaluation.prior_holes import HOLE_RATIO, diagnostics_report
from vae_core.evaluation.scoring import IW_SAMPLES, pixels_note, scored_images
from vae_core.io.checkpoint_file import Checkpoint, load_checkpoint
from vae_core.io.vq_checkpoint import is_vq_checkpoint, load_vq_checkpoint
from vae_core.training.vq import score_vq

OOD_CHOICES = {
    "mnist": "mnist-test",
    "fashion-mnist": "fashion-test",
    "noise": "uniform-noise",
    "inverted": "inverted",
    "rotated": "rotated",
}


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="ELBO, IWAE NLL and active units of a checkpoint")
    p.add_argument("checkpoint")
    add_data_args(p, None)
    p.add_argument("--split", choices=("test", "train"), default="test")
    p.add_argument("--iw-samples", type=non_negative_int, default=IW_SAMPLES)
    add_limit_arg(p)
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads for torch")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--ood",
        type=choice_list(tuple(OOD_CHOICES), "OOD set"),
        default=None,
        metavar="SETS",
        help="also score out-of-distribution sets (comma list of "
        f"{', '.join(OOD_CHOICES)}, or all) and report AUROCs vs the model's test split (its "
        "own dataset, MNIST, Fashion-MNIST or an imported set, is the in-distribution set)",
    )
    p.set_defaults(run=run_evaluate)

    p = sub.add_parser("nll", help="IWAE NLL, ELBO gap (nats and bits/dim) and per-class NLL")
    p.add_argument("checkpoint")
    add_data_args(p, None)
    p.add_argument("--k", type=positive_int, default=1000, help="importance samples (1..100000)")
    add_limit_arg(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads for torch")
    p.add_argument(
        "--float32",
        action="store_true",
        help="the decoder in float32 throughout (about 2x slower on a CPU with bfloat16, where "
        "large jobs run the last layer in bf16 with its top samples redone in float32)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_nll)

    p = sub.add_parser(
        "diagnostics", help="prior, KL per dim, active units and hole_mass on the test split"
    )
    p.add_argument("checkpoint")
    add_data_args(p, None)
    add_limit_arg(p)
    p.add_argument("--seed", type=int, default=0, help="seed of the Monte Carlo draws")
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads for torch")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_diagnostics)


# --- evaluate --------------------------------------------------------------------------------


def run_evaluate(args: argparse.Namespace) -> int:
    if is_vq_checkpoint(args.checkpoint):
        return _evaluate_vq(args)
    ckpt = load_checkpoint(args.checkpoint)
    if args.ood:  # refused before the slow in-distribution pass, not after it
        _check_ood_model(ckpt)
    report, image_set = evaluation_report(ckpt, args)
    ood = ood_scores(ckpt, args) if args.ood else None
    if args.json:
        print(json.dumps({**report, **ood} if ood else report))
        return 0
    config, meta = ckpt.config, ckpt.meta
    print(
        f"{meta.get('name', Path(args.checkpoint).name)} ({config.display_name}, "
        f"{config.arch}, {config.latent_dim}-D, {config.likelihood})"
    )
    print(f"data: {image_set.note}")
    print(format_metrics(report))
    if ood:
        print(f"out-of-distribution (IWAE K={ood['ood']['k']}, higher NLL = more OOD):")
        for name, e in ood["ood"]["sets"].items():
            extra = (
                f"  AUROC {e['auroc_nll']:.3f}  complexity-corrected {e['auroc_corrected']:.3f}"
                if "auroc_nll" in e
                else "  (in-distribution)"
            )
            print(f"  {name:14s} mean NLL {e['mean_nll']:9.2f}{extra}")
    return 0


def _scored_split(args: argparse.Namespace, meta: dict[str, Any]) -> ImageSet:
    """The split ``evaluate`` scores: ``--dataset``, else the one the checkpoint was trained on."""
    dataset = args.dataset or meta.get("dataset")
    if dataset not in known_names(args.data_dir):
        raise CliError(
            f"{args.checkpoint}: no known training dataset in its metadata; pass --dataset"
        )
    return load_data(dataset, args.split, args.data_dir)


def evaluation_report(
    ckpt: Checkpoint, args: argparse.Namespace
) -> tuple[dict[str, Any], ImageSet]:
    """The ``evaluate --json`` object (what the model is, what it was scored on, the metrics)."""
    meta = ckpt.meta
    image_set = _scored_split(args, meta)
    metrics = score(
        ckpt.model,
        image_set,
        str(meta.get("binarize", "none")),
        args.iw_samples,
        args.limit,
        seen=seen_in_training(image_set, meta),
    )
    config = ckpt.config
    x, y = scored_images(
        image_set, uses_binary_test_data(str(meta.get("binarize", "none"))), args.limit
    )
    figures = comparable_figures(ckpt.model, meta, x, y, args.iw_samples, metrics["nll"])
    report = {
        "checkpoint": str(args.checkpoint),
        "dataset": image_set.dataset,
        "split": args.split,
        "data_source": image_set.source,
        "data_note": image_set.note,
        "model": config.display_name,
        "arch": config.arch,
        "likelihood": config.likelihood,
        "latent_dim": config.latent_dim,
        "prior": config.prior,
        **metrics,
        **figures,
    }
    return report, image_set


def _check_ood_model(ckpt: Checkpoint) -> None:
    if ckpt.config.conditional or not ckpt.config.stochastic:
        raise CliError("--ood needs a VAE checkpoint (an AE has no density; a CVAE needs labels)")


def ood_scores(ckpt: Checkpoint, args: argparse.Namespace) -> dict[str, Any]:
    """The keys ``--ood`` adds to the report: the per-set report and the AUROCs vs the test split."""
    _check_ood_model(ckpt)
    image_set, _, _, binary = scored_test_split(ckpt, args.dataset, args.data_dir)
    in_name = set_name_for(image_set.dataset)
    names = [in_name] + [OOD_CHOICES[n] for n in args.ood if OOD_CHOICES[n] != in_name]
    others = {  # a named dataset that cannot be had is an error, as for the test split
        ds: load_split(ds, "test", args.data_dir, allow_offline_sample=False)
        for ds in other_datasets(image_set.dataset)
        if set_name_for(ds) in names
    }
    built = build_ood_sets(image_set, binary, args.limit or None, others, names=names)
    sets = {s.name: s.x for s in built}
    report = ood_report(ckpt.model, sets, in_name, k=max(1, args.iw_samples))
    report.pop("scores")
    for s in built:  # what each set is, beside its key
        report["sets"][s.name]["title"] = s.title
    out: dict[str, Any] = {"ood": report}
    outs = [n for n in names if n != in_name]
    if len(outs) == 1:
        out["ood_auroc"] = report["sets"][outs[0]]["auroc_nll"]
        out["ood_auroc_corrected"] = report["sets"][outs[0]]["auroc_corrected"]
    else:
        out["ood_auroc"] = {n: report["sets"][n]["auroc_nll"] for n in outs}
        out["ood_auroc_corrected"] = {n: report["sets"][n]["auroc_corrected"] for n in outs}
    out["ood_mean_nll"] = {n: report["sets"][n]["mean_nll"] for n in names}
    return out


def scored_test_split(
    ckpt: Checkpoint, dataset: str | None, data_dir: str | None, limit: int | None = None
) -> tuple[ImageSet, torch.Tensor, torch.Tensor, bool]:
    """(image set, model inputs x, labels y, binary?) of the checkpoint's test split as scored:
    its stratified subset of ``limit`` images (all of them for None)."""
    dataset = dataset or ckpt.meta.get("dataset")
    if dataset not in known_names(data_dir):
        raise CliError("no known training dataset in the checkpoint metadata; pass --dataset")
    image_set = load_data(dataset, "test", data_dir)
    binary = uses_binary_test_data(str(ckpt.meta.get("binarize", "none")))
    x, y = scored_images(image_set, binary, limit)
    return image_set, x, y, binary


# --- nll -------------------------------------------------------------------------------------


def run_nll(args: argparse.Namespace) -> int:
    if args.k > MAX_K:
        raise CliError(f"--k must be at most {MAX_K:,}, got {args.k:,}")
    ckpt = load_checkpoint(args.checkpoint)
    if not ckpt.config.stochastic:
        raise CliError("an AE defines no density; nll needs a VAE or CVAE checkpoint")
    image_set, x, y, binary = scored_test_split(ckpt, args.dataset, args.data_dir, args.limit)
    arithmetic = "float32" if args.float32 else "auto"
    r = likelihood_report(ckpt.model, x, y, k=args.k, seed=args.seed, arithmetic=arithmetic)
    r.pop("nll_per_image")
    r.update(comparable_figures(ckpt.model, ckpt.meta, x, y, args.k, r["nll"], seed=args.seed))
    r.update(
        checkpoint=args.checkpoint,
        dataset=image_set.dataset,
        binarized=binary,
        fast_path=fast_path_available(ckpt.model),
        scored_on=describe_images(image_set, args.limit, processing=pixels_note(binary)),
    )
    per = "  ".join(f"{c}:{v:.1f}" for c, v in enumerate(r["per_class_nll"]) if v is not None)
    return emit(
        r,
        args.json,
        [
            f"{r['scored_on']}, IWAE K={r['k']} (decoder arithmetic: {r['decoder_arithmetic']}):",
            f"  NLL {r['nll']:.2f} nats ({r['nll_bpd']:.4f} bits/dim)",
            f"  -ELBO {r['neg_elbo']:.2f} nats; gap {r['gap_nats']:.2f} nats "
            f"({r['gap_bpd']:.4f} bits/dim)",
            f"  NLL per class: {per}",
            *comparable_lines(r),
        ],
    )


# --- diagnostics -----------------------------------------------------------------------------


def run_diagnostics(args: argparse.Namespace) -> int:
    ckpt = load_checkpoint(args.checkpoint)
    if not ckpt.config.stochastic:
        raise CliError("an AE has no prior; diagnostics needs a VAE or CVAE checkpoint")
    image_set, x, y, binary = scored_test_split(ckpt, args.dataset, args.data_dir, args.limit)
    r = diagnostics_report(ckpt.model, x, y, seed=args.seed)
    r.update(
        checkpoint=args.checkpoint,
        dataset=image_set.dataset,
        scored_on=describe_images(image_set, args.limit, processing=pixels_note(binary)),
    )
    kl = "  ".join(f"{v:.2f}" for v in r["kl_per_dim"])
    prior = r["prior"] + (f" ({r['prior_components']} components)" if r["prior_components"] else "")
    return emit(
        r,
        args.json,
        [
            f"{r['scored_on']}:",
            f"  prior        {prior}",
            f"  KL per dim   {kl}",
            f"  active units {r['active_units']} of {r['latent_dim']}",
            f"  hole_mass    {r['hole_mass']:.4f} (prior mass where the aggregate posterior is "
            f"below {HOLE_RATIO:g} x the prior; {r['hole_method']})",
        ],
    )


def _evaluate_vq(args: argparse.Namespace) -> int:
    """A VQ-VAE's report: code use, reconstruction and the uniform-prior ELBO (no IWAE NLL or
    OOD scores, which need a Gaussian posterior)."""
    if args.ood:
        raise CliError(f"{args.checkpoint}: --ood needs a Gaussian posterior; a VQ-VAE has none")
    ckpt = load_vq_checkpoint(args.checkpoint)
    meta = ckpt.meta
    image_set = _scored_split(args, meta)
    metrics = score_vq(ckpt.model, image_set, str(meta.get("binarize", "none")), args.limit)
    report = {
        "checkpoint": str(args.checkpoint),
        "dataset": image_set.dataset,
        "split": args.split,
        "data_source": image_set.source,
        "data_note": image_set.note,
        "likelihood": ckpt.model.config.likelihood,
        **metrics,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"{meta.get('name', Path(args.checkpoint).name)} (VQ-VAE, K={metrics['codebook_size']})"
        )
        for key in (
            "codes_used",
            "perplexity",
            "recon_log_likelihood",
            "mse",
            "elbo_uniform_prior",
        ):
            print(f"  {key}: {metrics[key]}")
    return 0
