"""The dashboard in a real browser (Debian's chromium, headless) over a real API, worker,
Claude simulator and Postgres: sign in, watch a batch's progress bar fill while a worker runs,
open its detail page, cancel another batch from the page, read the cost charts — with no
console errors, and a screenshot of every page in ``test-artifacts/ui/``."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from playwright.async_api import Dialog, expect

from app.settings import WorkerSettings
from app.simulator import SimulatorConfig
from app.ui.views import usd
from tests.browser.conftest import Dashboard
from tests.conftest import Stack, running_simulator
from tests.integration.helpers import summarise_requests

LATENCY_SECONDS = 0.25
"""Slow enough answers that a 40-request batch on two worker slots runs for seconds."""
LONG = 60_000  # ms: waits on the worker


def progress_batch() -> list[dict[str, Any]]:
    """40 requests: 30 for Haiku, 5 for Sonnet, 3 refused at submission (no max_tokens), 2
    refused by the provider (max_tokens over the model's limit)."""
    requests = summarise_requests(30) + summarise_requests(5, model="claude-sonnet-4-5",
                                                           prefix="sonnet")
    for i in range(3):
        requests.append({"custom_id": f"no-max-{i}", "params": {
            "model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hi"}]}})
    for i in range(2):
        requests.append({"custom_id": f"too-long-{i}", "params": {
            "model": "claude-haiku-4-5", "max_tokens": 1_000_000,
            "messages": [{"role": "user", "content": "hi"}]}})
    return requests


async def bar_value(board: Dashboard, batch_id: str) -> tuple[float, float]:
    bar = board.page.locator(f'tr[data-batch-id="{batch_id}"] progress')
    value, maximum = await bar.evaluate("bar => [bar.value, bar.max]")
    return value, maximum


async def test_dashboard_end_to_end(stack: Stack, dashboard: Dashboard) -> None:
    page = dashboard.page
    config = SimulatorConfig(latency_seconds=LATENCY_SECONDS, rate_500=0.15, seed=11)
    async with running_simulator(config) as simulator_url:
        # One provider call per request: an injected 500 ends it errored (api_error).
        stack.use_simulator(simulator_url, worker=WorkerSettings(concurrency=2, max_attempts=1))
        client = stack.client()
        batch = await client.messages.batches.create(requests=progress_batch())  # type: ignore[arg-type]

        # Sign in: a wrong key is refused on the form, the right one opens the batches list.
        await page.goto("/ui/batches")
        await expect(page).to_have_url(f"{dashboard.base_url}/ui/sign-in?next=%2Fui%2Fbatches")
        await dashboard.screenshot("01-sign-in")
        await page.fill("#api_key", "bm-not-a-key")
        async with page.expect_console_message(lambda message: "401" in message.text):
            await page.click("button[type=submit]")  # chromium logs the refusal's status
        await expect(page.get_by_test_id("sign-in-error")).to_be_visible()
        assert len(dashboard.take_problems("401")) == 1
        await page.fill("#api_key", stack.api_key)
        await page.click("button[type=submit]")
        await expect(page).to_have_url(f"{dashboard.base_url}/ui/batches")
        await expect(page.get_by_test_id("tenant")).to_have_text("tenant-a")

        # The progress bar fills by itself while a worker runs (no reload).
        row = page.locator(f'tr[data-batch-id="{batch.id}"]')
        await expect(row.locator('[data-field="processing_status"]')).to_have_text("in progress")
        start, total = await bar_value(dashboard, batch.id)
        assert (start, total) == (3, 40)  # the three refused at submission are done already
        stack.start_worker(concurrency=2)
        await page.wait_for_function(
            "([id, start]) => { const bar = document.querySelector("
            "`tr[data-batch-id='${id}'] progress`); return bar.value > start && bar.value < bar.max; }",
            arg=[batch.id, start], timeout=LONG)
        middle, _ = await bar_value(dashboard, batch.id)
        await dashboard.screenshot("02-batches-running")
        await expect(row.locator('[data-field="processing_status"]')).to_have_text(
            "ended", timeout=LONG)
        end, _ = await bar_value(dashboard, batch.id)
        assert start < middle < end == total
        ended = await client.messages.batches.retrieve(batch.id)
        counts = ended.request_counts
        await expect(row.locator('[data-field="succeeded"]')).to_have_text(str(counts.succeeded))
        await expect(row.locator('[data-field="errored"]')).to_have_text(str(counts.errored))
        assert counts.errored > 5  # 3 + 2 refused, and the injected 500s
        await dashboard.screenshot("03-batches-complete")

        # Its detail page: counts, throughput chart, errors by type, cost, outputs.
        await row.get_by_role("link").click()
        await expect(page).to_have_url(f"{dashboard.base_url}/ui/batches/{batch.id}")
        await expect(page.locator('.tile [data-field="succeeded"]')).to_have_text(
            str(counts.succeeded))
        assert await page.locator("#throughput svg.chart rect.bar").count() >= 1
        error_types = await page.locator("#errors tr[data-error-type]").evaluate_all(
            "rows => rows.map(row => row.dataset.errorType)")
        assert set(error_types) == {"invalid_request_error", "api_error"}
        invalid = page.locator('#errors tr[data-error-type="invalid_request_error"]')
        await expect(invalid.locator("td.num")).to_have_text("5")  # 3 refused here, 2 by Claude
        await expect(invalid).to_contain_text("no-max-0: params.max_tokens: Field required")
        assert await page.locator("#outputs article.output").count() == 5
        await expect(page.locator("#outputs")).to_contain_text("Summary:")
        await expect(page.get_by_test_id("batch-cost")).to_have_text(
            usd(Decimal(ended.cost_usd)))
        assert await page.get_by_role("button", name="Cancel batch").count() == 0  # ended
        await dashboard.screenshot("04-batch-detail")

        # Cancel a running batch from its page.
        big = await client.messages.batches.create(
            requests=summarise_requests(300, prefix="big"))  # type: ignore[arg-type]
        await page.goto("/ui/batches")
        first_row = page.locator("tbody tr").first
        await expect(first_row).to_have_attribute("data-batch-id", big.id)  # newest first
        await first_row.get_by_role("link").click()
        await expect(page.locator('.batch [data-field="done"]')).not_to_have_text("0", timeout=LONG)
        dialogs: list[str] = []

        async def accept(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            await dialog.accept()

        page.once("dialog", accept)
        await page.get_by_role("button", name="Cancel batch").click()
        await expect(page).to_have_url(f"{dashboard.base_url}/ui/batches/{big.id}?canceled=true")
        assert dialogs and "Cancel this batch?" in dialogs[0]
        await expect(page.get_by_role("status")).to_contain_text("Cancel requested")
        status = page.locator('.batch [data-field="processing_status"]')
        await expect(status).to_have_text("ended", timeout=LONG)
        canceled = await client.messages.batches.retrieve(big.id)
        assert canceled.cancel_initiated_at is not None and canceled.request_counts.canceled > 250
        await expect(page.locator('.tile [data-field="canceled"]')).to_have_text(
            str(canceled.request_counts.canceled))
        await dashboard.screenshot("05-batch-canceled")

        # The cost page: charts by day and by model over a chosen range.
        await page.get_by_role("link", name="Cost").click()
        await expect(page).to_have_url(f"{dashboard.base_url}/ui/cost")
        await page.select_option("#since", "7d")
        await page.get_by_role("button", name="Show").click()
        await expect(page).to_have_url(f"{dashboard.base_url}/ui/cost?since=7d")
        day_chart = page.locator("#cost-by-day svg.chart")
        await expect(day_chart).to_be_visible()
        assert await day_chart.locator("rect.bar").count() >= 1
        model_bars = page.locator("#cost-by-model svg.chart g.row text.label")
        assert set(await model_bars.all_text_contents()) == {"claude-haiku-4-5", "claude-sonnet-4-5"}
        await expect(page.get_by_test_id("cost-total")).to_contain_text("$")
        await dashboard.screenshot("06-cost")

        # Sign out: the pages ask for a key again.
        await page.get_by_role("button", name="Sign out").click()
        await expect(page).to_have_url(f"{dashboard.base_url}/ui/sign-in")
        await page.goto("/ui/cost")
        await expect(page).to_have_url(f"{dashboard.base_url}/ui/sign-in?next=%2Fui%2Fcost")
        await stack.stop_worker()

    assert dashboard.problems == []
