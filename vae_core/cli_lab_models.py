"""The evaluation-lab commands that train or judge models: ``faithfulness``,
``train-classifier`` and ``sweep-beta`` (registered by ``vae_core.cli_lab``).

No torch import at module level, so building the parser stays instant.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from vae_core.cli import CliError

ROOT = Path(__file__).resolve().parent.parent
CLASSIFIER_DIR = ROOT / "checkpoints" / "classifiers"


def emit(report: dict[str, Any], as_json: bool, lines: list[str]) -> int:
    print(json.dumps(report) if as_json else "\n".join(lines))
    return 0


def command_line() -> str:
    return "python -m vae_core " + shlex.join(sys.argv[1:])


def run_faithfulness(args: argparse.Namespace) -> int:
    from vae_core.checkpoints import load_checkpoint
    from vae_core.classifier import check_fits, faithfulness, find_classifier, load_classifier

    ckpt = load_checkpoint(args.checkpoint)
    if not ckpt.config.conditional:
        raise CliError(f"faithfulness needs a CVAE; this one is a {ckpt.config.display_name}")
    if not 0 <= args.temperature <= 10:
        raise CliError(f"--temperature must be in [0, 10], got {args.temperature}")
    if args.n_per_class > 2000:
        raise CliError(f"--n-per-class must be at most 2000, got {args.n_per_class}")
    dataset = ckpt.meta.get("dataset")
    path = Path(args.classifier) if args.classifier else find_classifier(CLASSIFIER_DIR, dataset)
    clf, clf_meta = load_classifier(path)
    if (
        dataset
    ):  # a checkpoint that names no dataset can still be judged by an explicit --classifier
        check_fits(clf_meta, dataset, ckpt.config.n_classes, path)
    r = faithfulness(ckpt.model, clf, args.n_per_class, args.temperature, args.seed)
    r.pop("examples")
    r.update(
        checkpoint=args.checkpoint,
        classifier=str(path),
        classifier_test_accuracy=clf_meta.get("test_accuracy"),
    )
    per = "  ".join(f"{c}:{a:.2f}" for c, a in enumerate(r["per_class"]))
    return emit(
        r,
        args.json,
        [
            f"{args.n_per_class} samples per class at T={args.temperature}: "
            f"mean accuracy {r['accuracy']:.4f} (classifier test accuracy "
            f"{clf_meta.get('test_accuracy')})",
            f"  per class: {per}",
        ],
    )


def run_train_classifier(args: argparse.Namespace) -> int:
    import datetime as dt

    from vae_core.classifier import accuracy, classifier_path, save_classifier, train_classifier
    from vae_core.cli_commands import load_data
    from vae_core.metadata import dataset_note

    train_set = load_data(args.dataset, "train", args.data_dir)
    test_set = load_data(args.dataset, "test", args.data_dir)
    x, y = train_set.tensors()
    xt, yt = test_set.tensors()

    def on_epoch(epoch: int, loss: float) -> None:
        print(f"epoch {epoch}/{args.epochs}: train loss {loss:.4f}", file=sys.stderr)

    model, recipe = train_classifier(
        x, y, args.epochs, args.batch_size, args.lr, args.seed, on_epoch=on_epoch
    )
    acc = accuracy(model, xt, yt)
    out = Path(args.out) if args.out else classifier_path(CLASSIFIER_DIR, args.dataset)
    meta = {
        "dataset": args.dataset,
        "dataset_note": dataset_note(train_set),
        "test_accuracy": round(acc, 4),
        "test_size": len(xt),
        **recipe,
        "command": command_line(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    save_classifier(model, out, meta)
    return emit(
        {**meta, "path": str(out)},
        args.json,
        [f"test accuracy {acc:.4f} on {len(xt):,} images; wrote {out}"],
    )


def run_sweep_beta(args: argparse.Namespace) -> int:
    import datetime as dt

    import torch

    from vae_core.checkpoints import atomic_write
    from vae_core.cli_commands import load_data
    from vae_core.config import ModelConfig
    from vae_core.data.binarize import binarize_static
    from vae_core.data.subsets import describe_images, subset_of
    from vae_core.metadata import dataset_note
    from vae_core.rate_distortion import sweep_beta
    from vae_core.training import TrainConfig

    train_set = load_data(args.dataset, "train", args.data_dir)
    test_set = load_data(args.dataset, "test", args.data_dir)
    x, y = train_set.tensors()
    xt, yt = test_set.tensors()
    binarize = "dynamic" if args.dataset == "mnist" else "none"
    if binarize != "none":
        xt = binarize_static(xt, seed=0)
    if args.eval_limit:  # the stratified subset every --limit uses
        idx = torch.from_numpy(subset_of(test_set, args.eval_limit))
        xt, yt = xt[idx], yt[idx]
    mc = ModelConfig(latent_dim=args.latent_dim, hidden=(args.hidden,))
    tc = TrainConfig(
        dataset=args.dataset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        binarize=binarize,
        seed=args.seed,
        device="cpu",
        val_fraction=0.0,
    )

    def on_point(p: dict[str, Any]) -> None:
        print(
            f"beta {p['beta']:g}: rate {p['rate']:.2f}  distortion {p['distortion']:.2f}  "
            f"active units {p['active_units']}  ({p['train_seconds']:.1f} s wall, "
            f"{p['cpu_seconds']:.1f} s CPU)",
            file=sys.stderr,
        )

    points = sweep_beta(x, y, xt, yt, args.betas, mc, tc, on_point=on_point)
    result = {
        "command": command_line(),
        "dataset": args.dataset,
        "dataset_note": dataset_note(train_set),
        "eval": describe_images(
            test_set,
            args.eval_limit,
            processing="binarized once with seed 0" if binarize != "none" else "grey pixels",
        ),
        "model": mc.to_dict(),
        "train_config": tc.to_dict(),
        "points": points,
        "total_seconds": round(sum(p["train_seconds"] for p in points), 2),
        "total_cpu_seconds": round(sum(p["cpu_seconds"] for p in points), 2),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if args.out:
        atomic_write(args.out, (json.dumps(result, indent=2) + "\n").encode())
    lines = [f"{'beta':>6} {'rate':>8} {'distortion':>11} {'-ELBO':>8} {'AU':>3}"]
    lines += [
        f"{p['beta']:6g} {p['rate']:8.2f} {p['distortion']:11.2f} {-p['elbo']:8.2f} {p['active_units']:3d}"
        for p in points
    ]
    if args.out:
        lines.append(f"wrote {args.out}")
    return emit(result, args.json, lines)
