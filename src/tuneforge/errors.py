"""The errors tuneforge raises on purpose.

Every message says what was expected, what was received and, where it helps, how to fix
it, so the CLI can print it as one line and exit non-zero without a traceback::

    TuneforgeError
    ├── SpaceError        a parameter, condition or forbidden clause is invalid
    ├── ConfigError       a job file, option or design is invalid (CLI exit code 2)
    │   ├── JobExistsError    a job with that name is already in the storage
    │   └── NotRunningError   a stop asked of a job or trial that has already ended
    ├── NotFoundError     no such job or trial in the storage
    ├── StorageError      the database cannot be read or written
    ├── TrialError        a trial could not be prepared (template, placeholder, folder)
    └── RequestError      the dashboard refuses a request (``status``: the HTTP status)
        ├── AuthError         without the server's token (401) or with a wrong one (403)
        └── FileAccessError   a trial file path that is invalid (400) or not servable (404)

The dashboard answers each with one HTTP status (see :mod:`tuneforge.server.app`):
``NotFoundError`` 404, ``JobExistsError`` and ``NotRunningError`` 409, ``StorageError``
503, a ``RequestError`` its own ``status``, and any other 400.
"""

from __future__ import annotations


class TuneforgeError(Exception):
    """Root of every error tuneforge raises on purpose."""


class SpaceError(TuneforgeError):
    """A search space is invalid: bad bounds, unknown names, infeasible constraints.

    ``field`` names the offending key of a parameter (``low``, ``values``...) when there
    is one, so readers of job files can point at ``parameters.lr.low``.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class ConfigError(TuneforgeError):
    """A job file, a strategy option or a design is invalid.

    ``problems`` holds one line per problem, each naming the field path, the value and
    what would be valid; ``str(error)`` joins them.
    """

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class JobExistsError(ConfigError):
    """A job with the requested name already exists in the storage."""


class NotRunningError(ConfigError):
    """A stop was asked of a job or trial that is not running (it ended, or never started)."""


class NotFoundError(TuneforgeError):
    """No job or trial matches what was asked for."""


class StorageError(TuneforgeError):
    """The storage cannot be opened, read or written."""


class TrialError(TuneforgeError):
    """A trial could not be prepared: a template, a placeholder or its folder."""


class RequestError(TuneforgeError):
    """The dashboard refuses a request; ``status`` is the HTTP status it answers with."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


class AuthError(RequestError):
    """The request lacks the server's token (401) or carries a wrong one (403)."""


class FileAccessError(RequestError):
    """A trial file cannot be served: an invalid path (400) or nothing servable there (404)."""
