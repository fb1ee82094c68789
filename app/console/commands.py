"""The terminal commands. Each takes the parsed arguments and returns an exit code; ``run``
turns every failure into one line on stderr (see ``app.console.errors`` for the codes).

Output for scripts goes to stdout (a batch id, a status, a table, results); messages for people
and the progress bar go to stderr, so ``ID=$(batchmill submit docs.jsonl --wait)`` works.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from app.console.client import ApiClient
from app.console.errors import (
    INCOMPLETE,
    OK,
    ConsoleError,
    Interrupted,
    UsageError,
)
from app.console.progress import Counts, ProgressDisplay, cost, duration, usd
from app.console.submit import BatchBody, SimpleDefaults

# While waiting, a server that restarts or is briefly overloaded is polled again for this long.
TRANSIENT_GRACE_SECONDS = 60.0
SIGPIPE_EXIT = 141  # what a shell reports for a reader that went away (`... | head`)


def run(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    try:
        return command(args)
    except ConsoleError as exc:
        print(f"batchmill: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\nbatchmill: interrupted", file=sys.stderr)
        return Interrupted.exit_code
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes at exit
        return SIGPIPE_EXIT


def submit(args: argparse.Namespace) -> int:
    defaults = SimpleDefaults(model=args.model, max_tokens=args.max_tokens,
                              system=args.system or None)
    extensions = _extensions(args)
    with _input_lines(args.file) as (lines, source), ApiClient(args.url, args.api_key) as client:
        client.check()
        body = BatchBody(lines, source, defaults, extensions)
        try:
            batch = client.create_batch(body)
        except KeyboardInterrupt:
            if body.finished:
                raise Interrupted("interrupted after the upload: the batch may have been "
                                  "created (see batchmill list)") from None
            raise Interrupted("interrupted during the upload: nothing was submitted") from None
        print(batch["id"], flush=True)
        print(f"{body.requests:,} requests submitted"
              + ("; waiting (Ctrl-C stops waiting, not the batch)" if args.wait else ""),
              file=sys.stderr, flush=True)
        if not args.wait:
            return OK
        batch = wait(client, batch, args.interval)
    print(_ended(batch), file=sys.stderr)
    return _exit_code(batch)


def status(args: argparse.Namespace) -> int:
    with ApiClient(args.url, args.api_key) as client:
        batch = client.retrieve(args.batch_id)
        if args.wait:
            batch = wait(client, batch, args.interval)
    if args.json:
        print(json.dumps(batch, indent=2))
    else:
        print(summary(batch))
    return _exit_code(batch) if args.wait else OK


def list_batches(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    with ApiClient(args.url, args.api_key) as client:
        if args.json:
            for batch in client.list_batches(args.limit):
                print(json.dumps(batch, separators=(",", ":")))
            return OK
        batches = client.list_batches(args.limit)
        first = next(batches, None)  # a failing request prints no header
        print(f"{'ID':<35}  {'STATUS':<11}  {'DONE':>13}  {'SUCCEEDED':>9}  {'ERRORED':>7}  "
              f"{'CANCELED':>8}  {'EXPIRED':>7}  CREATED (UTC)")
        for batch in itertools.chain([first] if first else [], batches):
            c = Counts.of(batch)
            print(f"{batch['id']:<35}  {batch['processing_status']:<11}  "
                  f"{f'{c.done}/{c.total}':>13}  {c.succeeded:>9}  {c.errored:>7}  "
                  f"{c.canceled:>8}  {c.expired:>7}  {_time(batch.get('created_at'))}")
    return OK


def results(args: argparse.Namespace) -> int:
    with ApiClient(args.url, args.api_key) as client, client.results(args.batch_id) as chunks:
        if not args.output or args.output == "-":
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return OK
        lines = _write_atomically(Path(args.output), chunks)
    print(f"{lines:,} results written to {args.output}", file=sys.stderr)
    return OK


def cancel(args: argparse.Namespace) -> int:
    with ApiClient(args.url, args.api_key) as client:
        batch = client.cancel(args.batch_id)
    counts = Counts.of(batch)
    state = batch["processing_status"]
    if state == "ended" and not batch.get("cancel_initiated_at"):
        print(f"{batch['id']} had already ended: {counts.describe()}")
    else:
        running = f"; {counts.processing:,} running will finish" if counts.processing else ""
        print(f"{batch['id']} {state}: {counts.canceled:,} canceled{running}")
    return OK


def wait(client: ApiClient, batch: dict[str, Any], interval: float) -> dict[str, Any]:
    """Poll until the batch ends, showing progress on stderr. Ctrl-C stops the waiting only."""
    if batch["processing_status"] == "ended":
        return batch
    failing_since: float | None = None
    with ProgressDisplay(sys.stderr) as display:
        try:
            while batch["processing_status"] != "ended":
                display.update(batch)
                time.sleep(interval)
                try:
                    batch = client.retrieve(batch["id"])
                    failing_since = None
                except ConsoleError as exc:
                    now = time.monotonic()
                    failing_since = failing_since or now
                    if not exc.transient or now - failing_since > TRANSIENT_GRACE_SECONDS:
                        raise
        except KeyboardInterrupt:
            display.end_line()
            raise Interrupted(f"stopped waiting; {batch['id']} keeps running. Watch it again "
                              f"with: batchmill status {batch['id']} --wait") from None
        display.update(batch, final=True)
    return batch


def summary(batch: Mapping[str, Any]) -> str:
    """A few lines about a batch, for people."""
    counts = Counts.of(batch)
    lines = [f"{batch['id']}  {batch['processing_status']}",
             f"  requests  {counts.total:,}: {counts.describe()}",
             f"  created   {_time(batch.get('created_at'))} UTC"]
    ended, created = _parse(batch.get("ended_at")), _parse(batch.get("created_at"))
    if ended and created:
        lines.append(f"  ended     {_time(batch.get('ended_at'))} UTC, after "
                     f"{duration((ended - created).total_seconds())}")
    elif batch.get("expires_at"):
        lines.append(f"  expires   {_time(batch.get('expires_at'))} UTC")
    if batch.get("mode"):
        lines.append(f"  mode      {batch['mode']}")
    spent = cost(batch)
    if spent is not None:
        lines.append(f"  cost      {usd(spent)}" + ("" if ended else " so far"))
    if batch["processing_status"] == "ended" and not batch.get("archived_at"):
        lines.append(f"  results   batchmill results {batch['id']} -o results.jsonl")
    return "\n".join(lines)


def _ended(batch: Mapping[str, Any]) -> str:
    ended, created = _parse(batch.get("ended_at")), _parse(batch.get("created_at"))
    after = f" after {duration((ended - created).total_seconds())}" if ended and created else ""
    line = f"{batch['id']} ended{after}: {Counts.of(batch).describe()}"
    spent = cost(batch)
    if spent is not None:
        line += f"; cost {usd(spent)}"
    return line + f"\nresults: batchmill results {batch['id']} -o results.jsonl"


def _exit_code(batch: Mapping[str, Any]) -> int:
    counts = Counts.of(batch)
    return OK if counts.succeeded == counts.total else INCOMPLETE


def _extensions(args: argparse.Namespace) -> dict[str, Any]:
    """The batch-level Batchmill extensions that were asked for."""
    extensions: dict[str, Any] = {}
    if args.priority is not None:
        extensions["priority"] = args.priority
    if args.mode:
        extensions["mode"] = args.mode
    if args.metadata:
        try:
            metadata = json.loads(args.metadata)
        except ValueError as exc:
            raise UsageError(f"--metadata is not JSON: {exc}") from None
        if not isinstance(metadata, dict):
            raise UsageError("--metadata must be a JSON object")
        extensions["metadata"] = metadata
    return extensions


@contextlib.contextmanager
def _input_lines(path: str) -> Iterator[tuple[IO[bytes], str]]:
    """The input, read line by line: a file or, for ``-``, stdin."""
    if path == "-":
        yield sys.stdin.buffer, "stdin"
        return
    try:
        file = open(path, "rb")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    with file:
        yield file, path


def _write_atomically(path: Path, chunks: Iterator[bytes]) -> int:
    """Write to a temporary file beside ``path``, renamed once complete; returns lines."""
    partial = path.with_name(f".{path.name}.partial")
    lines = 0
    try:
        with partial.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
                lines += chunk.count(b"\n")
        os.replace(partial, path)
    except OSError as exc:
        raise ConsoleError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return lines


def _parse(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def _time(value: Any) -> str:
    parsed = _parse(value)
    if parsed is None:
        return "-"
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC)
    return f"{parsed:%Y-%m-%d %H:%M:%S}"
