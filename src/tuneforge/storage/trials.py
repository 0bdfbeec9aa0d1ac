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

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tuneforge.errors import StorageError
from tuneforge.storage.encoding import dump_param, float_or_none, nan_if_none
from tuneforge.storage.models import JobRow, MetricValueRow, TrialParamRow, TrialRow
from tuneforge.storage.records import EventKind, NewTrial, TrialTakenOverError, with_reason
from tuneforge.storage.session import (
    JobKey,
    StorageBase,
    StorageSession,
    trial_from_row,
)
from tuneforge.storage.writes import (
    AddObservations,
    FinishTrial,
    RetryTrial,
    StartTrial,
    TrialWrite,
)
from tuneforge.trial import Observation, Trial, TrialOrigin, TrialState

__all__ = ["TrialStore", "apply_write", "insert_trials"]

# The tables themselves, for the Core statements of the frequent writes.
_TRIALS = cast(sa.Table, TrialRow.__table__)
_PARAMS = cast(sa.Table, TrialParamRow.__table__)
_METRICS = cast(sa.Table, MetricValueRow.__table__)
# Built once: the statements of the frequent writes, so that each run costs no construction.
_TRIALS_BY_NUMBER = (
    select(_TRIALS)
    .join(JobRow, JobRow.id == _TRIALS.c.job_id)
    .where(
        JobRow.name == sa.bindparam("name"),
        _TRIALS.c.number.in_(sa.bindparam("numbers", expanding=True)),
    )
)
_LAST_NUMBER = select(func.max(_TRIALS.c.number)).where(_TRIALS.c.job_id == sa.bindparam("job_id"))
_INSERT_TRIALS = sa.insert(_TRIALS).returning(_TRIALS.c.id, sort_by_parameter_order=True)
_INSERT_PARAMS = sa.insert(_PARAMS)
_INSERT_METRICS = sa.insert(_METRICS)
# Without .values(), the SET clause is the rows' keys other than the bound "trial_id".
_UPDATE_TRIAL = sa.update(_TRIALS).where(_TRIALS.c.id == sa.bindparam("trial_id"))

_ACTIONS = {StartTrial: "start", RetryTrial: "retry", FinishTrial: "finish"}

_OPERATIONS = {
    StartTrial: "start a trial",
    RetryTrial: "record a retried trial",
    AddObservations: "record metric values",
    FinishTrial: "finish a trial",
}


def insert_trials(
    tx: StorageSession,
    job: JobRow | JobKey,
    planned: Sequence[NewTrial],
    *,
    owner: str | None,
    first: int | None = None,
    position: int | None = None,
) -> list[int]:
    """Create PENDING trials of ``job`` numbered ``first``, ``first + 1``...; their numbers.

    ``first`` defaults to the number after the job's last trial; the caller must hold the
    job's row ``for_update`` so no other writer numbers trials meanwhile. ``owner`` is the
    controller that will run them; ``position``, when given, is the first one's place in
    the sequence of its origin (see :mod:`tuneforge.storage.claims`), shown in its event.
    Parameter values JSON cannot hold raise ``StorageError`` before anything is written.
    The rows go in with one statement per table (no ORM objects): this runs once per trial.
    """
    encoded = [
        {key: dump_param(key, value) for key, value in new.params.items()} for new in planned
    ]
    job_id = job.id
    if first is None:
        last = tx.session.scalar(_LAST_NUMBER, {"job_id": job_id})
        first = 0 if last is None else last + 1
    now = tx.now()
    numbers = [first + index for index in range(len(planned))]
    ids = tx.session.scalars(
        _INSERT_TRIALS,
        [
            {
                "job_id": job_id,
                "number": number,
                "state": TrialState.PENDING,
                "created_at": now,
                "stop_requested": False,
                "origin": str(new.origin),
                "owner": owner,
                "continues": new.continues,
            }
            for number, new in zip(numbers, planned, strict=True)
        ],
    ).all()
    param_rows: list[dict[str, Any]] = []
    messages: list[tuple[int, str]] = []
    for index, (trial_id, number, texts, new) in enumerate(
        zip(ids, numbers, encoded, planned, strict=True)
    ):
        param_rows.extend(
            {"trial_id": trial_id, "name": key, "value": text} for key, text in texts.items()
        )
        source = str(new.origin)
        if position is not None:
            source += f" #{position + index}"
        if new.continues is not None:
            source += f", continues trial {new.continues}"
        shown = ", ".join(f"{key}={value!r}" for key, value in new.params.items())
        message = f"trial {number} created ({source}): {shown or 'no parameters'}"
        messages.append((trial_id, message))
    if param_rows:
        tx.session.execute(_INSERT_PARAMS, param_rows)
    for trial_id, message in messages:
        tx.record_event(job, trial_id, EventKind.TRIAL_CREATED, message)
    return numbers


def trial_change(
    name: str,
    number: int,
    state: TrialState,
    started_at: float | None,
    write: StartTrial | RetryTrial | FinishTrial,
) -> tuple[dict[str, Any], EventKind, str]:
    """What ``write`` changes on trial ``number`` of job ``name``: the new values of its
    columns (named as :class:`~tuneforge.trial.Trial`'s fields), and the event's kind and
    message. ``state`` and ``started_at`` are the trial's before the write.

    A finished trial refuses every change (``StorageError``): its results stay as recorded.
    A ``RetryTrial`` also drops the earlier attempt's metric values: the caller does that.
    """
    action = _ACTIONS[type(write)]
    _check_changeable(name, number, state, action)
    time = float(write.time)
    changes: dict[str, Any]
    if isinstance(write, RetryTrial):
        changes = {"state": TrialState.RUNNING, "attempt": write.attempt, "pid": write.pid}
        if write.trial_dir is not None:
            changes["trial_dir"] = str(write.trial_dir)
        if started_at is None:
            changes["started_at"] = time
        message = f"trial {number} attempt {write.attempt} running"
        message += f" (pid {write.pid})" if write.pid is not None else ""
        return changes, EventKind.TRIAL_RETRIED, with_reason(message, write.reason)
    if isinstance(write, StartTrial):
        changes = {
            "state": TrialState.RUNNING,
            "trial_dir": None if write.trial_dir is None else str(write.trial_dir),
            "pid": write.pid,
            "started_at": time,
        }
        details = [f"pid {write.pid}"] if write.pid is not None else []
        details += [f"folder {write.trial_dir}"] if write.trial_dir is not None else []
        message = f"trial {number} running" + (f" ({', '.join(details)})" if details else "")
        return changes, EventKind.TRIAL_STARTED, message
    value = None if write.value is None else float_or_none(write.value)
    changes = {
        "state": write.state,
        "value": value,
        "reason": write.reason,
        "log_tail": write.log_tail,
        "finished_at": time,
    }
    message = f"trial {number} {write.state.value}"
    if value is not None:
        message += f" with value {value:g}"
    return changes, EventKind.TRIAL_FINISHED, with_reason(message, write.reason)


def apply_write(
    tx: StorageSession, job: JobRow, row: TrialRow, write: StartTrial | RetryTrial | FinishTrial
) -> None:
    """One state change of a trial (an ORM row), with its event at the write's time.

    A finished trial refuses every change (``StorageError``): its results stay as recorded.
    """
    changes, kind, message = trial_change(job.name, row.number, row.state, row.started_at, write)
    for column, value in changes.items():
        setattr(row, column, value)
    if isinstance(write, RetryTrial):
        tx.session.execute(sa.delete(MetricValueRow).where(MetricValueRow.trial_id == row.id))
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
            lambda tx: insert_trials(tx, tx.job_key(name, for_update=True), planned, owner=owner),
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
            numbers = {write.number for write in writes}
            loaded = tx.session.execute(
                _TRIALS_BY_NUMBER, {"name": name, "numbers": list(numbers)}
            ).all()
            if len(loaded) < len(numbers):
                tx.job(name)  # NotFoundError naming the known jobs, if the job is not one
            ids = {row.number: row.id for row in loaded}
            jobs = {row.number: JobKey(row.job_id, name) for row in loaded}
            if owner is not None:
                taken = sorted(row.number for row in loaded if row.owner != owner)
                if taken:
                    shown = ", ".join(str(number) for number in taken)
                    raise TrialTakenOverError(
                        f"trial(s) {shown} of job {name!r} no longer belong to this controller: "
                        "the others found it dead and took them over."
                    )
            # The trials as the writes leave them, and the columns each write changed.
            trials = {row.number: trial_from_row(row) for row in loaded}
            changed: dict[int, dict[str, Any]] = {}
            metric_rows: list[dict[str, Any]] = []
            finished: list[int] = []
            for write in writes:
                number = write.number
                if number not in trials:
                    tx.trial(tx.job(name), number)  # NotFoundError: the numbers that exist
                trial, trial_id = trials[number], ids[number]
                if isinstance(write, AddObservations):
                    metric_rows.extend(_metric_row(trial_id, obs) for obs in write.observations)
                    continue
                columns, kind, message = trial_change(
                    name, number, trial.state, trial.started_at, write
                )
                if isinstance(write, RetryTrial):
                    # The earlier attempt's values must go before this attempt's arrive.
                    if metric_rows:
                        tx.session.execute(_INSERT_METRICS, metric_rows)
                        metric_rows = []
                    tx.session.execute(
                        sa.delete(MetricValueRow).where(MetricValueRow.trial_id == trial_id)
                    )
                trials[number] = dataclasses.replace(trial, **columns)
                changed.setdefault(trial_id, {}).update(columns)
                tx.record_event(jobs[number], trial_id, kind, message, time=write.time)
                if isinstance(write, FinishTrial):
                    finished.append(number)
            if metric_rows:
                tx.session.execute(_INSERT_METRICS, metric_rows)
            _update_trials(tx, changed)
            if not finished:
                return []
            params, metrics = tx.params_and_metrics([ids[number] for number in finished])
            return [
                dataclasses.replace(
                    trials[number], params=params[ids[number]], metrics=metrics[ids[number]]
                )
                for number in finished
            ]

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
            _check_changeable(name, row.number, row.state, "reset")
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


def _check_changeable(name: str, number: int, state: TrialState, action: str) -> None:
    """A finished trial never changes again; refusing protects its recorded results."""
    if state.is_finished():
        raise StorageError(
            f"cannot {action} trial {number} of job {name!r}: it is already "
            f"{state.value}, and finished trials never change."
        )


def _update_trials(tx: StorageSession, changed: Mapping[int, Mapping[str, Any]]) -> None:
    """Set the ``changed`` columns of each trial (by id): one statement per set of columns."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for trial_id, columns in changed.items():
        by_columns.setdefault(tuple(sorted(columns)), []).append({"trial_id": trial_id, **columns})
    for rows in by_columns.values():
        tx.session.execute(_UPDATE_TRIAL, rows)


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
