"""Configuration of the Claude API simulator.

One frozen dataclass holds every knob so a test, the demo or a benchmark can
describe the simulated API in a single value. Defaults are named constants so
other modules (and the CLI) refer to them instead of repeating magic numbers.
Every default is well-behaved: no latency, no faults, no rate limits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

#: Shapes of the per-request latency; see ``app.simulator.latency.sample_latency``.
LatencyDistribution = Literal["fixed", "uniform", "lognormal"]
LATENCY_DISTRIBUTIONS: Final[tuple[LatencyDistribution, ...]] = ("fixed", "uniform", "lognormal")

#: No artificial delay: answer as fast as the server can.
DEFAULT_LATENCY_SECONDS: Final[float] = 0.0
#: Every request waits exactly ``latency_seconds``.
DEFAULT_LATENCY_DISTRIBUTION: Final[LatencyDistribution] = "fixed"
#: No spread around ``latency_seconds``.
DEFAULT_LATENCY_SPREAD: Final[float] = 0.0

#: How many words of the last user message the simulated "summary" keeps.
DEFAULT_SUMMARY_WORDS: Final[int] = 25

#: Largest ``max_tokens`` accepted for any model (Claude's largest current output cap).
DEFAULT_MAX_OUTPUT_TOKENS: Final[int] = 128_000

#: Largest accepted request body; the real Messages API rejects bodies above 32 MB with 413.
DEFAULT_MAX_REQUEST_BYTES: Final[int] = 32 * 1024 * 1024

#: Probability of each injected fault: none by default.
DEFAULT_FAULT_RATE: Final[float] = 0.0
#: ``retry-after`` (whole seconds) sent with an injected 429.
DEFAULT_RETRY_AFTER_SECONDS: Final[int] = 1
#: Delay of a ``rate_slow`` answer: longer than any sane client timeout.
DEFAULT_SLOW_SECONDS: Final[float] = 30.0

#: Per-model rate limits (requests / input tokens / output tokens per minute); 0 = unlimited.
UNLIMITED: Final[int] = 0

#: Prompt caching is on, as on the real API (it only acts on requests with ``cache_control``).
DEFAULT_PROMPT_CACHE: Final[bool] = True
#: Most prompt-cache entries kept (least recently used evicted first): ~270 bytes each,
#: so ~27 MB at the cap whatever the prompt sizes (entries hold digests, not prompts).
DEFAULT_PROMPT_CACHE_MAX_ENTRIES: Final[int] = 100_000

#: A Message Batch ends one second after it is created (the real API takes minutes to hours).
DEFAULT_BATCH_PROCESSING_SECONDS: Final[float] = 1.0
#: Batches never expire before they finish processing.
NEVER_EXPIRE: Final[None] = None


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """How the simulated ``POST /v1/messages`` behaves.

    Every field has a safe default, so ``SimulatorConfig()`` is a fast, error-free,
    unlimited simulator suitable for unit tests.
    """

    latency_seconds: float = DEFAULT_LATENCY_SECONDS
    """Delay (seconds) before answering a valid request: the fixed value, or the mean
    of the ``uniform``/``lognormal`` distribution. Awaited with ``asyncio.sleep`` so
    hundreds of requests can be in flight at once. Invalid requests and injected
    errors are answered immediately, as the real API does."""

    latency_distribution: LatencyDistribution = DEFAULT_LATENCY_DISTRIBUTION
    """``"fixed"``: always ``latency_seconds``; ``"uniform"``: uniform in
    ``latency_seconds ± latency_spread``; ``"lognormal"``: log-normal with mean
    ``latency_seconds`` and shape ``sigma = latency_spread`` (a long right tail, like
    real model latency)."""

    latency_spread: float = DEFAULT_LATENCY_SPREAD
    """Uniform: half-width (must not exceed ``latency_seconds``); lognormal: sigma."""

    seed: int | None = None
    """Seed of the one RNG behind latency samples and fault draws, for reproducible
    runs; ``None`` seeds from the OS."""

    summary_words: int = DEFAULT_SUMMARY_WORDS
    """Number of leading words of the last user message echoed in the
    deterministic response text (``"Summary: <first N words>"``)."""

    model_default_max_output: int = DEFAULT_MAX_OUTPUT_TOKENS
    """Upper bound on ``max_tokens`` for every model; larger values get a 400
    ``invalid_request_error`` like Claude's per-model output limit."""

    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    """Largest request body accepted; larger bodies get 413 ``request_too_large``."""

    rate_429: float = DEFAULT_FAULT_RATE
    """Probability that a valid request gets an injected 429 ``rate_limit_error``
    with ``retry-after: retry_after_seconds``. The five ``rate_*`` probabilities
    are exclusive outcomes of one draw per request, so their sum must be <= 1."""

    rate_529: float = DEFAULT_FAULT_RATE
    """Probability of an injected 529 ``overloaded_error`` (no ``retry-after``)."""

    rate_500: float = DEFAULT_FAULT_RATE
    """Probability of an injected 500 ``api_error``."""

    rate_drop: float = DEFAULT_FAULT_RATE
    """Probability that the connection is closed mid-response (headers and part of
    the body sent), so clients see a connection error rather than a status."""

    rate_slow: float = DEFAULT_FAULT_RATE
    """Probability that the answer comes only after ``slow_seconds``, so a client
    with a shorter timeout sees a timeout."""

    retry_after_seconds: int = DEFAULT_RETRY_AFTER_SECONDS
    """``retry-after`` header (whole seconds) of an injected 429."""

    slow_seconds: float = DEFAULT_SLOW_SECONDS
    """Delay of a ``rate_slow`` answer, replacing the sampled latency."""

    rpm: int = UNLIMITED
    """Requests per minute allowed per model (a token bucket holding one minute of
    capacity, refilled continuously); 0 = unlimited."""

    itpm: int = UNLIMITED
    """Input tokens per minute per model; a request takes its estimated uncached input
    tokens (``input_tokens + cache_creation_input_tokens``): cache reads do not count,
    as for current Claude models."""

    otpm: int = UNLIMITED
    """Output tokens per minute per model; a request reserves ``max_tokens`` up front
    and the unused part is returned once it is answered."""

    prompt_cache: bool = DEFAULT_PROMPT_CACHE
    """Account prompt caching like the Messages API (``app.simulator.cache``): a prefix
    marked with ``cache_control`` is written on first use and read by later requests
    within its TTL, per model, and ``usage`` splits the input accordingly. ``False``:
    ``cache_control`` is still validated but every prompt token is plain input."""

    prompt_cache_max_entries: int = DEFAULT_PROMPT_CACHE_MAX_ENTRIES
    """Bound on the prompt cache's entries (all models together); beyond it the least
    recently used entry is evicted, so a later request on its prefix writes again."""

    batch_processing_seconds: float = DEFAULT_BATCH_PROCESSING_SECONDS
    """How long a Message Batch (``POST /v1/messages/batches``) stays ``in_progress``. Its
    requests are processed one after another, evenly over that time (request ``i`` of ``n``
    at ``(i + 1) / n`` of it), so a cancel or an expiry part-way leaves the later ones
    canceled or expired; the batch ends when the last one is processed."""

    batch_error_rate: float = DEFAULT_FAULT_RATE
    """Probability that a valid batch request ends ``errored`` with a 500 ``api_error``
    instead of succeeding (drawn per request from an RNG seeded with ``seed``). Invalid
    ``params`` always end ``errored`` with ``invalid_request_error``."""

    batch_expire_after_seconds: float | None = NEVER_EXPIRE
    """Seconds after creation at which a batch still processing expires: it ends then and
    its unprocessed requests end ``expired`` (the real API's 24 hours, shrunk). ``None``:
    never; a value >= ``batch_processing_seconds`` has no effect."""

    @property
    def fault_rates(self) -> tuple[float, float, float, float, float]:
        """``(rate_429, rate_529, rate_500, rate_drop, rate_slow)``, in draw order."""
        return (self.rate_429, self.rate_529, self.rate_500, self.rate_drop, self.rate_slow)

    def __post_init__(self) -> None:
        """Reject nonsensical settings early, at construction time."""
        _require(self.latency_seconds >= 0, "latency_seconds must be >= 0", self.latency_seconds)
        _require(
            self.latency_distribution in LATENCY_DISTRIBUTIONS,
            f"latency_distribution must be one of {', '.join(LATENCY_DISTRIBUTIONS)}",
            self.latency_distribution,
        )
        _require(self.latency_spread >= 0, "latency_spread must be >= 0", self.latency_spread)
        if self.latency_distribution == "uniform":
            _require(
                self.latency_spread <= self.latency_seconds,
                "latency_spread must be <= latency_seconds for a uniform latency",
                self.latency_spread,
            )
        _require(self.summary_words >= 1, "summary_words must be >= 1", self.summary_words)
        _require(self.model_default_max_output >= 1, "model_default_max_output must be >= 1",
                 self.model_default_max_output)
        _require(self.max_request_bytes >= 1, "max_request_bytes must be >= 1", self.max_request_bytes)
        for name, rate in zip(("rate_429", "rate_529", "rate_500", "rate_drop", "rate_slow"), self.fault_rates):
            _require(math.isfinite(rate) and 0 <= rate <= 1, f"{name} must be between 0 and 1", rate)
        total = sum(self.fault_rates)
        _require(total <= 1 + 1e-9, "the sum of the rate_* fault probabilities must be <= 1", total)
        _require(self.retry_after_seconds >= 0, "retry_after_seconds must be >= 0", self.retry_after_seconds)
        _require(self.slow_seconds >= 0, "slow_seconds must be >= 0", self.slow_seconds)
        for name, limit in (("rpm", self.rpm), ("itpm", self.itpm), ("otpm", self.otpm)):
            _require(limit >= 0, f"{name} must be >= 0 (0 = unlimited)", limit)
        _require(self.prompt_cache_max_entries >= 1, "prompt_cache_max_entries must be >= 1",
                 self.prompt_cache_max_entries)
        _require(math.isfinite(self.batch_processing_seconds) and self.batch_processing_seconds >= 0,
                 "batch_processing_seconds must be >= 0", self.batch_processing_seconds)
        _require(math.isfinite(self.batch_error_rate) and 0 <= self.batch_error_rate <= 1,
                 "batch_error_rate must be between 0 and 1", self.batch_error_rate)
        if self.batch_expire_after_seconds is not None:
            _require(math.isfinite(self.batch_expire_after_seconds) and self.batch_expire_after_seconds >= 0,
                     "batch_expire_after_seconds must be >= 0 (or None = never)", self.batch_expire_after_seconds)


def _require(condition: bool, message: str, value: object) -> None:
    """Raise ``ValueError(message, got value)`` unless ``condition`` holds."""
    if not condition:
        raise ValueError(f"{message}, got {value!r}")
