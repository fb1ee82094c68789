"""``/v1/messages/batches``: thin handlers over ``app.batches``.

``?beta=true`` and the ``anthropic-beta`` header (sent by the SDK's beta client) are accepted
and ignored: undeclared query parameters and headers play no part here.
"""
from __future__ import annotations

from typing import Annotated

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Operation
from litestar.params import FromPath, Parameter
from litestar.response import Stream

from app import batches, webhooks
from app.api.dependencies import Caller, Engine, PublicUrl
from app.api.errors import documented_errors
from app.errors import InvalidRequest, NotFound
from app.schemas import (
    BatchCreate,
    BatchResult,
    DeletedMessageBatch,
    MessageBatch,
    MessageBatchPage,
    message_batch,
)

JSONL = "application/x-jsonl"
Limit = Annotated[int, Parameter(ge=1, le=1000, description="Page size, 1 to 1000.")]
Cursor = Annotated[str | None, Parameter(max_length=100)]


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """Replace msgspec's ``#/$defs/…`` references with the definitions themselves."""
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {key: _inline(value, defs) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(value, defs) for value in node]
    return node


_BATCH_CREATE = msgspec.json.schema(BatchCreate)
BATCH_CREATE_SCHEMA = _inline(_BATCH_CREATE, _BATCH_CREATE.pop("$defs"))


class CreateBatchOperation(Operation):
    """``create`` decodes its body itself (params stay raw JSON), so Litestar cannot see the
    body's type: document it here, from the same Struct."""

    def to_schema(self) -> dict[str, Any]:
        schema = super().to_schema()
        schema["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": BATCH_CREATE_SCHEMA}}}
        return schema


class BatchesController(Controller):
    path = "/v1/messages/batches"
    tags = ["Message Batches"]

    @post("/", status_code=200, summary="Create a Message Batch",
          responses=documented_errors(413),
          operation_class=CreateBatchOperation)
    async def create(self, request: Request, engine: Engine, principal: Caller,
                     public_url: PublicUrl) -> MessageBatch:
        batch = batches.decode_batch(await request.body())
        if batch.callback_url is not None and not request.app.state.allow_private_callbacks:
            await webhooks.refuse_private(batch.callback_url)
        async with engine.begin() as conn:
            batch_id = await batches.create_batch(conn, principal.tenant_id, batch)
            row = await batches.get_batch(conn, principal.tenant_id, batch_id)
        return message_batch(row, public_url)

    @get("/", summary="List Message Batches, newest first", responses=documented_errors())
    async def list(self, engine: Engine, principal: Caller, public_url: PublicUrl,
                   limit: Limit = 20, after_id: Cursor = None,
                   before_id: Cursor = None) -> MessageBatchPage:
        if after_id is not None and before_id is not None:
            raise InvalidRequest("Pass at most one of after_id and before_id.")
        async with engine.connect() as conn:
            rows, has_more = await batches.list_batches(
                conn, principal.tenant_id, limit=limit, after_id=after_id, before_id=before_id)
        data = [message_batch(row, public_url) for row in rows]
        return MessageBatchPage(data=data, has_more=has_more,
                                first_id=data[0].id if data else None,
                                last_id=data[-1].id if data else None)

    @get("/{batch_id:str}", summary="Retrieve a Message Batch", responses=documented_errors(404))
    async def retrieve(self, engine: Engine, principal: Caller, public_url: PublicUrl,
                       batch_id: FromPath[str]) -> MessageBatch:
        async with engine.connect() as conn:
            row = await batches.get_batch(conn, principal.tenant_id, batch_id)
        return message_batch(row, public_url)

    @post("/{batch_id:str}/cancel", status_code=200, summary="Cancel a Message Batch",
          responses=documented_errors(404))
    async def cancel(self, engine: Engine, principal: Caller, public_url: PublicUrl,
                     batch_id: FromPath[str]) -> MessageBatch:
        async with engine.begin() as conn:
            row = await batches.cancel_batch(conn, principal.tenant_id, batch_id)
        return message_batch(row, public_url)

    @delete("/{batch_id:str}", status_code=200, summary="Delete an ended Message Batch",
            responses=documented_errors(404))
    async def delete(self, engine: Engine, principal: Caller,
                     batch_id: FromPath[str]) -> DeletedMessageBatch:
        async with engine.begin() as conn:
            await batches.delete_batch(conn, principal.tenant_id, batch_id)
        return DeletedMessageBatch(id=batch_id)

    @get("/{batch_id:str}/results", media_type=JSONL,
         summary="Stream the results of an ended Message Batch as JSONL",
         responses={200: ResponseSpec(data_container=BatchResult, media_type=JSONL,
                                      description="One BatchResult per line, in submission order"),
                    **documented_errors(404)})
    async def results(self, engine: Engine, principal: Caller, batch_id: FromPath[str]) -> Stream:
        async with engine.connect() as conn:
            row = await batches.get_batch(conn, principal.tenant_id, batch_id)
        if row["processing_status"] != "ended":
            raise InvalidRequest(
                f"Message batch {batch_id} is still {row['processing_status']}; "
                "results are available once it has ended."
            )
        if row["archived_at"] is not None:
            raise NotFound(f"The results of message batch {batch_id} were archived at "
                           f"{row['archived_at']:%Y-%m-%dT%H:%M:%SZ} and are no longer available.")
        return Stream(batches.stream_results(engine, batch_id), media_type=JSONL)
