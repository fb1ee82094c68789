"""Batchmill: durable LLM batch inference on Postgres."""

__version__ = "0.1.0"
