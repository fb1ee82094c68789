"""Browser fixtures: Debian's chromium, headless, driven by Playwright's async API in the
suite's event loop (beside the in-process API, worker and simulator of ``Stack``).

Every page's console errors, uncaught exceptions and failed requests are collected; a test
asserts there are none (after taking the ones it provoked on purpose). Screenshots go to
``test-artifacts/ui/``. Playwright's own browser downloads are never used: the browser is the
system's chromium (``.ci/install-browser`` installs it).
"""
from __future__ import annotations

import contextlib
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Request, async_playwright

from tests.conftest import Stack

CHROMIUM = Path(os.environ.get("BATCHMILL_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
VIEWPORT = {"width": 1280, "height": 860}
CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        message = f"no chromium at {CHROMIUM}: run .ci/install-browser"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@dataclass
class Dashboard:
    """A browser tab on the stack's dashboard, with everything its console complained about."""

    page: Page
    base_url: str
    problems: list[str] = field(default_factory=list)

    def take_problems(self, fragment: str) -> list[str]:
        """Remove and return the problems mentioning ``fragment`` (ones a test provoked)."""
        taken = [p for p in self.problems if fragment in p]
        self.problems[:] = [p for p in self.problems if fragment not in p]
        return taken

    async def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path

    async def sign_in(self, key: str) -> None:
        await self.page.goto("/ui/sign-in")
        await self.page.fill("#api_key", key)
        async with self.page.expect_navigation():
            await self.page.click("button[type=submit]")


@pytest.fixture
async def dashboard(browser: Browser, stack: Stack) -> AsyncIterator[Dashboard]:
    context = await browser.new_context(base_url=stack.api_url, viewport=VIEWPORT)  # type: ignore[arg-type]
    page = await context.new_page()
    board = Dashboard(page, stack.api_url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            board.problems.append(f"console: {message.text} ({message.location.get('url')})")

    def on_request_failed(request: Request) -> None:
        if request.failure != "net::ERR_ABORTED":  # a poll cut short by leaving the page
            board.problems.append(f"request failed: {request.method} {request.url} "
                                  f"({request.failure})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: board.problems.append(f"page error: {error}"))
    page.on("requestfailed", on_request_failed)
    yield board
    await context.close()


@contextlib.asynccontextmanager
async def signed_in_client(base_url: str, key: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client holding a dashboard session for ``key`` (for checks a browser is not
    needed for)."""
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post("/ui/sign-in", data={
            "api_key": key, "_csrf_token": await csrf_token(http, "/ui/sign-in")})
        assert response.status_code == 303, response.text
        yield http


async def csrf_token(http: httpx.AsyncClient, page: str) -> str:
    """The form token a dashboard page carries (it also sets the CSRF cookie)."""
    match = CSRF_FIELD.search((await http.get(page)).text)
    assert match, f"no CSRF field on {page}"
    return match[1]
