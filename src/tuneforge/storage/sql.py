"""``Storage``: jobs, trials, parameters, metric series and events in one SQL database.

Storage is the single source of truth: the controller writes a running job through it and
any other process (``tuneforge trials``, ``tuneforge stop``, the dashboard) reads and steers
the job through it alone. The same code runs on SQLite (the default, one file, WAL mode)
and PostgreSQL (``postgresql+psycopg://...``, for many machines).

``Storage`` is a facade over the modules of this package: the job methods come from
:mod:`~tuneforge.storage.jobs`, the trial methods from :mod:`~tuneforge.storage.trials`,
transactions from :mod:`~tuneforge.storage.session` and the engines from
:mod:`~tuneforge.storage.engine`.

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

Every SQLAlchemy error reaching a caller is wrapped in ``StorageError`` naming what was
being done. Times are unix float seconds. Every change is recorded as an event whose kind
is an :class:`~tuneforge.storage.records.EventKind`.

Non-finite numbers: metric values and trial values are stored as SQL floats (a NaN becomes
NULL, read back as NaN for a metric and as ``None`` for a trial's value); in the job
document and space (JSON) NaN and infinities are stored as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"``, since JSON has no such numbers.

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

import time as _time
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError, ProgrammingError

from tuneforge.storage.engine import default_storage_url
from tuneforge.storage.jobs import JobStore
from tuneforge.storage.models import JobState
from tuneforge.storage.records import (
    ControllerLease,
    JobBusyError,
    JobEvent,
    JobRecord,
    NewTrial,
    TrialTakenOverError,
)
from tuneforge.storage.schema import SCHEMA_VERSION, bring_up_to_date, is_current
from tuneforge.storage.trials import TrialStore

__all__ = [
    "SCHEMA_VERSION",
    "ControllerLease",
    "JobBusyError",
    "JobEvent",
    "JobRecord",
    "JobState",
    "NewTrial",
    "Storage",
    "TrialTakenOverError",
    "default_storage_url",
]


class Storage(JobStore, TrialStore):
    """Reads and writes jobs and trials in the SQL database at ``url``.

    ``url`` is an SQLAlchemy URL: ``sqlite:///path/to/file.db`` (the folder must exist; the
    file is created), ``sqlite://`` (in memory, shared by the threads of this process, gone
    when closed) or ``postgresql+psycopg://user:pass@host/db`` (``postgresql://`` means
    psycopg 3 too). Tables are created when the storage is first opened. ``clock`` gives the
    times of records that have no time argument (creation times and events).

    One ``Storage`` may be shared by the threads of a process; every process opens its own.
    """

    def __init__(self, url: str, *, clock: Callable[[], float] = _time.time) -> None:
        super().__init__(url, clock=clock)
        try:
            # Most opens find the schema up to date and only read, so a reader such as
            # `tuneforge trials` never waits for the write lock of a running controller.
            current = self.transaction(
                "open the storage",
                lambda tx: is_current(tx.session.connection(), tx.shown),
                retry_on=(ProgrammingError,),
            )
            if not current:
                self.transaction(
                    "open the storage",
                    lambda tx: bring_up_to_date(tx.session.connection(), tx.shown),
                    write=True,
                    retry_on=(IntegrityError, ProgrammingError),
                )
        except BaseException:
            self.close()
            raise
