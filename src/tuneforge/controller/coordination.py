"""Who runs a job: one controller holding its lease, or several sharing it.

The loop (:mod:`tuneforge.controller.loop`) runs the same way in both cases; a
:class:`Coordination` does what differs between them, through storage alone:

* :class:`LeasedJob` (``tuneforge run``, ``--resume``): the controller holds the job's
  lease, refreshed every ``heartbeat_interval`` seconds, so a second controller is refused
  with ``JobBusyError`` while the first lives, and takes the job over once it is dead (on
  the same machine the recorded pid and process start time decide at once; elsewhere a
  heartbeat older than ``lease_timeout`` does). Taking a job over ends what the dead
  controller's trials left running and marks them INTERRUPTED
  (:mod:`tuneforge.controller.recovery`). New trials are created in one transaction for
  all free slots.
* :class:`SharedJob` (``tuneforge run --join``, ``optimize(join=True)``): several
  controllers run one job, like several optimizer processes sharing one study. No lease:
  each controller registers with a heartbeat of its own, and at every heartbeat takes over
  the unfinished trials of sharing controllers that died. Each new trial is claimed
  through storage (:class:`SharedTrials`), so each configuration and number is taken
  exactly once. A controller stays until the job's last trial ended, so that one is
  always there to take it over.

Controllers sharing a job build their strategies the same way (same job, same seed), as
the job file and ``--join`` guarantee; with different seeds positions still never clash,
but the configurations are simply different draws.

Example (what the controller does with its coordination)::

    trials, ran_before = coordination.prepare()
    while ...:
        coordination.beat(elapsed)
        for trial in coordination.next_trials(free):
            executor.submit(trial.number, make_work(*trial))
    coordination.release(elapsed)
"""

from __future__ import annotations

import abc
import contextlib
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from tuneforge.controller.recovery import interrupt_leftovers, take_over_dead_sharers
from tuneforge.controller.settings import ControllerSettings
from tuneforge.errors import StorageError
from tuneforge.executors.base import Executor
from tuneforge.processes import has_proc, process_identity
from tuneforge.storage import ControllerLease, JobBusyError, NewTrial, Storage
from tuneforge.storage.claims import claim_rerun, claim_trial
from tuneforge.storage.controllers import heartbeat, join_job, leave_job, sharing_controllers
from tuneforge.strategies.base import Strategy
from tuneforge.trial import OnInterrupt, Trial, TrialOrigin, TrialState

__all__ = [
    "Coordination",
    "LeaseLost",
    "LeasedJob",
    "Member",
    "NextTrial",
    "SharedJob",
    "SharedTrials",
]


class LeaseLost(Exception):
    """Another controller took the job (or this one's trials) over while this one ran it."""


class NextTrial(NamedTuple):
    """A trial to start now, numbered in storage: what ``make_work`` needs to run it."""

    number: int
    params: dict[str, Any]
    continues: int | None  # the earlier trial whose saved state it starts from


@dataclass(frozen=True)
class Member:
    """One controller on one job, as its coordination sees it: the job's storage, where
    its trials run, who the controller is (``identity``), and its timing."""

    storage: Storage
    job_name: str
    executor: Executor
    identity: ControllerLease
    settings: ControllerSettings

    def is_alive(self, lease: ControllerLease) -> bool:
        """Whether the controller holding ``lease`` still runs."""
        own_boot = (self.identity.start or "?:").split(":")[0]
        boot = (lease.start or "?:").split(":")[0]
        if lease.host == self.identity.host and boot == own_boot and has_proc():
            # This machine, since the same boot: the process itself answers, at once.
            identity = process_identity(lease.pid)
            return identity is not None and (lease.start is None or identity == lease.start)
        if lease.heartbeat_at is None:
            return False
        return time.time() - lease.heartbeat_at < self.settings.lease_timeout

    def take_over_dead_sharers(self, *, own_id: str | None) -> None:
        """Take over the trials of dead controllers sharing the job (see recovery);
        ``own_id`` is this controller's id when it is one of them."""
        take_over_dead_sharers(
            self.storage, self.job_name, self.executor, own_id=own_id, is_alive=self.is_alive
        )


class Coordination(abc.ABC):
    """What differs between a job run by one controller and one shared by several.

    The controller calls ``prepare`` once, then, in each turn of its loop, ``beat``,
    ``next_trials`` for its free slots and ``tell`` for each trial it recorded as
    finished, and ``release`` at the end, whatever happened. The strategy is asked and
    told through the coordination only, so a shared job keeps it in step with the others.
    ``exhausted`` (the strategy has no more configurations) and ``full`` (the job has
    ``max_trials`` trials, as a shared job learns from its claims) say why
    ``next_trials`` returned fewer trials than asked.
    """

    #: How the job was taken from this controller, for the error that says so.
    taken_over: ClassVar[str]

    def __init__(
        self,
        member: Member,
        strategy: Strategy,
        *,
        enqueue: Sequence[Mapping[str, Any]],
        max_trials: int,
        on_interrupt: OnInterrupt,
    ) -> None:
        self.member = member
        self.strategy = strategy
        self._enqueue = [dict(config) for config in enqueue]  # not yet run, in order
        self.max_trials = max_trials
        self.on_interrupt = on_interrupt
        self.exhausted = False
        self.full = False
        self._last_beat = -math.inf
        self._begin()

    @abc.abstractmethod
    def _begin(self) -> None:
        """Set up what this kind of coordination keeps (called last by ``__init__``)."""

    @abc.abstractmethod
    def prepare(self) -> tuple[list[Trial], float]:
        """Take part in the job, taking over what dead controllers left; the job's trials
        as this controller starts from them, and the seconds earlier controllers ran it.

        Raises ``JobBusyError`` when other live controllers keep this one out.
        """

    def beat(self, active_seconds: float) -> None:
        """Show storage that this controller lives (at most every ``heartbeat_interval``);
        ``LeaseLost`` if the others took the job over meanwhile."""
        now = self.member.settings.clock()
        if now - self._last_beat < self.member.settings.heartbeat_interval:
            return
        self._last_beat = now
        self._beat(active_seconds)

    @abc.abstractmethod
    def next_trials(self, free: int) -> list[NextTrial]:
        """Up to ``free`` trials for this controller to start now, recorded in storage."""

    def tell(self, trial: Trial) -> None:
        """Tell the strategy about a trial this controller recorded as finished."""
        self.strategy.tell(trial)

    def unfinished(self) -> bool:
        """Whether the job has unfinished trials that other controllers may yet need
        this one to take over (it waits for them before it leaves)."""
        return False

    @abc.abstractmethod
    def release(self, active_seconds: float) -> None:
        """Stop taking part (best effort: a controller that vanishes is found dead anyway)."""

    @abc.abstractmethod
    def _beat(self, active_seconds: float) -> None:
        """Refresh this controller's heartbeat, or raise ``LeaseLost``."""

    def _rerun_interrupted(self) -> bool:
        return self.on_interrupt is OnInterrupt.RERUN


class LeasedJob(Coordination):
    """The job's lease, held by this controller alone; it creates the job's new trials."""

    taken_over = "it was taken over by another controller"

    def _begin(self) -> None:
        self._holds_lease = False
        self._reruns: list[Trial] = []

    def prepare(self) -> tuple[list[Trial], float]:
        member = self.member
        record = member.storage.get_job(member.job_name)
        member.storage.claim_job(member.job_name, member.identity, is_alive=member.is_alive)
        self._holds_lease = True
        self._last_beat = member.settings.clock()
        self._refuse_live_sharers()
        trials = interrupt_leftovers(
            member.storage,
            member.job_name,
            member.executor,
            output_dir=record.output_dir,
            now=member.settings.clock,
        )
        if self._rerun_interrupted():
            self._reruns = [t for t in trials if t.state is TrialState.INTERRUPTED]
        n_enqueued = sum(1 for t in trials if t.origin == TrialOrigin.ENQUEUED)
        self._enqueue = self._enqueue[n_enqueued:]
        return trials, record.active_seconds

    def next_trials(self, free: int) -> list[NextTrial]:
        """Interrupted trials first (under their numbers), then the enqueued
        configurations, then the strategy's: the new ones created in one transaction."""
        member = self.member
        reruns: list[NextTrial] = []
        planned: list[NewTrial] = []
        while len(reruns) + len(planned) < free:
            if self._reruns:
                trial = self._reruns.pop(0)
                member.storage.reset_trial(member.job_name, trial.number, owner=member.identity.id)
                reruns.append(NextTrial(trial.number, dict(trial.params), trial.continues))
            elif self._enqueue:
                planned.append(NewTrial(self._enqueue.pop(0), TrialOrigin.ENQUEUED))
            elif self.exhausted:
                break
            else:
                suggestion = self.strategy.ask()
                if suggestion is None:
                    self.exhausted = True
                    break
                planned.append(
                    NewTrial(dict(suggestion), TrialOrigin.STRATEGY, suggestion.continues)
                )
        numbers = member.storage.create_trials(member.job_name, planned, owner=member.identity.id)
        created = [
            NextTrial(number, dict(new.params), new.continues)
            for number, new in zip(numbers, planned, strict=True)
        ]
        return reruns + created

    def release(self, active_seconds: float) -> None:
        if not self._holds_lease:
            return
        self._holds_lease = False
        # Best effort: a lease left behind is taken over by the next controller anyway.
        with contextlib.suppress(StorageError):
            self.member.storage.release_job(
                self.member.job_name, self.member.identity.id, active_seconds=active_seconds
            )

    def _beat(self, active_seconds: float) -> None:
        member = self.member
        if not member.storage.heartbeat(
            member.job_name, member.identity.id, active_seconds=active_seconds
        ):
            self._holds_lease = False
            raise LeaseLost

    def _refuse_live_sharers(self) -> None:
        """A resume must not take a job that controllers sharing it still run; the dead
        ones' trials are taken over like any other's."""
        member = self.member
        sharers = sharing_controllers(member.storage, member.job_name)
        live = [controller for controller in sharers if member.is_alive(controller)]
        if live:
            shown = ", ".join(c.describe() for c in live)
            raise JobBusyError(
                f"job {member.job_name!r} is being run by {len(live)} controller(s) sharing "
                f"it (--join): {shown}; wait for them to end, or stop the job "
                f"(`tuneforge stop {member.job_name}`), then resume."
            )
        if sharers:
            member.take_over_dead_sharers(own_id=None)


class SharedJob(Coordination):
    """One of the controllers sharing the job: registered with its own heartbeat, it
    claims each new trial through storage and takes over those of dead sharers."""

    taken_over = "the other controllers sharing it took this one's trials over"

    def _begin(self) -> None:
        self._registered = False
        self._claims = self._shared_trials([])

    def prepare(self) -> tuple[list[Trial], float]:
        member = self.member
        join_job(member.storage, member.job_name, member.identity)
        self._registered = True
        self._last_beat = member.settings.clock()
        member.take_over_dead_sharers(own_id=member.identity.id)
        # Active trials belong to the other controllers: they are left to them.
        trials = member.storage.trials(member.job_name)
        self._claims = self._shared_trials(trials)
        return trials, 0.0

    def next_trials(self, free: int) -> list[NextTrial]:
        """Claimed one by one: each claim may lose to another controller."""
        claimed: list[NextTrial] = []
        for _ in range(free):
            trial = self._claims.next()
            if trial is None:
                self.exhausted = self._claims.exhausted
                self.full = self._claims.full
                break
            claimed.append(trial)
        return claimed

    def tell(self, trial: Trial) -> None:
        super().tell(trial)
        self._claims.told(trial.number)

    def unfinished(self) -> bool:
        return self._claims.unfinished()

    def release(self, active_seconds: float) -> None:
        if not self._registered:
            return
        self._registered = False
        with contextlib.suppress(StorageError):
            leave_job(self.member.storage, self.member.job_name, self.member.identity.id)

    def _beat(self, active_seconds: float) -> None:
        member = self.member
        if not heartbeat(member.storage, member.job_name, member.identity.id):
            self._registered = False
            raise LeaseLost
        member.take_over_dead_sharers(own_id=member.identity.id)

    def _shared_trials(self, trials: Sequence[Trial]) -> SharedTrials:
        return SharedTrials(
            self.member.storage,
            self.member.job_name,
            self.strategy,
            trials,
            max_trials=self.max_trials,
            enqueue=self._enqueue,
            owner=self.member.identity.id,
            rerun_interrupted=self._rerun_interrupted(),
        )


class SharedTrials:
    """One controller's claims on a job it shares: each new trial and configuration once.

    Every strategy proposes a sequence, so a configuration is named by its origin and
    its *position* in that sequence. A new trial is claimed
    (:func:`tuneforge.storage.claims.claim_trial`) for the next position of the
    strategy's sequence (or of the enqueued list), in the transaction that numbers it, so
    two controllers never create the same position, and never more than ``max_trials``
    trials in all. A controller that loses a claim catches its strategy up: it asks once
    for every position the others took (that is how ``Strategy.restore`` replays a
    sequence, so a seeded grid, Sobol or random sequence continues exactly where the job
    is) and tells it the trials the others finished, then asks again. An INTERRUPTED
    trial is re-run by exactly one controller
    (:func:`tuneforge.storage.claims.claim_rerun`), unless ``rerun_interrupted`` is off
    (``on_interrupt: mark``).

    ``trials`` are the job's trials the strategy is restored from (``strategy.restore``
    asks once per strategy trial among them and tells the finished ones); ``enqueue`` is
    the job's whole list of configurations to run before the strategy's. ``owner`` (the
    controller's id) is recorded on each trial it claims.

    Example::

        shared = SharedTrials(storage, "digits", strategy, trials, max_trials=20)
        while (claimed := shared.next()) is not None:
            executor.submit(claimed.number, make_work(*claimed))
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
            origin: sum(1 for t in trials if t.origin == origin)
            for origin in (TrialOrigin.STRATEGY, TrialOrigin.ENQUEUED)
        }
        self._asked = self._positions[TrialOrigin.STRATEGY]  # what restore() replayed
        self._told = {t.number for t in trials if t.state.is_finished()}
        self.full = False  # the job has max_trials trials: nothing more to claim
        self.exhausted = False  # the strategy has no more configurations

    def next(self) -> NextTrial | None:
        """The next trial this controller runs, or ``None``.

        ``None`` means the job is full (``self.full``) or the strategy is exhausted
        (``self.exhausted``). An interrupted trial comes first, then the enqueued
        configurations, then the strategy's.
        """
        rerun = self._claim_rerun()
        if rerun is not None:
            return rerun
        while not self.full:
            origin, params, continues = self._next_configuration()
            if params is None:
                self.exhausted = True
                return None
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
                return NextTrial(claim.number, params, continues)
            self.full = claim.full
            self._catch_up(origin, claim.taken)
        return None

    def told(self, number: int) -> None:
        """The controller told the strategy about its own finished trial ``number``."""
        self._told.add(number)

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
    def _next_configuration(self) -> tuple[TrialOrigin, dict[str, Any] | None, int | None]:
        """The next enqueued configuration, else the strategy's (``None``: exhausted)."""
        enqueued = self._positions[TrialOrigin.ENQUEUED]
        if enqueued < len(self._enqueue):
            return TrialOrigin.ENQUEUED, self._enqueue[enqueued], None
        suggestion = self.strategy.ask()
        self._asked += 1
        if suggestion is None:
            return TrialOrigin.STRATEGY, None, None
        return TrialOrigin.STRATEGY, dict(suggestion), suggestion.continues

    def _catch_up(self, origin: TrialOrigin, taken: int) -> None:
        """After a lost claim: skip the positions others took, learn what they finished."""
        self._positions[origin] = taken
        if origin is TrialOrigin.STRATEGY:
            # Replay the positions the others took, as Strategy.restore does, so that the
            # next ask is the sequence's next configuration.
            while self._asked < taken:
                if self.strategy.ask() is None:
                    self.exhausted = True
                    break
                self._asked += 1
        self.sync()

    def _claim_rerun(self) -> NextTrial | None:
        if not self.rerun_interrupted:
            return None
        for trial in self.storage.trials(self.job_name, [TrialState.INTERRUPTED]):
            if claim_rerun(self.storage, self.job_name, trial.number, owner=self.owner):
                return NextTrial(trial.number, dict(trial.params), trial.continues)
        return None
