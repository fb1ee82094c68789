"""Names shared by the API (which inserts queue rows in its own transaction) and the worker."""
from __future__ import annotations

QUEUE = "requests"
PROCESS_REQUEST = "batchmill.process_request"
