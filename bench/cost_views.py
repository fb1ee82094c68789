"""Cost views at scale: N synthetic llm_calls rows (one set-based INSERT), then every cost
view and every ``report_cost_by_*`` query (``batchmill report cost``) under
``EXPLAIN (ANALYZE, BUFFERS)``: execution and planning time, the plan's spine, rows, and the
wall time of running the query once and fetching everything. Report queries run for all
tenants and, when they take ``:tenant_id``, for the largest tenant alone.

    python -m bench.cost_views [--rows 1000000] [--batches 2000] [--seed 0.42]
"""
from __future__ import annotations

import argparse
import datetime as dt
import re
import time
from typing import Any

import psycopg

from app.reports import since_day
from app.sql import QUERY_TEXT
from bench.harness import fresh_database, machine

TENANTS = ("acme", "globex", "initech", "umbrella", "hooli")
# Seeded in 0003 (model_prices), so every call is priced. Weights: share of calls.
MODELS = (("claude-haiku-4-5", 0.35), ("claude-sonnet-4-5", 0.30), ("claude-opus-4-5", 0.08),
          ("claude-opus-4-1", 0.02), ("claude-3-5-haiku-20241022", 0.10),
          ("claude-3-haiku-20240307", 0.15))
VIEWS = ("cost_daily_v1", "cost_by_batch_v1", "cost_by_tenant_month_v1", "latency_by_model_v1")
REPORTS = ("day", "model", "tenant", "batch")
SINCE = ("7d", "90d")

# One statement. Rows come in started_at order (as a live system writes them); batch k owns
# the k-th slice of the 90 days, with a per-call jitter of up to 20 minutes, and one tenant.
# The innermost subquery draws every random number once per row (volatile target lists are
# never pulled up, OFFSET 0 makes that explicit), the middle one derives status and tokens
# from them, the outer one prices the call with batchmill_call_cost_v1 as the worker does.
GENERATE = """
INSERT INTO llm_calls (request_id, batch_id, tenant_id, attempt, model, via_provider_batch,
                       started_at, finished_at, latency_seconds, http_status, error_type,
                       provider_request_id, input_tokens, output_tokens,
                       cache_creation_5m_tokens, cache_creation_1h_tokens, cache_read_tokens,
                       cost)
SELECT NULL, batch_id, tenant_id, 1, model, false,
       started_at, started_at + make_interval(secs => latency::float8), latency, http_status,
       error_type, 'req_bench_' || lpad(g::text, 10, '0'),
       input_tokens, output_tokens, cw5m, cw1h, cache_read,
       batchmill_call_cost_v1(model, started_at, input_tokens, output_tokens, cw5m, cw1h,
                              cache_read, false)
FROM (
    SELECT g, batch_id, tenant_id, model, started_at, http_status,
           CASE http_status WHEN 429 THEN 'rate_limit_error'
                            WHEN 529 THEN 'overloaded_error' END AS error_type,
           round(CASE WHEN http_status = 200
                      THEN 0.4 + 2.0 * r_lat + 40.0 * r_lat ^ 6 + output_tokens / 80.0
                      ELSE 0.02 + 0.3 * r_lat END::numeric, 6) AS latency,
           CASE WHEN http_status = 200 THEN input_tokens ELSE 0 END AS input_tokens,
           CASE WHEN http_status = 200 THEN output_tokens ELSE 0 END AS output_tokens,
           CASE WHEN http_status = 200 AND r_cache < 0.10 THEN (200 + 6000 * r_cw)::bigint
                ELSE 0 END AS cw5m,
           CASE WHEN http_status = 200 AND r_cache >= 0.10 AND r_cache < 0.13
                THEN (1000 + 20000 * r_cw)::bigint ELSE 0 END AS cw1h,
           CASE WHEN http_status = 200 AND r_cache >= 0.13 AND r_cache < 0.50
                THEN (500 + 30000 * r_cw ^ 2)::bigint ELSE 0 END AS cache_read
    FROM (
        SELECT g, batch_id, tenant_id, r_lat, r_cache, r_cw,
               (%(models)s::text[])[1 + width_bucket(r_model, %(model_edges)s::float8[])]
                   AS model,
               %(start)s::timestamptz
                   + make_interval(secs => (g - 1)::float8 / %(rows)s * %(span)s
                                           + 1200 * r_jitter) AS started_at,
               CASE WHEN r_status < 0.03 THEN 429 WHEN r_status < 0.04 THEN 529
                    ELSE 200 END AS http_status,
               (50 + 3000 * r_in ^ 3 + 400 * r_in)::bigint AS input_tokens,
               (20 + 1500 * r_out ^ 2)::bigint AS output_tokens
        FROM (
            SELECT g,
                   'msgbatch_bench_' || lpad(k::text, 6, '0') AS batch_id,
                   (%(tenants)s::bigint[])[1 + floor(5 * (mod(k * 7919, 1000) / 1000.0) ^ 1.6)::int]
                       AS tenant_id,
                   random() AS r_model, random() AS r_jitter, random() AS r_status,
                   random() AS r_in, random() AS r_out, random() AS r_lat,
                   random() AS r_cache, random() AS r_cw
            FROM (SELECT g, (g - 1) * %(batches)s / %(rows)s AS k
                  FROM generate_series(1, %(rows)s::bigint) AS g) AS s
            OFFSET 0
        ) AS r
    ) AS d
) AS c
"""


def psycopg_sql(sql: str) -> str:
    """A ``queries.sql`` block (SQLAlchemy ``:name`` binds) as psycopg ``%(name)s``."""
    return re.sub(r"(?<![:\w]):([a-z_]+)", r"%(\1)s", sql.replace("%", "%%"))


def generate(conn: psycopg.Connection, rows: int, batches: int, seed: float) -> dict[str, float]:
    timings: dict[str, float] = {}
    start = time.perf_counter()
    tenant_ids = [r[0] for r in conn.execute(
        "INSERT INTO tenants (name) SELECT unnest(%s::text[]) RETURNING id", [list(TENANTS)])]
    edges, total = [], 0.0
    for _, weight in MODELS[:-1]:
        total += weight
        edges.append(total)
    now = dt.datetime.now(dt.UTC)
    span = dt.timedelta(days=90) - dt.timedelta(minutes=30)  # jitter stays in the past
    conn.execute("SELECT setseed(%s)", [seed])
    conn.execute(GENERATE, {
        "rows": rows, "batches": batches, "tenants": tenant_ids,
        "models": [m for m, _ in MODELS], "model_edges": edges,
        "start": now - dt.timedelta(days=90), "span": span.total_seconds()})
    timings["insert"] = time.perf_counter() - start
    start = time.perf_counter()
    conn.execute("ANALYZE llm_calls")
    timings["analyze"] = time.perf_counter() - start
    return timings


def node_label(node: dict[str, Any]) -> str:
    kind = node["Node Type"]
    if kind == "Aggregate":
        kind = {"Hashed": "HashAggregate", "Sorted": "GroupAggregate",
                "Mixed": "MixedAggregate"}.get(node.get("Strategy", ""), "Aggregate")
        if node.get("Partial Mode", "Simple") != "Simple":
            kind = f"{node['Partial Mode']} {kind}"
    if node.get("Parallel Aware"):
        kind = f"Parallel {kind}"
    if "Index Name" in node:
        kind += f" using {node['Index Name']}"
    elif "Relation Name" in node:
        kind += f" on {node['Relation Name']}"
    if node.get("Sort Space Type") == "Disk":
        kind += f" [disk {node['Sort Space Used'] // 1024} MB]"
    if node.get("HashAgg Batches", 1) > 1 or node.get("Disk Usage", 0):
        kind += f" [spilled {node.get('Disk Usage', 0) // 1024} MB]"
    return kind


def spine(plan: dict[str, Any], depth: int = 8) -> str:
    """Root first, then down the child that feeds the most rows (the driving input)."""
    labels = []
    node: dict[str, Any] | None = plan
    while node is not None and len(labels) < depth:
        labels.append(node_label(node))
        children = node.get("Plans", [])
        node = max(children, key=lambda c: c["Actual Rows"] * c["Actual Loops"],
                   default=None)
    return " <- ".join(labels)


def measure(conn: psycopg.Connection, name: str, sql: str, params: dict[str, Any]) -> None:
    (explain,), = conn.execute(
        f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params).fetchall()
    result = explain[0]
    plan = result["Plan"]
    jit = result.get("JIT", {}).get("Timing", {}).get("Total", 0.0)
    blocks = (plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0))
    temp = plan.get("Temp Written Blocks", 0)
    start = time.perf_counter()
    fetched = len(conn.execute(sql, params).fetchall())
    wall = (time.perf_counter() - start) * 1000
    print(f"{name:<36} {result['Execution Time']:>9.1f} {result['Planning Time']:>7.1f} "
          f"{jit:>7.1f} {wall:>9.1f} {fetched:>7,} {blocks * 8 / 1024:>7.0f} "
          f"{temp * 8 / 1024:>5.0f}  {spine(plan)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=2_000)
    parser.add_argument("--seed", type=float, default=0.42)
    args = parser.parse_args()
    print(f"machine: {machine()}")

    with fresh_database() as database, \
            psycopg.connect(database.libpq, autocommit=True) as conn:
        (version,), = conn.execute("SHOW server_version").fetchall()
        settings = dict(conn.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name IN"
            " ('shared_buffers', 'work_mem', 'max_parallel_workers_per_gather', 'jit')"))
        print(f"postgres {version}: " + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())))

        timings = generate(conn, args.rows, args.batches, args.seed)
        (size, heap, count, first, last), = conn.execute(
            "SELECT pg_total_relation_size('llm_calls'), pg_relation_size('llm_calls'),"
            " count(*), min(started_at), max(started_at) FROM llm_calls").fetchall()
        print(f"generated {count:,} llm_calls rows ({args.batches:,} batches, {len(TENANTS)} "
              f"tenants, {first:%Y-%m-%d} .. {last:%Y-%m-%d}) in "
              f"{timings['insert'] + timings['analyze']:.1f} s "
              f"(INSERT {timings['insert']:.1f} s, ANALYZE {timings['analyze']:.1f} s)")
        print(f"llm_calls: {size / 2**20:.0f} MB total ({heap / 2**20:.0f} MB heap, "
              f"{(size - heap) / 2**20:.0f} MB indexes and TOAST)")
        print()
        print(f"{'query':<36} {'exec ms':>9} {'plan ms':>7} {'jit ms':>7} {'wall ms':>9} "
              f"{'rows':>7} {'buf MB':>7} {'tmpMB':>5}  plan (root <- driving input)")

        for view in VIEWS:
            measure(conn, view, f"SELECT * FROM {view}", {})
        # All tenants (the CLI, an admin key), then the largest tenant alone (a tenant's key
        # on /v1/reports/cost) where the query takes :tenant_id.
        (tenant_id,), = conn.execute(
            "SELECT tenant_id FROM llm_calls GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        ).fetchall()
        for scope in ("all", "one"):
            for since in SINCE:
                for by in REPORTS:
                    sql = psycopg_sql(QUERY_TEXT[f"report_cost_by_{by}"])
                    params: dict[str, Any] = dict.fromkeys(re.findall(r"%\((\w+)\)s", sql))
                    params["since_day"] = since_day(since)
                    if scope == "one":
                        if "tenant_id" not in params:
                            continue
                        params["tenant_id"] = tenant_id
                    label = f"report_cost_by_{by} {since}" + (" 1 tenant" if scope == "one" else "")
                    measure(conn, label, sql, params)
        print()
        print("exec/plan/jit ms: EXPLAIN ANALYZE (jit included in exec); wall ms: the query "
              "run once more, all rows fetched; buf MB: shared buffers hit+read; tmpMB: "
              "temp files written")


if __name__ == "__main__":
    main()
