"""Many users at once: N headless Chromium sessions against one ``streamlit run`` for S seconds,
or against ``--replicas R`` of them behind HAProxy (``deploy/class_server.py``).

    PYTHONPATH=. VAE_LAB_DATA=../shared/datasets python bench/load_test.py \\
        [--sessions 10] [--seconds 60] [--json] [--tabs] [--browser-nice 10] [--no-warmup]
        [--replicas 2]

With ``--replicas`` the server figures are the replicas' and the balancer's together: CPU of
all of them, memory as the sum of the replicas' RSS, runs from one shared timing log.

Starts the app on a free 127.0.0.1 port with ``VAE_LAB_TIMING_LOG`` set (``ui/run_timing.py``
then logs every script and fragment run on the server), warms it up with one browser session
(each page with each model, not counted; each replica through its own port), then drives
``--sessions`` browser contexts of ONE Chromium process (contexts are isolated like separate
users; one process is much lighter than N on a small machine; ``--tabs``: tabs of one context,
each still its own Streamlit session)
from one asyncio loop: slider moves, point selections on the latent map, class-k generation
(``bench/load_actions.py``). The server's RSS is sampled every second.

The browsers run on the same machine as the server, so they are kept at niceness 10 (every
thread, every second: Chromium raises some of its own threads to -8); the report says how much
CPU the server, the browsers and every other process used in the window, and the script
thread's own CPU per run next to its wall time, so contention is visible, not hidden.

Reports server-side latency (p50/p95/p99/max, overall and per page/kind), runs, actions per
session, errors (browser exception boxes / error alerts, console errors, failed or >= 400
requests, dropped websockets, tracebacks in the server log), memory (start, peak, end, slope over
the last 30 s) and the machine's load, then PASS/FAIL against: 0 errors, p95 <= 250 ms, memory
slope <= 5 MB/min. Exit status 0 on PASS, 1 on FAIL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.app_process import CHROMIUM, CHROMIUM_ARGS, free_port, stop_process, streamlit_command  # noqa: E402
from bench.load_actions import SessionLog, user_session, warm_up  # noqa: E402
from bench.load_report import (  # noqa: E402
    collection_stats,
    format_report,
    memory_stats,
    summarize_runs,
    verdict,
)
from deploy.class_server import class_server  # noqa: E402
from ui.run_timing import gc_log_path  # noqa: E402

TRAILING_S = 3.0  # runs started inside the window may finish just after it
GRACE_S = 30.0  # after the window, an unfinished action gets this long, then it is cut off
# Less painting per context: no animations (Streamlit's spinners), a laptop-sized window.
CONTEXT = {"viewport": {"width": 1280, "height": 900}, "reduced_motion": "reduce"}


def server_env(timing_log: Path) -> dict[str, str]:
    """The measured servers' environment (VAE_LAB_DATA etc. pass through)."""
    return {
        # The Latent map compiles UMAP (numba, ~1 CPU-minute, +200 MB) in the background for a
        # model without a precomputed map: a one-off per process that is not steady state.
        "VAE_LAB_UMAP_WARMUP": "0",
        **os.environ,
        "VAE_LAB_TIMING_LOG": str(timing_log),
        "VAE_LAB_RUNS": os.environ.get("VAE_LAB_RUNS", str(timing_log.parent / "runs")),
    }


def start_server(port: int, timing_log: Path, server_log: Path) -> subprocess.Popen:
    """``streamlit run app.py`` on 127.0.0.1; waits for health."""
    env = server_env(timing_log)
    proc = subprocess.Popen(
        streamlit_command(port),
        cwd=ROOT, env=env, stdout=server_log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited: {server_log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
            return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("streamlit did not become healthy within 90 s")


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MB (psutil when installed, else /proc)."""
    try:
        import psutil  # noqa: PLC0415

        return psutil.Process(pid).memory_info().rss / 2**20
    except ImportError:
        status = Path(f"/proc/{pid}/status").read_text()
        kb = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))
        return kb / 1024


async def sample_memory(
    pids: list[int], out: list[tuple[float, float]], stop: asyncio.Event
) -> None:
    """The servers' summed RSS once a second."""
    while not stop.is_set():
        try:
            out.append((time.time(), sum(rss_mb(pid) for pid in pids)))
        except (OSError, AttributeError):
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # after "pid (comm) "


def tree_pids(root: int) -> list[int]:
    """``root`` and all its descendants (from /proc; empty where there is no /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            children.setdefault(int(_stat_fields(int(entry.name))[1]), []).append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each living process in ``pids``."""
    out = {}
    for pid in pids:
        try:
            fields = _stat_fields(pid)
            out[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, ValueError, IndexError):
            continue
    return out


def machine_busy_seconds() -> float:
    """CPU time all processes on the machine used since boot (for 'everyone else' in the window)."""
    try:
        v = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return (sum(v[:8]) - idle) / CLK_TCK


def server_tree(server_pids: list[int]) -> list[int]:
    """The server processes and their descendants."""
    return [p for root in server_pids for p in tree_pids(root)]


def cpu_snapshot(server_pids: list[int]) -> dict[str, Any]:
    server = server_tree(server_pids)
    browser = [p for p in tree_pids(os.getpid()) if p not in server]
    return {
        "server": cpu_by_pid(server),
        "browser": cpu_by_pid(browser),
        "machine": machine_busy_seconds(),
    }


def cpu_use(before: dict[str, Any], after: dict[str, Any], seconds: float) -> dict[str, float]:
    """CPU seconds used in the window by the server, the browsers + driver and everything else.

    Per process, so a renderer that closed before the window does not count negatively (one
    that exits inside it is missed; contexts stay open until the window is over).
    """

    def used(group: str) -> float:
        return sum(t - before[group].get(pid, 0.0) for pid, t in after[group].items())

    server, browser = used("server"), used("browser")
    return {
        "server_cpu_s": round(server, 1),
        "browser_cpu_s": round(browser, 1),
        "other_processes_cpu_s": round(after["machine"] - before["machine"] - server - browser, 1),
        "window_s": round(seconds, 1),
    }


def renice_browser(server_pids: list[int], nice: int) -> int:
    """Set every thread of our child processes except the server's to at least ``nice``.

    ``os.nice`` before launch is not enough: Chromium (as root) raises its browser and GPU
    threads to -8 and re-prioritises renderers itself. Returns how many threads were changed.
    """
    server = set(server_tree(server_pids))
    changed = 0
    own = _autogroup(os.getpid())
    own_group = own[0] if own else None
    for pid in tree_pids(os.getpid()):
        if pid in server or pid == os.getpid():
            continue
        changed += _renice_autogroup(pid, own_group, nice)
        for task in Path(f"/proc/{pid}/task").glob("[0-9]*"):
            tid = int(task.name)
            try:
                if os.getpriority(os.PRIO_PROCESS, tid) < nice:
                    os.setpriority(os.PRIO_PROCESS, tid, nice)
                    changed += 1
            except OSError:
                continue
    return changed


def _autogroup(pid: int) -> tuple[str, int] | None:
    """(``/autogroup-N``, its niceness) of a process, where the kernel groups by session."""
    try:
        name, _, nice = Path(f"/proc/{pid}/autogroup").read_text().split()
        return name, int(nice)
    except (OSError, ValueError):
        return None


def _renice_autogroup(pid: int, own_group: str | None, nice: int) -> int:
    """Give ``pid``'s autogroup the niceness ``nice`` when it is not ours; returns 1 if changed.

    With ``kernel.sched_autogroup_enabled`` the scheduler first shares the CPU between sessions
    and only then, inside each, by niceness: Chromium starts its own session, so niced threads
    alone still took half the CPU from the servers whenever both were busy.
    """
    group = _autogroup(pid)
    if group is None or group[0] == own_group or group[1] >= nice:
        return 0
    try:
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))
    except OSError:
        return 0
    return 1


async def keep_browser_niced(server_pids: list[int], nice: int, stop: asyncio.Event) -> None:
    while nice and not stop.is_set():
        renice_browser(server_pids, nice)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


def server_tracebacks(log_text: str) -> list[str]:
    """One line per traceback in the server log: its last line (the exception)."""
    out = []
    for block in log_text.split("Traceback (most recent call last):")[1:]:
        lines = [ln for ln in block.splitlines() if ln.strip() and not ln.startswith(" ")]
        out.append(f"server traceback: {lines[0] if lines else '?'}")
    return out


def read_runs(path: Path, t_from: float, t_to: float) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    runs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in runs if t_from <= r["start"] < t_to]


def machine(load_before: tuple[float, ...]) -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
    }


async def drive(
    url: str,
    warm_urls: list[str],
    pids: list[int],
    sessions: int,
    seconds: float,
    warm: bool,
    ramp: float,
    tabs: bool,
    nice: int,
    grace: float = GRACE_S,
) -> dict[str, Any]:
    """Warm up each server in ``warm_urls``, then run the sessions for ``seconds`` against
    ``url`` while sampling the servers' RSS.

    Each replica is warmed through its own port: through the balancer the one warm-up session
    would stick to one replica, and the other would load its models inside the window.

    Session i starts ``i * ramp / sessions`` s into the window (users arrive, not all in one ms).
    """
    from playwright.async_api import async_playwright  # noqa: PLC0415

    samples: list[tuple[float, float]] = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_memory(pids, samples, stop))
    renicer = asyncio.create_task(keep_browser_niced(pids, nice, stop))
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        t_warm = time.monotonic()
        shared = await browser.new_context(**CONTEXT) if tabs else None
        for warm_url in warm_urls if warm else ():
            context = shared or await browser.new_context(**CONTEXT)
            await warm_up(context, warm_url)
            if context is not shared:
                await context.close()
        warmup_s = time.monotonic() - t_warm
        contexts = [shared or await browser.new_context(**CONTEXT) for _ in range(sessions)]
        logs = [SessionLog(f"s{i}") for i in range(sessions)]
        cpu_before = cpu_snapshot(pids)
        window_start = time.time()
        deadline = time.monotonic() + seconds
        tasks = [
            asyncio.create_task(
                user_session(c, url, i, deadline, log, delay=i * ramp / max(sessions, 1))
            )
            for i, (c, log) in enumerate(zip(contexts, logs, strict=True))
        ]
        _, late = await asyncio.wait(tasks, timeout=seconds + grace)
        for task in late:  # still inside one action long after the window: cut off, reported
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        window_end = time.time()
        cpu = cpu_use(cpu_before, cpu_snapshot(pids), window_end - window_start)
        for c in set(contexts):
            await c.close()
        await browser.close()
    await asyncio.sleep(TRAILING_S)
    stop.set()
    await sampler
    await renicer
    return {
        "logs": logs,
        "samples": samples,
        "window": (window_start, window_end),
        "cpu": cpu,
        "warmup_s": warmup_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--ramp", type=float, default=5.0, help="s over which sessions arrive")
    parser.add_argument(
        "--browser-nice",
        type=int,
        default=10,
        help="niceness of Chromium and its driver (0: same priority as the server); on a "
        "small machine the browsers would otherwise take the CPU the measured server needs",
    )
    parser.add_argument("--no-warmup", action="store_true", help="count cold loads too")
    parser.add_argument(
        "--grace", type=float, default=GRACE_S, help="s an action may overrun the window"
    )
    parser.add_argument(
        "--tabs",
        action="store_true",
        help="sessions as tabs of one browser context (each tab is still its own Streamlit "
        "session; they share the HTTP and code caches, so the browser needs less CPU)",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=0,
        help="R app replicas behind HAProxy (deploy/class_server.py) instead of one server",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"no Chromium at {CHROMIUM}", file=sys.stderr)
        return 2

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="vae-load-") as tmp:
        timing_log, server_log = Path(tmp) / "runs.jsonl", Path(tmp) / "server.log"
        drive_args = (args.sessions, args.seconds, not args.no_warmup, args.ramp, args.tabs)
        drive_args += (args.browser_nice, args.grace)
        if args.replicas:
            with class_server(
                args.replicas, env=server_env(timing_log), log_dir=Path(tmp) / "class"
            ) as served:
                pids = [*served.replica_pids, served.balancer_pid]
                warm_urls = list(served.replica_urls)
                out = asyncio.run(drive(served.url, warm_urls, pids, *drive_args))
            logs_text = [p.read_text(errors="replace") for p in served.log_dir.glob("*.log")]
            server_log.write_text("\n".join(logs_text))
        else:
            port = free_port()
            proc = start_server(port, timing_log, server_log)
            try:
                url = f"http://127.0.0.1:{port}"
                out = asyncio.run(drive(url, [url], [proc.pid], *drive_args))
            finally:
                stop_process(proc)
        start, end = out["window"]
        runs = read_runs(timing_log, start, end + TRAILING_S)
        collections = read_runs(gc_log_path(timing_log), start, end + TRAILING_S)
        log_text = server_log.read_text(errors="replace")

    logs: list[SessionLog] = out["logs"]
    errors = [e for log in logs for e in log.errors] + server_tracebacks(log_text)
    by_kind: Counter = Counter()
    for log in logs:
        by_kind.update(log.actions)
    latency = summarize_runs(runs)
    memory = memory_stats(out["samples"], start)
    result = {
        "sessions": args.sessions,
        "seconds": args.seconds,
        "servers": f"{args.replicas} replicas behind HAProxy" if args.replicas else "one server",
        "browser": f"one Chromium process ({CHROMIUM}), {args.sessions} "
        + ("tabs of one context" if args.tabs else "isolated contexts")
        + f", nice {args.browser_nice}",
        "warmup_s": round(out["warmup_s"], 1),
        "machine": {**machine(load_before), **out["cpu"]},
        "actions_per_session": [sum(log.actions.values()) for log in logs],
        "sessions_cut_off": sum(log.cut_off for log in logs),
        "grace_s": args.grace,
        "actions_by_kind": dict(by_kind),
        "client_ms_p95": {
            k: round(sorted(v)[int(0.95 * (len(v) - 1))], 1) for k, v in _merge(logs).items() if v
        },
        "latency": latency,
        "memory": memory,
        "full_collections": collection_stats(collections),
        "errors": errors,
    }
    result["verdict"] = verdict(latency, errors, memory)
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0 if result["verdict"]["pass"] else 1


def _merge(logs: list[SessionLog]) -> dict[str, list[float]]:
    merged: dict[str, list[float]] = {}
    for log in logs:
        for k, v in log.client_ms.items():
            merged.setdefault(k, []).extend(v)
    return merged


if __name__ == "__main__":
    raise SystemExit(main())
