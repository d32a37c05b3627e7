"""Figures and the verdict of ``bench/load_test.py``: percentiles, memory slope, PASS/FAIL.

Pure functions over plain data (timing-log lines, RSS samples, error strings), kept apart from
the browser and server plumbing so they can be unit-tested and reused by the README.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

P95_TARGET_MS = 250.0
MEMORY_SLOPE_LIMIT = 5.0  # MB/min over the last window: above it, memory is still growing
SLOPE_WINDOW_S = 30.0


def latency_stats(durations_ms: Sequence[float]) -> dict[str, float | int]:
    """n, p50, p95, p99, max, mean (numpy's linear-interpolated percentiles)."""
    if not durations_ms:
        return {"n": 0}
    a = np.asarray(durations_ms, dtype=np.float64)
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {
        "n": int(a.size),
        "p50": round(float(p50), 1),
        "p95": round(float(p95), 1),
        "p99": round(float(p99), 1),
        "max": round(float(a.max()), 1),
        "mean": round(float(a.mean()), 1),
    }


def summarize_runs(runs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Latency of completed runs overall and per 'page / kind'; interrupted runs only counted.

    A run stopped for a newer rerun (the user moved on) has no meaningful duration, so it is
    reported as a count rather than mixed into the percentiles. ``cpu`` is the same for the
    script thread's CPU time: wall time far above it is time spent waiting for a core or the GIL.
    """
    wall: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    outcomes: dict[str, int] = defaultdict(int)
    for r in runs:
        outcome = r.get("outcome", "success")
        outcomes[outcome] += 1
        if outcome != "success":
            continue
        for group in ("overall", f"{r['page']} / {r['kind']}"):
            wall[group].append(float(r["duration_ms"]))
            if "cpu_ms" in r:
                cpu[group].append(float(r["cpu_ms"]))
    groups = sorted(k for k in wall if k != "overall")
    return {
        "overall": latency_stats(wall["overall"]),
        "by_page": {k: latency_stats(wall[k]) for k in groups},
        "cpu_overall": latency_stats(cpu["overall"]),
        "cpu_by_page": {k: latency_stats(cpu[k]) for k in groups},
        "outcomes": dict(outcomes),
    }


def memory_stats(samples: Sequence[tuple[float, float]], window_start: float) -> dict[str, Any]:
    """RSS figures (MB) from (time s, rss MB) samples and the slope of the last 30 s (MB/min).

    ``window_start``: when the sessions started (after warm-up); 'start' is the RSS then.
    """
    if not samples:
        return {}
    t = np.asarray([s[0] for s in samples], dtype=np.float64)
    m = np.asarray([s[1] for s in samples], dtype=np.float64)
    in_window = t >= window_start
    start = float(m[in_window][0]) if in_window.any() else float(m[0])
    tail = t >= t[-1] - SLOPE_WINDOW_S
    slope = float(np.polyfit(t[tail], m[tail], 1)[0] * 60.0) if tail.sum() >= 3 else float("nan")
    # the RSS every 30 s from the window's start: whether growth levels off shows only over time
    marks = np.arange(window_start, t[-1] + 1e-9, SLOPE_WINDOW_S)
    trace = [round(float(m[min(np.searchsorted(t, mark), m.size - 1)]), 1) for mark in marks]
    return {
        "at_ready_mb": round(float(m[0]), 1),
        "start_mb": round(start, 1),
        "peak_mb": round(float(m.max()), 1),
        "end_mb": round(float(m[-1]), 1),
        "slope_last_30s_mb_per_min": round(slope, 2),
        "samples": int(m.size),
        "every_30s_mb": trace,
    }


def verdict(latency: dict[str, Any], errors: Sequence[str], memory: dict[str, Any]) -> dict:
    """PASS only if there were no errors, p95 <= 250 ms and memory stopped growing."""
    p95 = latency.get("overall", {}).get("p95")
    slope = memory.get("slope_last_30s_mb_per_min")
    flat_tail = slope is not None and slope == slope and slope <= MEMORY_SLOPE_LIMIT
    # A 30-s slope alone is noisy (one session's page load moves it by 10 MB/min); RSS that ends
    # no higher than it started the window (+5 %) has stopped growing whatever the tail does.
    start, end = memory.get("start_mb"), memory.get("end_mb")
    no_net_growth = start is not None and end is not None and end <= start * 1.05
    checks = {
        "errors == 0": len(errors) == 0,
        f"p95 <= {P95_TARGET_MS:g} ms": p95 is not None and p95 <= P95_TARGET_MS,
        f"memory stopped growing (end <= window start + 5 % or last-30-s slope <= "
        f"{MEMORY_SLOPE_LIMIT:g} MB/min)": flat_tail or no_net_growth,
    }
    return {"pass": all(checks.values()), "checks": checks}


def collection_stats(collections: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Full garbage collections in the window: how many, and the GIL time they took."""
    ms = [c["duration_ms"] for c in collections]
    return {
        "n": len(ms),
        "total_ms": round(sum(ms), 1),
        "max_ms": round(max(ms), 1) if ms else 0.0,
    }


def gc_line(stats: dict[str, Any] | None) -> str:
    if not stats:
        return "Full garbage collections: not recorded"
    return (
        f"Full garbage collections in the servers (each holds its process's GIL): {stats['n']}, "
        f"{stats['total_ms']:.0f} ms in all, longest {stats['max_ms']:.0f} ms"
    )


def format_report(result: dict[str, Any]) -> str:
    """The human-readable report (what the README quotes)."""
    lat, mem, v = result["latency"], result["memory"], result["verdict"]
    o = lat["overall"]
    m = result["machine"]
    lines = [
        f"Machine: {m['nproc']} CPUs; load average (1/5/15 min) before {m['load_before']}, "
        f"after {m['load_after']}",
        f"CPU used in the {m.get('window_s')} s window: server {m.get('server_cpu_s')} s, "
        f"browsers + driver {m.get('browser_cpu_s')} s, other processes on the machine "
        f"{m.get('other_processes_cpu_s')} s (of {m['nproc']} x window available)",
        f"Servers: {result.get('servers', 'one server')}; browser: {result['browser']}",
        f"Sessions: {result['sessions']} for {result['seconds']:g} s "
        f"(warm-up {result['warmup_s']:.1f} s before the window, not counted)",
        f"Actions per session: {result['actions_per_session']} "
        f"(total {sum(result['actions_per_session'])}; by kind {result['actions_by_kind']}); "
        f"sessions still mid-action {result.get('grace_s', 0):g} s after the window, cut off: "
        f"{result.get('sessions_cut_off', 0)}",
        f"Server runs: {lat['outcomes']} (interrupted runs are counted, not timed)",
        "Server-side latency per run, ms (script start -> end on Streamlit's script thread; "
        "CPU: that thread's own CPU time):",
        f"  {'overall':<30} n={o.get('n', 0):>5}  " + _pcts(o, lat.get("cpu_overall")),
    ]
    for name, s in lat["by_page"].items():
        cpu = lat.get("cpu_by_page", {}).get(name)
        lines.append(f"  {name:<30} n={s['n']:>5}  " + _pcts(s, cpu))
    lines += [
        f"Server RSS, MB: at ready {mem.get('at_ready_mb')}, window start {mem.get('start_mb')}, "
        f"peak {mem.get('peak_mb')}, end {mem.get('end_mb')}; slope over the last 30 s "
        f"{mem.get('slope_last_30s_mb_per_min')} MB/min; every 30 s from the window's start: "
        f"{', '.join(f'{v:.0f}' for v in mem.get('every_30s_mb', []))}",
        gc_line(result.get("full_collections")),
        f"Errors: {len(result['errors'])}",
        *[f"  - {e}" for e in result["errors"][:50]],
    ]
    verdicts = ", ".join(f"{k}: {'ok' if ok else 'NO'}" for k, ok in v["checks"].items())
    lines.append(f"{'PASS' if v['pass'] else 'FAIL'} ({verdicts})")
    return "\n".join(lines)


def _pcts(s: dict[str, Any], cpu: dict[str, Any] | None = None) -> str:
    if not s.get("n"):
        return "no completed runs"
    out = f"p50 {s['p50']:>6.0f}  p95 {s['p95']:>6.0f}  p99 {s['p99']:>6.0f}  max {s['max']:>6.0f}"
    if cpu and cpu.get("n"):
        out += f"   (CPU p50 {cpu['p50']:>4.0f}, p95 {cpu['p95']:>4.0f})"
    return out
