"""Injected faults: the ways the real Claude API misbehaves, drawn once per valid request.

``choose_fault`` is a pure function of the config and an explicit RNG; the HTTP
layer turns an error fault into Anthropic's error envelope (``fault_error``) and
leaves drops and slow answers to the transport (``app.simulator.tracking``).
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping
from typing import Final

from app.simulator.config import SimulatorConfig
from app.simulator.errors import ApiError


class Fault(enum.Enum):
    """One injected misbehaviour; the order is the order of ``SimulatorConfig.fault_rates``."""

    RATE_LIMITED = "429"
    OVERLOADED = "529"
    SERVER_ERROR = "500"
    DROP = "drop"
    SLOW = "slow"


_DRAW_ORDER: Final = (Fault.RATE_LIMITED, Fault.OVERLOADED, Fault.SERVER_ERROR, Fault.DROP, Fault.SLOW)
#: Faults answered at once with an error status (and without any rate-limit consumption).
ERROR_FAULTS: Final = frozenset({Fault.RATE_LIMITED, Fault.OVERLOADED, Fault.SERVER_ERROR})
#: The messages the real API sends with these statuses.
_MESSAGES: Final[Mapping[Fault, str]] = {
    Fault.RATE_LIMITED: "This request would exceed your organization's rate limit. (simulated fault)",
    Fault.OVERLOADED: "Overloaded (simulated fault)",
    Fault.SERVER_ERROR: "Internal server error (simulated fault)",
}


def choose_fault(config: SimulatorConfig, rng: random.Random) -> Fault | None:
    """The fault for one request, or ``None`` for a normal answer.

    Exactly one RNG draw when any rate is non-zero (none otherwise): the unit
    interval is cut into consecutive slices of the configured probabilities.
    """
    rates = config.fault_rates
    if not any(rates):
        return None
    draw = rng.random()
    edge = 0.0
    for fault, rate in zip(_DRAW_ORDER, rates):
        edge += rate
        if draw < edge:
            return fault
    return None


def fault_error(fault: Fault, config: SimulatorConfig, ratelimit_headers: Mapping[str, str]) -> ApiError:
    """The error answered for an error fault; a 429 carries ``retry-after``.

    ``ratelimit_headers`` (the current ``anthropic-ratelimit-*`` state) go on
    every error so the injected answer is indistinguishable from a real one.
    """
    if fault not in ERROR_FAULTS:
        raise ValueError(f"{fault} is not answered with an error status")
    headers = dict(ratelimit_headers)
    if fault is Fault.RATE_LIMITED:
        headers["retry-after"] = str(config.retry_after_seconds)
    return ApiError(int(fault.value), _MESSAGES[fault], headers)
