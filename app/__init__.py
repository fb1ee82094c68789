"""Batchmill: durable LLM batch inference on Postgres."""
