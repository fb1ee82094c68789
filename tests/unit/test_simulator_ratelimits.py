"""Token-bucket rate limits of the simulator, on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.simulator.ratelimits import RateLimiter, rfc3339

MODEL = "claude-sim-1"
#: 2025-01-01T00:00:00Z, the wall clock of every test.
WALL = 1_735_689_600.0


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(rpm: int = 0, itpm: int = 0, otpm: int = 0) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(rpm, itpm, otpm, clock=clock, wall_clock=lambda: WALL + clock.now - 1000.0), clock


def remaining(headers: object, kind: str) -> int:
    return int(headers[f"anthropic-ratelimit-{kind}-remaining"])  # type: ignore[index]


def test_unlimited_grants_everything_without_headers() -> None:
    rl, _ = limiter()
    for _ in range(1000):
        admission = rl.acquire(MODEL, 10**9, 10**9)
        assert admission.granted and dict(admission.headers) == {}
    assert dict(rl.headers(MODEL)) == {}


def test_rpm_allows_a_minute_of_requests_then_refills_continuously() -> None:
    rl, clock = limiter(rpm=60)
    granted = [rl.acquire(MODEL, 5, 5) for _ in range(60)]
    assert all(a.granted for a in granted)
    assert [remaining(a.headers, "requests") for a in granted] == list(range(59, -1, -1))
    denied = rl.acquire(MODEL, 5, 5)
    assert not denied.granted and denied.retry_after == 1
    assert "60 requests per minute" in denied.message
    clock.now += 0.5
    assert rl.acquire(MODEL, 5, 5).retry_after == 1  # ceil(0.5 s)
    clock.now += 0.5
    assert rl.acquire(MODEL, 5, 5).granted  # 60/min = one per second
    assert not rl.acquire(MODEL, 5, 5).granted
    clock.now += 3600
    assert remaining(rl.headers(MODEL), "requests") == 60  # capped at one minute of capacity


def test_a_denied_request_consumes_nothing() -> None:
    rl, _ = limiter(rpm=100, itpm=1000)
    assert rl.acquire(MODEL, 600, 1).granted
    denied = rl.acquire(MODEL, 600, 1)
    assert not denied.granted
    assert remaining(denied.headers, "input-tokens") == 400
    assert remaining(denied.headers, "requests") == 99  # not even the request was taken
    # 200 missing tokens at 1000/60 per second: 12 s.
    assert denied.retry_after == 12
    assert rl.acquire(MODEL, 400, 1).granted  # the denied request left its share


def test_output_tokens_are_reserved_up_front_and_refunded() -> None:
    rl, _ = limiter(otpm=1000)
    first = rl.acquire(MODEL, 1, 600)
    assert first.granted and remaining(first.headers, "output-tokens") == 400
    assert not rl.acquire(MODEL, 1, 600).granted  # the reservation is held while "generating"
    rl.refund(MODEL, 600 - 10)  # only 10 tokens were produced
    assert remaining(rl.headers(MODEL), "output-tokens") == 990
    assert rl.acquire(MODEL, 1, 600).granted
    rl.refund(MODEL, 600)
    rl.refund(MODEL, 600)  # refunds never overfill the bucket
    assert remaining(rl.headers(MODEL), "output-tokens") == 1000


def test_retry_after_is_the_longest_wait_among_short_buckets() -> None:
    rl, _ = limiter(rpm=6, itpm=600, otpm=60)
    assert rl.acquire(MODEL, 600, 60).granted
    denied = rl.acquire(MODEL, 300, 30)
    # requests: 1 at 0.1/s = 10 s; input: 300 at 10/s = 30 s; output: 30 at 1/s = 30 s.
    assert not denied.granted and denied.retry_after == 30


def test_each_model_has_its_own_buckets() -> None:
    rl, _ = limiter(rpm=1)
    assert rl.acquire("model-a", 1, 1).granted
    assert not rl.acquire("model-a", 1, 1).granted
    assert rl.acquire("model-b", 1, 1).granted


def test_a_request_larger_than_a_minute_of_capacity_is_always_429() -> None:
    rl, clock = limiter(otpm=100)
    for _ in range(3):
        denied = rl.acquire(MODEL, 1, 101)
        assert not denied.granted and denied.retry_after >= 1
        assert "needs 101 output tokens on its own" in denied.message
        clock.now += 120
    assert remaining(rl.headers(MODEL), "output-tokens") == 100


def test_headers_cover_only_configured_limits_with_reset_when_full() -> None:
    rl, clock = limiter(rpm=60, otpm=600)
    admission = rl.acquire(MODEL, 1, 300)
    assert dict(admission.headers) == {
        "anthropic-ratelimit-requests-limit": "60",
        "anthropic-ratelimit-requests-remaining": "59",
        "anthropic-ratelimit-requests-reset": "2025-01-01T00:00:01Z",  # 1 request at 1/s
        "anthropic-ratelimit-output-tokens-limit": "600",
        "anthropic-ratelimit-output-tokens-remaining": "300",
        "anthropic-ratelimit-output-tokens-reset": "2025-01-01T00:00:30Z",  # 300 tokens at 10/s
    }
    clock.now += 0.5
    headers = rl.headers(MODEL)
    assert headers["anthropic-ratelimit-requests-reset"] == "2025-01-01T00:00:01Z"
    assert headers["anthropic-ratelimit-output-tokens-remaining"] == "305"


def test_rfc3339_rounds_up_to_the_second() -> None:
    assert rfc3339(WALL) == "2025-01-01T00:00:00Z"
    assert rfc3339(WALL + 0.2) == "2025-01-01T00:00:01Z"
    parsed = datetime.strptime(rfc3339(WALL + 61), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert parsed.timestamp() == pytest.approx(WALL + 61)
