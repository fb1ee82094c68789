"""Per-request latency of the simulator, drawn from a configurable distribution.

A pure function of its arguments and an explicit ``random.Random``, so a seeded
simulator replays the same delays and the sampler is unit-tested without a server.
"""

from __future__ import annotations

import math
import random

from app.simulator.config import LatencyDistribution


def sample_latency(rng: random.Random, distribution: LatencyDistribution, mean: float, spread: float) -> float:
    """One delay in seconds, always >= 0.

    * ``fixed``: ``mean`` (no RNG draw, so it never shifts a seeded fault sequence);
    * ``uniform``: uniform in ``[mean - spread, mean + spread]``, clamped at 0;
    * ``lognormal``: ``exp(N(mu, spread))`` with ``mu = ln(mean) - spread**2 / 2``,
      so its expected value is exactly ``mean`` while its median is lower and its
      right tail long, as real model latencies are.
    """
    if mean <= 0 or distribution == "fixed" or spread == 0:
        return max(mean, 0.0)
    if distribution == "uniform":
        return max(rng.uniform(mean - spread, mean + spread), 0.0)
    if distribution == "lognormal":
        return rng.lognormvariate(math.log(mean) - spread * spread / 2, spread)
    raise ValueError(f"unknown latency distribution {distribution!r}")
