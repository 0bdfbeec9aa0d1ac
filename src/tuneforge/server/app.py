"""The dashboard application: ``create_app`` wires the API, the pages and the security rules.

Example (what ``tuneforge serve`` does)::

    app = create_app(Storage("sqlite:///tuneforge.db"), token="s3cret")
    uvicorn.run(app, host="127.0.0.1", port=8080)

Every tuneforge error becomes a JSON ``{"detail": ...}`` answer with a 4xx status (or 503
when the storage cannot be read), chosen in one place (:func:`http_status`), and a request
of the wrong shape gets a 422 whose detail names each bad field in one sentence: bad
input never gets a 500.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware

from tuneforge.errors import (
    AuthError,
    ConfigError,
    JobExistsError,
    NotFoundError,
    NotRunningError,
    RequestError,
    StorageError,
    TuneforgeError,
)
from tuneforge.server.context import ApiContext
from tuneforge.server.jobs import JobLauncher
from tuneforge.server.pages import STATIC_DIR, make_pages_router
from tuneforge.server.routes import api_router
from tuneforge.server.security import LOOPBACK_NAMES, HostCheck, TokenGuard
from tuneforge.storage import Storage

__all__ = ["create_app", "new_token"]


def new_token() -> str:
    """A fresh random token (32 URL-safe characters)."""
    return secrets.token_urlsafe(24)


def create_app(
    storage: Storage,
    *,
    token: str,
    reads_need_token: bool = False,
    allowed_hosts: Sequence[str] | None = LOOPBACK_NAMES,
    base_dir: str | Path | None = None,
    job_stop_timeout: float = 10.0,
) -> FastAPI:
    """The dashboard and JSON API over ``storage``.

    Args:
        storage: where jobs are read from and written to (any process's jobs show up).
        token: needed by every action that changes something (stop, create).
        reads_need_token: every request needs the token too (for non-loopback binds).
        allowed_hosts: ``Host`` header names accepted (``None``: any); the default,
            loopback names only, blocks DNS-rebinding pages.
        base_dir: where relative paths of posted job files start (default: the current
            folder).
        job_stop_timeout: seconds the shutdown waits for jobs this server started.
    """
    guard = TokenGuard(token, reads_need_token=reads_need_token)
    launcher = JobLauncher(storage, base_dir or Path.cwd())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        launcher.shutdown(job_stop_timeout)

    app = FastAPI(
        title="tuneforge",
        summary="Watch, compare and steer hyperparameter tuning jobs.",
        version=_version(),
        openapi_url="/api/openapi.json",
        docs_url=None,  # Swagger UI loads its scripts from a CDN; the dashboard works offline
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.storage = storage
    app.state.launcher = launcher
    app.state.api = ApiContext(storage, launcher, guard)
    app.include_router(api_router())
    label = repr(storage).removeprefix("Storage(").removesuffix(")").strip("'\"")  # no password
    app.include_router(make_pages_router(storage, guard, storage_label=label))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _add_error_handlers(app)
    # Level 5: most of level 9's saving on JSON at a fraction of its time per request.
    app.add_middleware(GZipMiddleware, minimum_size=2048, compresslevel=5)
    if allowed_hosts is not None:
        app.add_middleware(HostCheck, allowed=allowed_hosts)
    return app


def http_status(error: TuneforgeError) -> int:
    """The HTTP status that answers ``error``: its own, or the first of its kinds that fits."""
    if isinstance(error, RequestError):
        return error.status
    for kind, status in _STATUSES:
        if isinstance(error, kind):
            return status
    return 400


#: Most specific first: ``JobExistsError`` and ``NotRunningError`` are ``ConfigError``s.
_STATUSES: tuple[tuple[type[TuneforgeError], int], ...] = (
    (JobExistsError, 409),
    (NotRunningError, 409),
    (NotFoundError, 404),
    (StorageError, 503),
)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TuneforgeError)
    async def tuneforge_error(_: Request, exc: TuneforgeError) -> JSONResponse:
        status = http_status(exc)
        message = str(exc)
        if isinstance(exc, ConfigError) and len(exc.problems) > 1:
            message = f"{len(exc.problems)} problems: " + " | ".join(exc.problems)
        unauthenticated = isinstance(exc, AuthError) and status == 401
        headers = {"WWW-Authenticate": "Bearer"} if unauthenticated else None
        return JSONResponse({"detail": message}, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [_describe(error) for error in exc.errors()]
        message = "; ".join(problems) or "the request is invalid."
        return JSONResponse({"detail": message}, status_code=422)


def _describe(error: Any) -> str:
    """One sentence for one pydantic error: where, what, and the value received."""
    location = [str(part) for part in error.get("loc", ())]
    where = {"query": "query parameter", "path": "path parameter", "body": "body field"}
    if location and location[0] in where:
        kind = where[location[0]]
        name = ".".join(location[1:])
        place = f"{kind} '{name}'" if name else "the request body"
    else:
        place = ".".join(location) or "the request"
    message = str(error.get("msg", "is invalid")).rstrip(".")
    text = f"{place}: {message[:1].lower()}{message[1:]}"
    if "input" in error and error.get("type") != "missing":
        received = repr(error["input"])
        text += f", got {received[:80] + '...' if len(received) > 80 else received}"
    return text + "."


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tuneforge")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"
