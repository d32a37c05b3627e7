"""One command for a class: N ``streamlit run app.py`` replicas behind HAProxy, on one machine.

    python deploy/class_server.py [--replicas 4] [--port 8500] [--host 0.0.0.0]
        [--first-replica-port 8601] [--runs /srv/vae-lab/runs] [--print-config]

Students open ``http://<machine>:8500``. HAProxy (Debian's ``haproxy`` package) sends each
browser to one replica and keeps it there with a cookie (``cookie ... insert``): a Streamlit
session lives in one process, its websocket, uploads and media files included, so a browser that
hopped between replicas would lose its uploads and get 404s for its images. New browsers go to
the replica with the fewest open connections (``leastconn``: the websockets are long-lived); a
replica that stops answering ``/_stcore/health`` is taken out and its browsers reconnect to
another one (``option redispatch``), starting a new session there.

All replicas share one model folder (``VAE_LAB_RUNS``): a model trained through one replica is
in every replica's picker at its next rerun (the picker lists the folder on every run). Files
in it are written atomically (``vae_core.io.atomic``: a temp file renamed into place), so a
replica never reads half a checkpoint.

Why a launcher and not only a config file: the replicas' ports and the balancer's server list
must agree, each replica needs the shared environment, and stopping the class must stop all of
them; systemd or docker-compose can do the same with more files, this needs none. The HAProxy
configuration it writes is printed by ``--print-config`` for admins who run HAProxy themselves.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COOKIE = "VAELAB_REPLICA"
HEALTH = "/_stcore/health"


@dataclass(frozen=True)
class ClassServer:
    """Where a running class server listens: the balancer and each replica."""

    url: str
    replica_urls: tuple[str, ...]
    replica_pids: tuple[int, ...]
    balancer_pid: int
    log_dir: Path


def haproxy_config(replica_ports: list[int], port: int, host: str = "127.0.0.1") -> str:
    """HAProxy configuration: one frontend on ``host:port``, sticky cookie, health checks."""
    servers = "\n".join(
        f"    server r{i} 127.0.0.1:{p} check inter 2s fall 3 rise 1 cookie r{i}"
        for i, p in enumerate(replica_ports, start=1)
    )
    return f"""global
    maxconn 4096

defaults
    mode http
    option redispatch
    retries 2
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    timeout http-request 30s

frontend vae_lab
    bind {host}:{port}
    default_backend replicas

backend replicas
    balance leastconn
    cookie {COOKIE} insert indirect nocache httponly
    option httpchk GET {HEALTH}
    http-check expect status 200
{servers}
"""


def _free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited early; its log: {log.read_text()[-1500:]}")
        try:
            urllib.request.urlopen(url + HEALTH, timeout=2)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer {HEALTH} within {timeout_s:.0f} s")


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def class_server(
    replicas: int,
    port: int | None = None,
    host: str = "127.0.0.1",
    first_replica_port: int | None = None,
    runs: Path | None = None,
    env: dict[str, str] | None = None,
    log_dir: Path | None = None,
    timeout_s: float = 90.0,
) -> Iterator[ClassServer]:
    """Start ``replicas`` app processes and HAProxy in front; stop them all on exit.

    ``port`` None picks a free one (tests); replica ports are consecutive from
    ``first_replica_port`` (free ones when None). ``runs`` is the shared model folder.
    """
    if replicas < 1:
        raise ValueError("at least one replica")
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        raise RuntimeError("haproxy is not installed (Debian: apt-get install haproxy)")
    port = port or _free_port()
    ports = (
        [first_replica_port + i for i in range(replicas)]
        if first_replica_port
        else [_free_port() for _ in range(replicas)]
    )
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="vae-lab-class-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    base_env = {**os.environ, **(env or {})}
    if runs is not None:
        base_env["VAE_LAB_RUNS"] = str(runs)
    procs: list[subprocess.Popen] = []
    try:
        for i, p in enumerate(ports, start=1):
            log = log_dir / f"replica-{i}.log"
            cmd = [
                sys.executable, "-m", "streamlit", "run", "app.py",
                "--server.port", str(p), "--server.address", "127.0.0.1",
                "--server.headless", "true", "--server.fileWatcherType", "none",
                "--browser.gatherUsageStats", "false",
            ]  # fmt: skip
            procs.append(
                subprocess.Popen(
                    cmd, cwd=ROOT, env=base_env, stdout=log.open("w"), stderr=subprocess.STDOUT
                )
            )
        urls = tuple(f"http://127.0.0.1:{p}" for p in ports)
        for i, (url, proc) in enumerate(zip(urls, procs, strict=True), start=1):
            _wait_healthy(url, proc, timeout_s, log_dir / f"replica-{i}.log")
        cfg = log_dir / "haproxy.cfg"
        cfg.write_text(haproxy_config(ports, port, host))
        balancer_log = log_dir / "haproxy.log"
        procs.append(
            subprocess.Popen(
                [haproxy, "-db", "-f", str(cfg)],
                stdout=balancer_log.open("w"),
                stderr=subprocess.STDOUT,
            )
        )
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - a display name
        url = f"http://{shown}:{port}"
        _wait_healthy(url, procs[-1], 30, balancer_log)
        pids = tuple(proc.pid for proc in procs[:-1])
        yield ClassServer(url, urls, pids, procs[-1].pid, log_dir)
    finally:
        _stop(procs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicas", type=int, default=2, help="app processes (about 1 per core)")
    ap.add_argument("--port", type=int, default=8500, help="the port students open")
    ap.add_argument("--host", default="0.0.0.0", help="the balancer's address (all by default)")  # noqa: S104
    ap.add_argument("--first-replica-port", type=int, default=8601)
    ap.add_argument("--runs", type=Path, default=ROOT / "runs", help="the shared model folder")
    ap.add_argument("--print-config", action="store_true", help="print HAProxy's config, exit")
    args = ap.parse_args()
    ports = [args.first_replica_port + i for i in range(args.replicas)]
    if args.print_config:
        print(haproxy_config(ports, args.port, args.host), end="")
        return 0
    stop = {"now": False}

    def on_signal(signum: int, frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    try:
        with class_server(
            args.replicas, args.port, args.host, args.first_replica_port, args.runs
        ) as served:
            print(f"VAE Latent Lab for a class: {served.url} ({args.replicas} replicas: "
                  f"{', '.join(served.replica_urls)}; models in {args.runs}). Ctrl-C stops it.",
                  flush=True)  # fmt: skip
            while not stop["now"]:
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
