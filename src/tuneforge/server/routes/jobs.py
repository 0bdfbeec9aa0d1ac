"""Routes of jobs: list, create, read, stop, their events, and their trials as downloads."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from tuneforge.results import archive_job, job_space, to_csv_text, to_json_text, trials_frame
from tuneforge.server.context import Context, check_write
from tuneforge.server.schemas import (
    CreateJobIn,
    EventOut,
    JobDetailOut,
    JobOut,
    StopOut,
    job_out,
    stop_out,
    trial_out,
)
from tuneforge.steering import request_stop

router = APIRouter()


@router.get("/jobs", response_model=list[JobOut], summary="Every job, oldest first")
def list_jobs(ctx: Context) -> list[dict[str, Any]]:
    now = time.time()
    return [job_out(s, now) for s in ctx.queries.job_summaries()]


@router.post(
    "/jobs",
    response_model=JobOut,
    status_code=201,
    dependencies=[Depends(check_write)],
    summary="Create a job from a job file and start it in the server",
)
def create_job(ctx: Context, body: CreateJobIn) -> dict[str, Any]:
    record = ctx.launcher.start(body.job_file, body.base_dir)
    return job_out(ctx.queries.job_summary(record.name), time.time())


@router.get("/jobs/{job}", response_model=JobDetailOut, summary="A job with its settings")
def get_job(ctx: Context, job: str) -> dict[str, Any]:
    summary = ctx.queries.job_summary(job)
    document = summary.record.document
    space = job_space(summary.record)
    best = None
    if summary.best_number is not None:
        best = trial_out(ctx.storage.get_trial(job, summary.best_number))
    return {
        **job_out(summary, time.time()),
        "description": document.get("description"),
        "command": document.get("command"),
        "parameters": space.entries(),
        "static": dict(space.static),
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
    dependencies=[Depends(check_write)],
    summary="Ask the job's controller (in any process) to stop it",
)
def stop_job(ctx: Context, job: str) -> StopOut:
    request_stop(ctx.storage, job)
    return stop_out(job)


@router.get("/jobs/{job}/events", response_model=list[EventOut], summary="State changes")
def job_events(ctx: Context, job: str) -> list[EventOut]:
    return [
        EventOut(time=e.time, trial=e.trial_number, kind=e.kind, message=e.message)
        for e in ctx.storage.events(job)
    ]


@router.get(
    "/jobs/{job}/export",
    summary="Every trial as a CSV or JSON file (what `tuneforge export` writes)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
)
def export(ctx: Context, job: str, format: Literal["csv", "json"] = "csv") -> Response:
    ctx.storage.get_job(job)
    frame = trials_frame(ctx.storage.trials(job))
    text = to_csv_text(frame) if format == "csv" else to_json_text(frame)
    media = "text/csv; charset=utf-8" if format == "csv" else "application/json"
    disposition = f"attachment; filename*=utf-8''{quote(f'{job}-trials.{format}')}"
    return Response(text, media_type=media, headers={"Content-Disposition": disposition})


@router.get(
    "/jobs/{job}/archive",
    summary="A zip of every trial folder (logs, params, model files) with trials.csv",
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}}},
)
def archive(ctx: Context, job: str, best: bool = False) -> FileResponse:
    record = ctx.storage.get_job(job)
    folder = Path(tempfile.mkdtemp(prefix="tuneforge-archive-"))
    path = folder / f"{job}.zip"
    try:
        archive_job(record, ctx.storage.trials(job), path, best_only=best)
    except BaseException:
        _remove(folder)
        raise
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"{job}{'-best' if best else ''}.zip",
        background=BackgroundTask(_remove, folder),
    )


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
