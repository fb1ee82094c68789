"""How far a batch has got, for people: counts, a progress bar, rate, ETA and cost so far.

On a terminal one line is redrawn in place (``\\r``); anywhere else (a log, a pipe) a plain line
is printed every few seconds, so logs stay readable.
"""
from __future__ import annotations

import collections
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any, TextIO

RATE_WINDOW_SECONDS = 30.0  # the rate (and so the ETA) follows the last half minute
PLAIN_EVERY_SECONDS = 5.0  # how often a plain line is printed when not on a terminal
MAX_BAR_WIDTH = 40
MIN_BAR_WIDTH = 10


@dataclass(frozen=True)
class Counts:
    processing: int
    succeeded: int
    errored: int
    canceled: int
    expired: int

    @classmethod
    def of(cls, batch: Mapping[str, Any]) -> Counts:
        counts = batch["request_counts"]
        return cls(**{name: int(counts.get(name, 0)) for name in (
            "processing", "succeeded", "errored", "canceled", "expired")})

    @property
    def total(self) -> int:
        return self.processing + self.done

    @property
    def done(self) -> int:
        return self.succeeded + self.errored + self.canceled + self.expired

    def describe(self, sep: str = ", ", *, processing: bool = True) -> str:
        """``148 succeeded, 2 errored`` plus canceled / expired / processing when not zero."""
        parts = [f"{self.succeeded:,} succeeded", f"{self.errored:,} errored"]
        parts += [f"{n:,} {name}" for n, name in (
            (self.canceled, "canceled"), (self.expired, "expired"),
            (self.processing if processing else 0, "processing")) if n]
        return sep.join(parts)


def cost(batch: Mapping[str, Any]) -> Decimal | None:
    """USD spent so far (the ``cost_usd`` extension), or None when the API does not say."""
    value = batch.get("cost_usd")
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def usd(value: Decimal) -> str:
    return f"${value:,.4f}"


def duration(seconds: float) -> str:
    """``0:07``, ``12:34``, ``3:02:01``."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Rate:
    """Requests finished per second over a sliding window of observations."""

    def __init__(self, window: float = RATE_WINDOW_SECONDS) -> None:
        self.window = window
        self._seen: collections.deque[tuple[float, int]] = collections.deque()

    def add(self, when: float, done: int) -> None:
        self._seen.append((when, done))
        while len(self._seen) > 2 and when - self._seen[1][0] >= self.window:
            self._seen.popleft()

    def per_second(self) -> float | None:
        if len(self._seen) < 2:
            return None
        (t0, d0), (t1, d1) = self._seen[0], self._seen[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else None


def eta(counts: Counts, rate: float | None) -> str:
    """``ETA 0:07``; nothing once every request is done."""
    if not counts.processing:
        return ""
    return "ETA " + (duration(counts.processing / rate) if rate else "--")


def plain_line(batch: Mapping[str, Any], rate: float | None) -> str:
    """One line for logs: ``150/300 done (50%): 148 succeeded, 2 errored; 52.1 req/s, ...``."""
    counts = Counts.of(batch)
    percent = 100 * counts.done // counts.total if counts.total else 100
    parts = [_rate(rate), eta(counts, rate)]
    spent = cost(batch)
    if spent is not None:
        parts.append(f"{usd(spent)} so far" if counts.processing else usd(spent))
    return (f"{counts.done:,}/{counts.total:,} done ({percent}%): {counts.describe()}; "
            + ", ".join(p for p in parts if p) + _state(batch))


def bar_line(batch: Mapping[str, Any], rate: float | None, columns: int,
             unicode: bool = True) -> str:
    """One redrawable terminal line, at most ``columns - 1`` wide (so it never wraps)."""
    counts = Counts.of(batch)
    parts = [f"{counts.done:,}/{counts.total:,}", counts.describe("  ", processing=False), _rate(rate),
             eta(counts, rate)]
    spent = cost(batch)
    if spent is not None:
        parts.append(usd(spent))
    rest = "  ".join(p for p in parts if p) + _state(batch)
    width = min(MAX_BAR_WIDTH, columns - 1 - len(rest) - 3)
    if width < MIN_BAR_WIDTH:
        return rest[:columns - 1]
    filled = width * counts.done // counts.total if counts.total else width
    full, empty = ("█", "░") if unicode else ("#", "-")
    return f"[{full * filled}{empty * (width - filled)}] {rest}"


def _rate(rate: float | None) -> str:
    return "-- req/s" if rate is None else f"{rate:,.1f} req/s"


def _state(batch: Mapping[str, Any]) -> str:
    return "  (canceling)" if batch.get("processing_status") == "canceling" else ""


class ProgressDisplay:
    """Shows a batch's progress on ``stream`` as it is polled; a context manager that leaves
    the cursor on a fresh line, whatever ends the wait."""

    def __init__(self, stream: TextIO, *, tty: bool | None = None,
                 every: float = PLAIN_EVERY_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.every = every
        self.clock = clock
        self.rate = Rate()
        self._drawn = 0  # width of the line on screen (terminal only)
        self._last_plain: float | None = None
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        self._unicode = encoding == "utf8"

    def __enter__(self) -> ProgressDisplay:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.end_line()

    def update(self, batch: Mapping[str, Any], *, final: bool = False) -> None:
        now = self.clock()
        self.rate.add(now, Counts.of(batch).done)
        if self.tty:
            columns = shutil.get_terminal_size().columns
            line = bar_line(batch, self.rate.per_second(), columns, self._unicode)
            self.stream.write("\r" + line.ljust(self._drawn))
            self._drawn = len(line)
            self.stream.flush()
        elif final or self._last_plain is None or now - self._last_plain >= self.every:
            self.stream.write(plain_line(batch, self.rate.per_second()) + "\n")
            self.stream.flush()
            self._last_plain = now

    def end_line(self) -> None:
        """Move past the redrawn line, if one is on screen."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = 0
