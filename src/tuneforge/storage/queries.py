"""Reads for the dashboard: job summaries, one page of trials, chart inputs, in few queries.

``Storage.trials()`` builds every trial of a job with the last value of every metric: right
for the CLI and the results tables, too slow for a dashboard that asks for page 3 of 10,000
trials sorted by a parameter every few seconds. :class:`DashboardQueries` reads only what a
view shows:

* :meth:`~DashboardQueries.job_summaries`: every job with its trial counts by state and its
  best value, from one grouped query plus one per job;
* :meth:`~DashboardQueries.trial_page`: the total and one page of trials, filtered by state
  and sorted by any column. Trial columns (number, value, times, duration, state) sort in
  SQL; a parameter or metric column reads one value per trial (one query) and sorts in
  Python, so JSON-typed parameter values keep their order (numbers as numbers) on every
  backend. Parameters and metric values are then read for the page's trials only;
* :meth:`~DashboardQueries.trial_points` and :meth:`~DashboardQueries.series`: what the
  charts plot;
* :meth:`~DashboardQueries.fingerprint`: a cheap value that changes whenever anything is
  written (every state change records an event, every metric value gets a new id), so
  derived data can be cached until it changes.

Missing values (a NaN value, a conditional parameter a trial lacks, an unreported metric)
sort last whatever the direction, as in :func:`tuneforge.results.sort_frame`; ties keep
number order. Each read is one transaction of the storage's transaction API
(:mod:`tuneforge.storage.session`), so it gets the same locking, retries and
``StorageError`` wrapping as every other read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tuneforge.errors import ConfigError
from tuneforge.storage.models import EventRow, JobRow, MetricValueRow, TrialParamRow, TrialRow
from tuneforge.storage.records import JobRecord, job_record
from tuneforge.storage.session import StorageSession
from tuneforge.storage.sql import Storage
from tuneforge.trial import Trial, TrialState

__all__ = [
    "TRIAL_SORT_KEYS",
    "DashboardQueries",
    "JobSummary",
    "TrialPage",
    "TrialPoint",
]

#: Columns of the trials table a page can be sorted by in SQL (besides params.* / metrics.*).
TRIAL_SORT_KEYS: dict[str, Any] = {
    "number": TrialRow.number,
    "state": TrialRow.state,
    "value": TrialRow.value,
    "started_at": TrialRow.started_at,
    "finished_at": TrialRow.finished_at,
    "duration": TrialRow.finished_at - TrialRow.started_at,
    "origin": TrialRow.origin,
}
PARAM_PREFIX = "params."
METRIC_PREFIX = "metrics."


@dataclass(frozen=True)
class JobSummary:
    """A job with how far it got: trial counts by state and its best completed trial."""

    record: JobRecord
    counts: dict[TrialState, int]
    best_number: int | None
    best_value: float | None

    @property
    def n_trials(self) -> int:
        return sum(self.counts.values())

    @property
    def n_done(self) -> int:
        """Finished trials (completed, failed, stopped, stopped early): what max_trials counts."""
        return sum(n for state, n in self.counts.items() if state.is_finished())


@dataclass(frozen=True)
class TrialPage:
    """``total`` trials match the filter; ``trials`` is the requested slice of them."""

    total: int
    trials: list[Trial]


@dataclass(frozen=True)
class TrialPoint:
    """What a chart needs of one trial: number, state, value and parameters."""

    number: int
    state: TrialState
    value: float | None
    params: dict[str, Any]


class DashboardQueries:
    """Fast reads over a :class:`~tuneforge.storage.Storage` (see the module docstring)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    # ------------------------------------------------------------------------------ jobs

    def job_summaries(self) -> list[JobSummary]:
        """Every job, oldest first, with its counts and best trial."""

        def read(tx: StorageSession) -> list[JobSummary]:
            jobs = list(tx.session.scalars(select(JobRow).order_by(JobRow.created_at, JobRow.id)))
            counts = tx.count_by_state(jobs)
            return [self._summary(tx.session, job, counts[job.id]) for job in jobs]

        return self.storage.transaction("list the jobs", read)

    def job_summary(self, name: str) -> JobSummary:
        """One job with its counts and best trial; ``NotFoundError`` lists the known jobs."""

        def read(tx: StorageSession) -> JobSummary:
            job = tx.job(name)
            return self._summary(tx.session, job, tx.count_by_state([job])[job.id])

        return self.storage.transaction("read a job", read)

    def _summary(self, session: Session, job: JobRow, counts: dict[TrialState, int]) -> JobSummary:
        best_number = best_value = None
        if counts[TrialState.COMPLETED]:
            order = TrialRow.value.desc() if job.direction == "maximize" else TrialRow.value.asc()
            best = session.execute(
                select(TrialRow.number, TrialRow.value)
                .where(
                    TrialRow.job_id == job.id,
                    TrialRow.state == TrialState.COMPLETED,
                    TrialRow.value > -math.inf,
                    TrialRow.value < math.inf,
                )
                .order_by(order, TrialRow.number)
                .limit(1)
            ).first()
            if best is not None and best[1] is not None:
                best_number, best_value = int(best[0]), float(best[1])
        return JobSummary(job_record(job), counts, best_number, best_value)

    # ---------------------------------------------------------------------------- trials

    def trial_columns(self, name: str) -> tuple[list[str], list[str]]:
        """The job's parameter names and metric names, each sorted."""

        def read(tx: StorageSession) -> tuple[list[str], list[str]]:
            job = tx.job(name)
            ids = select(TrialRow.id).where(TrialRow.job_id == job.id)
            params = tx.session.scalars(
                select(TrialParamRow.name)
                .where(TrialParamRow.trial_id.in_(ids))
                .distinct()
                .order_by(TrialParamRow.name)
            )
            metrics = tx.session.scalars(
                select(MetricValueRow.metric)
                .where(MetricValueRow.trial_id.in_(ids))
                .distinct()
                .order_by(MetricValueRow.metric)
            )
            return list(params), list(metrics)

        return self.storage.transaction("read the trial columns", read)

    def trial_page(
        self,
        name: str,
        *,
        states: Collection[TrialState] | None = None,
        sort: str = "number",
        descending: bool = False,
        offset: int = 0,
        limit: int = 50,
    ) -> TrialPage:
        """Trials ``offset .. offset+limit`` of those in ``states``, sorted by ``sort``.

        ``sort`` is a key of :data:`TRIAL_SORT_KEYS`, ``params.<name>`` or
        ``metrics.<name>``; anything else is a ``ConfigError`` naming the valid keys.
        """
        if offset < 0 or limit < 0:
            raise ConfigError(f"offset and limit must be >= 0, got offset={offset}, limit={limit}.")
        if (
            sort not in TRIAL_SORT_KEYS
            and not (sort.startswith(PARAM_PREFIX) and len(sort) > len(PARAM_PREFIX))
            and not (sort.startswith(METRIC_PREFIX) and len(sort) > len(METRIC_PREFIX))
        ):
            valid = ", ".join(TRIAL_SORT_KEYS)
            raise ConfigError(
                f"unknown sort key {sort!r}; expected one of {valid}, "
                "params.<name> or metrics.<name>."
            )

        def read(tx: StorageSession) -> TrialPage:
            job = tx.job(name)
            where = TrialRow.job_id == job.id
            if states is not None:
                where = sa.and_(where, TrialRow.state.in_(list(states)))
            total = int(tx.session.scalar(select(func.count()).where(where)) or 0)
            if sort in TRIAL_SORT_KEYS:
                column = TRIAL_SORT_KEYS[sort]
                ordered = column.desc() if descending else column.asc()
                ids = list(
                    tx.session.scalars(
                        select(TrialRow.id)
                        .where(where)
                        .order_by(ordered.nulls_last(), TrialRow.number)
                        .offset(offset)
                        .limit(limit)
                    )
                )
            else:
                ids = _sorted_ids(tx.session, where, sort, descending)[offset : offset + limit]
            return TrialPage(total, _trials_by_id(tx, ids))

        return self.storage.transaction("read a page of trials", read)

    def trial_points(
        self, name: str, states: Collection[TrialState] | None = None
    ) -> list[TrialPoint]:
        """Number, state, value and parameters of the job's trials, in number order."""

        def read(tx: StorageSession) -> list[TrialPoint]:
            job = tx.job(name)
            where = TrialRow.job_id == job.id
            if states is not None:
                where = sa.and_(where, TrialRow.state.in_(list(states)))
            rows = tx.session.execute(
                select(TrialRow.id, TrialRow.number, TrialRow.state, TrialRow.value)
                .where(where)
                .order_by(TrialRow.number)
            ).all()
            params: dict[int, dict[str, Any]] = {row[0]: {} for row in rows}
            query = (
                select(TrialParamRow.trial_id, TrialParamRow.name, TrialParamRow.value)
                .join(TrialRow, TrialRow.id == TrialParamRow.trial_id)
                .where(where)
            )
            for trial_id, key, text in tx.session.execute(query):
                if trial_id in params:
                    params[trial_id][key] = json.loads(text)
            return [
                TrialPoint(number, state, None if value is None else float(value), params[tid])
                for tid, number, state, value in rows
            ]

        return self.storage.transaction("read the trials for a chart", read)

    def series(
        self, name: str, metric: str, numbers: Sequence[int] | None = None
    ) -> dict[int, list[tuple[int, float]]]:
        """``metric``'s (step, value) series of the trials ``numbers`` (all by default).

        Trials without a value of the metric are left out; NaN values stay (as NaN).
        """

        def read(tx: StorageSession) -> dict[int, list[tuple[int, float]]]:
            job = tx.job(name)
            query = (
                select(TrialRow.number, MetricValueRow.step, MetricValueRow.value)
                .join(TrialRow, TrialRow.id == MetricValueRow.trial_id)
                .where(TrialRow.job_id == job.id, MetricValueRow.metric == metric)
                .order_by(
                    TrialRow.number, MetricValueRow.step, MetricValueRow.time, MetricValueRow.id
                )
            )
            if numbers is not None:
                query = query.where(TrialRow.number.in_(list(numbers)))
            out: dict[int, list[tuple[int, float]]] = {}
            for number, step, value in tx.session.execute(query):
                out.setdefault(number, []).append(
                    (int(step), math.nan if value is None else float(value))
                )
            return out

        return self.storage.transaction("read metric series", read)

    def fingerprint(self) -> tuple[int, int]:
        """Changes whenever a job, trial or metric value is written (the newest ids)."""

        def read(tx: StorageSession) -> tuple[int, int]:
            events = tx.session.scalar(select(func.max(EventRow.id))) or 0
            values = tx.session.scalar(select(func.max(MetricValueRow.id))) or 0
            return int(events), int(values)

        return self.storage.transaction("read the storage's fingerprint", read)


# ------------------------------------------------------------------------------- helpers


def _sorted_ids(
    session: Session, where: sa.ColumnElement[bool], sort: str, descending: bool
) -> list[int]:
    """Every matching trial's id, sorted by a parameter or metric, missing values last.

    One query reads each trial's key in number order; the stable sort then keeps ties in
    number order, in either direction.
    """
    rows: list[tuple[int, Any]]
    if sort.startswith(PARAM_PREFIX):
        joined = sa.and_(
            TrialParamRow.trial_id == TrialRow.id,
            TrialParamRow.name == sort[len(PARAM_PREFIX) :],
        )
        query = (
            select(TrialRow.id, TrialParamRow.value)
            .outerjoin(TrialParamRow, joined)
            .where(where)
            .order_by(TrialRow.number)
        )
        rows = [
            (tid, None if text is None else json.loads(text))
            for tid, text in session.execute(query)
        ]
    else:
        last = _last_values(where, sort[len(METRIC_PREFIX) :]).order_by(TrialRow.number)
        rows = [(row[0], row[1]) for row in session.execute(last)]
    present = [
        (tid, key)
        for tid, key in rows
        if key is not None and not (isinstance(key, float) and math.isnan(key))
    ]
    missing = [
        tid for tid, key in rows if key is None or (isinstance(key, float) and math.isnan(key))
    ]
    if all(isinstance(key, int | float) for _, key in present):
        present.sort(key=lambda item: float(item[1]), reverse=descending)
    else:  # mixed types (a number in one trial, text in another) sort as text
        present.sort(key=lambda item: str(item[1]), reverse=descending)
    return [tid for tid, _ in present] + missing


def _last_values(where: sa.ColumnElement[bool], metric: str) -> sa.Select[Any]:
    """(trial id, last value) of one metric: highest step, then latest time, then newest.

    A correlated subquery per trial walks the (trial, metric, step) index from the top, which
    is several times faster than ranking every value of the metric with a window function.
    """
    value = MetricValueRow
    last = (
        select(value.value)
        .where(value.trial_id == TrialRow.id, value.metric == metric)
        .order_by(value.step.desc(), value.time.desc(), value.id.desc())
        .limit(1)
        .correlate(TrialRow)
        .scalar_subquery()
    )
    return select(TrialRow.id, last).where(where)


def _trials_by_id(tx: StorageSession, ids: list[int]) -> list[Trial]:
    """Full trials (parameters, last metric values) for ``ids``, in that order."""
    if not ids:
        return []
    where = TrialRow.id.in_(ids)
    rows = {row.id: row for row in tx.session.scalars(select(TrialRow).where(where))}
    ordered = [rows[tid] for tid in ids if tid in rows]
    return tx.trials_from_rows(ordered, where)
