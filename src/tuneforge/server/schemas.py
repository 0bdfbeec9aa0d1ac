"""The JSON shapes of the API: pydantic models every route module answers with.

They name each field the dashboard's script and other clients read, and document it in
``/api/openapi.json``. The ``*_out`` functions turn tuneforge's values into them; JSON
has no NaN or infinity, so non-finite numbers are sent as ``null``.
"""

from __future__ import annotations

import enum
import math
from typing import Any

from pydantic import BaseModel, Field

from tuneforge.storage.queries import JobSummary
from tuneforge.trial import Trial

#: Largest job file accepted by ``POST /api/jobs`` (characters).
MAX_JOB_FILE = 1024 * 1024


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
    """A ``JobOut`` as a dict (``JobDetailOut`` adds its settings to it)."""
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


def stop_out(job: str, trial: int | None = None) -> StopOut:
    """The answer to a stop request: the controller, polling storage, ends it soon."""
    return StopOut(
        job=job, trial=trial, detail="stop requested; the job's controller ends it shortly."
    )
