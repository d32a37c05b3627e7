"""The load test's memory and garbage-collection figures (bench/load_report.py)."""

from __future__ import annotations

from bench.load_report import collection_stats, gc_line, memory_stats


def test_memory_is_traced_every_30_s_from_the_window_start() -> None:
    samples = [(float(t), 500.0 + 2.0 * t) for t in range(0, 101)]  # 2 MB/s from t = 0
    mem = memory_stats(samples, window_start=10.0)
    assert mem["start_mb"] == 520.0 and mem["end_mb"] == 700.0
    assert mem["every_30s_mb"] == [520.0, 580.0, 640.0, 700.0]  # at 10, 40, 70, 100 s
    assert mem["slope_last_30s_mb_per_min"] == 120.0


def test_full_collections_are_counted_and_summed() -> None:
    stats = collection_stats(
        [{"start": 1.0, "duration_ms": 120.0}, {"start": 2.0, "duration_ms": 30.5}]
    )
    assert stats == {"n": 2, "total_ms": 150.5, "max_ms": 120.0}
    assert "2, 150 ms in all, longest 120 ms" in gc_line(stats)
    assert collection_stats([]) == {"n": 0, "total_ms": 0.0, "max_ms": 0.0}
