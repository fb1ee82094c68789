"""The ``batchmill`` command. Every flag has an environment variable; every setting a default."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from app.settings import Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def _with_database(settings: Settings, url: str | None) -> Settings:
    return dataclasses.replace(settings, database_url=url) if url else settings


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from app.db import migrate

    migrate.upgrade(settings.database, args.revision)
    print(f"database migrated to {args.revision}")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from app.api.app import serve

    asyncio.run(serve(settings, host=args.host, port=args.port))
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from app.worker.app import run_worker

    worker = dataclasses.replace(settings.worker, http_host=args.http_host,
                                 http_port=args.http_port)
    asyncio.run(run_worker(dataclasses.replace(settings, worker=worker),
                           concurrency=args.concurrency))
    return 0


def cmd_simulator(args: argparse.Namespace, settings: Settings) -> int:
    from app.simulator import SimulatorConfig, serve

    try:
        config = SimulatorConfig(
            latency_seconds=args.latency, latency_distribution=args.latency_distribution,
            latency_spread=args.latency_spread, seed=args.seed,
            rate_429=args.rate_429, rate_529=args.rate_529, rate_500=args.rate_500,
            rate_drop=args.rate_drop, rate_slow=args.rate_slow,
            retry_after_seconds=args.retry_after, slow_seconds=args.slow_seconds,
            rpm=args.rpm, itpm=args.itpm, otpm=args.otpm,
            batch_processing_seconds=args.batch_seconds, batch_error_rate=args.batch_error_rate,
            batch_expire_after_seconds=args.batch_expire_after)
    except ValueError as exc:
        print(f"batchmill simulator: {exc}", file=sys.stderr)
        return 2
    print(f"Claude simulator on http://{args.host}:{args.port}", flush=True)
    asyncio.run(serve(config, args.host, args.port))
    return 0


def _in_transaction(settings: Settings, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction on a short-lived engine."""
    from app.db.engine import create_engine

    async def run() -> T:
        engine = create_engine(settings.database, pool_size=1)
        try:
            async with engine.begin() as conn:
                return await work(conn)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def cmd_keys_create(args: argparse.Namespace, settings: Settings) -> int:
    from app.keys import create_key

    print(_in_transaction(settings, lambda conn: create_key(conn, args.tenant, admin=args.admin)))
    print(f"API key for tenant {args.tenant!r} (shown once; only its hash is stored)",
          file=sys.stderr)
    return 0


def cmd_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    from app.keys import list_keys

    keys = _in_transaction(settings, lambda conn: list_keys(conn, args.tenant))
    print(f"{'ID':>6}  {'TENANT':<20} {'PREFIX':<12} {'CREATED':<20} REVOKED")
    for k in keys:
        revoked = k.revoked_at.strftime("%Y-%m-%d %H:%M:%S") if k.revoked_at else "-"
        print(f"{k.id:>6}  {k.tenant:<20} {k.prefix + '…':<12} "
              f"{k.created_at:%Y-%m-%d %H:%M:%S}  {revoked}")
    return 0


def cmd_keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from app.keys import revoke_key

    if _in_transaction(settings, lambda conn: revoke_key(conn, args.key_id)):
        print(f"key {args.key_id} revoked")
        return 0
    print(f"error: no active key with id {args.key_id}", file=sys.stderr)
    return 1


def cmd_limits_set(args: argparse.Namespace, settings: Settings) -> int:
    from app.llm.rate_limiter import key_scope
    from app.sql import queries

    if not settings.anthropic.api_key:
        print("error: limits belong to a provider key: set ANTHROPIC_API_KEY", file=sys.stderr)
        return 2

    async def work(conn: AsyncConnection) -> None:
        await conn.execute(queries["rate_limit_set"], {
            "scope": key_scope(settings.anthropic.api_key or ""), "model": args.model,
            "rpm": args.rpm, "itpm": args.itpm, "otpm": args.otpm})

    _in_transaction(settings, work)
    print(f"limits for {args.model}: rpm={args.rpm} itpm={args.itpm} otpm={args.otpm}")
    return 0


def cmd_limits_list(args: argparse.Namespace, settings: Settings) -> int:
    from app.sql import queries

    async def work(conn: AsyncConnection) -> list[Any]:
        return list((await conn.execute(queries["rate_limits_list"])).mappings())

    rows = _in_transaction(settings, work)
    print(f"{'MODEL':<28} {'SOURCE':<8} {'RPM':>7} {'ITPM':>9} {'OTPM':>9} "
          f"{'REQ LEFT':>9} {'PAUSED':<6} {'GRANTED':>8} {'WAITS':>7} {'429s':>5}")

    def n(value: Any) -> str:
        return "-" if value is None else f"{value:.0f}"

    for r in rows:
        print(f"{r['model']:<28} {r['source']:<8} {n(r['rpm']):>7} {n(r['itpm']):>9} "
              f"{n(r['otpm']):>9} {n(r['requests_available']):>9} "
              f"{'yes' if r['paused'] else 'no':<6} {r['granted']:>8} {r['waits']:>7} "
              f"{r['throttled']:>5}")
    return 0


def cmd_report_cost(args: argparse.Namespace, settings: Settings) -> int:
    from app.reports import cost_report, render, since_day

    try:
        since = since_day(args.since)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = _in_transaction(settings, lambda conn: cost_report(conn, by=args.by, since=since))
    print(render(rows, by=args.by, fmt=args.format))
    return 0


def cmd_prices_list(args: argparse.Namespace, settings: Settings) -> int:
    from app.prices import current_prices

    rows = _in_transaction(settings, lambda conn: current_prices(conn, args.model))
    print(f"{'MODEL':<28} {'SINCE':<10} {'INPUT':>8} {'OUTPUT':>8} {'WRITE 5M':>9} "
          f"{'WRITE 1H':>9} {'READ':>7} {'BATCH OFF':>9}   (USD per million tokens)")
    def usd(value: Decimal) -> str:
        return format(value, "f").rstrip("0").rstrip(".") or "0"

    for r in rows:
        print(f"{r['model']:<28} {r['effective_from']:%Y-%m-%d} "
              f"{usd(r['input_per_mtok']):>8} {usd(r['output_per_mtok']):>8} "
              f"{usd(r['cache_write_5m_per_mtok']):>9} {usd(r['cache_write_1h_per_mtok']):>9} "
              f"{usd(r['cache_read_per_mtok']):>7} {r['batch_discount']:>9.0%}")
    return 0


def cmd_prices_set(args: argparse.Namespace, settings: Settings) -> int:
    from app.prices import add_price

    when = (dt.datetime.fromisoformat(args.effective_from) if args.effective_from
            else dt.datetime.now(dt.UTC))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    _in_transaction(settings, lambda conn: add_price(
        conn, model=args.model, input_per_mtok=args.input, output_per_mtok=args.output,
        effective_from=when, cache_write_5m=args.cache_write_5m,
        cache_write_1h=args.cache_write_1h, cache_read=args.cache_read,
        batch_discount=args.batch_discount))
    print(f"{args.model}: ${args.input} / ${args.output} per million tokens from "
          f"{when:%Y-%m-%d %H:%M:%S %Z}")
    return 0


def cmd_budget_set(args: argparse.Namespace, settings: Settings) -> int:
    from app.sql import queries

    async def work(conn: AsyncConnection) -> bool:
        result = await conn.execute(queries["tenant_budget_set"],
                                    {"tenant": args.tenant, "budget": args.usd})
        return result.first() is not None

    if not _in_transaction(settings, work):
        print(f"error: no tenant named {args.tenant!r}", file=sys.stderr)
        return 1
    print(f"tenant {args.tenant!r}: monthly budget "
          + (f"${args.usd:,.2f}" if args.usd is not None else "removed"))
    return 0


def cmd_webhooks_secret(args: argparse.Namespace, settings: Settings) -> int:
    from app.sql import queries

    async def work(conn: AsyncConnection) -> str | None:
        result = await conn.execute(queries["tenant_webhook_secret"],
                                    {"tenant": args.tenant, "rotate": args.rotate})
        return result.scalar_one_or_none()

    secret = _in_transaction(settings, work)
    if secret is None:
        print(f"error: no tenant named {args.tenant!r}", file=sys.stderr)
        return 1
    print(secret)
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from app.demo.runner import run_demo

    with contextlib.suppress(KeyboardInterrupt):
        return run_demo(settings, count=args.count, concurrency=args.concurrency)
    return 130


def cmd_submit(args: argparse.Namespace, settings: Settings) -> int:
    from app.console import commands

    return commands.run(commands.submit, args)


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from app.console import commands

    return commands.run(commands.status, args)


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from app.console import commands

    return commands.run(commands.list_batches, args)


def cmd_results(args: argparse.Namespace, settings: Settings) -> int:
    from app.console import commands

    return commands.run(commands.results, args)


def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    from app.console import commands

    return commands.run(commands.cancel, args)


def _api_client_parent() -> argparse.ArgumentParser:
    """``--url`` and ``--api-key``, shared by the commands that talk to the API over HTTP."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--url", default=_env("BATCHMILL_URL", "http://127.0.0.1:8000"),
                        help="the Batchmill API (env BATCHMILL_URL, default %(default)s)")
    parent.add_argument("--api-key", default=_env("BATCHMILL_API_KEY", ""),
                        help="an API key from `batchmill keys create` (env BATCHMILL_API_KEY)")
    return parent


def _add_wait_flags(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--wait", action="store_true",
                   help=f"{what}, with a progress bar; Ctrl-C stops waiting, not the batch")
    p.add_argument("--interval", type=float,
                   default=float(_env("BATCHMILL_POLL_SECONDS", "1")),
                   help="seconds between polls while waiting (env BATCHMILL_POLL_SECONDS, "
                        "default 1)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="batchmill", description="Durable LLM batch inference on Postgres."
    )
    parser.add_argument("--database-url", default=None,
                        help="postgresql:// URL (env BATCHMILL_DATABASE_URL)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("migrate", help="upgrade the database schema (to head by default)")
    p.add_argument("--revision", default="head")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("serve", help="run the HTTP API")
    p.add_argument("--host", default=_env("BATCHMILL_HOST", "127.0.0.1"), help="env BATCHMILL_HOST")
    p.add_argument("--port", type=int, default=int(_env("BATCHMILL_PORT", "8000")),
                   help="env BATCHMILL_PORT")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("worker", help="run a worker that calls Claude for queued requests")
    p.add_argument("--concurrency", type=int, default=None,
                   help="calls in flight (env BATCHMILL_WORKER_CONCURRENCY, default 16)")
    p.add_argument("--http-host", default=_env("BATCHMILL_WORKER_HTTP_HOST", "127.0.0.1"),
                   help="where /health/live and /metrics listen (env BATCHMILL_WORKER_HTTP_HOST)")
    p.add_argument("--http-port", type=int,
                   default=int(_env("BATCHMILL_WORKER_HTTP_PORT", "9400")),
                   help="their port, 0 for any free one (env BATCHMILL_WORKER_HTTP_PORT)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("simulator", help="run the Claude API simulator")
    p.add_argument("--host", default=_env("BATCHMILL_SIMULATOR_HOST", "127.0.0.1"),
                   help="env BATCHMILL_SIMULATOR_HOST")
    p.add_argument("--port", type=int, default=int(_env("BATCHMILL_SIMULATOR_PORT", "8090")),
                   help="env BATCHMILL_SIMULATOR_PORT")
    p.add_argument("--latency", type=float,
                   default=float(_env("BATCHMILL_SIMULATOR_LATENCY", "0")),
                   help="seconds before each answer: the fixed value or the mean "
                        "(env BATCHMILL_SIMULATOR_LATENCY)")
    p.add_argument("--latency-distribution", choices=("fixed", "uniform", "lognormal"),
                   default=_env("BATCHMILL_SIMULATOR_LATENCY_DISTRIBUTION", "fixed"),
                   help="shape of the latency (env BATCHMILL_SIMULATOR_LATENCY_DISTRIBUTION)")
    p.add_argument("--latency-spread", type=float,
                   default=float(_env("BATCHMILL_SIMULATOR_LATENCY_SPREAD", "0")),
                   help="uniform: +/- half-width in seconds; lognormal: sigma "
                        "(env BATCHMILL_SIMULATOR_LATENCY_SPREAD)")
    p.add_argument("--seed", type=int, default=_env("BATCHMILL_SIMULATOR_SEED", "") or None,
                   help="RNG seed for latencies and faults, for reproducible runs "
                        "(env BATCHMILL_SIMULATOR_SEED; default: random)")
    for status, what in (("429", "rate_limit_error with retry-after"), ("529", "overloaded_error"),
                         ("500", "api_error"), ("drop", "connection dropped mid-response"),
                         ("slow", "answer only after --slow-seconds")):
        env = f"BATCHMILL_SIMULATOR_RATE_{status.upper()}"
        p.add_argument(f"--rate-{status}", type=float, default=float(_env(env, "0")),
                       help=f"probability per valid request of an injected {what}; "
                            f"the five rates sum to <= 1 (env {env})")
    p.add_argument("--retry-after", type=int,
                   default=int(_env("BATCHMILL_SIMULATOR_RETRY_AFTER", "1")),
                   help="retry-after seconds of an injected 429 (env BATCHMILL_SIMULATOR_RETRY_AFTER)")
    p.add_argument("--slow-seconds", type=float,
                   default=float(_env("BATCHMILL_SIMULATOR_SLOW_SECONDS", "30")),
                   help="delay of an injected slow answer (env BATCHMILL_SIMULATOR_SLOW_SECONDS)")
    for limit, what in (("rpm", "requests"), ("itpm", "input tokens"), ("otpm", "output tokens")):
        env = f"BATCHMILL_SIMULATOR_{limit.upper()}"
        p.add_argument(f"--{limit}", type=int, default=int(_env(env, "0")),
                       help=f"{what} per minute per model, 0 = unlimited (env {env})")
    p.add_argument("--batch-seconds", type=float,
                   default=float(_env("BATCHMILL_SIMULATOR_BATCH_SECONDS", "1")),
                   help="how long a Message Batch takes to end "
                        "(env BATCHMILL_SIMULATOR_BATCH_SECONDS)")
    p.add_argument("--batch-error-rate", type=float,
                   default=float(_env("BATCHMILL_SIMULATOR_BATCH_ERROR_RATE", "0")),
                   help="probability a batch request ends errored "
                        "(env BATCHMILL_SIMULATOR_BATCH_ERROR_RATE)")
    expire = _env("BATCHMILL_SIMULATOR_BATCH_EXPIRE_AFTER", "")
    p.add_argument("--batch-expire-after", type=float, default=float(expire) if expire else None,
                   help="seconds after which unprocessed batch requests expire, default never "
                        "(env BATCHMILL_SIMULATOR_BATCH_EXPIRE_AFTER)")
    p.set_defaults(func=cmd_simulator)

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="keys", required=True)
    p = keys.add_parser("create", help="create a key for a tenant and print it once")
    p.add_argument("--tenant", required=True)
    p.add_argument("--admin", action="store_true", help="may read every tenant's reports")
    p.set_defaults(func=cmd_keys_create)
    p = keys.add_parser("list", help="list keys (prefixes only; keys are never stored)")
    p.add_argument("--tenant", default=None, help="only this tenant's keys")
    p.set_defaults(func=cmd_keys_list)
    p = keys.add_parser("revoke", help="revoke a key by its id (see keys list)")
    p.add_argument("key_id", type=int)
    p.set_defaults(func=cmd_keys_revoke)

    limits = sub.add_parser("limits", help="fleet-wide provider rate limits").add_subparsers(
        dest="limits", required=True)
    p = limits.add_parser("set", help="configure a model's limits for ANTHROPIC_API_KEY "
                          "(the provider's headers still correct them)")
    p.add_argument("--model", required=True)
    p.add_argument("--rpm", type=int, default=None, help="requests per minute")
    p.add_argument("--itpm", type=int, default=None, help="input tokens per minute")
    p.add_argument("--otpm", type=int, default=None, help="output tokens per minute")
    p.set_defaults(func=cmd_limits_set)
    p = limits.add_parser("list", help="each model's limits, current capacity and pauses")
    p.set_defaults(func=cmd_limits_list)

    prices = sub.add_parser("prices", help="model prices (USD per million tokens)"
                            ).add_subparsers(dest="prices", required=True)
    p = prices.add_parser("list", help="the price in effect now for each model")
    p.add_argument("--model", default=None)
    p.set_defaults(func=cmd_prices_list)
    p = prices.add_parser("set", help="add a dated price; cache prices default to 1.25x / 2x "
                          "/ 0.1x input, batch discount to 50%%")
    p.add_argument("--model", required=True)
    p.add_argument("--input", type=Decimal, required=True, help="USD per million input tokens")
    p.add_argument("--output", type=Decimal, required=True, help="USD per million output tokens")
    p.add_argument("--cache-write-5m", type=Decimal, default=None)
    p.add_argument("--cache-write-1h", type=Decimal, default=None)
    p.add_argument("--cache-read", type=Decimal, default=None)
    p.add_argument("--batch-discount", type=Decimal, default=Decimal("0.5"),
                   help="fraction off through the provider's Message Batches API")
    p.add_argument("--effective-from", default=None, help="ISO date-time (default: now)")
    p.set_defaults(func=cmd_prices_set)

    budget = sub.add_parser("budget", help="monthly spend limits per tenant").add_subparsers(
        dest="budget", required=True)
    p = budget.add_parser("set", help="hold a tenant to a monthly USD budget (UTC months)")
    p.add_argument("--tenant", required=True)
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--usd", type=Decimal, help="the budget in USD")
    group.add_argument("--none", dest="usd", action="store_const", const=None,
                       help="remove the budget")
    p.set_defaults(func=cmd_budget_set)

    hooks = sub.add_parser("webhooks", help="webhook signing").add_subparsers(
        dest="webhooks", required=True)
    p = hooks.add_parser("secret", help="print a tenant's webhook signing secret")
    p.add_argument("--tenant", required=True)
    p.add_argument("--rotate", action="store_true",
                   help="replace it first (deliveries from now on use the new one)")
    p.set_defaults(func=cmd_webhooks_secret)

    report = sub.add_parser("report", help="reports for people").add_subparsers(
        dest="report", required=True)
    p = report.add_parser("cost", help="spend from llm_calls, all tenants")
    p.add_argument("--since", default="7d", help="how far back: 7d, 2w, 48h (default 7d)")
    p.add_argument("--by", choices=("day", "model", "tenant", "batch", "mode"), default="day",
                   help="mode: realtime vs provider_batch (the batch discount)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=cmd_report_cost)

    p = sub.add_parser("demo", help="run a sample batch end to end (embedded Postgres and "
                       "the simulator unless configured)")
    p.add_argument("--count", type=int, default=int(_env("BATCHMILL_DEMO_COUNT", "0")),
                   help="documents to submit, 0 for all (env BATCHMILL_DEMO_COUNT)")
    p.add_argument("--concurrency", type=int, default=None, help="worker concurrency")
    p.set_defaults(func=cmd_demo)

    from app.console.errors import EXIT_CODES

    api = _api_client_parent()
    p = sub.add_parser(
        "submit", parents=[api], formatter_class=argparse.RawDescriptionHelpFormatter,
        help="submit a JSONL file of requests as a batch (over the HTTP API)",
        description="Submit FILE (or - for stdin) as one batch. Each line is either Anthropic's\n"
                    'batch request {"custom_id", "params"}, sent unchanged, or a simple\n'
                    '{"id", "text"}, sent to --model with --max-tokens and --system. The file\n'
                    "is streamed, never loaded whole. Prints the batch id on stdout.",
        epilog=EXIT_CODES)
    p.add_argument("file", metavar="FILE", help="a .jsonl file, or - for stdin")
    p.add_argument("--model", default=_env("BATCHMILL_MODEL", "claude-haiku-4-5"),
                   help="model of simple lines (env BATCHMILL_MODEL, default %(default)s)")
    p.add_argument("--max-tokens", type=int, default=int(_env("BATCHMILL_MAX_TOKENS", "1024")),
                   help="max_tokens of simple lines (env BATCHMILL_MAX_TOKENS, default "
                        "%(default)s)")
    p.add_argument("--system", default=_env("BATCHMILL_SYSTEM", ""),
                   help="system prompt of simple lines (env BATCHMILL_SYSTEM)")
    p.add_argument("--priority", type=int,
                   default=int(_env("BATCHMILL_PRIORITY", "0")) or None,
                   help="-100..100, higher runs first (env BATCHMILL_PRIORITY, default 0)")
    p.add_argument("--mode", choices=("realtime", "provider_batch", "auto"),
                   default=_env("BATCHMILL_MODE", "") or None,
                   help="how requests reach Claude (env BATCHMILL_MODE, default realtime)")
    p.add_argument("--metadata", default=None, metavar="JSON",
                   help="a JSON object kept with the batch (at most 16 KiB)")
    _add_wait_flags(p, "wait until the batch ends")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("status", parents=[api], help="show a batch (over the HTTP API)",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXIT_CODES)
    p.add_argument("batch_id", metavar="ID")
    p.add_argument("--json", action="store_true", help="print the batch object as JSON")
    _add_wait_flags(p, "wait until the batch ends (again after Ctrl-C, say)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("list", parents=[api], help="list batches, newest first (over the "
                       "HTTP API)", formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=EXIT_CODES)
    p.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    p.add_argument("--json", action="store_true", help="one batch object per line (JSONL)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("results", parents=[api], help="download an ended batch's results "
                       "as JSONL (over the HTTP API)",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXIT_CODES)
    p.add_argument("batch_id", metavar="ID")
    p.add_argument("-o", "--output", default=None, metavar="FILE",
                   help="write to FILE (complete or not at all) instead of stdout")
    p.set_defaults(func=cmd_results)

    p = sub.add_parser("cancel", parents=[api], help="cancel a batch (over the HTTP API)",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXIT_CODES)
    p.add_argument("batch_id", metavar="ID")
    p.set_defaults(func=cmd_cancel)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from app import logs

    logs.configure(_env("BATCHMILL_LOG_LEVEL", "WARNING"), _env("BATCHMILL_LOG_FORMAT", "auto"))
    settings = _with_database(get_settings(), args.database_url)
    return int(args.func(args, settings) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
