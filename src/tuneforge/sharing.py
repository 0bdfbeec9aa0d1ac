"""Several controllers on one job: each new trial and configuration is taken exactly once.

``tuneforge run JOB.yaml --join`` on several machines (or ``optimize(..., join=True)`` in
several processes) runs one job with several controllers, like several optimizer
processes sharing one study. Each controller keeps its own strategy, started from the
stored trials; :class:`SharedJob` keeps it in step with the others through storage alone:

* a new trial is *claimed* (:func:`tuneforge.storage.claims.claim_trial`) for the next
  position of the strategy's sequence (or of the enqueued list), in the transaction that
  numbers it, so two controllers never create the same position, and never more than
  ``max_trials`` trials in all;
* a controller that loses a claim catches its strategy up: it asks once for every
  position the others took (that is how ``Strategy.restore`` replays a sequence, so a
  seeded grid, Sobol or random sequence continues exactly where the job is) and tells it
  the trials the others finished, then asks again;
* an INTERRUPTED trial (its controller was stopped with Ctrl-C, or died and was found
  dead, see below) is re-run by exactly one controller
  (:func:`tuneforge.storage.claims.claim_rerun`), unless the job says
  ``on_interrupt: mark``;
* each controller registers in storage and keeps a heartbeat there; every heartbeat it
  looks for registered controllers that are dead (on this machine: their process is gone;
  elsewhere: no heartbeat for ``lease_timeout`` seconds) and takes their unfinished trials
  over (:func:`tuneforge.storage.controllers.recover_dead`): their processes are ended,
  the trials marked INTERRUPTED, exactly once however many controllers notice.

Controllers sharing a job build their strategies the same way (same job, same seed), as
the job file and ``--join`` guarantee; with different seeds positions still never clash,
but the configurations are simply different draws.

Example (what the controller does in ``--join`` mode)::

    shared = SharedJob(storage, "digits", strategy, trials, max_trials=20, enqueue=[])
    while (claimed := shared.next()) is not None:
        executor.submit(claimed.number, make_work(*claimed))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from tuneforge.storage import Storage
from tuneforge.storage.claims import claim_rerun, claim_trial
from tuneforge.strategies.base import Strategy
from tuneforge.trial import Trial, TrialState

__all__ = ["SharedJob"]

_STRATEGY = "strategy"
_ENQUEUED = "enqueued"


class ClaimedTrial(NamedTuple):
    """A trial this controller claimed: what ``make_work`` needs to run it."""

    number: int
    params: dict[str, Any]
    continues: int | None  # the earlier trial whose saved state it starts from


class SharedJob:
    """One controller's view of a job it shares: claims new trials, syncs its strategy.

    ``trials`` are the job's trials the strategy was restored from (``strategy.restore``
    asked once per strategy trial among them and told the finished ones); ``enqueue`` is
    the job's whole list of configurations to run before the strategy's. ``owner`` (the
    controller's id) is recorded on each trial it claims; ``rerun_interrupted=False``
    leaves INTERRUPTED trials as they are (``on_interrupt: mark``).
    """

    def __init__(
        self,
        storage: Storage,
        job_name: str,
        strategy: Strategy,
        trials: Sequence[Trial],
        *,
        max_trials: int,
        enqueue: Sequence[Mapping[str, Any]] = (),
        owner: str | None = None,
        rerun_interrupted: bool = True,
    ) -> None:
        self.storage = storage
        self.owner = owner
        self.rerun_interrupted = rerun_interrupted
        self.job_name = job_name
        self.strategy = strategy
        self.max_trials = max_trials
        self._enqueue = [dict(config) for config in enqueue]
        self._positions = {
            _STRATEGY: sum(1 for t in trials if t.origin == _STRATEGY),
            _ENQUEUED: sum(1 for t in trials if t.origin == _ENQUEUED),
        }
        self._asked = self._positions[_STRATEGY]  # what restore() replayed
        self._told = {t.number for t in trials if t.state.is_finished()}
        self.full = False  # the job has max_trials trials: nothing more to claim
        self.exhausted = False  # the strategy has no more configurations

    def told(self, number: int) -> None:
        """The controller told the strategy about its own finished trial ``number``."""
        self._told.add(number)

    def next(self) -> ClaimedTrial | None:
        """The next trial this controller runs, or ``None``.

        ``None`` means the job is full (``self.full``) or the strategy is exhausted
        (``self.exhausted``). An interrupted trial comes first, then the enqueued
        configurations, then the strategy's.
        """
        rerun = self._claim_rerun()
        if rerun is not None:
            return rerun
        while not self.full:
            if self._positions[_ENQUEUED] < len(self._enqueue):
                origin = _ENQUEUED
                params: dict[str, Any] | None = self._enqueue[self._positions[origin]]
            else:
                origin = _STRATEGY
                params = self.strategy.ask()
                self._asked += 1
                if params is None:
                    self.exhausted = True
                    return None
            assert params is not None  # for the type checker: checked above
            continues = self.strategy.continues(params) if origin == _STRATEGY else None
            position = self._positions[origin]
            claim = claim_trial(
                self.storage,
                self.job_name,
                params,
                origin=origin,
                position=position,
                max_trials=self.max_trials,
                owner=self.owner,
                continues=continues,
            )
            if claim.number is not None:
                self._positions[origin] = claim.taken
                return ClaimedTrial(claim.number, dict(params), continues)
            self.full = claim.full
            self._catch_up(origin, claim.taken)
        return None

    def sync(self) -> None:
        """Tell the strategy the trials other controllers finished since the last sync."""
        finished = [
            t
            for t in self.storage.trials(self.job_name)
            if t.state.is_finished() and t.number not in self._told
        ]
        for trial in finished:
            self.strategy.tell(trial)
            self._told.add(trial.number)

    def unfinished(self) -> bool:
        """Whether the job still has trials to end: PENDING or RUNNING (this controller's or
        another's), or INTERRUPTED ones waiting to be re-run."""
        counts = self.storage.count_trials(self.job_name)
        waiting = counts[TrialState.INTERRUPTED] if self.rerun_interrupted else 0
        return counts[TrialState.PENDING] + counts[TrialState.RUNNING] + waiting > 0

    # -- helpers ---------------------------------------------------------------------------
    def _catch_up(self, origin: str, taken: int) -> None:
        """After a lost claim: skip the positions others took, learn what they finished."""
        self._positions[origin] = taken
        if origin == _STRATEGY:
            # Replay the positions the others took, as Strategy.restore does, so that the
            # next ask is the sequence's next configuration.
            while self._asked < taken:
                if self.strategy.ask() is None:
                    self.exhausted = True
                    break
                self._asked += 1
        self.sync()

    def _claim_rerun(self) -> ClaimedTrial | None:
        if not self.rerun_interrupted:
            return None
        for trial in self.storage.trials(self.job_name, [TrialState.INTERRUPTED]):
            if claim_rerun(self.storage, self.job_name, trial.number, owner=self.owner):
                return ClaimedTrial(trial.number, dict(trial.params), trial.continues)
        return None
