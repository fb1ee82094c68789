"""What can go wrong at the terminal, and the exit code each one gives a script.

Every failure is a ``ConsoleError``: the command prints ``batchmill: <message>`` on stderr (no
traceback) and exits with the error's code.
"""
from __future__ import annotations

OK = 0
FAILED = 1
USAGE = 2
AUTHENTICATION = 3
NOT_FOUND = 4
UNREACHABLE = 5
INCOMPLETE = 6
INTERRUPTED = 130

EXIT_CODES = f"""\
exit codes:
  {OK}    success (with --wait: the batch ended and every request succeeded)
  {FAILED}    the API refused or failed the request (400, 413, 5xx, ...)
  {USAGE}    usage or input error (bad flag, unreadable file, malformed input line)
  {AUTHENTICATION}    authentication: no API key, or the key was refused
  {NOT_FOUND}    no such batch (or it belongs to another tenant)
  {UNREACHABLE}    the API cannot be reached
  {INCOMPLETE}    with --wait: the batch ended but some requests errored, were canceled
       or expired (the results say which)
  {INTERRUPTED}  Ctrl-C while waiting: the batch keeps running"""


class ConsoleError(Exception):
    """Something went wrong."""

    exit_code = FAILED
    transient = False  # worth asking again: overloaded, restarting, rate limiting, unreachable

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)

    @property
    def message(self) -> str:
        return str(self)


class ApiError(ConsoleError):
    """The API refused the request."""

    def __init__(self, message: str | None = None, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.transient = status == 429 or status >= 500


class UsageError(ConsoleError):
    """Invalid usage."""

    exit_code = USAGE


class AuthenticationError(ConsoleError):
    """The API key was refused."""

    exit_code = AUTHENTICATION


class NotFoundError(ConsoleError):
    """Not found."""

    exit_code = NOT_FOUND


class Unreachable(ConsoleError):
    """The API cannot be reached."""

    exit_code = UNREACHABLE
    transient = True


class Interrupted(ConsoleError):
    """Interrupted."""

    exit_code = INTERRUPTED
