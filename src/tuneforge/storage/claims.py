"""Claims: how several controllers sharing one job take new trials without duplicates.

Storage already numbers trials inside one write transaction, so numbers are never taken
twice. Controllers that share a job (``tuneforge run --join``, ``optimize(join=True)``) need
more: the same *configuration* must not be run twice either, and together they must not
run more than ``max_trials``. Every strategy proposes a sequence (the default ``restore``
replays it), so a configuration is named by its origin and its *position* in that
sequence: the k-th configuration the strategy proposed, the k-th enqueued one.

:func:`claim_trial` creates the trial only if, inside the same write transaction that
numbers it (``BEGIN IMMEDIATE`` on SQLite, the job's row locked ``FOR UPDATE`` on
PostgreSQL), the job still has exactly ``position`` trials of that origin and fewer than
``max_trials`` in all. A controller that loses the race learns how many the job has now,
catches its strategy up (see :mod:`tuneforge.controller.coordination`) and asks again.
:func:`claim_rerun` lets exactly one controller re-run an INTERRUPTED trial.

These functions are written with storage's transaction API
(:meth:`Storage.transaction <tuneforge.storage.session.StorageBase.transaction>`) and
create the trial with :func:`tuneforge.storage.trials.insert_trials`, like
``Storage.create_trials``.

Example:
    >>> from tuneforge.storage import Storage
    >>> storage = Storage("sqlite://")
    >>> _ = storage.create_job("demo", document={}, base_dir=".", objective="loss",
    ...     direction="minimize", strategy="sobol", max_trials=2, output_dir=None)
    >>> claim_trial(storage, "demo", {"x": 0.5}, origin="strategy", position=0, max_trials=2)
    Claim(number=0, taken=1, full=False)
    >>> claim_trial(storage, "demo", {"x": 0.5}, origin="strategy", position=0, max_trials=2)
    Claim(number=None, taken=1, full=False)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tuneforge.storage.models import TrialRow
from tuneforge.storage.records import NewTrial
from tuneforge.storage.session import StorageSession
from tuneforge.storage.sql import Storage
from tuneforge.storage.trials import insert_trials
from tuneforge.trial import TrialState

__all__ = ["Claim", "claim_rerun", "claim_trial"]


@dataclass(frozen=True)
class Claim:
    """What a claim got: the new trial's ``number``, or ``None`` when it lost.

    ``taken`` is how many trials of the claimed origin the job has after the claim (the
    next free position); ``full`` says the job already has ``max_trials`` trials.
    """

    number: int | None
    taken: int
    full: bool = False


def claim_trial(
    storage: Storage,
    name: str,
    params: Mapping[str, Any],
    *,
    origin: str,
    position: int,
    max_trials: int | None,
    owner: str | None = None,
    continues: int | None = None,
) -> Claim:
    """Create a PENDING trial for the ``position``-th ``origin`` configuration, if still free.

    The trial is created (and numbered) only when the job has exactly ``position`` trials
    of ``origin`` and, with ``max_trials`` given, fewer than ``max_trials`` trials in all.
    ``owner`` is the id of the claiming controller (see :mod:`tuneforge.storage.controllers`);
    ``continues`` the earlier trial whose saved state the new one starts from.
    """
    new = NewTrial(params, origin, continues)

    def claim(tx: StorageSession) -> Claim:
        job = tx.job(name, for_update=True)
        total, same, last = tx.session.execute(
            select(
                func.count(TrialRow.id),
                func.coalesce(func.sum(sa.case((TrialRow.origin == origin, 1), else_=0)), 0),
                func.max(TrialRow.number),
            ).where(TrialRow.job_id == job.id)
        ).one()
        if max_trials is not None and total >= max_trials:
            return Claim(None, int(same), full=True)
        if same != position:
            return Claim(None, int(same))
        first = 0 if last is None else int(last) + 1
        [number] = insert_trials(tx, job, [new], owner=owner, first=first, position=position)
        return Claim(number, position + 1)

    return storage.transaction("claim a trial", claim, write=True, retry_on=(IntegrityError,))


def claim_rerun(storage: Storage, name: str, number: int, *, owner: str | None = None) -> bool:
    """Take an INTERRUPTED trial to run it again; ``False`` if another controller took it.

    The winner's trial is reset to PENDING (``Storage.reset_trial``) with its parameters,
    owned by ``owner``.
    """

    def claim(tx: StorageSession) -> bool:
        job = tx.job(name)
        result = tx.session.execute(
            sa.update(TrialRow)
            .where(
                TrialRow.job_id == job.id,
                TrialRow.number == number,
                TrialRow.state == TrialState.INTERRUPTED,
            )
            .values(state=TrialState.PENDING, owner=owner)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    if not storage.transaction("claim an interrupted trial", claim, write=True):
        return False
    storage.reset_trial(name, number)
    return True
