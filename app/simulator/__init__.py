"""Claude API simulator: a loopback ``POST /v1/messages`` and Message Batches API used by the
demo, tests and benchmarks."""

from __future__ import annotations

from app.simulator.app import create_app, serve
from app.simulator.config import SimulatorConfig

__all__ = ["SimulatorConfig", "create_app", "serve"]
