"""The worker's liveness probe: ok while the loop beats, 503 once it has been silent too long."""
from __future__ import annotations

import time

from litestar.testing import TestClient

from app.worker.health import Liveness, create_health_app


def test_liveness_turns_503_when_the_worker_loop_stops_beating() -> None:
    liveness = Liveness(stuck_after_seconds=0.2)
    with TestClient(create_health_app(liveness)) as client:
        live = client.get("/health/live")
        assert live.status_code == 200 and live.json()["status"] == "ok"
        time.sleep(0.3)
        stuck = client.get("/health/live")
        assert stuck.status_code == 503 and stuck.json()["status"] == "stuck"
        assert stuck.json()["silent_seconds"] >= 0.2
        liveness.beat()
        assert client.get("/health/live").status_code == 200
