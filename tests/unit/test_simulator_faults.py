"""Pure-function tests of the simulator's misbehaviour: latency sampling, fault draws, config checks."""

from __future__ import annotations

import math
import random
import statistics
from typing import Any

import pytest

from app.simulator import SimulatorConfig
from app.simulator.config import (
    DEFAULT_RETRY_AFTER_SECONDS,
    DEFAULT_SLOW_SECONDS,
    LATENCY_DISTRIBUTIONS,
)
from app.simulator.errors import error_type_for_status
from app.simulator.faults import ERROR_FAULTS, Fault, choose_fault, fault_error
from app.simulator.latency import sample_latency


def test_fixed_latency_is_exact_and_draws_nothing() -> None:
    rng = random.Random(1)
    state = rng.getstate()
    assert [sample_latency(rng, "fixed", 0.25, 0.1) for _ in range(10)] == [0.25] * 10
    assert sample_latency(rng, "uniform", 0.0, 0.0) == 0.0
    assert sample_latency(rng, "lognormal", 0.5, 0.0) == 0.5
    assert rng.getstate() == state, "a constant latency must not shift the seeded fault sequence"


def test_uniform_latency_stays_in_bounds_with_the_right_mean() -> None:
    rng = random.Random(42)
    samples = [sample_latency(rng, "uniform", 0.5, 0.2) for _ in range(20_000)]
    assert min(samples) >= 0.3 and max(samples) <= 0.7
    assert min(samples) < 0.31 and max(samples) > 0.69  # the whole range is used
    # Standard error of the mean: 0.2 / sqrt(3) / sqrt(20_000) ~= 0.0008.
    assert statistics.fmean(samples) == pytest.approx(0.5, abs=0.005)


def test_lognormal_latency_has_the_configured_mean_and_a_long_tail() -> None:
    rng = random.Random(7)
    mean, sigma = 0.5, 0.5
    samples = [sample_latency(rng, "lognormal", mean, sigma) for _ in range(50_000)]
    assert min(samples) > 0
    # sd = mean * sqrt(exp(sigma^2) - 1) ~= 0.27, so the standard error is ~0.0012.
    assert statistics.fmean(samples) == pytest.approx(mean, abs=0.01)
    assert statistics.median(samples) == pytest.approx(mean * math.exp(-sigma * sigma / 2), rel=0.03)
    assert max(samples) > 3 * mean
    logs = [math.log(s) for s in samples]
    assert statistics.stdev(logs) == pytest.approx(sigma, rel=0.03)


@pytest.mark.parametrize("distribution", LATENCY_DISTRIBUTIONS)
def test_latency_samples_are_reproducible_with_a_seed(distribution: Any) -> None:
    first = [sample_latency(random.Random(3), distribution, 0.4, 0.3) for _ in range(5)]
    again = [sample_latency(random.Random(3), distribution, 0.4, 0.3) for _ in range(5)]
    assert first == again


def test_no_faults_configured_means_no_fault_and_no_draw() -> None:
    rng = random.Random(0)
    state = rng.getstate()
    assert all(choose_fault(SimulatorConfig(), rng) is None for _ in range(100))
    assert rng.getstate() == state


@pytest.mark.parametrize(
    ("field", "fault"),
    [
        ("rate_429", Fault.RATE_LIMITED),
        ("rate_529", Fault.OVERLOADED),
        ("rate_500", Fault.SERVER_ERROR),
        ("rate_drop", Fault.DROP),
        ("rate_slow", Fault.SLOW),
    ],
)
def test_a_rate_of_one_always_gives_that_fault(field: str, fault: Fault) -> None:
    config = SimulatorConfig(**{field: 1.0})
    rng = random.Random(5)
    assert {choose_fault(config, rng) for _ in range(1000)} == {fault}


def test_mixed_fault_rates_are_honoured() -> None:
    rates = {"rate_429": 0.1, "rate_529": 0.05, "rate_500": 0.03, "rate_drop": 0.02, "rate_slow": 0.2}
    config = SimulatorConfig(seed=11, **rates)
    rng = random.Random(config.seed)
    n = 100_000
    draws = [choose_fault(config, rng) for _ in range(n)]
    expected = dict(zip(Fault, rates.values()))
    expected_none = 1 - sum(rates.values())
    for fault, p in [*expected.items(), (None, expected_none)]:
        sigma = math.sqrt(n * p * (1 - p))
        assert abs(draws.count(fault) - n * p) < 5 * sigma, fault  # type: ignore[arg-type]


def test_rates_summing_to_one_never_answer_normally() -> None:
    config = SimulatorConfig(rate_429=0.5, rate_drop=0.5)
    rng = random.Random(9)
    assert None not in {choose_fault(config, rng) for _ in range(2000)}


def test_fault_errors_use_anthropic_statuses_and_retry_after_only_on_429() -> None:
    config = SimulatorConfig(retry_after_seconds=7)
    ratelimit = {"anthropic-ratelimit-requests-limit": "5"}
    statuses = {Fault.RATE_LIMITED: 429, Fault.OVERLOADED: 529, Fault.SERVER_ERROR: 500}
    for fault, status in statuses.items():
        error = fault_error(fault, config, ratelimit)
        assert error.status_code == status
        assert error.headers["anthropic-ratelimit-requests-limit"] == "5"
        assert ("retry-after" in error.headers) == (status == 429)
    assert fault_error(Fault.RATE_LIMITED, config, {}).headers == {"retry-after": "7"}
    assert [error_type_for_status(s) for s in (429, 529, 500)] == ["rate_limit_error", "overloaded_error", "api_error"]
    assert ERROR_FAULTS == set(statuses)
    with pytest.raises(ValueError):
        fault_error(Fault.DROP, config, {})


def test_new_config_defaults_are_harmless() -> None:
    config = SimulatorConfig()
    assert config.latency_distribution == "fixed" and config.latency_spread == 0.0 and config.seed is None
    assert config.fault_rates == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert config.retry_after_seconds == DEFAULT_RETRY_AFTER_SECONDS == 1
    assert config.slow_seconds == DEFAULT_SLOW_SECONDS == 30.0
    assert (config.rpm, config.itpm, config.otpm) == (0, 0, 0)


@pytest.mark.parametrize(
    "bad",
    [
        {"latency_distribution": "gaussian"},
        {"latency_spread": -0.1},
        {"latency_distribution": "uniform", "latency_seconds": 0.1, "latency_spread": 0.2},
        {"rate_429": -0.1},
        {"rate_slow": 1.5},
        {"rate_500": float("nan")},
        {"rate_429": 0.6, "rate_529": 0.3, "rate_drop": 0.2},
        {"retry_after_seconds": -1},
        {"slow_seconds": -1.0},
        {"rpm": -1},
        {"itpm": -5},
        {"otpm": -5},
    ],
)
def test_config_rejects_nonsense(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SimulatorConfig(**bad)


def test_config_accepts_edge_values() -> None:
    SimulatorConfig(rate_429=0.2, rate_529=0.2, rate_500=0.2, rate_drop=0.2, rate_slow=0.2)
    SimulatorConfig(latency_distribution="uniform", latency_seconds=0.1, latency_spread=0.1)
    SimulatorConfig(latency_distribution="lognormal", latency_seconds=0.1, latency_spread=2.0, seed=0)
