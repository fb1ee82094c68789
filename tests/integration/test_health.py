"""The API's probes: live while it serves; ready only while the database answers."""
from __future__ import annotations

import asyncio
import dataclasses

import httpx

from app.api.app import serve as serve_api
from app.serving import base_url, loopback_socket
from tests.conftest import Stack
from tests.e2e.processes import free_port


async def test_live_and_ready_with_the_database_up(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url) as client:
        for path in ("/health/live", "/health/ready"):
            response = await client.get(path)
            assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_not_ready_while_the_database_is_unreachable(stack: Stack) -> None:
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/none"
    settings = dataclasses.replace(stack.settings, database_url=nowhere)
    sock = loopback_socket()
    server = asyncio.create_task(serve_api(settings, sockets=[sock]))
    await asyncio.sleep(0.1)
    try:
        async with httpx.AsyncClient(base_url=base_url(sock)) as client:
            assert (await client.get("/health/live")).status_code == 200
            ready = await client.get("/health/ready")
            assert ready.status_code == 503, ready.text
            assert ready.json()["error"]["type"] == "overloaded_error"
            assert ready.headers["retry-after"]
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
