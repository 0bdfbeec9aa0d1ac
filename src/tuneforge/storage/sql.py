"""``Storage``: jobs, trials, parameters, metric series and events in one SQL database.

Storage is the single source of truth: the controller writes a running job through it and
any other process (``tuneforge trials``, ``tuneforge stop``, the dashboard) reads and steers
the job through it alone. The same code runs on SQLite (the default, one file, WAL mode)
and PostgreSQL (``postgresql+psycopg://...``, for many machines).

How concurrent writers stay safe:

* Trial numbers are given inside one write transaction. On SQLite every write transaction
  starts with ``BEGIN IMMEDIATE``, so writers queue for the lock instead of deadlocking when
  a read lock would be upgraded; on PostgreSQL the job's row is locked ``FOR UPDATE``. The
  unique ``(job_id, number)`` pair backs both up, and a clash is retried.
* Every SQLite connection waits up to 30 s for a lock (``busy_timeout``); a write that still
  finds ``database is locked`` is retried a few times, then reported as ``StorageError``.
* Transactions are short: one method, one transaction. Readers never block writers (WAL).
  Opening a storage only reads, unless the tables are missing or older than this version.
* A write either happens whole or not at all: a trial's finish (state, value, log tail,
  event) is one transaction, so a crash or a failed write never leaves half a trial.

The controller running a job holds its *lease*: a row of the job names the controller (a
random id, its host, pid and process start time) and the controller refreshes
``heartbeat_at`` every few seconds. :meth:`Storage.claim_job` gives the lease to a new
controller only when nobody holds it or its holder is dead (the caller decides how to tell),
so two controllers never run one job; ``JobBusyError`` says who holds it.

Every SQLAlchemy error reaching a caller is wrapped in ``StorageError`` naming what was
being done. Times are unix float seconds. Event kinds: ``job_created``, ``job_state``,
``stop_requested``, ``stop_cleared``, ``trial_created``, ``trial_started``,
``trial_retried``, ``trial_finished``, ``trial_reset``, ``controller_claimed``,
``controller_released`` and ``note`` (what a controller wants on record, e.g. the left-over
processes it ended).

Non-finite numbers: metric values and trial values are stored as SQL floats (a NaN becomes
NULL, read back as NaN for a metric and as ``None`` for a trial's value); in the job
document (JSON) NaN and infinities are stored as the strings ``"NaN"``, ``"Infinity"`` and
``"-Infinity"``, since JSON has no such numbers.

Example:
    >>> storage = Storage("sqlite://")
    >>> _ = storage.create_job("demo", document={}, base_dir=".", objective="loss",
    ...     direction="minimize", strategy="random", max_trials=2, output_dir=None)
    >>> storage.create_trial("demo", {"lr": 0.1, "layers": 2})
    0
    >>> storage.get_trial("demo", 0).params
    {'layers': 2, 'lr': 0.1}
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import random
import threading
import time as _time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event, func, select
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from tuneforge.errors import JobExistsError, NotFoundError, StorageError
from tuneforge.storage import schema
from tuneforge.storage.models import (
    EventRow,
    JobRow,
    JobState,
    MetricValueRow,
    TrialParamRow,
    TrialRow,
)
from tuneforge.storage.schema import SCHEMA_VERSION
from tuneforge.storage.writes import (
    AddObservations,
    FinishTrial,
    RetryTrial,
    StartTrial,
    TrialWrite,
)
from tuneforge.trial import Observation, Trial, TrialState

__all__ = [
    "SCHEMA_VERSION",
    "ControllerLease",
    "JobBusyError",
    "JobEvent",
    "JobRecord",
    "JobState",
    "Storage",
    "TrialTakenOverError",
    "default_storage_url",
]

T = TypeVar("T")

BUSY_TIMEOUT_S = 30.0
_ATTEMPTS = 4  # a write that finds the database locked is tried this many times in all
_MAX_LISTED_JOBS = 20


class JobBusyError(StorageError):
    """Another live controller holds the job's lease: two controllers never run one job."""


class TrialTakenOverError(JobBusyError):
    """A controller wrote to a trial it no longer owns: others found it dead and took it."""


@dataclass(frozen=True)
class NewTrial:
    """A trial to create: its parameters, where they came from, and the trial it continues.

    ``origin`` is ``"strategy"`` or ``"enqueued"``; ``continues`` is the number of the
    earlier trial whose saved state this one starts from (see ``Trial.continues``).
    """

    params: Mapping[str, Any]
    origin: str = "strategy"
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
    """A job as stored: its document (the job file as loaded) and where it stands."""

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


@dataclass(frozen=True)
class JobEvent:
    """One recorded state change; ``trial_number`` is ``None`` for job-level events."""

    time: float
    trial_number: int | None
    kind: str
    message: str


def default_storage_url() -> str:
    """``$TUNEFORGE_STORAGE`` if set, else ``tuneforge.db`` in the current folder (absolute)."""
    url = os.environ.get("TUNEFORGE_STORAGE", "").strip()
    if url:
        return url
    return f"sqlite:///{Path.cwd().resolve() / 'tuneforge.db'}"


class Storage:
    """Reads and writes jobs and trials in the SQL database at ``url``.

    ``url`` is an SQLAlchemy URL: ``sqlite:///path/to/file.db`` (the folder must exist; the
    file is created), ``sqlite://`` (in memory, shared by the threads of this process, gone
    when closed) or ``postgresql+psycopg://user:pass@host/db`` (``postgresql://`` means
    psycopg 3 too). Tables are created when the storage is first opened. ``clock`` gives the
    times of records that have no time argument (creation times and events).

    One ``Storage`` may be shared by the threads of a process; every process opens its own.
    """

    def __init__(self, url: str, *, clock: Callable[[], float] = _time.time) -> None:
        self.url = url
        self._clock = clock
        parsed = _parse_url(url)
        self._shown = parsed.render_as_string(hide_password=True)
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, not psycopg2
        self._is_sqlite = parsed.get_backend_name() == "sqlite"
        self._is_memory = self._is_sqlite and _is_memory_sqlite(parsed)
        self._engine = _make_engine(parsed, self._shown, memory=self._is_memory)
        # Write transactions on SQLite take the write lock up front (see module docstring).
        self._writer = (
            self._engine.execution_options(tuneforge_begin="IMMEDIATE")
            if self._is_sqlite
            else self._engine
        )
        # A read that takes several queries must see one snapshot: SQLite's transactions
        # do; PostgreSQL's default (READ COMMITTED) takes a new snapshot per statement.
        self._reader = (
            self._engine
            if self._is_sqlite
            else self._engine.execution_options(isolation_level="REPEATABLE READ")
        )
        # An in-memory database is one connection, so its users must take turns.
        self._turns: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if self._is_memory else contextlib.nullcontext()
        )
        try:
            # Most opens find the schema up to date and only read, so a reader such as
            # `tuneforge trials` never waits for the write lock of a running controller.
            current = self._run(
                "open the storage", self._schema_is_current, retry_on=(ProgrammingError,)
            )
            if not current:
                self._run(
                    "open the storage",
                    self._initialise,
                    write=True,
                    retry_on=(IntegrityError, ProgrammingError),
                )
        except BaseException:
            self._engine.dispose()
            raise

    def __repr__(self) -> str:
        return f"Storage({self._shown!r})"

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release every connection (an in-memory database is gone after this)."""
        self._engine.dispose()

    # ----------------------------------------------------------------------------- jobs

    def create_job(
        self,
        name: str,
        *,
        document: Mapping[str, Any],
        base_dir: str,
        objective: str,
        direction: str,
        strategy: str,
        max_trials: int | None,
        output_dir: str | None,
        exist_ok: bool = False,
    ) -> JobRecord:
        """Record a new job in state RUNNING; ``JobExistsError`` if the name is taken.

        ``exist_ok=True`` returns the existing job instead (several controllers starting
        one shared job at once: whichever creates it first wins, the others join it).
        """
        safe_document: dict[str, Any] = _json_document(dict(document))

        def create(session: Session) -> JobRecord:
            existing = session.scalar(select(JobRow).where(JobRow.name == name))
            if existing is not None and exist_ok:
                return _job_record(existing)
            if existing is not None:
                raise JobExistsError(
                    f"a job named {name!r} already exists in {self._shown}; "
                    "use --resume to continue it, or choose another name."
                )
            now = self._clock()
            row = JobRow(
                name=name,
                state=JobState.RUNNING,
                document=safe_document,
                base_dir=str(base_dir),
                objective=objective,
                direction=direction,
                strategy=strategy,
                max_trials=max_trials,
                output_dir=None if output_dir is None else str(output_dir),
                created_at=now,
                finished_at=None,
                reason=None,
                stop_requested=False,
            )
            session.add(row)
            session.flush()
            self._record(
                session,
                row,
                None,
                "job_created",
                f"job {name!r} created: strategy {strategy}, {direction} {objective}",
            )
            return _job_record(row)

        # A name clash between two writers surfaces as IntegrityError; the retry then
        # finds the other job and raises JobExistsError.
        return self._run("create a job", create, write=True, retry_on=(IntegrityError,))

    def get_job(self, name: str) -> JobRecord:
        """The job called ``name``; ``NotFoundError`` lists the known jobs otherwise."""
        return self._run("read a job", lambda s: _job_record(self._job(s, name)))

    def list_jobs(self) -> list[JobRecord]:
        """Every job, oldest first."""

        def read(session: Session) -> list[JobRecord]:
            rows = session.scalars(select(JobRow).order_by(JobRow.created_at, JobRow.id))
            return [_job_record(row) for row in rows]

        return self._run("list the jobs", read)

    def set_job_state(self, name: str, state: JobState, reason: str | None = None) -> None:
        """Move a job to ``state``; terminal states set ``finished_at``, RUNNING clears it."""

        def update(session: Session) -> None:
            row = self._job(session, name)
            old = row.state
            row.state = state
            row.reason = reason
            row.finished_at = self._clock() if state.is_terminal() else None
            message = f"job {old.value} -> {state.value}"
            self._record(session, row, None, "job_state", _with_reason(message, reason))

        self._run("change a job's state", update, write=True)

    def delete_job(self, name: str) -> None:
        """Remove a job and everything recorded for it."""

        def delete(session: Session) -> None:
            job_id = self._job(session, name).id
            trial_ids = select(TrialRow.id).where(TrialRow.job_id == job_id)
            # Children first, explicitly, so deleting never depends on foreign key cascades.
            for table in (MetricValueRow, TrialParamRow):
                session.execute(sa.delete(table).where(table.trial_id.in_(trial_ids)))
            session.execute(sa.delete(EventRow).where(EventRow.job_id == job_id))
            session.execute(sa.delete(TrialRow).where(TrialRow.job_id == job_id))
            session.execute(sa.delete(JobRow).where(JobRow.id == job_id))

        self._run("delete a job", delete, write=True)

    # ---------------------------------------------------------------------- stop requests

    def request_stop(self, name: str, trial_number: int | None = None) -> None:
        """Ask the controller to stop the whole job, or one of its trials."""

        def update(session: Session) -> None:
            job = self._job(session, name)
            if trial_number is None:
                job.stop_requested = True
                self._record(session, job, None, "stop_requested", "stop requested for the job")
                return
            trial = self._trial(session, job, trial_number)
            trial.stop_requested = True
            self._record(
                session,
                job,
                trial,
                "stop_requested",
                f"stop requested for trial {trial_number} ({trial.state.value})",
            )

        self._run("request a stop", update, write=True)

    def stop_requests(self, name: str) -> tuple[bool, set[int]]:
        """The job's stop flag, and the numbers of pending or running trials asked to stop."""

        def read(session: Session) -> tuple[bool, set[int]]:
            job = self._job(session, name)
            numbers = session.scalars(
                select(TrialRow.number).where(
                    TrialRow.job_id == job.id,
                    TrialRow.stop_requested.is_(True),
                    TrialRow.state.in_([TrialState.PENDING, TrialState.RUNNING]),
                )
            )
            return bool(job.stop_requested), set(numbers)

        return self._run("read the stop requests", read)

    def clear_stop_request(self, name: str) -> None:
        """Clear the job-level stop flag (a resume does this); trial flags stay."""

        def update(session: Session) -> None:
            job = self._job(session, name)
            if job.stop_requested:
                job.stop_requested = False
                self._record(session, job, None, "stop_cleared", "job stop request cleared")

        self._run("clear a stop request", update, write=True)

    # ------------------------------------------------------------------- controller lease

    def claim_job(
        self,
        name: str,
        lease: ControllerLease,
        *,
        is_alive: Callable[[ControllerLease], bool],
    ) -> ControllerLease | None:
        """Make ``lease`` the job's controller; returns the dead controller's lease it replaced.

        ``is_alive`` tells whether the current holder (another lease) still runs; when it
        does, ``JobBusyError`` names it and nothing changes. Checked and taken in one write
        transaction, so two controllers starting at once cannot both win.
        """

        def claim(session: Session) -> ControllerLease | None:
            row = self._job(session, name)
            held = _lease(row)
            if held is not None and held.id == lease.id:
                held = None
            if held is not None and is_alive(held):
                seen = ""
                if held.heartbeat_at is not None:
                    age = max(0.0, self._clock() - held.heartbeat_at)
                    seen = f", last heartbeat {age:.0f}s ago"
                raise JobBusyError(
                    f"job {name!r} is being run by another controller ({held.describe()}{seen}); "
                    f"a job runs in one controller at a time. Wait for it to end, or stop it "
                    f"(`tuneforge stop {name}`), then resume."
                )
            row.controller_id = lease.id
            row.controller_host = lease.host
            row.controller_pid = lease.pid
            row.controller_start = lease.start
            row.heartbeat_at = self._clock()
            message = f"controller {lease.describe()} runs the job"
            if held is not None:
                message += f" (controller {held.describe()} no longer runs)"
            self._record(session, row, None, "controller_claimed", message)
            return held

        return self._run("claim a job", claim, write=True)

    def heartbeat(self, name: str, lease_id: str, *, active_seconds: float) -> bool:
        """Refresh the lease's heartbeat; ``False`` if another controller has taken the job."""

        def beat(session: Session) -> bool:
            row = self._job(session, name)
            if row.controller_id != lease_id:
                return False
            row.heartbeat_at = self._clock()
            row.active_seconds = float(active_seconds)
            return True

        return self._run("refresh a job's heartbeat", beat, write=True)

    def release_job(self, name: str, lease_id: str, *, active_seconds: float | None = None) -> None:
        """Give the lease up (if ``lease_id`` still holds it), recording the time spent."""

        def release(session: Session) -> None:
            row = self._job(session, name)
            if row.controller_id != lease_id:
                return
            lease = _lease(row)
            row.controller_id = row.controller_host = row.controller_start = None
            row.controller_pid = None
            row.heartbeat_at = None
            if active_seconds is not None:
                row.active_seconds = float(active_seconds)
            shown = lease.describe() if lease is not None else "?"
            self._record(
                session, row, None, "controller_released", f"controller {shown} released the job"
            )

        self._run("release a job", release, write=True)

    def note(self, name: str, message: str, *, trial_number: int | None = None) -> None:
        """Record a ``note`` event: something a controller did that belongs on record."""

        def add(session: Session) -> None:
            job = self._job(session, name)
            trial = None if trial_number is None else self._trial(session, job, trial_number)
            self._record(session, job, trial, "note", message)

        self._run("record a note", add, write=True)

    # ----------------------------------------------------------------------------- trials

    def create_trial(
        self,
        name: str,
        params: Mapping[str, Any],
        *,
        origin: str = "strategy",
        owner: str | None = None,
        continues: int | None = None,
    ) -> int:
        """Record a PENDING trial with the next number of the job (0, 1, 2...) and return it."""
        return self.create_trials(name, [NewTrial(params, origin, continues)], owner=owner)[0]

    def create_trials(
        self,
        name: str,
        configurations: Sequence[NewTrial | tuple[Mapping[str, Any], str]],
        *,
        owner: str | None = None,
    ) -> list[int]:
        """Record PENDING trials, one per :class:`NewTrial` (or ``(params, origin)``), in
        one transaction.

        They get the job's next numbers, in the order given; either all are created or none.
        ``owner`` is the id of the controller that will run them.
        """
        planned = [c if isinstance(c, NewTrial) else NewTrial(*c) for c in configurations]
        encoded = [
            {key: _dump_param(key, value) for key, value in new.params.items()} for new in planned
        ]

        def create(session: Session) -> list[int]:
            job = self._job(session, name, for_update=True)
            last = session.scalar(
                select(func.max(TrialRow.number)).where(TrialRow.job_id == job.id)
            )
            first = 0 if last is None else last + 1
            now = self._clock()
            rows = [
                TrialRow(
                    job_id=job.id,
                    number=first + index,
                    state=TrialState.PENDING,
                    created_at=now,
                    stop_requested=False,
                    origin=new.origin,
                    owner=owner,
                    continues=new.continues,
                )
                for index, new in enumerate(planned)
            ]
            session.add_all(rows)
            session.flush()
            for row, texts, new in zip(rows, encoded, planned, strict=True):
                session.add_all(
                    TrialParamRow(trial_id=row.id, name=key, value=text)
                    for key, text in texts.items()
                )
                shown = ", ".join(f"{key}={value!r}" for key, value in new.params.items())
                source = "" if new.continues is None else f", continues trial {new.continues}"
                self._record(
                    session,
                    job,
                    row,
                    "trial_created",
                    f"trial {row.number} created ({new.origin}{source}): "
                    f"{shown or 'no parameters'}",
                )
            return [row.number for row in rows]

        if not planned:
            return []
        return self._run("create a trial", create, write=True, retry_on=(IntegrityError,))

    def start_trial(
        self, name: str, number: int, *, trial_dir: str | None, pid: int | None, time: float
    ) -> None:
        """The trial's process (or function) runs: state RUNNING."""
        self.write_trials(name, [StartTrial(number, trial_dir=trial_dir, pid=pid, time=time)])

    def retry_trial(
        self,
        name: str,
        number: int,
        *,
        attempt: int,
        reason: str,
        trial_dir: str | None,
        pid: int | None,
        time: float,
    ) -> None:
        """A new attempt of a running trial runs: the previous attempt's metric values go.

        The trial keeps its number, parameters and start time; ``attempt`` and ``pid`` are
        the new attempt's, and a ``trial_retried`` event records why the previous one is
        run again.
        """
        write = RetryTrial(
            number, attempt=attempt, reason=reason, trial_dir=trial_dir, pid=pid, time=time
        )
        self.write_trials(name, [write])

    def add_observations(self, name: str, number: int, observations: Sequence[Observation]) -> None:
        """Append metric values to a trial's series, all in one transaction."""
        if observations:
            self.write_trials(name, [AddObservations(number, tuple(observations))])

    def finish_trial(
        self,
        name: str,
        number: int,
        *,
        state: TrialState,
        value: float | None,
        reason: str | None,
        log_tail: str | None,
        time: float,
    ) -> Trial:
        """Record how a trial ended (COMPLETED, FAILED, STOPPED...) and return it as recorded.

        The trial is read back in the same transaction, so the controller need not spend a
        second round trip on it.
        """
        write = FinishTrial(
            number, state=state, value=value, reason=reason, log_tail=log_tail, time=time
        )
        return self.write_trials(name, [write])[0]

    def write_trials(
        self, name: str, writes: Sequence[TrialWrite], *, owner: str | None = None
    ) -> list[Trial]:
        """Apply ``writes`` in order, in one transaction; returns the finished trials.

        All or nothing: a write that cannot be applied (a finished trial started again, an
        unknown number) raises and leaves storage as it was. The trials finished by
        ``writes`` are read back in the same transaction and returned in the order of
        their ``FinishTrial``. With ``owner`` (the writing controller's id), a write to a
        trial owned by anyone else raises ``TrialTakenOverError``: a controller that was
        found dead while it stalled cannot overwrite what the others recorded since.
        """

        def apply(session: Session) -> list[Trial]:
            job = self._job(session, name)
            numbers = {write.number for write in writes}
            rows = {
                row.number: row
                for row in session.scalars(
                    select(TrialRow).where(TrialRow.job_id == job.id, TrialRow.number.in_(numbers))
                )
            }
            if owner is not None:
                taken = sorted(number for number, row in rows.items() if row.owner != owner)
                if taken:
                    shown = ", ".join(str(number) for number in taken)
                    raise TrialTakenOverError(
                        f"trial(s) {shown} of job {name!r} no longer belong to this controller: "
                        "the others found it dead and took them over."
                    )
            metric_rows: list[dict[str, Any]] = []
            finished: list[TrialRow] = []
            for write in writes:
                row = rows.get(write.number) or self._trial(session, job, write.number)
                if isinstance(write, AddObservations):
                    metric_rows.extend(_metric_row(row.id, obs) for obs in write.observations)
                    continue
                if isinstance(write, RetryTrial) and metric_rows:
                    # The earlier attempt's values must go before this attempt's arrive.
                    session.execute(sa.insert(MetricValueRow), metric_rows)
                    metric_rows = []
                self._apply(session, job, row, write)
                if isinstance(write, FinishTrial):
                    finished.append(row)
            if metric_rows:
                session.execute(sa.insert(MetricValueRow), metric_rows)
            if not finished:
                return []
            read = self._trials_from_rows(
                session, finished, TrialRow.id.in_([row.id for row in finished])
            )
            return read

        if not writes:
            return []
        return self._run(_operation(writes), apply, write=True)

    def _apply(
        self,
        session: Session,
        job: JobRow,
        row: TrialRow,
        write: StartTrial | RetryTrial | FinishTrial,
    ) -> None:
        """One state change of a trial, with its event (inside ``write_trials``)."""
        number = row.number
        if isinstance(write, RetryTrial):
            _check_changeable(job.name, row, "retry")
            row.state = TrialState.RUNNING
            row.attempt = write.attempt
            row.pid = write.pid
            if write.trial_dir is not None:
                row.trial_dir = str(write.trial_dir)
            if row.started_at is None:
                row.started_at = write.time
            session.execute(sa.delete(MetricValueRow).where(MetricValueRow.trial_id == row.id))
            message = f"trial {number} attempt {write.attempt} running"
            message += f" (pid {write.pid})" if write.pid is not None else ""
            kind, message = "trial_retried", _with_reason(message, write.reason)
        elif isinstance(write, StartTrial):
            _check_changeable(job.name, row, "start")
            row.state = TrialState.RUNNING
            row.trial_dir = None if write.trial_dir is None else str(write.trial_dir)
            row.pid = write.pid
            row.started_at = write.time
            details = [f"pid {write.pid}"] if write.pid is not None else []
            details += [f"folder {write.trial_dir}"] if write.trial_dir is not None else []
            kind = "trial_started"
            message = f"trial {number} running" + (f" ({', '.join(details)})" if details else "")
        else:
            _check_changeable(job.name, row, "finish")
            row.state = write.state
            row.value = None if write.value is None else _float_or_none(write.value)
            row.reason = write.reason
            row.log_tail = write.log_tail
            row.finished_at = write.time
            message = f"trial {number} {write.state.value}"
            if row.value is not None:
                message += f" with value {row.value:g}"
            kind, message = "trial_finished", _with_reason(message, write.reason)
        self._record(session, job, row, kind, message, time=write.time)

    def reset_trial(self, name: str, number: int, *, owner: str | None = None) -> None:
        """Make an interrupted (or abandoned pending/running) trial PENDING again.

        Its value, reason, log tail, pid, times, stop flag and metric values are cleared;
        its parameters, number, origin and folder stay, so it re-runs the same configuration.
        ``owner``, when given, is the controller that re-runs it.
        """

        def update(session: Session) -> None:
            job = self._job(session, name)
            row = self._trial(session, job, number)
            _check_changeable(name, row, "reset")
            old = row.state
            row.state = TrialState.PENDING
            row.value = row.reason = row.log_tail = None
            row.pid = None
            row.attempt = 1
            row.started_at = row.finished_at = None
            row.stop_requested = False
            if owner is not None:
                row.owner = owner
            session.execute(sa.delete(MetricValueRow).where(MetricValueRow.trial_id == row.id))
            self._record(session, job, row, "trial_reset", f"trial {number} {old.value} -> pending")

        self._run("reset a trial", update, write=True)

    def get_trial(self, name: str, number: int) -> Trial:
        """One trial with its parameters and the last value of each metric."""

        def read(session: Session) -> Trial:
            row = self._trial(session, self._job(session, name), number)
            return self._trials_from_rows(session, [row], TrialRow.id == row.id)[0]

        return self._run("read a trial", read)

    def trials(self, name: str, states: Collection[TrialState] | None = None) -> list[Trial]:
        """The job's trials in number order, optionally only those in ``states``.

        Each trial's ``metrics`` holds the last value of every metric it reported: the one
        with the highest step, then the latest time.
        """

        def read(session: Session) -> list[Trial]:
            job = self._job(session, name)
            where = TrialRow.job_id == job.id
            if states is not None:
                where = sa.and_(where, TrialRow.state.in_(list(states)))
            rows = list(session.scalars(select(TrialRow).where(where).order_by(TrialRow.number)))
            return self._trials_from_rows(session, rows, where)

        return self._run("read the trials", read)

    def count_trials(self, name: str) -> dict[TrialState, int]:
        """How many trials the job has in each state (every state present, zeros included)."""

        def read(session: Session) -> dict[TrialState, int]:
            job = self._job(session, name)
            counts = dict.fromkeys(TrialState, 0)
            query = (
                select(TrialRow.state, func.count())
                .where(TrialRow.job_id == job.id)
                .group_by(TrialRow.state)
            )
            for state, count in session.execute(query):
                counts[state] = int(count)
            return counts

        return self._run("count the trials", read)

    def metric_series(self, name: str, number: int, metric: str | None = None) -> list[Observation]:
        """A trial's observations (of one metric, or all) in step order."""

        def read(session: Session) -> list[Observation]:
            row = self._trial(session, self._job(session, name), number)
            query = select(MetricValueRow).where(MetricValueRow.trial_id == row.id)
            if metric is not None:
                query = query.where(MetricValueRow.metric == metric)
            query = query.order_by(MetricValueRow.step, MetricValueRow.time, MetricValueRow.id)
            return [
                Observation(m.metric, _nan_if_none(m.value), m.step, m.time)
                for m in session.scalars(query)
            ]

        return self._run("read a metric series", read)

    def events(self, name: str) -> list[JobEvent]:
        """Every state change of the job and its trials, in the order they were recorded."""

        def read(session: Session) -> list[JobEvent]:
            job = self._job(session, name)
            query = (
                select(EventRow.time, TrialRow.number, EventRow.kind, EventRow.message)
                .outerjoin(TrialRow, TrialRow.id == EventRow.trial_id)
                .where(EventRow.job_id == job.id)
                .order_by(EventRow.id)
            )
            return [JobEvent(t, n, k, m) for t, n, k, m in session.execute(query)]

        return self._run("read the events", read)

    # ---------------------------------------------------------------------------- helpers

    def _schema_is_current(self, session: Session) -> bool:
        return schema.is_current(session.connection(), self._shown)

    def _initialise(self, session: Session) -> None:
        """Create the schema, or upgrade it (see :mod:`tuneforge.storage.schema`)."""
        schema.bring_up_to_date(session.connection(), self._shown)

    def _run(
        self,
        operation: str,
        work: Callable[[Session], T],
        *,
        write: bool = False,
        retry_on: tuple[type[SQLAlchemyError], ...] = (),
    ) -> T:
        """Run ``work`` in one short transaction, retrying a locked database a few times.

        SQLAlchemy errors become ``StorageError`` naming ``operation``; tuneforge errors
        raised by ``work`` (``NotFoundError``...) pass through unchanged.
        """
        engine = self._writer if write else self._reader
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                with (
                    self._turns,
                    Session(engine, expire_on_commit=False) as session,
                    session.begin(),
                ):
                    return work(session)
            except OperationalError as exc:
                if not _is_locked(exc):
                    raise StorageError(
                        f"could not {operation} in {self._shown}: {_reason(exc)}"
                    ) from exc
                if attempt == _ATTEMPTS:
                    raise StorageError(
                        f"could not {operation}: the storage {self._shown} stayed locked by "
                        f"another process ({_ATTEMPTS} tries of up to {BUSY_TIMEOUT_S:g} s "
                        "each); is a long transaction or a stuck tuneforge holding it?"
                    ) from exc
            except retry_on as exc:
                if attempt == _ATTEMPTS:
                    raise StorageError(
                        f"could not {operation} in {self._shown}: {_reason(exc)}"
                    ) from exc
            except SQLAlchemyError as exc:
                raise StorageError(
                    f"could not {operation} in {self._shown}: {_reason(exc)}"
                ) from exc
            # Back off with jitter so that retrying writers do not collide again in step.
            _time.sleep(0.05 * 2**attempt * (1 + random.random()))
        raise AssertionError("unreachable")  # pragma: no cover

    def _job(self, session: Session, name: str, *, for_update: bool = False) -> JobRow:
        query = select(JobRow).where(JobRow.name == name)
        if for_update:
            query = query.with_for_update()  # serialises trial numbering on PostgreSQL
        row = session.scalar(query)
        if row is not None:
            return row
        names = list(session.scalars(select(JobRow.name).order_by(JobRow.created_at, JobRow.id)))
        if not names:
            known = "the storage has no jobs yet"
        else:
            known = "known jobs: " + ", ".join(names[:_MAX_LISTED_JOBS])
            if len(names) > _MAX_LISTED_JOBS:
                known += f" (and {len(names) - _MAX_LISTED_JOBS} more)"
        raise NotFoundError(f"no job named {name!r} in {self._shown}; {known}")

    def _trial(self, session: Session, job: JobRow, number: int) -> TrialRow:
        row = session.scalar(
            select(TrialRow).where(TrialRow.job_id == job.id, TrialRow.number == number)
        )
        if row is not None:
            return row
        low, high = session.execute(
            select(func.min(TrialRow.number), func.max(TrialRow.number)).where(
                TrialRow.job_id == job.id
            )
        ).one()
        if low is None:
            raise NotFoundError(f"job {job.name!r} has no trial {number}; it has no trials yet")
        raise NotFoundError(
            f"job {job.name!r} has no trial {number}; trials are numbered {low}..{high}"
        )

    def _record(
        self,
        session: Session,
        job: JobRow,
        trial: TrialRow | None,
        kind: str,
        message: str,
        *,
        time: float | None = None,
    ) -> None:
        session.add(
            EventRow(
                job_id=job.id,
                trial_id=None if trial is None else trial.id,
                time=self._clock() if time is None else time,
                kind=kind,
                message=message,
            )
        )

    def _trials_from_rows(
        self, session: Session, rows: list[TrialRow], where: sa.ColumnElement[bool]
    ) -> list[Trial]:
        """Attach parameters and last metric values to trial rows (three queries in all)."""
        if not rows:
            return []
        params: dict[int, dict[str, Any]] = {row.id: {} for row in rows}
        query = (
            select(TrialParamRow.trial_id, TrialParamRow.name, TrialParamRow.value)
            .join(TrialRow, TrialRow.id == TrialParamRow.trial_id)
            .where(where)
            .order_by(TrialParamRow.trial_id, TrialParamRow.name)
        )
        for trial_id, key, text in session.execute(query):
            if trial_id in params:  # a trial created since the first query is not listed
                params[trial_id][key] = json.loads(text)

        metrics: dict[int, dict[str, float]] = {row.id: {} for row in rows}
        rank = (
            func.row_number()
            .over(
                partition_by=(MetricValueRow.trial_id, MetricValueRow.metric),
                order_by=(
                    MetricValueRow.step.desc(),
                    MetricValueRow.time.desc(),
                    MetricValueRow.id.desc(),
                ),
            )
            .label("rank")
        )
        ranked = (
            select(MetricValueRow.trial_id, MetricValueRow.metric, MetricValueRow.value, rank)
            .join(TrialRow, TrialRow.id == MetricValueRow.trial_id)
            .where(where)
            .subquery()
        )
        last = (
            select(ranked.c.trial_id, ranked.c.metric, ranked.c.value)
            .where(ranked.c.rank == 1)
            .order_by(ranked.c.trial_id, ranked.c.metric)
        )
        for trial_id, metric, value in session.execute(last):
            if trial_id in metrics:
                metrics[trial_id][metric] = _nan_if_none(value)

        return [
            Trial(
                number=row.number,
                params=params[row.id],
                state=row.state,
                value=row.value,
                metrics=metrics[row.id],
                reason=row.reason,
                log_tail=row.log_tail,
                trial_dir=row.trial_dir,
                started_at=row.started_at,
                finished_at=row.finished_at,
                origin=row.origin,
                pid=row.pid,
                attempt=row.attempt or 1,
                continues=row.continues,
            )
            for row in rows
        ]


# --------------------------------------------------------------------------- engine setup


def _parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StorageError(
            f"cannot read the storage URL {url!r}; expected e.g. 'sqlite:///path/to/tuneforge.db' "
            "or 'postgresql+psycopg://user:password@host/database'."
        ) from exc
    return parsed


def _is_memory_sqlite(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in database


def _make_engine(url: URL, shown: str, *, memory: bool) -> Engine:
    try:
        if url.get_backend_name() != "sqlite":
            return sa.create_engine(url, pool_pre_ping=True)
        if memory:
            engine = sa.create_engine(
                url, poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
        else:
            folder = Path(url.database or "").expanduser().absolute().parent
            if not folder.is_dir():
                raise StorageError(
                    f"cannot open the storage {shown}: the folder {folder} does not exist; "
                    "create it first, or choose another path."
                )
            engine = sa.create_engine(url, connect_args={"check_same_thread": False})
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise StorageError(
            f"cannot open the storage {shown}: its database driver is not installed "
            f"({exc}); for PostgreSQL install psycopg: pip install 'psycopg[binary]'."
        ) from exc
    except ArgumentError as exc:
        raise StorageError(f"cannot open the storage {shown}: {exc}") from exc
    _configure_sqlite(engine, wal=not memory)
    return engine


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    """Set the pragmas on every connection and take transaction control from pysqlite."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite otherwise emits its own BEGIN (never IMMEDIATE) and commits around DDL.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if wal:
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")  # safe with WAL, much faster
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        mode = connection.get_execution_options().get("tuneforge_begin", "")
        connection.exec_driver_sql(f"BEGIN {mode}".strip())


# ------------------------------------------------------------------------- value helpers


def _job_record(row: JobRow) -> JobRecord:
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
        controller=_lease(row),
        active_seconds=float(row.active_seconds or 0.0),
    )


def _lease(row: JobRow) -> ControllerLease | None:
    if row.controller_id is None:
        return None
    return ControllerLease(
        id=row.controller_id,
        host=row.controller_host or "",
        pid=row.controller_pid or 0,
        start=row.controller_start,
        heartbeat_at=row.heartbeat_at,
    )


def _check_changeable(name: str, row: TrialRow, action: str) -> None:
    """A finished trial never changes again; refusing protects its recorded results."""
    if row.state.is_finished():
        raise StorageError(
            f"cannot {action} trial {row.number} of job {name!r}: it is already "
            f"{row.state.value}, and finished trials never change."
        )


def _metric_row(trial_id: int, observation: Observation) -> dict[str, Any]:
    return {
        "trial_id": trial_id,
        "metric": observation.metric,
        "step": int(observation.step),
        "value": _float_or_none(observation.value),
        "time": float(observation.time),
    }


_OPERATIONS = {
    StartTrial: "start a trial",
    RetryTrial: "record a retried trial",
    AddObservations: "record metric values",
    FinishTrial: "finish a trial",
}


def _operation(writes: Sequence[TrialWrite]) -> str:
    """What ``writes`` do, for an error message: the one kind they hold, or all of it."""
    kinds = {type(write) for write in writes}
    if len(kinds) == 1:
        return _OPERATIONS[kinds.pop()]
    return f"record {len(writes)} trial events"


def _with_reason(message: str, reason: str | None) -> str:
    return f"{message}: {reason}" if reason else message


def _float_or_none(value: float) -> float | None:
    """NaN as NULL: SQLite would do it anyway, this makes every backend agree."""
    number = float(value)
    return None if math.isnan(number) else number


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _plain(value: Any) -> Any:
    """numpy scalars (which strategies may hand out) as the Python values they hold."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return value.item()
    return value


def _dump_param(name: str, value: Any) -> str:
    try:
        return json.dumps(_plain(value))
    except (TypeError, ValueError) as exc:
        raise StorageError(
            f"cannot store parameter {name!r}: its value {value!r} is a "
            f"{type(value).__name__}; expected a string, number, boolean or None."
        ) from exc


def _json_document(value: Any, path: str = "document") -> Any:
    """A job document as plain JSON data: non-finite floats as strings, dates as ISO text."""
    value = _plain(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(key): _json_document(item, f"{path}.{key}") for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_document(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    raise StorageError(
        f"cannot store the job document: {path} is a {type(value).__name__} ({value!r}); "
        "expected JSON data (mappings, lists, strings, numbers, booleans or null)."
    )


def _is_locked(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "database is locked" in text or "database table is locked" in text


def _reason(exc: SQLAlchemyError) -> str:
    """The driver's own message, without SQLAlchemy's statement dump and help link."""
    origin = getattr(exc, "orig", None)
    return str(origin if origin is not None else exc).strip().splitlines()[0]
