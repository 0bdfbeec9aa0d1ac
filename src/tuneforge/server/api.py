"""The JSON API under ``/api/``: jobs, trials, metric series, logs, files, charts and stops.

Every route reads and writes through :class:`~tuneforge.storage.Storage` (and its
:class:`~tuneforge.storage.queries.DashboardQueries`), so it sees jobs run by any process.
Routes that only read are plain functions (FastAPI runs them in its thread pool, since
storage calls block); the live log is an async server-sent-events stream.

Errors are JSON ``{"detail": "<one clear sentence>"}``: 400 for a bad value (an unknown
sort key or state, a job file with problems), 401/403 for a missing or wrong token, 404
for an unknown job, trial or file, 409 for a job name that is taken or a stop of something
that is not running, 422 for a request of the wrong shape, 503 when the storage cannot be
read. The schema is at ``/api/openapi.json``.
"""

from __future__ import annotations

import enum
import json
import math
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from tuneforge.errors import ConfigError, NotFoundError
from tuneforge.results import archive_trials, to_csv_text, to_json_text, trials_frame
from tuneforge.server import charts
from tuneforge.server.files import (
    LogDecoder,
    list_trial_files,
    log_path,
    log_size,
    read_log,
    resolve_trial_file,
)
from tuneforge.server.jobs import JobLauncher
from tuneforge.server.security import TokenGuard
from tuneforge.storage import JobState, Storage
from tuneforge.storage.queries import TRIAL_SORT_KEYS, DashboardQueries, JobSummary, TrialPoint
from tuneforge.trial import Trial, TrialState

T = TypeVar("T")

#: Largest page of trials one request may ask for.
MAX_PAGE = 1000
#: Largest log chunk one request may ask for (bytes).
MAX_LOG_CHUNK = 4 * 1024 * 1024
#: Largest job file accepted by ``POST /api/jobs`` (characters).
MAX_JOB_FILE = 1024 * 1024
_STREAM_CHUNK = 256 * 1024
_STREAM_POLL = 0.25  # seconds between looks at a live log with nothing new
_HEARTBEAT = 15.0  # seconds between keep-alive comments on a quiet stream
_NUMBER = Annotated[int, PathParam(ge=0, le=2**31 - 1, description="The trial's number.")]


# ------------------------------------------------------------------------------- models


class ErrorOut(BaseModel):
    detail: str = Field(description="What was wrong, and what would be valid.")


class JobOut(BaseModel):
    """A job and how far it got."""

    name: str
    state: str
    reason: str | None
    strategy: str
    objective: str
    direction: str
    max_trials: int | None
    n_trials: int = Field(description="Trials recorded, in any state.")
    n_done: int = Field(description="Finished trials (what max_trials counts).")
    counts: dict[str, int] = Field(description="Trials in each state.")
    best_trial: int | None
    best_value: float | None
    created_at: float = Field(description="Unix time the job was created.")
    finished_at: float | None
    duration: float = Field(description="Seconds from creation to the end (or to now).")
    stop_requested: bool


class TrialOut(BaseModel):
    number: int
    state: str
    value: float | None = Field(description="The objective's final value (completed trials).")
    params: dict[str, Any]
    metrics: dict[str, float | None] = Field(description="The last value of each metric.")
    reason: str | None
    started_at: float | None
    finished_at: float | None
    duration: float | None
    origin: str
    trial_dir: str | None
    continues: int | None = Field(
        default=None, description="The earlier trial whose checkpoint this one started from."
    )


class JobDetailOut(JobOut):
    """A job with its settings: the job file as stored and the best trial."""

    description: str | None
    command: Any
    parameters: dict[str, Any]
    static: dict[str, Any]
    limits: dict[str, Any]
    strategy_options: dict[str, Any]
    early_stopping: Any
    document: dict[str, Any]
    base_dir: str
    output_dir: str | None
    best: TrialOut | None


class TrialDetailOut(TrialOut):
    job: str
    log_tail: str | None
    log_size: int = Field(description="Bytes in trial.log now.")
    active: bool = Field(description="Pending or running: the log may still grow.")


class TrialPageOut(BaseModel):
    total: int = Field(description="Trials matching the state filter.")
    offset: int
    limit: int
    sort: str
    order: str
    states: list[str] | None
    params: list[str] = Field(description="Every parameter name of the job (table columns).")
    metrics: list[str] = Field(description="Every metric name of the job (table columns).")
    trials: list[TrialOut]


class PointOut(BaseModel):
    step: int
    value: float | None
    time: float


class SeriesOut(BaseModel):
    job: str
    trial: int
    series: dict[str, list[PointOut]]


class LogOut(BaseModel):
    offset: int = Field(description="Byte offset of the first byte of text.")
    next_offset: int = Field(description="Ask for this offset to continue.")
    size: int = Field(description="Bytes in the log now.")
    text: str
    active: bool = Field(description="The trial is pending or running: the log may grow.")


class FileOut(BaseModel):
    path: str
    size: int
    modified: float
    url: str


class FilesOut(BaseModel):
    trial_dir: str | None
    files: list[FileOut]
    truncated: bool


class StopOut(BaseModel):
    job: str
    trial: int | None
    detail: str


class CreateJobIn(BaseModel):
    job_file: str = Field(
        min_length=1,
        max_length=MAX_JOB_FILE,
        description="The job file's YAML text, as `tuneforge run` reads it.",
    )
    base_dir: str | None = Field(
        default=None,
        description="Folder that relative paths of the job file start at (default: the "
        "server's base folder); relative to the server's base folder.",
    )


class EventOut(BaseModel):
    time: float
    trial: int | None
    kind: str
    message: str


class ChartName(enum.StrEnum):
    history = "history"
    parallel = "parallel"
    importance = "importance"
    slices = "slices"
    curves = "curves"


class ChartOut(BaseModel):
    name: str
    figures: list[dict[str, Any]] = Field(description="Plotly figures: {data, layout}.")
    note: str | None = Field(description="Why a chart is empty, or what it leaves out.")


# ------------------------------------------------------------------------------ helpers


def finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity: they are sent as null."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def trial_out(trial: Trial) -> TrialOut:
    return TrialOut(
        number=trial.number,
        state=trial.state.value,
        value=finite(trial.value),
        params=dict(trial.params),
        metrics={name: finite(value) for name, value in trial.metrics.items()},
        reason=trial.reason,
        started_at=trial.started_at,
        finished_at=trial.finished_at,
        duration=trial.duration,
        origin=trial.origin,
        trial_dir=trial.trial_dir,
        continues=trial.continues,
    )


def job_out(summary: JobSummary, now: float) -> dict[str, Any]:
    record = summary.record
    return {
        "name": record.name,
        "state": record.state.value,
        "reason": record.reason,
        "strategy": record.strategy,
        "objective": record.objective,
        "direction": record.direction,
        "max_trials": record.max_trials,
        "n_trials": summary.n_trials,
        "n_done": summary.n_done,
        "counts": {state.value: n for state, n in summary.counts.items()},
        "best_trial": summary.best_number,
        "best_value": finite(summary.best_value),
        "created_at": record.created_at,
        "finished_at": record.finished_at,
        "duration": max(0.0, (record.finished_at or now) - record.created_at),
        "stop_requested": record.stop_requested,
    }


def parse_states(values: list[str] | None) -> list[TrialState] | None:
    """``?state=completed&state=failed`` or ``?state=completed,failed``; empty means all."""
    if not values:
        return None
    states: list[TrialState] = []
    for value in values:
        for part in value.split(","):
            if part.strip():
                try:
                    states.append(TrialState.parse(part))
                except ValueError as exc:
                    raise ConfigError(f"state: {exc}") from None
    return states or None


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


class _Cache:
    """A small thread-safe LRU for derived data keyed by the storage's fingerprint.

    Concurrent requests for one missing key compute it once (the page asks for five charts
    at once, and each needs the same trial points): the others wait for that result.
    """

    def __init__(self, size: int = 64) -> None:
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]  # type: ignore[no-any-return]
            key_lock = self._computing.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._items:  # computed by the request we waited for
                    return self._items[key]  # type: ignore[no-any-return]
            try:
                value = compute()
            except BaseException:
                with self._lock:
                    self._computing.pop(key, None)
                raise
            with self._lock:
                self._items[key] = value
                self._computing.pop(key, None)
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
        return value


@dataclass
class ApiContext:
    storage: Storage
    queries: DashboardQueries
    guard: TokenGuard
    launcher: JobLauncher
    cache: _Cache


# ------------------------------------------------------------------------------- routes


def make_api_router(storage: Storage, guard: TokenGuard, launcher: JobLauncher) -> APIRouter:
    """The ``/api`` routes, reading ``storage``; ``guard`` checks tokens."""
    ctx = ApiContext(storage, DashboardQueries(storage), guard, launcher, _Cache())
    errors: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorOut} for status in (400, 401, 403, 404, 409, 422, 503)
    }
    router = APIRouter(prefix="/api", dependencies=[Depends(guard.check_read)], responses=errors)
    write = [Depends(guard.check_write)]

    @router.get("/jobs", response_model=list[JobOut], summary="Every job, oldest first")
    def list_jobs() -> list[dict[str, Any]]:
        now = time.time()
        return [job_out(s, now) for s in ctx.queries.job_summaries()]

    @router.post(
        "/jobs",
        response_model=JobOut,
        status_code=201,
        dependencies=write,
        summary="Create a job from a job file and start it in the server",
    )
    def create_job(body: CreateJobIn) -> dict[str, Any]:
        record = ctx.launcher.start(body.job_file, body.base_dir)
        return job_out(ctx.queries.job_summary(record.name), time.time())

    @router.get("/jobs/{job}", response_model=JobDetailOut, summary="A job with its settings")
    def get_job(job: str) -> dict[str, Any]:
        summary = ctx.queries.job_summary(job)
        document = summary.record.document
        parameters = _mapping(document.get("parameters")) or _mapping(
            _mapping(document.get("space")).get("parameters")
        )
        static = _mapping(document.get("static")) or _mapping(
            _mapping(document.get("space")).get("static")
        )
        best = None
        if summary.best_number is not None:
            best = trial_out(ctx.storage.get_trial(job, summary.best_number))
        return {
            **job_out(summary, time.time()),
            "description": document.get("description"),
            "command": document.get("command"),
            "parameters": parameters,
            "static": static,
            "limits": _mapping(document.get("limits")),
            "strategy_options": _mapping(document.get("strategy_options")),
            "early_stopping": document.get("early_stopping"),
            "document": document,
            "base_dir": summary.record.base_dir,
            "output_dir": summary.record.output_dir,
            "best": best,
        }

    @router.post(
        "/jobs/{job}/stop",
        response_model=StopOut,
        dependencies=write,
        summary="Ask the job's controller (in any process) to stop it",
    )
    def stop_job(job: str) -> StopOut:
        record = ctx.storage.get_job(job)
        if record.state is not JobState.RUNNING:
            raise Conflict(f"job {job!r} is {record.state.value}, not running.")
        ctx.storage.request_stop(job)
        return StopOut(
            job=job, trial=None, detail="stop requested; the job's controller ends it shortly."
        )

    @router.get("/jobs/{job}/events", response_model=list[EventOut], summary="State changes")
    def job_events(job: str) -> list[EventOut]:
        return [
            EventOut(time=e.time, trial=e.trial_number, kind=e.kind, message=e.message)
            for e in ctx.storage.events(job)
        ]

    @router.get(
        "/jobs/{job}/trials",
        response_model=TrialPageOut,
        summary="One page of the job's trials, filtered by state and sorted",
    )
    def list_trials(
        job: str,
        sort: Annotated[
            str,
            Query(
                description="number, value, state, started_at, finished_at, duration, origin, "
                "params.<name> or metrics.<name> (a bare parameter or metric name works too)."
            ),
        ] = "number",
        order: Annotated[Literal["asc", "desc"], Query()] = "asc",
        state: Annotated[
            list[str] | None,
            Query(description="Only trials in these states (repeat, or separate by commas)."),
        ] = None,
        offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    ) -> TrialPageOut:
        states = parse_states(state)
        params, metrics = _columns(ctx, job)
        key = _sort_key(sort, params, metrics)
        page = ctx.queries.trial_page(
            job, states=states, sort=key, descending=order == "desc", offset=offset, limit=limit
        )
        return TrialPageOut(
            total=page.total,
            offset=offset,
            limit=limit,
            sort=key,
            order=order,
            states=None if states is None else [s.value for s in states],
            params=params,
            metrics=metrics,
            trials=[trial_out(t) for t in page.trials],
        )

    @router.get(
        "/jobs/{job}/export",
        summary="Every trial as a CSV or JSON file (what `tuneforge export` writes)",
        response_class=Response,
        responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
    )
    def export(job: str, format: Literal["csv", "json"] = "csv") -> Response:
        ctx.storage.get_job(job)
        frame = trials_frame(ctx.storage.trials(job))
        text = to_csv_text(frame) if format == "csv" else to_json_text(frame)
        media = "text/csv; charset=utf-8" if format == "csv" else "application/json"
        return Response(text, media_type=media, headers=_attachment(f"{job}-trials.{format}"))

    @router.get(
        "/jobs/{job}/archive",
        summary="A zip of every trial folder (logs, params, model files) with trials.csv",
        response_class=FileResponse,
        responses={200: {"content": {"application/zip": {}}}},
    )
    def archive(job: str, best: bool = False) -> FileResponse:
        record = ctx.storage.get_job(job)
        chosen = ctx.storage.trials(job)
        if best:
            summary = ctx.queries.job_summary(job)
            if summary.best_number is None:
                raise NotFoundError(f"job {job!r} has no completed trial to archive.")
            chosen = [t for t in chosen if t.number == summary.best_number]
        extra = {
            "trials.csv": to_csv_text(trials_frame(chosen)).encode(),
            "job.json": json.dumps(record.document, indent=2, default=str).encode(),
        }
        folder = Path(tempfile.mkdtemp(prefix="tuneforge-archive-"))
        path = folder / f"{job}.zip"
        try:
            archive_trials(chosen, path, extra_files=extra)
        except BaseException:
            _remove(folder)
            raise
        return FileResponse(
            path,
            media_type="application/zip",
            filename=f"{job}{'-best' if best else ''}.zip",
            background=BackgroundTask(_remove, folder),
        )

    @router.get(
        "/jobs/{job}/charts/{chart}",
        response_model=ChartOut,
        summary="A chart of the job as Plotly figures",
    )
    def chart(job: str, chart: ChartName) -> Response:
        record = ctx.storage.get_job(job)
        events, values = ctx.queries.fingerprint()
        # Curves change with every metric value; the others only when a trial changes state.
        stamp = (events, values) if chart is ChartName.curves else (events,)
        # Cached as JSON bytes: serialising 10,000-point figures costs as much as building them.
        content = ctx.cache.get(
            (job, chart.value, stamp),
            lambda: _json_bytes(_chart(ctx, record.name, chart, events)),
        )
        return Response(content, media_type="application/json")

    @router.get("/jobs/{job}/trials/{number}", response_model=TrialDetailOut, summary="A trial")
    def get_trial(job: str, number: _NUMBER) -> TrialDetailOut:
        trial = ctx.storage.get_trial(job, number)
        return TrialDetailOut(
            **trial_out(trial).model_dump(),
            job=job,
            log_tail=trial.log_tail,
            log_size=log_size(trial.trial_dir),
            active=trial.state.is_active(),
        )

    @router.post(
        "/jobs/{job}/trials/{number}/stop",
        response_model=StopOut,
        dependencies=write,
        summary="Ask the job's controller to stop one trial",
    )
    def stop_trial(job: str, number: _NUMBER) -> StopOut:
        trial = ctx.storage.get_trial(job, number)
        if not trial.state.is_active():
            raise Conflict(f"trial {number} of job {job!r} is {trial.state.value}, not running.")
        ctx.storage.request_stop(job, number)
        return StopOut(
            job=job, trial=number, detail="stop requested; the job's controller ends it shortly."
        )

    @router.get(
        "/jobs/{job}/trials/{number}/metrics",
        response_model=SeriesOut,
        summary="A trial's metric series (every metric, or one)",
    )
    def trial_metrics(job: str, number: _NUMBER, metric: str | None = None) -> SeriesOut:
        series: dict[str, list[PointOut]] = {}
        for obs in ctx.storage.metric_series(job, number, metric):
            point = PointOut(step=obs.step, value=finite(obs.value), time=obs.time)
            series.setdefault(obs.metric, []).append(point)
        return SeriesOut(job=job, trial=number, series=series)

    @router.get(
        "/jobs/{job}/trials/{number}/log",
        response_model=LogOut,
        summary="A byte range of the trial's log (a negative offset counts from the end)",
    )
    def trial_log(
        job: str,
        number: _NUMBER,
        offset: Annotated[int, Query(ge=-(2**62), le=2**62)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_LOG_CHUNK)] = 256 * 1024,
    ) -> LogOut:
        trial = ctx.storage.get_trial(job, number)
        chunk = read_log(trial.trial_dir, offset, limit)
        return LogOut(
            offset=chunk.offset,
            next_offset=chunk.next_offset,
            size=chunk.size,
            text=chunk.text,
            active=trial.state.is_active(),
        )

    @router.get(
        "/jobs/{job}/trials/{number}/log/stream",
        summary="The trial's log as server-sent events, live while it runs",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def trial_log_stream(
        request: Request,
        job: str,
        number: _NUMBER,
        offset: Annotated[int, Query(ge=-(2**62), le=2**62)] = 0,
    ) -> StreamingResponse:
        trial = await anyio.to_thread.run_sync(ctx.storage.get_trial, job, number)
        resumed = request.headers.get("last-event-id", "")
        if resumed.isdigit():
            offset = int(resumed)  # EventSource reconnects where it left off
        if offset < 0:
            offset = max(0, log_size(trial.trial_dir) + offset)
        return StreamingResponse(
            _log_events(ctx, request, job, number, offset),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @router.get(
        "/jobs/{job}/trials/{number}/files",
        response_model=FilesOut,
        summary="The files in the trial's folder",
    )
    def trial_files(request: Request, job: str, number: _NUMBER) -> FilesOut:
        trial = ctx.storage.get_trial(job, number)
        files, truncated = list_trial_files(trial.trial_dir)
        base = str(request.url_for("trial_file", job=job, number=number, path="x"))[:-1]
        return FilesOut(
            trial_dir=trial.trial_dir,
            files=[
                FileOut(path=f.path, size=f.size, modified=f.modified, url=base + _quote(f.path))
                for f in files
            ],
            truncated=truncated,
        )

    @router.get(
        "/jobs/{job}/trials/{number}/files/{path:path}",
        name="trial_file",
        summary="Download one file of the trial's folder (never one outside it)",
        response_class=FileResponse,
    )
    def trial_file(job: str, number: _NUMBER, path: str) -> FileResponse:
        trial = ctx.storage.get_trial(job, number)
        target = resolve_trial_file(trial.trial_dir, path)
        inline = target.suffix.lower() in (".log", ".txt", ".json", ".jsonl", ".csv", ".yaml")
        return FileResponse(
            target,
            filename=Path(path).name,
            content_disposition_type="inline" if inline else "attachment",
            media_type="text/plain; charset=utf-8" if inline else None,
        )

    return router


def _columns(ctx: ApiContext, job: str) -> tuple[list[str], list[str]]:
    events, values = ctx.queries.fingerprint()
    return ctx.cache.get(("columns", job, events, values), lambda: ctx.queries.trial_columns(job))


def _sort_key(sort: str, params: list[str], metrics: list[str]) -> str:
    """The canonical sort key: a trial column, ``params.<name>`` or ``metrics.<name>``."""
    if sort in TRIAL_SORT_KEYS:
        return sort
    if sort.startswith("params.") and sort[len("params.") :] in params:
        return sort
    if sort.startswith("metrics.") and sort[len("metrics.") :] in metrics:
        return sort
    matches = [f"params.{sort}"] if sort in params else []
    matches += [f"metrics.{sort}"] if sort in metrics else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) == 2:
        raise ConfigError(
            f"sort: {sort!r} is both a parameter and a metric; use {matches[0]!r} or "
            f"{matches[1]!r}."
        )
    valid = [*TRIAL_SORT_KEYS, *(f"params.{p}" for p in params), *(f"metrics.{m}" for m in metrics)]
    raise ConfigError(f"sort: unknown key {sort!r}; expected one of {', '.join(valid)}.")


def _chart(ctx: ApiContext, job: str, chart: ChartName, events: int) -> dict[str, Any]:
    record = ctx.storage.get_job(job)
    points: list[TrialPoint] = ctx.cache.get(
        ("points", job, events), lambda: ctx.queries.trial_points(job)
    )
    objective, direction = record.objective, record.direction
    log_params = charts.log_parameters(record.document)
    figures: list[dict[str, Any]] = []
    note: str | None = None
    n_done = len(charts.completed(points))
    if chart is ChartName.curves:
        numbers = [p.number for p in points][-charts.MAX_CURVES :]
        series = ctx.queries.series(job, objective, numbers)
        data = charts.curves_data(
            series, {p.number: p.state for p in points}, objective, len(points)
        )
        if data.curves:
            figures.append(charts.curves_figure(data))
        else:
            note = f"No trial has reported {objective} yet."
    elif n_done == 0:
        note = "No trial has completed with a value yet."
    elif chart is ChartName.history:
        figures.append(charts.history_figure(charts.history_data(points, direction), objective))
    elif chart is ChartName.parallel:
        lines = charts.parallel_data(points, objective, log_params, direction=direction)
        figures.append(charts.parallel_figure(lines))
    elif chart is ChartName.importance:
        importance = charts.importance_data(points)
        if importance.names:
            figures.append(charts.importance_figure(importance))
        else:
            note = (
                f"Parameter importance needs at least {charts.MIN_IMPORTANCE_TRIALS} completed "
                f"trials and a parameter that varies; the job has {n_done} completed."
            )
    else:
        figures.extend(
            charts.slice_figure(s, objective) for s in charts.slice_data(points, log_params)
        )
    return {"name": chart.value, "figures": figures, "note": note}


async def _log_events(
    ctx: ApiContext, request: Request, job: str, number: int, offset: int
) -> AsyncIterator[str]:
    """``log`` events with new text (``id`` is the offset to resume at), then ``end``.

    A ``reset`` event says the log started over (the trial runs again after a resume).
    """
    position = offset
    decoder = LogDecoder()
    quiet_since = time.monotonic()
    yield "retry: 1000\n\n"
    while True:
        if await request.is_disconnected():
            return
        # Look at the state before reading: a trial seen finished has written all its log.
        trial = await anyio.to_thread.run_sync(ctx.storage.get_trial, job, number)
        if position > log_size(trial.trial_dir):
            # The log shrank: the trial was reset and runs again (a resumed job). Start over.
            position, decoder = 0, LogDecoder()
            yield "event: reset\ndata: {}\n\n"
        data = await anyio.to_thread.run_sync(_read_bytes, trial.trial_dir, position)
        if data:
            position += len(data)
            text = decoder.feed(data)
            if text:
                payload = json.dumps({"text": text, "offset": position})
                yield f"id: {position}\nevent: log\ndata: {payload}\n\n"
            quiet_since = time.monotonic()
            continue
        if not trial.state.is_active():
            payload = json.dumps({"state": trial.state.value, "reason": trial.reason})
            yield f"event: end\ndata: {payload}\n\n"
            return
        if time.monotonic() - quiet_since > _HEARTBEAT:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        await anyio.sleep(_STREAM_POLL)


def _read_bytes(trial_dir: str | None, position: int) -> bytes:
    path = log_path(trial_dir)
    if path is None:
        return b""
    try:
        with path.open("rb") as handle:
            handle.seek(position)
            return handle.read(_STREAM_CHUNK)
    except OSError:
        return b""


def _json_bytes(content: Any) -> bytes:
    return json.dumps(content, allow_nan=False, separators=(",", ":")).encode()


class Conflict(Exception):
    """The request is valid but the job or trial is not in a state that allows it (409)."""


def _attachment(filename: str) -> dict[str, str]:
    from urllib.parse import quote

    return {"Content-Disposition": f"attachment; filename*=utf-8''{quote(filename)}"}


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


def _remove(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
