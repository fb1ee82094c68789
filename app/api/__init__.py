"""The HTTP API (Litestar). ``create_app`` is its single composition root."""
