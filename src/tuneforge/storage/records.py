"""The values storage hands out and takes in, its errors, and how rows become values.

Callers never see a database row: a job comes back as a frozen :class:`JobRecord`, an event
as a :class:`JobEvent` whose ``kind`` is an :class:`EventKind`, a controller as a
:class:`ControllerLease`; a trial to create goes in as a :class:`NewTrial`. Trials
themselves are :class:`tuneforge.trial.Trial` values, shared with every other module.

Example:
    >>> EventKind.JOB_CREATED == "job_created"
    True
    >>> NewTrial({"lr": 0.1}).origin
    <TrialOrigin.STRATEGY: 'strategy'>
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tuneforge.errors import StorageError
from tuneforge.storage.models import ControllerRow, JobRow, JobState
from tuneforge.trial import TrialOrigin

__all__ = [
    "ControllerLease",
    "EventKind",
    "JobBusyError",
    "JobEvent",
    "JobRecord",
    "NewTrial",
    "TrialTakenOverError",
    "job_lease",
    "job_record",
    "sharing_lease",
    "with_reason",
]


class EventKind(enum.StrEnum):
    """What a recorded event is about; stored, and shown by the API, as its value."""

    JOB_CREATED = "job_created"
    JOB_STATE = "job_state"  # the job moved to another state
    STOP_REQUESTED = "stop_requested"  # of the job, or of one trial
    STOP_CLEARED = "stop_cleared"
    TRIAL_CREATED = "trial_created"
    TRIAL_STARTED = "trial_started"
    TRIAL_RETRIED = "trial_retried"  # a new attempt of a running trial
    TRIAL_FINISHED = "trial_finished"
    TRIAL_RESET = "trial_reset"  # an unfinished trial made pending again, to re-run it
    CONTROLLER_CLAIMED = "controller_claimed"  # a controller took the job's lease
    CONTROLLER_RELEASED = "controller_released"
    CONTROLLER_JOINED = "controller_joined"  # a controller joined a shared job
    CONTROLLER_LEFT = "controller_left"
    CONTROLLER_LOST = "controller_lost"  # a sharing controller was found dead
    NOTE = "note"  # what a controller wants on record, e.g. left-over processes it ended


class JobBusyError(StorageError):
    """Another live controller holds the job's lease: two controllers never run one job."""


class TrialTakenOverError(JobBusyError):
    """A controller wrote to a trial it no longer owns: others found it dead and took it."""


@dataclass(frozen=True)
class NewTrial:
    """A trial to create: its parameters, where they came from, and the trial it continues.

    ``origin`` is a :class:`~tuneforge.trial.TrialOrigin` (or the plain word);
    ``continues`` is the number of the earlier trial whose saved state this one starts from
    (see ``Trial.continues``).
    """

    params: Mapping[str, Any]
    origin: str = TrialOrigin.STRATEGY
    continues: int | None = None


@dataclass(frozen=True)
class ControllerLease:
    """Who runs a job: a controller's random id, host, pid and process start time."""

    id: str
    host: str
    pid: int
    start: str | None = None  # the process's start time, to tell a reused pid apart
    heartbeat_at: float | None = None

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"


@dataclass(frozen=True)
class JobRecord:
    """A job as stored: its document (the job file as loaded), its space, where it stands.

    ``space`` is the resolved search space as the plain mapping it was created with; it is
    ``None`` for a job created without one (and for jobs stored before it was kept).
    """

    name: str
    state: JobState
    document: dict[str, Any]
    base_dir: str
    objective: str
    direction: str
    strategy: str
    max_trials: int | None
    output_dir: str | None
    created_at: float
    finished_at: float | None
    reason: str | None
    stop_requested: bool
    controller: ControllerLease | None = None  # the lease, while a controller holds it
    active_seconds: float = 0.0  # time controllers spent running the job, over all resumes
    space: dict[str, Any] | None = None


@dataclass(frozen=True)
class JobEvent:
    """One recorded state change; ``trial_number`` is ``None`` for job-level events."""

    time: float
    trial_number: int | None
    kind: EventKind
    message: str


def job_record(row: JobRow) -> JobRecord:
    """The job a row of ``jobs`` holds."""
    return JobRecord(
        name=row.name,
        state=row.state,
        document=dict(row.document or {}),
        base_dir=row.base_dir,
        objective=row.objective,
        direction=row.direction,
        strategy=row.strategy,
        max_trials=row.max_trials,
        output_dir=row.output_dir,
        created_at=row.created_at,
        finished_at=row.finished_at,
        reason=row.reason,
        stop_requested=bool(row.stop_requested),
        controller=job_lease(row),
        active_seconds=float(row.active_seconds or 0.0),
        space=None if row.space is None else dict(row.space),
    )


def job_lease(row: JobRow) -> ControllerLease | None:
    """The lease of the controller running the job, ``None`` when nobody holds it."""
    if row.controller_id is None:
        return None
    return ControllerLease(
        id=row.controller_id,
        host=row.controller_host or "",
        pid=row.controller_pid or 0,
        start=row.controller_start,
        heartbeat_at=row.heartbeat_at,
    )


def sharing_lease(row: ControllerRow) -> ControllerLease:
    """A controller registered on a shared job, as a lease."""
    return ControllerLease(
        id=row.id, host=row.host, pid=row.pid, start=row.start, heartbeat_at=row.heartbeat_at
    )


def with_reason(message: str, reason: str | None) -> str:
    """An event's message, followed by why when there is a reason."""
    return f"{message}: {reason}" if reason else message
