"""The served OpenAPI schema describes the real shapes (fuzzing is driven from it)."""
from __future__ import annotations

import httpx

from tests.conftest import Stack


async def test_schema_describes_every_operation_and_the_error_shape(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url) as http:
        schema = (await http.get("/docs/openapi.json")).json()
        docs = await http.get("/docs/")
    assert docs.status_code == 200 and "<html" in docs.text.lower()
    operations = {(path, method) for path, item in schema["paths"].items() for method in item}
    assert operations == {
        ("/v1/messages/batches", "post"), ("/v1/messages/batches", "get"),
        ("/v1/messages/batches/{batch_id}", "get"), ("/v1/messages/batches/{batch_id}", "delete"),
        ("/v1/messages/batches/{batch_id}/cancel", "post"),
        ("/v1/messages/batches/{batch_id}/results", "get"), ("/v1/reports/cost", "get"),
        ("/v1/webhooks/deliveries", "get"),
    }
    components = schema["components"]["schemas"]
    batch = components["MessageBatch"]
    assert set(batch["required"]) >= {"id", "processing_status", "request_counts", "created_at",
                                      "expires_at", "results_url"}
    create = schema["paths"]["/v1/messages/batches"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["requests"] and body["additionalProperties"] is False
    request = body["properties"]["requests"]["items"]
    assert request["properties"]["custom_id"]["pattern"] == "^[a-zA-Z0-9_-]{1,64}$"
    assert request["properties"]["params"]["type"] == "object"
    assert body["properties"]["requests"]["maxItems"] == 100_000
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorResponse"), (path, method, status)
    assert components["ErrorResponse"]["properties"]["type"]["const"] == "error"
