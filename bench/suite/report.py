"""The suite's one table: each figure for Batchmill and the seed design, their ratio and the
target, as markdown, headed by the date, the machine and the load it was measured under."""
from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis

from bench.baseline.settings import REDIS_URL


@dataclass
class Row:
    """One figure of one scenario, for both systems (None: not measured or not applicable)."""

    scenario: str
    figure: str
    batchmill: float | None
    seed: float | None
    unit: str = ""
    better: str = "higher"
    """``higher`` or ``lower``: which way is better, for the ratio's reading."""
    target: str = ""
    met: bool | None = None
    digits: int = 0

    def cell(self, value: float | None) -> str:
        if value is None:
            return "—"
        text = f"{value:,.{self.digits}f}"
        return f"{text} {self.unit}".strip()

    def ratio(self) -> str:
        """Batchmill ÷ seed, marked with which way is better."""
        if self.batchmill is None or self.seed is None:
            return "—"
        if self.seed == 0:
            return "∞" if self.batchmill else "—"
        value = self.batchmill / self.seed
        text = f"{value:,.2f}×" if value < 100 else f"{value:,.0f}×"
        return f"{text} ({'↑' if self.better == 'higher' else '↓'} better)"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def versions(database_url: str) -> str:
    parts = [f"Python {platform.python_version()}"]
    try:
        with psycopg.connect(database_url, connect_timeout=5) as conn:
            parts.append("PostgreSQL " + str(conn.execute("SHOW server_version").fetchone()[0]))  # type: ignore[index]
    except psycopg.Error:
        parts.append("PostgreSQL ?")
    try:
        info = redis.Redis.from_url(REDIS_URL, socket_timeout=5).info("server")
        parts.append(f"Redis {info['redis_version']}")
    except redis.RedisError:
        parts.append("Redis ?")
    return ", ".join(parts)


def machine(database_url: str) -> str:
    kernel = subprocess.run(["uname", "-r"], capture_output=True, text=True,
                            check=False).stdout.strip()
    return (f"{platform.node()}: {os.cpu_count()} cores ({_cpu_model()}), "
            f"{_memory_gb():.0f} GB RAM, Linux {kernel}; {versions(database_url)}")


def render(rows: list[Row], *, started: dt.datetime, seconds: float, machine_line: str,
           loads: list[float], notes: list[str]) -> str:
    """The markdown document: heading lines, the table, then notes."""
    load = (f"load average (1 min) during the run: min {min(loads):.1f}, "
            f"median {sorted(loads)[len(loads) // 2]:.1f}, max {max(loads):.1f}"
            if loads else "load average not sampled")
    lines = [
        f"Measured {started:%Y-%m-%d %H:%M} UTC in {seconds / 60:.1f} min on {machine_line}; "
        f"{load}.",
        "",
        "| | figure | Batchmill | seed (Celery + Redis) | Batchmill ÷ seed | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        met = {True: "yes", False: "**no**", None: ""}[row.met]
        lines.append(f"| {row.scenario} | {row.figure} | {row.cell(row.batchmill)} | "
                     f"{row.cell(row.seed)} | {row.ratio()} | {row.target} | {met} |")
    if notes:
        lines.append("")
        lines.extend(f"- {note}" for note in notes)
    return "\n".join(lines) + "\n"
