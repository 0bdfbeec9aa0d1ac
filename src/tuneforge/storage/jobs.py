"""Jobs: creating, reading and steering them, and the lease of the controller running one.

:class:`JobStore` holds the job half of ``Storage``: a job's record (its document, its
resolved search space, where it stands), its state, stop requests, notes and events, and
the lease that keeps one controller per job. Each method runs in one transaction.

The controller running a job holds its *lease*: a row of the job names the controller (a
random id, its host, pid and process start time) and the controller refreshes
``heartbeat_at`` every few seconds. :meth:`JobStore.claim_job` gives the lease to a new
controller only when nobody holds it or its holder is dead (the caller decides how to tell),
so two controllers never run one job; ``JobBusyError`` says who holds it.

Example:
    >>> from tuneforge.storage import Storage
    >>> storage = Storage("sqlite://")
    >>> job = storage.create_job("demo", document={"name": "demo"}, base_dir=".",
    ...     objective="loss", direction="minimize", strategy="random", max_trials=2,
    ...     output_dir=None, space={"x": {"type": "float", "low": 0.0, "high": 1.0}})
    >>> job.space
    {'x': {'type': 'float', 'low': 0.0, 'high': 1.0}}
    >>> [event.kind for event in storage.events("demo")]
    [<EventKind.JOB_CREATED: 'job_created'>]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tuneforge.errors import JobExistsError
from tuneforge.storage.encoding import json_data
from tuneforge.storage.models import (
    EventRow,
    JobRow,
    JobState,
    MetricValueRow,
    TrialParamRow,
    TrialRow,
)
from tuneforge.storage.records import (
    ControllerLease,
    EventKind,
    JobBusyError,
    JobEvent,
    JobRecord,
    job_lease,
    job_record,
    with_reason,
)
from tuneforge.storage.session import StorageBase, StorageSession
from tuneforge.trial import TrialState

__all__ = ["JobStore"]


class JobStore(StorageBase):
    """The ``Storage`` methods over jobs: records, states, stop requests, leases, events."""

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
        space: Mapping[str, Any] | None = None,
        exist_ok: bool = False,
    ) -> JobRecord:
        """Record a new job in state RUNNING; ``JobExistsError`` if the name is taken.

        ``space`` is the job's resolved search space as a plain mapping, stored (as JSON
        data, like ``document``) for readers that must not rebuild it from the document.
        ``exist_ok=True`` returns the existing job instead (several controllers starting
        one shared job at once: whichever creates it first wins, the others join it).
        """
        safe_document: dict[str, Any] = json_data(dict(document))
        safe_space: dict[str, Any] | None = (
            None if space is None else json_data(dict(space), "space", what="the job's space")
        )

        def create(tx: StorageSession) -> JobRecord:
            existing = tx.session.scalar(select(JobRow).where(JobRow.name == name))
            if existing is not None and exist_ok:
                return job_record(existing)
            if existing is not None:
                raise JobExistsError(
                    f"a job named {name!r} already exists in {tx.shown}; "
                    "use --resume to continue it, or choose another name."
                )
            row = JobRow(
                name=name,
                state=JobState.RUNNING,
                document=safe_document,
                space=safe_space,
                base_dir=str(base_dir),
                objective=objective,
                direction=direction,
                strategy=strategy,
                max_trials=max_trials,
                output_dir=None if output_dir is None else str(output_dir),
                created_at=tx.now(),
                finished_at=None,
                reason=None,
                stop_requested=False,
            )
            tx.session.add(row)
            tx.session.flush()
            tx.record_event(
                row,
                None,
                EventKind.JOB_CREATED,
                f"job {name!r} created: strategy {strategy}, {direction} {objective}",
            )
            return job_record(row)

        # A name clash between two writers surfaces as IntegrityError; the retry then
        # finds the other job and raises JobExistsError.
        return self.transaction("create a job", create, write=True, retry_on=(IntegrityError,))

    def get_job(self, name: str) -> JobRecord:
        """The job called ``name``; ``NotFoundError`` lists the known jobs otherwise."""
        return self.transaction("read a job", lambda tx: job_record(tx.job(name)))

    def list_jobs(self) -> list[JobRecord]:
        """Every job, oldest first."""

        def read(tx: StorageSession) -> list[JobRecord]:
            rows = tx.session.scalars(select(JobRow).order_by(JobRow.created_at, JobRow.id))
            return [job_record(row) for row in rows]

        return self.transaction("list the jobs", read)

    def set_job_state(self, name: str, state: JobState, reason: str | None = None) -> None:
        """Move a job to ``state``; terminal states set ``finished_at``, RUNNING clears it."""

        def update(tx: StorageSession) -> None:
            row = tx.job(name)
            old = row.state
            row.state = state
            row.reason = reason
            row.finished_at = tx.now() if state.is_terminal() else None
            message = f"job {old.value} -> {state.value}"
            tx.record_event(row, None, EventKind.JOB_STATE, with_reason(message, reason))

        self.transaction("change a job's state", update, write=True)

    def delete_job(self, name: str) -> None:
        """Remove a job and everything recorded for it."""

        def delete(tx: StorageSession) -> None:
            job_id = tx.job(name).id
            trial_ids = select(TrialRow.id).where(TrialRow.job_id == job_id)
            # Children first, explicitly, so deleting never depends on foreign key cascades.
            for table in (MetricValueRow, TrialParamRow):
                tx.session.execute(sa.delete(table).where(table.trial_id.in_(trial_ids)))
            tx.session.execute(sa.delete(EventRow).where(EventRow.job_id == job_id))
            tx.session.execute(sa.delete(TrialRow).where(TrialRow.job_id == job_id))
            tx.session.execute(sa.delete(JobRow).where(JobRow.id == job_id))

        self.transaction("delete a job", delete, write=True)

    # ---------------------------------------------------------------------- stop requests

    def request_stop(self, name: str, trial_number: int | None = None) -> None:
        """Ask the controller to stop the whole job, or one of its trials."""

        def update(tx: StorageSession) -> None:
            job = tx.job(name)
            if trial_number is None:
                job.stop_requested = True
                tx.record_event(job, None, EventKind.STOP_REQUESTED, "stop requested for the job")
                return
            trial = tx.trial(job, trial_number)
            trial.stop_requested = True
            tx.record_event(
                job,
                trial,
                EventKind.STOP_REQUESTED,
                f"stop requested for trial {trial_number} ({trial.state.value})",
            )

        self.transaction("request a stop", update, write=True)

    def stop_requests(self, name: str) -> tuple[bool, set[int]]:
        """The job's stop flag, and the numbers of pending or running trials asked to stop."""

        def read(tx: StorageSession) -> tuple[bool, set[int]]:
            job = tx.job(name)
            numbers = tx.session.scalars(
                select(TrialRow.number).where(
                    TrialRow.job_id == job.id,
                    TrialRow.stop_requested.is_(True),
                    TrialRow.state.in_([TrialState.PENDING, TrialState.RUNNING]),
                )
            )
            return bool(job.stop_requested), set(numbers)

        return self.transaction("read the stop requests", read)

    def clear_stop_request(self, name: str) -> None:
        """Clear the job-level stop flag (a resume does this); trial flags stay."""

        def update(tx: StorageSession) -> None:
            job = tx.job(name)
            if job.stop_requested:
                job.stop_requested = False
                tx.record_event(job, None, EventKind.STOP_CLEARED, "job stop request cleared")

        self.transaction("clear a stop request", update, write=True)

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

        def claim(tx: StorageSession) -> ControllerLease | None:
            row = tx.job(name)
            held = job_lease(row)
            if held is not None and held.id == lease.id:
                held = None
            if held is not None and is_alive(held):
                seen = ""
                if held.heartbeat_at is not None:
                    age = max(0.0, tx.now() - held.heartbeat_at)
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
            row.heartbeat_at = tx.now()
            message = f"controller {lease.describe()} runs the job"
            if held is not None:
                message += f" (controller {held.describe()} no longer runs)"
            tx.record_event(row, None, EventKind.CONTROLLER_CLAIMED, message)
            return held

        return self.transaction("claim a job", claim, write=True)

    def heartbeat(self, name: str, lease_id: str, *, active_seconds: float) -> bool:
        """Refresh the lease's heartbeat; ``False`` if another controller has taken the job."""

        def beat(tx: StorageSession) -> bool:
            row = tx.job(name)
            if row.controller_id != lease_id:
                return False
            row.heartbeat_at = tx.now()
            row.active_seconds = float(active_seconds)
            return True

        return self.transaction("refresh a job's heartbeat", beat, write=True)

    def release_job(self, name: str, lease_id: str, *, active_seconds: float | None = None) -> None:
        """Give the lease up (if ``lease_id`` still holds it), recording the time spent."""

        def release(tx: StorageSession) -> None:
            row = tx.job(name)
            if row.controller_id != lease_id:
                return
            lease = job_lease(row)
            row.controller_id = row.controller_host = row.controller_start = None
            row.controller_pid = None
            row.heartbeat_at = None
            if active_seconds is not None:
                row.active_seconds = float(active_seconds)
            shown = lease.describe() if lease is not None else "?"
            tx.record_event(
                row, None, EventKind.CONTROLLER_RELEASED, f"controller {shown} released the job"
            )

        self.transaction("release a job", release, write=True)

    # --------------------------------------------------------------------- notes, events

    def note(self, name: str, message: str, *, trial_number: int | None = None) -> None:
        """Record a ``note`` event: something a controller did that belongs on record."""

        def add(tx: StorageSession) -> None:
            job = tx.job(name)
            trial = None if trial_number is None else tx.trial(job, trial_number)
            tx.record_event(job, trial, EventKind.NOTE, message)

        self.transaction("record a note", add, write=True)

    def events(self, name: str) -> list[JobEvent]:
        """Every state change of the job and its trials, in the order they were recorded."""

        def read(tx: StorageSession) -> list[JobEvent]:
            job = tx.job(name)
            query = (
                select(EventRow.time, TrialRow.number, EventRow.kind, EventRow.message)
                .outerjoin(TrialRow, TrialRow.id == EventRow.trial_id)
                .where(EventRow.job_id == job.id)
                .order_by(EventRow.id)
            )
            return [JobEvent(t, n, EventKind(k), m) for t, n, k, m in tx.session.execute(query)]

        return self.transaction("read the events", read)
