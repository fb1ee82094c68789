"""``/v1/messages/batches``: thin handlers over ``app.batches``."""
from __future__ import annotations

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Stream

from app import batches
from app.api.dependencies import Caller, Engine
from app.api.schemas import MessageBatch, message_batch
from app.errors import InvalidRequest

JSONL = "application/x-jsonl"


def _decode(body: bytes) -> object:
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"Request body is not valid JSON: {exc}") from None


class BatchesController(Controller):
    path = "/v1/messages/batches"

    @post("/", status_code=200)
    async def create(self, request: Request, engine: Engine, principal: Caller) -> MessageBatch:
        batch = batches.parse_batch(_decode(await request.body()))
        async with engine.begin() as conn:
            batch_id = await batches.create_batch(conn, principal.tenant_id, batch)
            row = await batches.get_batch(conn, principal.tenant_id, batch_id)
        return message_batch(row, str(request.base_url))

    @get("/{batch_id:str}")
    async def retrieve(self, request: Request, engine: Engine, principal: Caller,
                       batch_id: FromPath[str]) -> MessageBatch:
        async with engine.connect() as conn:
            row = await batches.get_batch(conn, principal.tenant_id, batch_id)
        return message_batch(row, str(request.base_url))

    @get("/{batch_id:str}/results", media_type=JSONL)
    async def results(self, engine: Engine, principal: Caller, batch_id: FromPath[str]) -> Stream:
        async with engine.connect() as conn:
            row = await batches.get_batch(conn, principal.tenant_id, batch_id)
        if row["processing_status"] != "ended":
            raise InvalidRequest(
                f"Message batch {batch_id} is still {row['processing_status']}; "
                "results are available once it has ended."
            )
        return Stream(batches.stream_results(engine, batch_id), media_type=JSONL)
