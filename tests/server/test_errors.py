"""One table maps every tuneforge error to the HTTP status the API answers with."""

from __future__ import annotations

import pytest

from tuneforge.errors import (
    AuthError,
    ConfigError,
    FileAccessError,
    JobExistsError,
    NotFoundError,
    NotRunningError,
    SpaceError,
    StorageError,
    TuneforgeError,
)
from tuneforge.server.app import http_status


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ConfigError(["a: bad", "b: bad"]), 400),
        (SpaceError("low > high"), 400),
        (JobExistsError("job 'x' exists"), 409),
        (NotRunningError("job 'x' is completed, not running."), 409),
        (NotFoundError("no job named 'x'"), 404),
        (StorageError("database is locked"), 503),
        (AuthError(401, "needs the token"), 401),
        (AuthError(403, "wrong token"), 403),
        (FileAccessError(400, "invalid path"), 400),
        (FileAccessError(404, "no file"), 404),
    ],
)
def test_each_error_gets_its_status(error: TuneforgeError, status: int) -> None:
    """Narrow kinds before broad ones (a JobExistsError is a ConfigError, yet 409)."""
    assert http_status(error) == status
