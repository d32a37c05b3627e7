"""``python -m vae_core worker``: take training jobs from the queue (``vae_core.jobs``).

The app starts one on its own machine; start more by hand on GPU machines with the same
``VAE_LAB_QUEUE`` (Redis) and a shared ``VAE_LAB_JOBS`` folder.
"""

from __future__ import annotations

import argparse

from vae_core.cli.common import positive_float


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "worker",
        help="run training jobs from the queue (VAE_LAB_QUEUE, VAE_LAB_JOBS; see the README)",
    )
    p.add_argument(
        "--idle-exit", type=positive_float, default=None, metavar="SECONDS",
        help="end after this long without a job (default: run until Ctrl-C or SIGTERM)",
    )  # fmt: skip
    p.set_defaults(run=run_worker)


def run_worker(args: argparse.Namespace) -> int:
    from vae_core.jobs import queue, settings

    print(
        f"vae_core worker: queue {settings.queue_url() or 'SQLite'}, jobs in {settings.jobs_dir()}, "
        f"{settings.trainings_per_machine()} training(s) at a time on {settings.host()}",
        flush=True,
    )
    queue.run_worker(idle_exit_s=args.idle_exit)
    return 0
