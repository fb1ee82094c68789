"""Configuration of the Claude API simulator.

One frozen dataclass holds every knob so a test, the demo or a benchmark can
describe the simulated API in a single value. Defaults are named constants so
other modules (and later features such as fault injection or rate limits) can
refer to them instead of repeating magic numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: No artificial delay: answer as fast as the server can.
DEFAULT_LATENCY_SECONDS: Final[float] = 0.0

#: How many words of the last user message the simulated "summary" keeps.
DEFAULT_SUMMARY_WORDS: Final[int] = 25

#: Largest ``max_tokens`` accepted for any model (Claude's largest current output cap).
DEFAULT_MAX_OUTPUT_TOKENS: Final[int] = 128_000

#: Largest accepted request body; the real Messages API rejects bodies above 32 MB with 413.
DEFAULT_MAX_REQUEST_BYTES: Final[int] = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """How the simulated ``POST /v1/messages`` behaves.

    Every field has a safe default, so ``SimulatorConfig()`` is a fast, error-free
    simulator suitable for unit tests.
    """

    latency_seconds: float = DEFAULT_LATENCY_SECONDS
    """Fixed delay (seconds) before answering a valid request; awaited with
    ``asyncio.sleep`` so hundreds of requests can be in flight at once. Invalid
    requests are rejected immediately, as the real API does."""

    summary_words: int = DEFAULT_SUMMARY_WORDS
    """Number of leading words of the last user message echoed in the
    deterministic response text (``"Summary: <first N words>"``)."""

    model_default_max_output: int = DEFAULT_MAX_OUTPUT_TOKENS
    """Upper bound on ``max_tokens`` for every model; larger values get a 400
    ``invalid_request_error`` like Claude's per-model output limit."""

    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    """Largest request body accepted; larger bodies get 413 ``request_too_large``."""

    def __post_init__(self) -> None:
        """Reject nonsensical settings early, at construction time."""
        if self.latency_seconds < 0:
            raise ValueError(f"latency_seconds must be >= 0, got {self.latency_seconds}")
        if self.summary_words < 1:
            raise ValueError(f"summary_words must be >= 1, got {self.summary_words}")
        if self.model_default_max_output < 1:
            raise ValueError(f"model_default_max_output must be >= 1, got {self.model_default_max_output}")
        if self.max_request_bytes < 1:
            raise ValueError(f"max_request_bytes must be >= 1, got {self.max_request_bytes}")
