"""Model routing: ``"model": "auto"`` (or any route in ``model_routes``) becomes a concrete
model, chosen by rules kept as data — the request's task type and the length of its input.
The task type comes from the request's ``task_type`` extension field, else the batch's
``metadata.task_type``. The routed model is what is stored, sent, priced and reported."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from app.errors import InvalidRequest
from app.sql import queries


@dataclass(frozen=True)
class Rule:
    task_type: str | None
    max_input_chars: int | None
    model: str

    def matches(self, task_type: str | None, input_chars: int) -> bool:
        return ((self.task_type is None or self.task_type == task_type)
                and (self.max_input_chars is None or input_chars < self.max_input_chars))


async def load_routes(conn: AsyncConnection) -> dict[str, list[Rule]]:
    routes: dict[str, list[Rule]] = {}
    for row in await conn.execute(queries["model_routes_all"]):
        routes.setdefault(row.route, []).append(Rule(row.task_type, row.max_input_chars, row.model))
    return routes


def resolve(rules: Sequence[Rule], route: str, task_type: str | None, input_chars: int) -> str:
    for rule in rules:
        if rule.matches(task_type, input_chars):
            return rule.model
    raise InvalidRequest(f"Route {route!r} has no rule for task type {task_type!r} and "
                         f"{input_chars:,} characters of input.")
