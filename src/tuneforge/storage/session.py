"""Storage transactions: the record API that every part of the storage package writes with.

A storage operation is one short transaction. :meth:`StorageBase.transaction` runs a
function in one (retried when the database is locked, errors wrapped in ``StorageError``)
and hands it a :class:`StorageSession`: the SQLAlchemy session of that transaction plus
what nearly every operation needs of it:

* :meth:`StorageSession.job` and :meth:`StorageSession.trial`: the rows by name and number,
  or a ``NotFoundError`` that lists what exists;
* :meth:`StorageSession.record_event`: an event (an :class:`EventKind` and a message) in
  the same transaction as the change it records, so a change is never half on record;
* :meth:`StorageSession.now`: the storage's clock, for times of records;
* :meth:`StorageSession.trials_from_rows` and :meth:`StorageSession.count_by_state`: trials
  as values and how many a job has in each state.

``Storage`` (:mod:`tuneforge.storage.sql`) is :class:`StorageBase` with the job and trial
operations; claims, the controllers of shared jobs and the dashboard's queries are
functions over the same API, in modules of their own.

Example:
    >>> from tuneforge.storage import Storage
    >>> storage = Storage("sqlite://")
    >>> _ = storage.create_job("demo", document={}, base_dir=".", objective="loss",
    ...     direction="minimize", strategy="random", max_trials=2, output_dir=None)
    >>> def mark(tx: StorageSession) -> int:
    ...     tx.record_event(tx.job("demo"), None, EventKind.NOTE, "checked by hand")
    ...     return len(tx.trials_from_rows([]))
    >>> storage.transaction("record a note", mark, write=True)
    0
    >>> storage.events("demo")[-1].message
    'checked by hand'
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, NamedTuple, Self, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from tuneforge.errors import NotFoundError
from tuneforge.storage.encoding import load_param, nan_if_none
from tuneforge.storage.engine import Database
from tuneforge.storage.models import EventRow, JobRow, MetricValueRow, TrialParamRow, TrialRow
from tuneforge.storage.records import EventKind
from tuneforge.trial import Trial, TrialState

__all__ = ["JobKey", "StorageBase", "StorageSession", "trial_from_row"]

_INSERT_EVENT = sa.insert(cast(sa.Table, EventRow.__table__))

T = TypeVar("T")

MAX_LISTED_JOBS = 20  # a job that is not found lists at most this many known ones


def trial_from_row(
    row: TrialRow | sa.Row[Any],
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
) -> Trial:
    """A trial row (ORM or Core) as a :class:`~tuneforge.trial.Trial`, with ``params`` and
    ``metrics`` read separately (see :meth:`StorageSession.params_and_metrics`)."""
    return Trial(
        number=row.number,
        params={} if params is None else params,
        state=row.state,
        value=row.value,
        metrics={} if metrics is None else metrics,
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


class JobKey(NamedTuple):
    """What identifies a job in its rows: its id, and its name for messages."""

    id: int
    name: str


class StorageSession:
    """One transaction of a storage, with the lookups and records storage operations share.

    Attributes:
        session: the transaction's SQLAlchemy session, for an operation's own queries.
        shown: the storage's URL with its password hidden, for messages.
    """

    def __init__(self, session: Session, *, shown: str, clock: Callable[[], float]) -> None:
        self.session = session
        self.shown = shown
        self._clock = clock

    def now(self) -> float:
        """The storage's clock: unix seconds, for records that have no time of their own."""
        return self._clock()

    def job(self, name: str, *, for_update: bool = False) -> JobRow:
        """The job called ``name``; ``NotFoundError`` lists the known jobs otherwise.

        ``for_update`` locks the job's row until the transaction ends (on PostgreSQL; an
        SQLite write transaction holds the whole database already): it serialises what
        must not interleave, such as numbering a job's trials.
        """
        query = select(JobRow).where(JobRow.name == name)
        if for_update:
            query = query.with_for_update()
        row = self.session.scalar(query)
        if row is not None:
            return row
        names = list(
            self.session.scalars(select(JobRow.name).order_by(JobRow.created_at, JobRow.id))
        )
        if not names:
            known = "the storage has no jobs yet"
        else:
            known = "known jobs: " + ", ".join(names[:MAX_LISTED_JOBS])
            if len(names) > MAX_LISTED_JOBS:
                known += f" (and {len(names) - MAX_LISTED_JOBS} more)"
        raise NotFoundError(f"no job named {name!r} in {self.shown}; {known}")

    def job_key(self, name: str, *, for_update: bool = False) -> JobKey:
        """The id and name of the job called ``name``, read alone (not the whole row with
        its document): all the frequent writes need. Errors and ``for_update`` as :meth:`job`.
        """
        query = _JOB_ID_FOR_UPDATE if for_update else _JOB_ID
        job_id = self.session.scalar(query, {"name": name})
        return JobKey(self.job(name).id if job_id is None else job_id, name)

    def trial(self, job: JobRow, number: int) -> TrialRow:
        """The job's trial ``number``; ``NotFoundError`` says which numbers exist."""
        row = self.session.scalar(
            select(TrialRow).where(TrialRow.job_id == job.id, TrialRow.number == number)
        )
        if row is not None:
            return row
        low, high = self.session.execute(
            select(func.min(TrialRow.number), func.max(TrialRow.number)).where(
                TrialRow.job_id == job.id
            )
        ).one()
        if low is None:
            raise NotFoundError(f"job {job.name!r} has no trial {number}; it has no trials yet")
        raise NotFoundError(
            f"job {job.name!r} has no trial {number}; trials are numbered {low}..{high}"
        )

    def record_event(
        self,
        job: JobRow | JobKey,
        trial: TrialRow | int | None,
        kind: EventKind,
        message: str,
        *,
        time: float | None = None,
    ) -> None:
        """Record an event of the job (or of one of its trials: a row or its id), at
        ``time`` or now.

        One Core statement, not an ORM object: every trial's state change records one.
        """
        if job.id is None or (isinstance(trial, TrialRow) and trial.id is None):
            self.session.flush()  # rows created in this transaction get their ids
        trial_id = trial.id if isinstance(trial, TrialRow) else trial
        self.session.execute(
            _INSERT_EVENT,
            {
                "job_id": job.id,
                "trial_id": trial_id,
                "time": self._clock() if time is None else time,
                "kind": kind.value,
                "message": message,
            },
        )

    def count_by_state(self, jobs: Collection[JobRow]) -> dict[int, dict[TrialState, int]]:
        """How many trials each job has in each state, by job id (every state, zeros too)."""
        counts = {job.id: dict.fromkeys(TrialState, 0) for job in jobs}
        if not counts:
            return counts
        query = (
            select(TrialRow.job_id, TrialRow.state, func.count())
            .where(TrialRow.job_id.in_(list(counts)))
            .group_by(TrialRow.job_id, TrialRow.state)
        )
        for job_id, state, count in self.session.execute(query):
            counts[job_id][state] = int(count)
        return counts

    def trials_from_rows(
        self, rows: Sequence[TrialRow], where: sa.ColumnElement[bool] | None = None
    ) -> list[Trial]:
        """``rows`` as trials, with their parameters and last metric values (three queries).

        ``where`` selects (at least) the rows' trials; by default their ids. A wider one
        that the database can use an index for (every trial of the job) reads faster.
        Each trial's ``metrics`` holds the last value of every metric it reported: the one
        with the highest step, then the latest time.
        """
        if not rows:
            return []
        params, metrics = self.params_and_metrics([row.id for row in rows], where)
        return [trial_from_row(row, params[row.id], metrics[row.id]) for row in rows]

    def params_and_metrics(
        self, ids: Sequence[int], where: sa.ColumnElement[bool] | None = None
    ) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, float]]]:
        """The parameters and the last value of each metric of the trials ``ids``, by id.

        ``where`` selects (at least) those trials, as for :meth:`trials_from_rows`.
        """
        params_query, metrics_query = _BY_IDS if where is None else _details_queries(where)
        bound = {"ids": list(ids)} if where is None else {}
        params: dict[int, dict[str, Any]] = {trial_id: {} for trial_id in ids}
        for trial_id, key, text in self.session.execute(params_query, bound):
            if trial_id in params:  # a trial created since the first query is not listed
                params[trial_id][key] = load_param(text)
        metrics: dict[int, dict[str, float]] = {trial_id: {} for trial_id in ids}
        for trial_id, metric, value in self.session.execute(metrics_query, bound):
            if trial_id in metrics:
                metrics[trial_id][metric] = nan_if_none(value)
        return params, metrics


def _details_queries(
    where: sa.ColumnElement[bool],
) -> tuple[sa.Select[int, str, str], sa.Select[int, str, float | None]]:
    """The queries of :meth:`StorageSession.params_and_metrics` for the trials ``where``
    selects: their parameters, and the last value of each of their metrics."""
    params = (
        select(TrialParamRow.trial_id, TrialParamRow.name, TrialParamRow.value)
        .join(TrialRow, TrialRow.id == TrialParamRow.trial_id)
        .where(where)
        .order_by(TrialParamRow.trial_id, TrialParamRow.name)
    )
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
    return params, last


# Built once: statements the frequent writes run, so that each run costs no construction.
_BY_IDS = _details_queries(TrialRow.id.in_(sa.bindparam("ids", expanding=True)))
_JOB_ID = select(JobRow.id).where(JobRow.name == sa.bindparam("name"))
_JOB_ID_FOR_UPDATE = _JOB_ID.with_for_update()


class StorageBase:
    """A storage's database and clock, and :meth:`transaction`: what ``Storage`` builds on.

    ``clock`` gives the times of records that have no time argument (creation times and
    events).
    """

    def __init__(self, url: str, *, clock: Callable[[], float] = _time.time) -> None:
        self.url = url
        self._clock = clock
        self._database = Database(url)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._database.shown!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release every connection (an in-memory database is gone after this)."""
        self._database.dispose()

    def transaction(
        self,
        operation: str,
        work: Callable[[StorageSession], T],
        *,
        write: bool = False,
        retry_on: tuple[type[SQLAlchemyError], ...] = (),
    ) -> T:
        """Run ``work`` in one short transaction and return what it returns.

        ``operation`` says what it does, for errors ("could not claim a trial in ...").
        ``write=True`` takes the write lock up front (``BEGIN IMMEDIATE`` on SQLite); a
        locked database, and the SQLAlchemy errors in ``retry_on`` (an ``IntegrityError``
        when two writers raced for a unique value), run ``work`` again in a new
        transaction, so ``work`` must only touch the database. Errors end as
        ``StorageError``; tuneforge errors raised by ``work`` pass through unchanged.
        """
        database, clock = self._database, self._clock
        return database.run(
            operation,
            lambda session: work(StorageSession(session, shown=database.shown, clock=clock)),
            write=write,
            retry_on=retry_on,
        )
