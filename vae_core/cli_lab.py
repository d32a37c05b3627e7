"""Evaluation-lab commands: ``nll``, ``ppca``, ``faithfulness``, ``train-classifier``,
``sweep-beta``, and the ``--ood`` option of ``evaluate``.

The last three run in ``cli_lab_models``. Parsers are built here without importing torch
(``--help`` stays instant); each command imports
what it needs when it runs. Failures raise CliError / ValueError, which ``vae_core.cli.main`` turns
into one ``error: ...`` line and exit status 2.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from vae_core.cli import CliError, _add_data_args, positive_int
from vae_core.cli_lab_models import (
    emit,
    run_faithfulness,
    run_sweep_beta,
    run_train_classifier,
)

OOD_CHOICES = {
    "mnist": "mnist-test",
    "fashion-mnist": "fashion-test",
    "noise": "uniform-noise",
    "inverted": "inverted",
    "rotated": "rotated",
}


def _float_list(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None
    if not values or any(not v > 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive numbers, got {text!r}")
    return values


def _ood_list(text: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in text.split(",") if v.strip())
    if names == ("all",):
        return tuple(OOD_CHOICES)
    bad = [n for n in names if n not in OOD_CHOICES]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"unknown OOD set {', '.join(bad) or text!r}; choose from {', '.join(OOD_CHOICES)}, all"
        )
    return names


def add_lab_commands(sub: argparse._SubParsersAction) -> None:
    """Register the lab commands (each sets ``run``) and add ``--ood`` to ``evaluate``."""
    ev = sub.choices.get("evaluate")
    if ev is not None:
        ev.add_argument(
            "--ood",
            type=_ood_list,
            default=None,
            metavar="SETS",
            help="also score out-of-distribution sets (comma list of "
            f"{', '.join(OOD_CHOICES)}, or all) and report AUROCs vs the test split",
        )
        ev.set_defaults(run=run_evaluate_ood)

    p = sub.add_parser("nll", help="IWAE NLL, ELBO gap (nats and bits/dim) and per-class NLL")
    p.add_argument("checkpoint")
    _add_data_args(p, None)
    p.add_argument("--k", type=positive_int, default=1000, help="importance samples (1..100000)")
    p.add_argument(
        "--limit",
        type=positive_int,
        default=None,
        help="only N images: a seeded subset, stratified by class",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads for torch")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_nll)

    p = sub.add_parser("ppca", help="fit probabilistic PCA in closed form; exact train/test NLL")
    _add_data_args(p, "mnist")
    p.add_argument("--latent-dim", type=positive_int, default=16)
    p.add_argument(
        "--limit",
        type=positive_int,
        default=None,
        help="only N images: a seeded subset, stratified by class",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_ppca)

    p = sub.add_parser("faithfulness", help="classify CVAE samples per label: accuracy, diversity")
    p.add_argument("checkpoint")
    p.add_argument("--classifier", default=None, help="default: the shipped one for the dataset")
    p.add_argument("--n-per-class", type=positive_int, default=100)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_faithfulness)

    p = sub.add_parser("train-classifier", help="train the small CNN judge used by faithfulness")
    _add_data_args(p, "mnist")
    p.add_argument("--epochs", type=positive_int, default=3)
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads for torch")
    p.add_argument(
        "--out", default=None, help="default: checkpoints/classifiers/DATASET-classifier"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_train_classifier)

    p = sub.add_parser("sweep-beta", help="train one VAE per beta and record rate vs distortion")
    _add_data_args(p, "mnist")
    p.add_argument("--betas", type=_float_list, default=(0.25, 0.5, 1.0, 2.0, 4.0, 8.0))
    p.add_argument("--latent-dim", type=positive_int, default=16)
    p.add_argument("--hidden", type=positive_int, default=256, help="one hidden layer width")
    p.add_argument("--epochs", type=positive_int, default=3)
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-limit", type=positive_int, default=None, help="first N test images")
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads for torch")
    p.add_argument("--out", default=None, help="results JSON path")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_sweep_beta)


def _test_tensors(meta: dict[str, Any], dataset: str | None, data_dir: str | None):
    """(image set, model inputs x, labels y, binary?) for a checkpoint's test split, binarized as scored."""
    from vae_core.cli_commands import load_data
    from vae_core.data.binarize import binarize_static
    from vae_core.metadata import uses_binary_test_data

    dataset = dataset or meta.get("dataset")
    if dataset not in ("mnist", "fashion-mnist"):
        raise CliError("no known training dataset in the checkpoint metadata; pass --dataset")
    image_set = load_data(dataset, "test", data_dir)
    x, y = image_set.tensors()
    binary = uses_binary_test_data(str(meta.get("binarize", "none")))
    return image_set, (binarize_static(x, seed=0) if binary else x), y, binary


def run_evaluate_ood(args: argparse.Namespace) -> int:
    """The ordinary ``evaluate``, plus OOD AUROCs when ``--ood`` is given."""
    import contextlib
    import io

    from vae_core import cli_commands

    if not args.ood:
        return cli_commands.run_evaluate(args)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        cli_commands.run_evaluate(args)
    ood = _ood_scores(args)
    if args.json:
        report = json.loads(buf.getvalue().strip().splitlines()[-1])
        report.update(ood)
        print(json.dumps(report))
    else:
        print(buf.getvalue().rstrip())
        print(f"out-of-distribution (IWAE K={ood['ood']['k']}, higher NLL = more OOD):")
        for name, e in ood["ood"]["sets"].items():
            extra = (
                f"  AUROC {e['auroc_nll']:.3f}  complexity-corrected {e['auroc_corrected']:.3f}"
                if "auroc_nll" in e
                else "  (in-distribution)"
            )
            print(f"  {name:14s} mean NLL {e['mean_nll']:9.2f}{extra}")
    return 0


def _ood_scores(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from vae_core.checkpoints import load_checkpoint
    from vae_core.data.subsets import subset_of
    from vae_core.ood import make_ood_set, model_inputs, ood_report, set_name_for

    ckpt = load_checkpoint(args.checkpoint)
    if ckpt.config.conditional or not ckpt.config.stochastic:
        raise CliError("--ood needs a VAE checkpoint (an AE has no density; a CVAE needs labels)")
    image_set, _, _, binary = _test_tensors(ckpt.meta, args.dataset, args.data_dir)
    grey, _ = image_set.tensors()
    if args.limit:  # the same stratified subset as ``evaluate --limit``
        grey = grey[torch.from_numpy(subset_of(image_set, args.limit))]
    in_name = set_name_for(image_set.dataset)
    names = [in_name] + [OOD_CHOICES[n] for n in args.ood if OOD_CHOICES[n] != in_name]
    sets = {}
    for name in names:
        raw = grey if name == in_name else make_ood_set(name, grey, 0, data_dir=args.data_dir)
        sets[name] = model_inputs(raw, binary)
    report = ood_report(ckpt.model, sets, in_name, k=max(1, args.iw_samples))
    report.pop("scores")
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


def run_nll(args: argparse.Namespace) -> int:
    import torch

    from vae_core.checkpoints import load_checkpoint
    from vae_core.data.subsets import describe_images, subset_of
    from vae_core.fast_likelihood import MAX_K, fast_path_available, likelihood_report

    if args.k > MAX_K:
        raise CliError(f"--k must be at most {MAX_K:,}, got {args.k:,}")
    ckpt = load_checkpoint(args.checkpoint)
    if not ckpt.config.stochastic:
        raise CliError("an AE defines no density; nll needs a VAE or CVAE checkpoint")
    image_set, x, y, binary = _test_tensors(ckpt.meta, args.dataset, args.data_dir)
    if args.limit:
        idx = torch.from_numpy(subset_of(image_set, args.limit))
        x, y = x[idx], y[idx]
    r = likelihood_report(ckpt.model, x, y, k=args.k, seed=args.seed)
    r.pop("nll_per_image")
    r.update(
        checkpoint=args.checkpoint,
        dataset=image_set.dataset,
        binarized=binary,
        fast_path=fast_path_available(ckpt.model),
        scored_on=describe_images(
            image_set,
            args.limit,
            processing="binarized once with seed 0" if binary else "grey pixels",
        ),
    )
    per = "  ".join(f"{c}:{v:.1f}" for c, v in enumerate(r["per_class_nll"]) if v is not None)
    return emit(
        r,
        args.json,
        [
            f"{r['scored_on']}, IWAE K={r['k']}:",
            f"  NLL {r['nll']:.2f} nats ({r['nll_bpd']:.4f} bits/dim)",
            f"  -ELBO {r['neg_elbo']:.2f} nats; gap {r['gap_nats']:.2f} nats "
            f"({r['gap_bpd']:.4f} bits/dim)",
            f"  NLL per class: {per}",
        ],
    )


def run_ppca(args: argparse.Namespace) -> int:
    import math

    import torch

    from vae_core.cli_commands import load_data
    from vae_core.data.subsets import subset_of
    from vae_core.ppca import fit_ppca

    train_set = load_data(args.dataset, "train", args.data_dir)
    test_set = load_data(args.dataset, "test", args.data_dir)
    x_tr, _ = train_set.tensors()
    x_te, _ = test_set.tensors()
    if args.limit:  # each split's own stratified subset
        x_tr = x_tr[torch.from_numpy(subset_of(train_set, args.limit))]
        x_te = x_te[torch.from_numpy(subset_of(test_set, args.limit))]
    d = x_tr[0].numel()
    if not 1 <= args.latent_dim < min(d, len(x_tr)):
        raise CliError(f"--latent-dim must be in 1..{min(d, len(x_tr)) - 1}, got {args.latent_dim}")
    model = fit_ppca(x_tr, args.latent_dim)
    train_nll = float(-model.log_likelihood(x_tr).mean())
    test_nll = float(-model.log_likelihood(x_te).mean())
    r = {
        "dataset": args.dataset,
        "latent_dim": args.latent_dim,
        "sigma2": model.sigma2,
        "train_nll": train_nll,
        "test_nll": test_nll,
        "test_nll_bpd": test_nll / (d * math.log(2)),
        "train_size": len(x_tr),
        "test_size": len(x_te),
        "observation_model": "Gaussian density on pixels in [0, 1] (nats per image)",
        "data_note": train_set.note,
    }
    return emit(
        r,
        args.json,
        [
            f"pPCA on {args.dataset} ({len(x_tr):,} train images), latent dim {args.latent_dim}, "
            f"sigma^2 = {model.sigma2:.5f}",
            f"  exact NLL (Gaussian density on [0, 1] pixels): train {train_nll:.2f}, "
            f"test {test_nll:.2f} nats per image",
        ],
    )
