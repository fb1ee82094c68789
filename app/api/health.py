"""Probes for orchestrators: liveness (the process serves) and readiness (the database answers).
Unauthenticated, and kept out of the OpenAPI schema: they are not part of the batches API."""
from __future__ import annotations

from litestar import Controller, get
from sqlalchemy import text

from app.api.dependencies import Engine


class HealthController(Controller):
    path = "/health"
    include_in_schema = False

    @get("/live")
    async def live(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/ready")
    async def ready(self, engine: Engine) -> dict[str, str]:
        """A database that does not answer becomes 503 (with retry-after) through the app's
        database error handler."""
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return {"status": "ok"}
