"""The simulator's call accounting, without a server."""

from __future__ import annotations

import tracemalloc

import msgspec

from app.simulator.stats import SimulatorStats

#: 2025-01-01T00:00:00Z.
WALL = 1_735_689_600.0


def finish(stats: SimulatorStats, status: int | None, *, drop: bool = False, slow: bool = False) -> None:
    call = stats.begin()
    call.status, call.drop, call.slow = status, drop, slow
    stats.end(call)


def test_outcomes_are_counted_by_status_with_drop_and_slow_apart() -> None:
    stats = SimulatorStats(wall_clock=lambda: WALL + 30)
    for status in (200, 200, 429, 400, 529):
        finish(stats, status)
    finish(stats, 200, drop=True)
    finish(stats, 200, slow=True)
    finish(stats, None)
    snap = stats.snapshot()
    assert snap.calls == 8 and snap.in_flight == 0 and snap.peak_concurrency == 1
    assert snap.by_status == {"200": 2, "429": 1, "400": 1, "529": 1, "drop": 1, "slow": 1, "none": 1}
    assert [(m.minute, m.calls) for m in snap.accepted_per_minute] == [("2025-01-01T00:00:00Z", 2)]


def test_accepted_calls_are_bucketed_by_wall_clock_minute() -> None:
    now = [WALL + 119]
    stats = SimulatorStats(wall_clock=lambda: now[0])
    finish(stats, 200)
    now[0] = WALL + 59
    finish(stats, 200)
    finish(stats, 200)
    minutes = [msgspec.to_builtins(m) for m in stats.snapshot().accepted_per_minute]
    assert minutes == [
        {"minute": "2025-01-01T00:00:00Z", "calls": 2},
        {"minute": "2025-01-01T00:01:00Z", "calls": 1},
    ]


def test_peak_and_in_flight_track_overlapping_calls() -> None:
    stats = SimulatorStats()
    calls = [stats.begin() for _ in range(5)]
    for call in calls[:3]:
        call.status = 200
        stats.end(call)
    snap = stats.snapshot()
    assert (snap.peak_concurrency, snap.in_flight) == (5, 2)
    stats.reset()
    snap = stats.snapshot()
    assert (snap.calls, snap.peak_concurrency, snap.in_flight) == (0, 2, 2)  # live calls survive a reset
    for call in calls[3:]:
        call.status = 200
        stats.end(call)
    snap = stats.snapshot()
    assert (snap.in_flight, snap.by_status, snap.accepted_per_minute) == (0, {}, [])  # straddled the reset


def test_duplicate_bodies_are_counted_by_digest() -> None:
    stats = SimulatorStats()
    for body in (b"a", b"b", b"a", b"c", b"a", b"b"):
        stats.record_body(body)
    snap = stats.snapshot()
    assert (snap.distinct_bodies, snap.duplicate_calls, snap.max_calls_per_body) == (3, 3, 3)
    assert all(len(digest) == 8 for digest in stats.body_counts)


def test_rate_limited_per_model_and_reset() -> None:
    stats = SimulatorStats()
    stats.record_rate_limited("m1")
    stats.record_rate_limited("m1")
    stats.record_rate_limited("m2")
    finish(stats, 429)
    stats.record_body(b"x")
    assert stats.snapshot().rate_limited == {"m1": 2, "m2": 1}
    stats.reset()
    assert msgspec.to_builtins(stats.snapshot()) == {
        "calls": 0,
        "by_status": {},
        "accepted_per_minute": [],
        "peak_concurrency": 0,
        "in_flight": 0,
        "distinct_bodies": 0,
        "duplicate_calls": 0,
        "max_calls_per_body": 0,
        "rate_limited": {},
        "cache_reads": 0,
        "cache_writes": 0,
    }


def test_memory_per_distinct_body_is_bounded() -> None:
    """~1M distinct bodies must fit in well under 200 MB: only 8-byte digests are kept."""
    stats = SimulatorStats()
    body = b"x" * 10_000  # the body size must not matter
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(50_000):
            stats.record_body(body + i.to_bytes(4, "little"))
        per_body = (tracemalloc.get_traced_memory()[0] - before) / 50_000
    finally:
        tracemalloc.stop()
    assert stats.snapshot().distinct_bodies == 50_000
    assert per_body < 150
