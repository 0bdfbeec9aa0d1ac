"""A job's trials: creating, changing and reading them (the trial half of ``Storage``).

Trials are created PENDING with the job's next numbers (:func:`insert_trials`, the one
place a trial row is made), change state through the writes of
:mod:`tuneforge.storage.writes` (:func:`apply_write`, the one place a state change and its
event are recorded) and never change again once finished. :class:`TrialStore` holds the
``Storage`` methods over them; each runs in one transaction.

Example:
    >>> from tuneforge.storage import Storage
    >>> storage = Storage("sqlite://")
    >>> _ = storage.create_job("demo", document={}, base_dir=".", objective="loss",
    ...     direction="minimize", strategy="random", max_trials=2, output_dir=None)
    >>> storage.create_trials("demo", [NewTrial({"x": 1}), NewTrial({"x": 2}, "enqueued")])
    [0, 1]
    >>> storage.count_trials("demo")[TrialState.PENDING]
    2
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tuneforge.errors import StorageError
from tuneforge.storage.encoding import dump_param, float_or_none, nan_if_none
from tuneforge.storage.models import JobRow, MetricValueRow, TrialParamRow, TrialRow
from tuneforge.storage.records import EventKind, NewTrial, TrialTakenOverError, with_reason
from tuneforge.storage.session import StorageBase, StorageSession
from tuneforge.storage.writes import (
    AddObservations,
    FinishTrial,
    RetryTrial,
    StartTrial,
    TrialWrite,
)
from tuneforge.trial import Observation, Trial, TrialOrigin, TrialState

__all__ = ["TrialStore", "apply_write", "insert_trials"]

_OPERATIONS = {
    StartTrial: "start a trial",
    RetryTrial: "record a retried trial",
    AddObservations: "record metric values",
    FinishTrial: "finish a trial",
}


def insert_trials(
    tx: StorageSession,
    job: JobRow,
    planned: Sequence[NewTrial],
    *,
    owner: str | None,
    first: int | None = None,
    position: int | None = None,
) -> list[int]:
    """Create PENDING trials numbered ``first``, ``first + 1``...; their numbers.

    ``first`` defaults to the number after the job's last trial; the caller must hold the
    job's row ``for_update`` so no other writer numbers trials meanwhile. ``owner`` is the
    controller that will run them; ``position``, when given, is the first one's place in
    the sequence of its origin (see :mod:`tuneforge.storage.claims`), shown in its event.
    Parameter values JSON cannot hold raise ``StorageError`` before anything is written.
    """
    encoded = [
        {key: dump_param(key, value) for key, value in new.params.items()} for new in planned
    ]
    if first is None:
        last = tx.session.scalar(select(func.max(TrialRow.number)).where(TrialRow.job_id == job.id))
        first = 0 if last is None else last + 1
    now = tx.now()
    rows = [
        TrialRow(
            job_id=job.id,
            number=first + index,
            state=TrialState.PENDING,
            created_at=now,
            stop_requested=False,
            origin=str(new.origin),
            owner=owner,
            continues=new.continues,
        )
        for index, new in enumerate(planned)
    ]
    tx.session.add_all(rows)
    tx.session.flush()
    for index, (row, texts, new) in enumerate(zip(rows, encoded, planned, strict=True)):
        tx.session.add_all(
            TrialParamRow(trial_id=row.id, name=key, value=text) for key, text in texts.items()
        )
        source = str(new.origin)
        if position is not None:
            source += f" #{position + index}"
        if new.continues is not None:
            source += f", continues trial {new.continues}"
        shown = ", ".join(f"{key}={value!r}" for key, value in new.params.items())
        tx.record_event(
            job,
            row,
            EventKind.TRIAL_CREATED,
            f"trial {row.number} created ({source}): {shown or 'no parameters'}",
        )
    return [row.number for row in rows]


def apply_write(
    tx: StorageSession, job: JobRow, row: TrialRow, write: StartTrial | RetryTrial | FinishTrial
) -> None:
    """One state change of a trial, with its event at the write's time.

    A finished trial refuses every change (``StorageError``): its results stay as recorded.
    """
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
        tx.session.execute(sa.delete(MetricValueRow).where(MetricValueRow.trial_id == row.id))
        message = f"trial {number} attempt {write.attempt} running"
        message += f" (pid {write.pid})" if write.pid is not None else ""
        kind, message = EventKind.TRIAL_RETRIED, with_reason(message, write.reason)
    elif isinstance(write, StartTrial):
        _check_changeable(job.name, row, "start")
        row.state = TrialState.RUNNING
        row.trial_dir = None if write.trial_dir is None else str(write.trial_dir)
        row.pid = write.pid
        row.started_at = write.time
        details = [f"pid {write.pid}"] if write.pid is not None else []
        details += [f"folder {write.trial_dir}"] if write.trial_dir is not None else []
        kind = EventKind.TRIAL_STARTED
        message = f"trial {number} running" + (f" ({', '.join(details)})" if details else "")
    else:
        _check_changeable(job.name, row, "finish")
        row.state = write.state
        row.value = None if write.value is None else float_or_none(write.value)
        row.reason = write.reason
        row.log_tail = write.log_tail
        row.finished_at = write.time
        message = f"trial {number} {write.state.value}"
        if row.value is not None:
            message += f" with value {row.value:g}"
        kind, message = EventKind.TRIAL_FINISHED, with_reason(message, write.reason)
    tx.record_event(job, row, kind, message, time=write.time)


class TrialStore(StorageBase):
    """The ``Storage`` methods that create, change and read a job's trials."""

    def create_trial(
        self,
        name: str,
        params: Mapping[str, Any],
        *,
        origin: str = TrialOrigin.STRATEGY,
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
        if not planned:
            return []
        return self.transaction(
            "create a trial",
            lambda tx: insert_trials(tx, tx.job(name, for_update=True), planned, owner=owner),
            write=True,
            retry_on=(IntegrityError,),
        )

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

        def apply(tx: StorageSession) -> list[Trial]:
            job = tx.job(name)
            numbers = {write.number for write in writes}
            rows = {
                row.number: row
                for row in tx.session.scalars(
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
                row = rows.get(write.number) or tx.trial(job, write.number)
                if isinstance(write, AddObservations):
                    metric_rows.extend(_metric_row(row.id, obs) for obs in write.observations)
                    continue
                if isinstance(write, RetryTrial) and metric_rows:
                    # The earlier attempt's values must go before this attempt's arrive.
                    tx.session.execute(sa.insert(MetricValueRow), metric_rows)
                    metric_rows = []
                apply_write(tx, job, row, write)
                if isinstance(write, FinishTrial):
                    finished.append(row)
            if metric_rows:
                tx.session.execute(sa.insert(MetricValueRow), metric_rows)
            return tx.trials_from_rows(finished)

        if not writes:
            return []
        return self.transaction(_operation(writes), apply, write=True)

    def reset_trial(self, name: str, number: int, *, owner: str | None = None) -> None:
        """Make an interrupted (or abandoned pending/running) trial PENDING again.

        Its value, reason, log tail, pid, times, stop flag and metric values are cleared;
        its parameters, number, origin and folder stay, so it re-runs the same configuration.
        ``owner``, when given, is the controller that re-runs it.
        """

        def update(tx: StorageSession) -> None:
            job = tx.job(name)
            row = tx.trial(job, number)
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
            tx.session.execute(sa.delete(MetricValueRow).where(MetricValueRow.trial_id == row.id))
            tx.record_event(
                job, row, EventKind.TRIAL_RESET, f"trial {number} {old.value} -> pending"
            )

        self.transaction("reset a trial", update, write=True)

    def get_trial(self, name: str, number: int) -> Trial:
        """One trial with its parameters and the last value of each metric."""

        def read(tx: StorageSession) -> Trial:
            row = tx.trial(tx.job(name), number)
            return tx.trials_from_rows([row], TrialRow.id == row.id)[0]

        return self.transaction("read a trial", read)

    def trials(self, name: str, states: Collection[TrialState] | None = None) -> list[Trial]:
        """The job's trials in number order, optionally only those in ``states``.

        Each trial's ``metrics`` holds the last value of every metric it reported: the one
        with the highest step, then the latest time.
        """

        def read(tx: StorageSession) -> list[Trial]:
            job = tx.job(name)
            where = TrialRow.job_id == job.id
            if states is not None:
                where = sa.and_(where, TrialRow.state.in_(list(states)))
            rows = list(tx.session.scalars(select(TrialRow).where(where).order_by(TrialRow.number)))
            return tx.trials_from_rows(rows, where)

        return self.transaction("read the trials", read)

    def count_trials(self, name: str) -> dict[TrialState, int]:
        """How many trials the job has in each state (every state present, zeros included)."""

        def read(tx: StorageSession) -> dict[TrialState, int]:
            job = tx.job(name)
            return tx.count_by_state([job])[job.id]

        return self.transaction("count the trials", read)

    def metric_series(self, name: str, number: int, metric: str | None = None) -> list[Observation]:
        """A trial's observations (of one metric, or all) in step order."""

        def read(tx: StorageSession) -> list[Observation]:
            row = tx.trial(tx.job(name), number)
            query = select(MetricValueRow).where(MetricValueRow.trial_id == row.id)
            if metric is not None:
                query = query.where(MetricValueRow.metric == metric)
            query = query.order_by(MetricValueRow.step, MetricValueRow.time, MetricValueRow.id)
            return [
                Observation(m.metric, nan_if_none(m.value), m.step, m.time)
                for m in tx.session.scalars(query)
            ]

        return self.transaction("read a metric series", read)


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
        "value": float_or_none(observation.value),
        "time": float(observation.time),
    }


def _operation(writes: Sequence[TrialWrite]) -> str:
    """What ``writes`` do, for an error message: the one kind they hold, or all of it."""
    kinds = {type(write) for write in writes}
    if len(kinds) == 1:
        return _OPERATIONS[kinds.pop()]
    return f"record {len(writes)} trial events"
