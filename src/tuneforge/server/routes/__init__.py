"""The JSON API under ``/api/``, one module per resource: jobs, trials, logs, files, charts.

Every route reads and writes through :class:`~tuneforge.storage.Storage` (and its
:class:`~tuneforge.storage.queries.DashboardQueries`), so it sees jobs run by any process.
Routes that only read are plain functions (FastAPI runs them in its thread pool, since
storage calls block); the live log is an async server-sent-events stream. A route gets
the storage from its :data:`~tuneforge.server.context.Context` parameter and answers
with a model of :mod:`tuneforge.server.schemas`.

Errors are JSON ``{"detail": "<one clear sentence>"}``: 400 for a bad value (an unknown
sort key or state, a job file with problems), 401/403 for a missing or wrong token, 404
for an unknown job, trial or file, 409 for a job name that is taken or a stop of something
that is not running, 422 for a request of the wrong shape, 503 when the storage cannot be
read. The schema is at ``/api/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from tuneforge.server.context import check_read
from tuneforge.server.routes import charts, files, jobs, logs, trials
from tuneforge.server.schemas import ErrorOut

#: The statuses an API route may answer with an ``ErrorOut`` (documented on every route).
ERROR_STATUSES = (400, 401, 403, 404, 409, 422, 503)


def api_router() -> APIRouter:
    """Every ``/api`` route, behind the token check for reads, its errors documented."""
    errors: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorOut} for status in ERROR_STATUSES
    }
    router = APIRouter(prefix="/api", dependencies=[Depends(check_read)], responses=errors)
    for module in (jobs, trials, charts, logs, files):
        router.include_router(module.router)
    return router
