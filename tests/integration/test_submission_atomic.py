"""Submission is one transaction: batch, requests and queue rows commit together or not at all."""
from __future__ import annotations

import httpx
from sqlalchemy import text

from tests.conftest import Stack
from tests.integration.helpers import summarise_requests

COUNTS = text(
    "SELECT (SELECT count(*) FROM batches) AS batches,"
    "       (SELECT count(*) FROM requests) AS requests,"
    "       (SELECT count(*) FROM procrastinate_jobs) AS jobs"
)


async def test_submission_writes_one_queue_row_per_request(stack: Stack) -> None:
    created = await stack.client().messages.batches.create(
        requests=summarise_requests(300))  # type: ignore[arg-type]
    async with stack.engine.connect() as conn:
        counts = (await conn.execute(COUNTS)).one()
        jobs = (await conn.execute(text(
            "SELECT j.queue_name, j.task_name, j.status, r.batch_id"
            " FROM procrastinate_jobs j JOIN requests r ON r.id = (j.args ->> 'request_id')::bigint"
        ))).all()
    assert tuple(counts) == (1, 300, 300)
    assert {(j.queue_name, j.task_name, j.status, j.batch_id) for j in jobs} == {
        ("requests", "batchmill.process_request", "todo", created.id)
    }


async def test_failure_halfway_through_submission_leaves_no_rows(stack: Stack) -> None:
    # Make the last step of the transaction (the queue insert) fail, after the batch and
    # request rows were written.
    async with stack.engine.begin() as conn:
        await conn.execute(text(
            "CREATE FUNCTION fail_queue_insert() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN RAISE EXCEPTION 'queue unavailable'; END $$"))
        await conn.execute(text(
            "CREATE TRIGGER fail_queue_insert BEFORE INSERT ON procrastinate_jobs"
            " FOR EACH ROW EXECUTE FUNCTION fail_queue_insert()"))

    async with httpx.AsyncClient(base_url=stack.api_url) as http:
        response = await http.post("/v1/messages/batches", headers={"x-api-key": stack.api_key},
                                   json={"requests": summarise_requests(50)})
    assert response.status_code == 500
    body = response.json()
    assert body == {"type": "error",
                    "error": {"type": "api_error", "message": "Internal server error."}}
    assert "queue unavailable" not in response.text
    assert response.headers["request-id"].startswith("req_")

    async with stack.engine.connect() as conn:
        assert tuple((await conn.execute(COUNTS)).one()) == (0, 0, 0)
