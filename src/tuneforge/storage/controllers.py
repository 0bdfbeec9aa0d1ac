"""The controllers sharing a job: who they are, their heartbeats, and a dead one's trials.

A job run by one controller has a lease (``Storage.claim_job``). A shared job
(``tuneforge run --join``, ``optimize(join=True)``) has several controllers and no lease,
so each of them registers in ``job_controllers`` (:func:`join_job`), refreshes its
heartbeat there (:func:`heartbeat`), owns the trials it claims (``trials.owner``) and
leaves when it ends (:func:`leave_job`).

A controller killed with SIGKILL leaves its row and its PENDING or RUNNING trials behind.
The others call :func:`recover_dead` at every heartbeat: in one write transaction (the
job's row locked ``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) it finds the
registered controllers the caller's ``is_alive`` says are dead, lets the caller end their
trials' processes, marks those trials INTERRUPTED and removes the dead rows. A second
controller noticing the same death at once waits for the lock and then finds nothing left
to do, so each trial is recovered exactly once; the job's ``on_interrupt`` then decides
whether one controller re-runs it (``claims.claim_rerun``) or it stays INTERRUPTED.

Like :mod:`tuneforge.storage.claims`, these functions are written with storage's
transaction API (:mod:`tuneforge.storage.session`); a dead controller's trials end with
:func:`tuneforge.storage.trials.apply_write`, as every trial's state change does.

Example:
    >>> from tuneforge.storage import ControllerLease, Storage
    >>> storage = Storage("sqlite://")
    >>> _ = storage.create_job("demo", document={}, base_dir=".", objective="loss",
    ...     direction="minimize", strategy="sobol", max_trials=2, output_dir=None)
    >>> join_job(storage, "demo", ControllerLease(id="a", host="h", pid=1))
    >>> heartbeat(storage, "demo", "a"), [c.id for c in sharing_controllers(storage, "demo")]
    (True, ['a'])
    >>> recover_dead(storage, "demo", own_id="b", is_alive=lambda lease: False)
    []
    >>> heartbeat(storage, "demo", "a")  # "a" was found dead and removed
    False
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy import select

from tuneforge.storage.models import ControllerRow, JobRow, TrialRow
from tuneforge.storage.records import ControllerLease, EventKind, job_lease, sharing_lease
from tuneforge.storage.session import StorageSession
from tuneforge.storage.sql import Storage
from tuneforge.storage.trials import apply_write
from tuneforge.storage.writes import FinishTrial
from tuneforge.trial import Trial, TrialState

__all__ = ["heartbeat", "join_job", "leave_job", "recover_dead", "sharing_controllers"]

_ACTIVE = (TrialState.PENDING, TrialState.RUNNING)


def join_job(storage: Storage, name: str, lease: ControllerLease) -> None:
    """Register ``lease`` as one of the job's sharing controllers, heartbeat now."""

    def join(tx: StorageSession) -> None:
        job = tx.job(name)
        tx.session.add(
            ControllerRow(
                id=lease.id,
                job_id=job.id,
                host=lease.host,
                pid=lease.pid,
                start=lease.start,
                heartbeat_at=tx.now(),
            )
        )
        tx.record_event(
            job, None, EventKind.CONTROLLER_JOINED, f"controller {lease.describe()} joins"
        )

    storage.transaction("join a job", join, write=True)


def heartbeat(storage: Storage, name: str, controller_id: str) -> bool:
    """Refresh the controller's heartbeat; ``False`` if the others found it dead."""

    def beat(tx: StorageSession) -> bool:
        job = tx.job(name)
        result = tx.session.execute(
            sa.update(ControllerRow)
            .where(ControllerRow.id == controller_id, ControllerRow.job_id == job.id)
            .values(heartbeat_at=tx.now())
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    return storage.transaction("refresh a controller's heartbeat", beat, write=True)


def leave_job(storage: Storage, name: str, controller_id: str) -> None:
    """Unregister the controller (its trials have ended)."""

    def leave(tx: StorageSession) -> None:
        job = tx.job(name)
        row = tx.session.get(ControllerRow, controller_id)
        if row is None or row.job_id != job.id:
            return
        lease = sharing_lease(row)
        tx.session.delete(row)
        tx.record_event(job, None, EventKind.CONTROLLER_LEFT, f"controller {lease.describe()} left")

    storage.transaction("leave a job", leave, write=True)


def sharing_controllers(storage: Storage, name: str) -> list[ControllerLease]:
    """The job's registered sharing controllers, live or not, in the order they joined."""

    def read(tx: StorageSession) -> list[ControllerLease]:
        job = tx.job(name)
        rows = tx.session.scalars(
            select(ControllerRow)
            .where(ControllerRow.job_id == job.id)
            .order_by(ControllerRow.heartbeat_at, ControllerRow.id)
        )
        return [sharing_lease(row) for row in rows]

    return storage.transaction("read a job's controllers", read)


def recover_dead(
    storage: Storage,
    name: str,
    *,
    own_id: str | None,
    is_alive: Callable[[ControllerLease], bool],
    end_processes: Callable[[Sequence[Trial]], None] | None = None,
) -> list[int]:
    """Mark the trials of the job's dead sharing controllers INTERRUPTED; their numbers.

    Every registered controller but ``own_id`` that ``is_alive`` says is dead is removed,
    and its PENDING and RUNNING trials are marked; so are unfinished trials whose owner is
    no live controller at all (one that left without finishing them, or a dead lease
    holder). Before they are marked, ``end_processes`` gets them (as recorded: folder,
    process group) to end what they left running. All of it happens in one write
    transaction, so no other controller can re-run one of these trials before its old
    processes are gone, and no trial is recovered twice.
    """

    def abandoned(
        tx: StorageSession, job: JobRow
    ) -> tuple[dict[str, ControllerLease], list[TrialRow], sa.ColumnElement[bool]]:
        """The dead registered controllers, and the unfinished trials no live one watches."""
        rows = tx.session.scalars(
            select(ControllerRow).where(ControllerRow.job_id == job.id, ControllerRow.id != own_id)
        ).all()
        dead = {row.id: sharing_lease(row) for row in rows if not is_alive(sharing_lease(row))}
        # Trials of a live controller are left alone: this one's, the live sharers', and
        # those of a live controller holding the job's lease. Every other unfinished trial
        # has nobody watching it: its controller died, or ended without finishing it.
        live = {row.id for row in rows if row.id not in dead} | {own_id or ""}
        holder = job_lease(job)
        if holder is not None and is_alive(holder):
            live.add(holder.id)
        where = sa.and_(
            TrialRow.job_id == job.id,
            TrialRow.state.in_(list(_ACTIVE)),
            sa.or_(TrialRow.owner.is_(None), TrialRow.owner.not_in(list(live))),
        )
        trial_rows = list(
            tx.session.scalars(select(TrialRow).where(where).order_by(TrialRow.number))
        )
        return dead, trial_rows, where

    def anything_to_do(tx: StorageSession) -> bool:
        dead, trial_rows, _where = abandoned(tx, tx.job(name))
        return bool(dead or trial_rows)

    def recover(tx: StorageSession) -> list[int]:
        job = tx.job(name, for_update=True)
        dead, trial_rows, where = abandoned(tx, job)  # again: another may have done it
        if end_processes is not None and trial_rows:
            end_processes(tx.trials_from_rows(trial_rows, where))
        now = tx.now()
        for row in trial_rows:
            owner = dead.get(row.owner or "")
            shown = f" ({owner.describe()})" if owner is not None else ""
            reason = f"its controller{shown} stopped while the trial ran"
            write = FinishTrial(
                row.number,
                state=TrialState.INTERRUPTED,
                value=None,
                reason=reason,
                log_tail=row.log_tail,
                time=now,
            )
            apply_write(tx, job, row, write)
        owners = {row.number: row.owner for row in trial_rows}
        for row in trial_rows:
            # Nobody owns it until a controller claims its re-run: a writer that was only
            # stalled, not dead, is refused (Storage.write_trials) instead of overwriting.
            row.owner = None
        for controller_id, lease in dead.items():
            tx.session.execute(sa.delete(ControllerRow).where(ControllerRow.id == controller_id))
            numbers = [number for number, owner in owners.items() if owner == controller_id]
            left = ", ".join(str(number) for number in numbers) or "none"
            tx.record_event(
                job,
                None,
                EventKind.CONTROLLER_LOST,
                f"controller {lease.describe()} no longer runs; its unfinished trials: {left}",
            )
        return [row.number for row in trial_rows]

    # Usually every controller lives: a read finds that, without taking the write lock.
    if not storage.transaction("look for dead controllers", anything_to_do):
        return []
    return storage.transaction("recover a dead controller's trials", recover, write=True)
