"""The "seed" design Batchmill is benchmarked against: FastAPI + Celery + Redis.

A faithful, minimal re-creation of the predecessor pipeline, kept for benchmarks
only (never imported by ``app/``). Its known weaknesses are kept on purpose:
Celery's per-worker ``rate_limit`` (not fleet-wide), exponential retry backoff
that ignores ``retry-after``, early acks (a killed worker loses its tasks) and an
O(n) status read. Needs the ``bench`` extra: ``pip install -e '.[bench]'``.
"""
