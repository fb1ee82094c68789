"""``make bench``: every scenario of the benchmark suite for Batchmill and for the seed design
(FastAPI + Celery + Redis, ``bench.baseline``), side by side in one table of ratios."""
