"""The Message Batches API of the Claude simulator, in memory and free of HTTP.

``BatchStore`` holds every batch of one simulator and implements the endpoints'
rules; the HTTP layer (``app``) only parses requests, calls it and encodes what
it returns. Invalid input raises ``InvalidRequestError`` (400) and unknown ids
``ApiError(404)``, both answered with Anthropic's error envelope.

Timeline of a batch of ``n`` requests created at ``t0`` (``P`` =
``batch_processing_seconds``): request ``i`` is processed at ``t0 + P * (i+1)/n``
and the batch ends at ``t0 + P`` — or earlier, at ``t0 +
batch_expire_after_seconds``, when that comes first: the requests not yet
processed end ``expired``. A cancel ends the batch at once: the requests not yet
processed end ``canceled``. As on the real API, ``request_counts`` shows every
request as ``processing`` until the batch ends, and results exist only then.

Each processed request is validated and answered by the same code as ``POST
/v1/messages`` (``messages.validate_request`` / ``build_message``, with the prompt
cache applied), so invalid ``params`` end ``errored`` with
``invalid_request_error``; a valid one ends ``errored`` with ``api_error`` with
probability ``batch_error_rate``. Batch requests do not take rate-limit capacity
and are not counted in the ``/_simulator/stats`` call counters.

Ending is lazy and also scheduled: ``settle`` (called by the app's timer at the
end time) and every read of a batch past its end time finish it, with the end
time (not the read time) as ``ended_at``.
"""

from __future__ import annotations

import itertools
import random
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

import msgspec

from app.simulator.cache import PromptCache
from app.simulator.config import SimulatorConfig
from app.simulator.errors import ApiError, error_body
from app.simulator.messages import (
    NO_CACHE_USAGE,
    InvalidRequestError,
    build_message,
    invalid_request,
    new_id,
    validate_request,
)

#: Fewest and most requests in one batch (the API's limits).
MIN_BATCH_REQUESTS: Final[int] = 1
MAX_BATCH_REQUESTS: Final[int] = 100_000
#: Largest ``POST /v1/messages/batches`` body the API accepts: 256 MB.
MAX_BATCH_REQUEST_BYTES: Final[int] = 256 * 1024 * 1024
#: ``custom_id`` must match this (1-64 letters, digits, ``_`` or ``-``).
CUSTOM_ID_PATTERN: Final[str] = "^[a-zA-Z0-9_-]{1,64}$"
#: A batch's ``expires_at``: 24 hours after its creation, as on the real API.
EXPIRES_AFTER_SECONDS: Final[float] = 24 * 60 * 60
#: ``GET /v1/messages/batches`` page size: default and bounds.
DEFAULT_LIST_LIMIT: Final[int] = 20
MAX_LIST_LIMIT: Final[int] = 1000
#: Prefix of batch ids.
BATCH_ID_PREFIX: Final[str] = "msgbatch_"

ProcessingStatus = Literal["in_progress", "canceling", "ended"]
ResultType = Literal["succeeded", "errored", "canceled", "expired"]
RESULT_TYPES: Final[tuple[ResultType, ...]] = ("succeeded", "errored", "canceled", "expired")

_CUSTOM_ID: Final = re.compile(CUSTOM_ID_PATTERN)
_ENCODER: Final = msgspec.json.Encoder()


def rfc3339(timestamp: float) -> str:
    """``timestamp`` (seconds since the epoch) as the API writes times: ``2024-08-20T18:37:24.100435Z``."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class BatchRequest:
    """One entry of ``requests``: its ``custom_id`` and its (not yet validated) Messages ``params``."""

    custom_id: str
    params: dict[str, Any]


@dataclass(slots=True)
class Batch:
    """A batch's state; times are seconds since the epoch."""

    id: str
    requests: tuple[BatchRequest, ...]
    created_at: float
    end_at: float
    """When processing ends unless canceled first: creation + processing time, or the expiry if sooner."""
    expiring: bool
    """Whether ``end_at`` is the expiry (requests not processed by then end ``expired``)."""
    processing_seconds: float
    status: ProcessingStatus = "in_progress"
    cancel_initiated_at: float | None = None
    ended_at: float | None = None
    counts: dict[ResultType, int] = field(default_factory=dict)
    results: bytes = b""
    """The results file (JSONL, one line per request in request order), once ended."""

    def processed_at(self, index: int) -> float:
        """When request ``index`` is processed: evenly spread over the processing time."""
        return self.created_at + self.processing_seconds * (index + 1) / len(self.requests)


class BatchStore:
    """Every batch of one simulator, newest last; ids sort in creation order."""

    def __init__(
        self,
        config: SimulatorConfig,
        prompt_cache: PromptCache | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._prompt_cache = prompt_cache
        self._clock = clock
        self._rng = random.Random(config.seed)
        self._batches: dict[str, Batch] = {}
        self._sequence = itertools.count()

    # -- endpoints -------------------------------------------------------------------------

    def create(self, payload: object) -> Batch:
        """``POST /v1/messages/batches``: validate the envelope and start a batch (``params`` are
        validated only when each request is processed, as on the real API)."""
        requests = parse_batch_requests(payload)
        now = self._clock()
        processing = self._config.batch_processing_seconds
        expire = self._config.batch_expire_after_seconds
        expiring = expire is not None and expire < processing
        end_at = now + (expire if expiring and expire is not None else processing)
        # A zero-padded sequence number first, so ids sort by creation even once deleted.
        batch_id = f"{BATCH_ID_PREFIX}{next(self._sequence):010x}{secrets.token_hex(7)}"
        batch = Batch(batch_id, requests, now, end_at, expiring, processing)
        self._batches[batch_id] = batch
        return batch

    def get(self, batch_id: str) -> Batch:
        """The batch ``batch_id``, finished first if its end time has passed; 404 if unknown."""
        batch = self._batches.get(batch_id)
        if batch is None:
            raise ApiError(404, f"No message batch found with id {batch_id!r}")
        if batch.status == "in_progress" and self._clock() >= batch.end_at:
            self._finish(batch, batch.end_at, "expired" if batch.expiring else None)
        return batch

    def settle(self, batch_id: str) -> None:
        """Finish ``batch_id`` at its end time if it is still in progress (the app's timer calls this)."""
        batch = self._batches.get(batch_id)
        if batch is not None and batch.status == "in_progress":
            self._finish(batch, batch.end_at, "expired" if batch.expiring else None)

    def cancel(self, batch_id: str) -> dict[str, Any]:
        """``POST …/{id}/cancel``: the batch as the cancel response shows it (``canceling``); it then
        ends at once, its unprocessed requests ``canceled``. Canceling an ended batch changes nothing."""
        batch = self.get(batch_id)
        if batch.status != "in_progress":
            return self.to_json(batch, None)
        now = self._clock()
        batch.status = "canceling"
        batch.cancel_initiated_at = now
        shown = self.to_json(batch, None)
        self._finish(batch, now, "canceled")
        return shown

    def delete(self, batch_id: str) -> dict[str, Any]:
        """``DELETE …/{id}``: only an ended batch can be deleted (cancel it first)."""
        batch = self.get(batch_id)
        if batch.status != "ended":
            raise invalid_request(
                f"Batch {batch_id} cannot be deleted while it is {batch.status}; cancel it and wait for it to end"
            )
        del self._batches[batch_id]
        return {"id": batch_id, "type": "message_batch_deleted"}

    def results(self, batch_id: str) -> bytes:
        """``GET …/{id}/results``: the JSONL results file; 400 until the batch has ended."""
        batch = self.get(batch_id)
        if batch.status != "ended":
            raise invalid_request(f"Batch {batch_id} has not finished processing; its results are not available yet")
        return batch.results

    def page(self, limit: int, after_id: str | None, before_id: str | None) -> tuple[list[Batch], bool]:
        """``GET /v1/messages/batches``: up to ``limit`` batches, newest first, and ``has_more``.

        ``after_id``: the batches older than it; ``before_id``: the ``limit`` batches just
        newer than it. Either id may belong to a deleted batch.
        """
        if after_id is not None and before_id is not None:
            raise invalid_request("after_id and before_id cannot both be set")
        if not MIN_BATCH_REQUESTS <= limit <= MAX_LIST_LIMIT:
            raise invalid_request(f"limit: Input should be between 1 and {MAX_LIST_LIMIT}")
        newest_first = sorted(self._batches, reverse=True)
        if before_id is not None:
            newer = [batch_id for batch_id in newest_first if batch_id > before_id]
            ids, has_more = newer[-limit:], len(newer) > limit
        else:
            older = [batch_id for batch_id in newest_first if after_id is None or batch_id < after_id]
            ids, has_more = older[:limit], len(older) > limit
        return [self.get(batch_id) for batch_id in ids], has_more

    # -- wire format -----------------------------------------------------------------------

    @staticmethod
    def to_json(batch: Batch, results_url: str | None) -> dict[str, Any]:
        """The ``MessageBatch`` object; ``results_url`` is shown only once the batch has ended."""
        ended = batch.status == "ended"
        counts = {"processing": 0 if ended else len(batch.requests)}
        counts.update({kind: batch.counts.get(kind, 0) if ended else 0 for kind in RESULT_TYPES})
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": batch.status,
            "request_counts": counts,
            "ended_at": None if batch.ended_at is None else rfc3339(batch.ended_at),
            "created_at": rfc3339(batch.created_at),
            "expires_at": rfc3339(batch.created_at + EXPIRES_AFTER_SECONDS),
            "archived_at": None,
            "cancel_initiated_at": None if batch.cancel_initiated_at is None else rfc3339(batch.cancel_initiated_at),
            "results_url": results_url if ended else None,
        }

    # -- processing ------------------------------------------------------------------------

    def _finish(self, batch: Batch, at: float, unprocessed: ResultType | None) -> None:
        """End ``batch`` at ``at``: process the requests due by then; the rest end ``unprocessed``
        (``None``: processing completed, every request is processed)."""
        lines: list[bytes] = []
        counts: dict[ResultType, int] = dict.fromkeys(RESULT_TYPES, 0)
        for index, request in enumerate(batch.requests):
            if unprocessed is None or batch.processed_at(index) <= at:
                result = self._process(request.params)
            else:
                result = {"type": unprocessed}
            counts[result["type"]] += 1
            lines.append(_ENCODER.encode({"custom_id": request.custom_id, "result": result}))
        batch.results = b"\n".join(lines) + b"\n"
        batch.counts = counts
        batch.status = "ended"
        batch.ended_at = at

    def _process(self, params: dict[str, Any]) -> dict[str, Any]:
        """The ``result`` of one request, answered like ``POST /v1/messages`` would."""
        try:
            parsed = validate_request(params, max_output_tokens=self._config.model_default_max_output)
        except InvalidRequestError as exc:
            return _errored(400, str(exc))
        if self._rng.random() < self._config.batch_error_rate:
            return _errored(500, "Internal server error")
        cache = self._prompt_cache
        plan = cache.plan(parsed) if cache is not None else None
        if plan is not None and cache is not None:
            cache.commit(plan)
        usage = NO_CACHE_USAGE if plan is None else plan.usage
        message = build_message(
            parsed, message_id=new_id("msg_"), summary_words=self._config.summary_words, cache=usage
        )
        # Batch requests are billed at the batch tier.
        message["usage"]["service_tier"] = "batch"
        return {"type": "succeeded", "message": message}


def _errored(status_code: int, message: str) -> dict[str, Any]:
    """An ``errored`` result: the error envelope the same call to ``POST /v1/messages`` would get."""
    return {"type": "errored", "error": error_body(status_code, message, new_id("req_"))}


def parse_batch_requests(payload: object) -> tuple[BatchRequest, ...]:
    """Validate a ``POST /v1/messages/batches`` body's envelope: 1..100,000 requests, each with a
    unique ``custom_id`` matching ``CUSTOM_ID_PATTERN`` and an object ``params``."""
    if not isinstance(payload, dict):
        raise invalid_request("request body must be a JSON object")
    requests = payload.get("requests")
    if requests is None:
        raise invalid_request("requests: Field required")
    if not isinstance(requests, list):
        raise invalid_request("requests: Input should be a valid list")
    if len(requests) < MIN_BATCH_REQUESTS:
        raise invalid_request(f"requests: List should have at least {MIN_BATCH_REQUESTS} item, not 0")
    if len(requests) > MAX_BATCH_REQUESTS:
        raise invalid_request(
            f"requests: List should have at most {MAX_BATCH_REQUESTS} items, not {len(requests)}"
        )
    parsed: list[BatchRequest] = []
    seen: set[str] = set()
    for i, entry in enumerate(requests):
        if not isinstance(entry, dict):
            raise invalid_request(f"requests.{i}: Input should be a valid dictionary")
        custom_id = entry.get("custom_id")
        if custom_id is None:
            raise invalid_request(f"requests.{i}.custom_id: Field required")
        if not isinstance(custom_id, str):
            raise invalid_request(f"requests.{i}.custom_id: Input should be a valid string")
        if not _CUSTOM_ID.match(custom_id):
            raise invalid_request(f"requests.{i}.custom_id: String should match pattern '{CUSTOM_ID_PATTERN}'")
        if custom_id in seen:
            raise invalid_request(
                f"requests.{i}.custom_id: Duplicate custom_id {custom_id!r}; custom_id must be unique within a batch"
            )
        seen.add(custom_id)
        params = entry.get("params")
        if params is None:
            raise invalid_request(f"requests.{i}.params: Field required")
        if not isinstance(params, dict):
            raise invalid_request(f"requests.{i}.params: Input should be a valid dictionary")
        parsed.append(BatchRequest(custom_id, params))
    return tuple(parsed)
