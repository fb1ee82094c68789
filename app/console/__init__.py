"""``batchmill submit | status | list | results | cancel``: the API for people at a terminal.

These commands talk to a running Batchmill API over HTTP (``--url`` / ``BATCHMILL_URL``) with an
API key (``--api-key`` / ``BATCHMILL_API_KEY``), never to the database. Errors are one line on
stderr and an exit code a script can test (see ``app.console.errors``).
"""
