"""The tuning loop: keep ``max_parallel`` trials running, record what they do, enforce limits.

The controller asks the strategy for configurations, has storage number them, submits
them to the executor, and writes every event the executor reports to storage as it
arrives. It reads stop requests from storage, so ``tuneforge stop`` works from any
terminal. It holds no state storage does not hold: a new controller on the same job
(``--resume``) rebuilds the strategy from the stored trials and carries on.

Crash recovery. A controller holds the job's lease in storage while it runs (refreshed
every ``heartbeat_interval`` seconds), so a second controller on the same job is refused
with ``JobBusyError`` while the first lives, and takes over once it is dead (on the same
machine the recorded pid and process start time decide at once; elsewhere a heartbeat
older than ``lease_timeout`` does). On taking a job over it ends the processes the dead
controller's trials left running, marks the trials that were pending or running
INTERRUPTED, and then re-runs them under their numbers (``on_interrupt="rerun"``) or
leaves them so, counted toward ``max_trials`` (``on_interrupt="mark"``). Finished trials
never change, so a completed trial is recorded exactly once; a trial whose result was
not yet recorded when the controller died runs again (at-least-once execution).

A shared job (``shared=True``, ``--join``) has no lease: each controller registers with a
heartbeat of its own, and at every heartbeat takes over the unfinished trials of sharing
controllers that died (see :mod:`tuneforge.sharing`); it stays until the job's last trial
ended, so that one is always there to do so.

A storage write that fails even after storage's own retries stops the job: running trials
are ended and the error is raised, naming what failed; what was recorded stays whole.

Example (an in-process objective; the CLI does the same with command trials)::

    controller = Controller(storage=storage, job_name="demo", strategy=strategy,
                            executor=LocalExecutor(), make_work=make_work,
                            direction="minimize", max_trials=20)
    final_state = controller.run()
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tuneforge.errors import StorageError
from tuneforge.events import MetricObserved, TrialEvent, TrialFinished, TrialStarted
from tuneforge.executors.base import Executor, Work
from tuneforge.processes import has_proc, process_identity
from tuneforge.retry import TrialRetried
from tuneforge.sharing import SharedJob
from tuneforge.stopping import StoppingRule, TrialProgress
from tuneforge.storage import (
    AddObservations,
    ControllerLease,
    FinishTrial,
    JobBusyError,
    JobState,
    NewTrial,
    RetryTrial,
    StartTrial,
    Storage,
    TrialTakenOverError,
    TrialWrite,
)
from tuneforge.storage.controllers import (
    heartbeat,
    join_job,
    leave_job,
    recover_dead,
    sharing_controllers,
)
from tuneforge.strategies.base import Strategy
from tuneforge.trial import Observation, Trial, TrialState

#: ``make_work(number, params, continues)``: the work that runs trial ``number``;
#: ``continues`` is the earlier trial whose saved state it starts from (or ``None``).
MakeWork = Callable[[int, Mapping[str, Any], int | None], Work]

#: What happens on resume to trials a controller left unfinished (killed, Ctrl-C).
ON_INTERRUPT = ("rerun", "mark")


@dataclass(frozen=True)
class Progress:
    """A snapshot for progress displays, sent after every change."""

    n_completed: int
    n_failed: int
    n_stopped: int
    n_stopped_early: int
    running: tuple[int, ...]
    max_trials: int
    elapsed: float
    best: Trial | None
    finished: tuple[Trial, ...] = ()
    n_interrupted: int = 0  # left interrupted and counted (on_interrupt="mark")

    @property
    def n_done(self) -> int:
        return (
            self.n_completed
            + self.n_failed
            + self.n_stopped
            + self.n_stopped_early
            + self.n_interrupted
        )


@dataclass
class _Counts:
    completed: int = 0
    failed: int = 0
    stopped: int = 0
    stopped_early: int = 0
    interrupted: int = 0
    best: Trial | None = None
    finished: list[Trial] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.completed + self.failed + self.stopped + self.stopped_early + self.interrupted


class _LeaseLost(Exception):
    """Another controller took the job over while this one ran it."""


class Controller:
    """Runs one job to its end: max_trials, an exhausted strategy, a limit, or a stop."""

    def __init__(
        self,
        *,
        storage: Storage,
        job_name: str,
        strategy: Strategy,
        executor: Executor,
        make_work: MakeWork,
        direction: str,
        max_trials: int,
        max_parallel: int = 1,
        max_failures: int | None = None,
        time_limit: float | None = None,
        enqueue: Sequence[Mapping[str, Any]] = (),
        stopping_rule: StoppingRule | None = None,
        objective: str | None = None,
        warm_start: Sequence[Trial] = (),
        on_progress: Callable[[Progress], None] | None = None,
        clock: Callable[[], float] = time.time,
        poll_interval: float = 0.2,
        on_interrupt: str = "rerun",
        heartbeat_interval: float = 2.0,
        lease_timeout: float = 30.0,
        shared: bool = False,
    ) -> None:
        self.storage = storage
        self.job_name = job_name
        self.strategy = strategy
        self.executor = executor
        self.make_work = make_work
        self.direction = direction
        self.max_trials = max_trials
        self.max_parallel = max_parallel
        self.max_failures = max_failures
        self.time_limit = time_limit
        self.stopping_rule = stopping_rule
        self.warm_start = tuple(warm_start)
        self.objective = objective
        if stopping_rule is not None and objective is None:
            raise ValueError("a stopping rule needs the objective's metric name")
        if on_interrupt not in ON_INTERRUPT:
            raise ValueError(f"on_interrupt must be one of {ON_INTERRUPT}, got {on_interrupt!r}")
        self.on_interrupt = on_interrupt
        self.heartbeat_interval = heartbeat_interval
        self.lease_timeout = lease_timeout
        self.on_progress = on_progress
        self.clock = clock
        self.poll_interval = poll_interval
        self._enqueued = list(enqueue)
        self._rerun: list[Trial] = []
        self._counts = _Counts()
        self._exhausted = False
        self._end: tuple[JobState, str | None] | None = None
        # The objective's curve of every trial, read by the stopping rule.
        self._curves: dict[int, TrialProgress] = {}
        self._stopping: set[int] = set()
        self._stops_read_at = -math.inf  # time.monotonic() of the last stop-request read
        self._started = clock()
        pid = os.getpid()
        self._lease = ControllerLease(
            id=uuid.uuid4().hex, host=socket.gethostname(), pid=pid, start=process_identity(pid)
        )
        self._holding = False
        self._joined = False  # registered as one of a shared job's controllers
        self._last_beat = -math.inf
        # shared=True: other controllers run this job too (tuneforge run --join); no lease,
        # and new trials are claimed through storage (see tuneforge.sharing).
        self.shared = shared
        self._sharing: SharedJob | None = None

    # -- the loop --------------------------------------------------------------------------
    def run(self) -> JobState:
        """Run until the job ends; returns its final state (also written to storage).

        Ctrl-C (``KeyboardInterrupt``) ends the running trials as INTERRUPTED, marks the
        job INTERRUPTED and re-raises, so the caller can tell the user how to resume.
        ``JobBusyError`` means another live controller runs the job, or live ``--join``
        controllers share it (nothing was changed), or it was taken over while this one
        ran; ``StorageError`` means a write failed for good
        and the job stopped, its running trials ended.
        """
        try:
            self._prepare()
            try:
                self._loop()
            except KeyboardInterrupt:
                self._interrupt()
                raise
            except _LeaseLost:
                self._abandon(record=False)
                taken = (
                    "the other controllers sharing it took this one's trials over"
                    if self.shared
                    else "it was taken over by another controller"
                )
                raise JobBusyError(
                    f"job {self.job_name!r}: {taken} while this one ran it (no heartbeat "
                    f"for over {self.lease_timeout:g}s?); this controller ended its trials "
                    f"and stopped."
                ) from None
            except StorageError as exc:
                self._abandon(record=True)
                raise StorageError(
                    f"the job {self.job_name!r} stopped because its storage failed: {exc} "
                    f"Finished trials are kept; resume the job once the storage works again."
                ) from exc
            finally:
                self.executor.shutdown()
            state, reason = self._end or (JobState.COMPLETED, self._completion_reason())
            # A shared job ends with its last controller: the others may still run trials.
            if self._sharing is None or self._end is not None or not self._sharing.unfinished():
                self.storage.set_job_state(self.job_name, state, reason)
            return state
        finally:
            self._release()

    def _loop(self) -> None:
        while True:
            self._beat()
            self._apply_stop_requests()
            self._check_limits()
            if self._end is None:
                self._fill_slots()
            if (
                not self.executor.running
                and (
                    self._end is not None or self._exhausted or self._counts.done >= self.max_trials
                )
                and not self._waits_for_others()
            ):
                break
            self._record(self.executor.poll(self.poll_interval))

    def _waits_for_others(self) -> bool:
        """A shared job's controller stays while other controllers' trials are unfinished,
        so that it can take them over should their controller die."""
        return self._sharing is not None and self._end is None and self._sharing.unfinished()

    # -- the lease -------------------------------------------------------------------------
    def _claim(self) -> float:
        """Take the job's lease (or raise JobBusyError); the time spent on it before."""
        record = self.storage.get_job(self.job_name)
        self.storage.claim_job(self.job_name, self._lease, is_alive=self._holder_alive)
        self._holding = True
        self._last_beat = self.clock()
        return record.active_seconds

    def _holder_alive(self, lease: ControllerLease) -> bool:
        """Whether the controller holding ``lease`` still runs."""
        own_boot = (self._lease.start or "?:").split(":")[0]
        boot = (lease.start or "?:").split(":")[0]
        if lease.host == self._lease.host and boot == own_boot and has_proc():
            # This machine, since the same boot: the process itself answers, at once.
            identity = process_identity(lease.pid)
            return identity is not None and (lease.start is None or identity == lease.start)
        if lease.heartbeat_at is None:
            return False
        return time.time() - lease.heartbeat_at < self.lease_timeout

    def _beat(self) -> None:
        now = self.clock()
        if now - self._last_beat < self.heartbeat_interval:
            return
        self._last_beat = now
        if self.shared:
            # No lease in a shared job: each controller keeps its own heartbeat, and takes
            # over the trials of those that stopped keeping theirs.
            if not heartbeat(self.storage, self.job_name, self._lease.id):
                self._joined = False
                raise _LeaseLost
            self._recover_dead_sharers()
            return
        if not self.storage.heartbeat(
            self.job_name, self._lease.id, active_seconds=self._elapsed()
        ):
            self._holding = False
            raise _LeaseLost

    def _recover_dead_sharers(self) -> None:
        """Mark the unfinished trials of dead controllers sharing this job INTERRUPTED
        (re-run then by whichever controller claims them), ending their processes first."""
        notes: list[tuple[int | None, str]] = []

        def end_processes(trials: Sequence[Trial]) -> None:
            # Only the dead controller's trials, by recorded folder and process group.
            notes.extend(self.executor.end_orphans(self.job_name, None, trials))

        recover_dead(
            self.storage,
            self.job_name,
            own_id=self._lease.id if self.shared else None,
            is_alive=self._holder_alive,
            end_processes=end_processes,
        )
        for number, message in notes:
            self.storage.note(self.job_name, message, trial_number=number)

    def _refuse_live_sharers(self) -> None:
        """A resume (one controller, holding the lease) must not take a job that controllers
        sharing it still run; the dead ones' trials are recovered like any other's."""
        sharers = sharing_controllers(self.storage, self.job_name)
        live = [controller for controller in sharers if self._holder_alive(controller)]
        if live:
            shown = ", ".join(c.describe() for c in live)
            raise JobBusyError(
                f"job {self.job_name!r} is being run by {len(live)} controller(s) sharing it "
                f"(--join): {shown}; wait for them to end, or stop the job "
                f"(`tuneforge stop {self.job_name}`), then resume."
            )
        if sharers:
            self._recover_dead_sharers()

    def _release(self) -> None:
        if self._joined:
            self._joined = False
            with contextlib.suppress(StorageError):
                leave_job(self.storage, self.job_name, self._lease.id)
        if not self._holding:
            return
        self._holding = False
        # Best effort: a lease left behind is taken over by the next controller anyway.
        with contextlib.suppress(StorageError):
            self.storage.release_job(self.job_name, self._lease.id, active_seconds=self._elapsed())

    def _elapsed(self) -> float:
        return max(0.0, self.clock() - self._started)

    def _prepare(self) -> None:
        """Pick up a job where it was left: take its lease, end what a dead controller left
        running, count finished trials, queue (or count) interrupted ones."""
        if self.shared:
            self._started = self.clock()
            join_job(self.storage, self.job_name, self._lease)
            self._joined = True
            self._last_beat = self.clock()
            self._recover_dead_sharers()
        else:
            self._started = self.clock() - self._claim()
            self._refuse_live_sharers()
        record = self.storage.get_job(self.job_name)
        trials = self.storage.trials(self.job_name)
        # In a shared job, active trials belong to the other controllers: leave them be.
        leftovers = [] if self.shared else [t for t in trials if t.state.is_active()]
        if trials and not self.shared:
            # Holding the lease, nothing of this job may run: whatever does is an orphan.
            for number, message in self.executor.end_orphans(
                self.job_name, record.output_dir, leftovers
            ):
                self.storage.note(self.job_name, message, trial_number=number)
        for trial in leftovers:
            if trial.state.is_active():
                # A controller that died left it behind; nobody is watching it any more.
                self.storage.finish_trial(
                    self.job_name,
                    trial.number,
                    state=TrialState.INTERRUPTED,
                    value=None,
                    reason="the controller ended while the trial ran",
                    log_tail=trial.log_tail,
                    time=self.clock(),
                )
        if leftovers:
            trials = self.storage.trials(self.job_name)
        if self.warm_start:
            self.strategy.warm_start(self.warm_start)
        if trials:
            self.strategy.restore(trials)
        if self.shared:
            self._sharing = SharedJob(
                self.storage,
                self.job_name,
                self.strategy,
                trials,
                max_trials=self.max_trials,
                enqueue=self._enqueued,
                owner=self._lease.id,
                rerun_interrupted=self.on_interrupt == "rerun",
            )
            self._enqueued = []  # claimed through self._sharing, as are interrupted trials
        if self.stopping_rule is not None:
            for trial in trials:
                if trial.state.is_finished():
                    self._curves[trial.number] = self._curve(
                        trial.number,
                        trial.state,
                        [
                            (o.step, o.value)
                            for o in self.storage.metric_series(
                                self.job_name, trial.number, self.objective
                            )
                        ],
                    )
        n_enqueued = sum(1 for t in trials if t.origin == "enqueued")
        self._enqueued = self._enqueued[n_enqueued:]
        for trial in trials:
            if trial.state is TrialState.INTERRUPTED and self.on_interrupt == "rerun":
                if not self.shared:
                    self._rerun.append(trial)
            elif trial.state.is_finished() or trial.state is TrialState.INTERRUPTED:
                self._count(trial)
        self.storage.clear_stop_request(self.job_name)
        self.storage.set_job_state(self.job_name, JobState.RUNNING)
        self._counts.finished.clear()
        self._notify()

    def _fill_slots(self) -> None:
        """Start trials in the free slots: created in one transaction, then submitted."""
        running = len(self.executor.running)
        free = min(self.max_parallel - running, self.max_trials - self._counts.done - running)
        if free <= 0:
            return
        if self._sharing is not None:
            self._fill_shared_slots(self._sharing, free)
            return
        configurations: list[NewTrial] = []
        submitted = 0
        while submitted + len(configurations) < free:
            if self._rerun:
                trial = self._rerun.pop(0)
                self.storage.reset_trial(self.job_name, trial.number, owner=self._lease.id)
                work = self.make_work(trial.number, trial.params, trial.continues)
                self.executor.submit(trial.number, work)
                submitted += 1
            elif self._enqueued:
                configurations.append(NewTrial(dict(self._enqueued.pop(0)), "enqueued"))
            elif self._exhausted:
                break
            else:
                suggestion = self.strategy.ask()
                if suggestion is None:
                    self._exhausted = True
                    break
                continues = self.strategy.continues(suggestion)
                configurations.append(NewTrial(dict(suggestion), "strategy", continues))
        numbers = self.storage.create_trials(self.job_name, configurations, owner=self._lease.id)
        for number, new in zip(numbers, configurations, strict=True):
            self.executor.submit(number, self.make_work(number, new.params, new.continues))
        if submitted or numbers:
            self._notify()

    def _fill_shared_slots(self, sharing: SharedJob, free: int) -> None:
        """Claim trials through storage one by one: each claim may lose to another controller."""
        for _ in range(free):
            claimed = sharing.next()
            if claimed is None:  # the job has max_trials trials, or nothing to propose
                self._exhausted = True
                break
            self.executor.submit(claimed.number, self.make_work(*claimed))
        self._notify()

    # -- events ----------------------------------------------------------------------------
    def _record(self, events: Sequence[TrialEvent]) -> None:
        """Write one poll's events to storage in one transaction, then act on the finished.

        The stopping rule sees each observation as it is read; the strategy is told of a
        finished trial only once storage holds it, so what it learns is never lost.
        """
        if not events:
            return
        writes: list[TrialWrite] = []
        for event in events:
            if isinstance(event, TrialRetried):
                # The failed attempt's values go; the new attempt reports its own.
                self._curves.pop(event.number, None)
                writes.append(
                    RetryTrial(
                        event.number,
                        attempt=event.attempt,
                        reason=event.reason,
                        trial_dir=event.trial_dir,
                        pid=event.pid,
                        time=event.time,
                    )
                )
            elif isinstance(event, TrialStarted):
                writes.append(
                    StartTrial(
                        event.number, trial_dir=event.trial_dir, pid=event.pid, time=event.time
                    )
                )
            elif isinstance(event, MetricObserved):
                writes.append(AddObservations(event.number, (event.observation,)))
                if event.observation.metric == self.objective:
                    self._consider_stopping(event.number, event.observation)
            elif isinstance(event, TrialFinished):
                outcome = event.outcome
                writes.append(
                    FinishTrial(
                        event.number,
                        state=outcome.state,
                        value=outcome.value,
                        reason=outcome.reason,
                        log_tail=outcome.log_tail,
                        time=event.time,
                    )
                )
                self._stopping.discard(event.number)
        try:
            finished = self.storage.write_trials(self.job_name, writes, owner=self._lease.id)
        except TrialTakenOverError:
            raise _LeaseLost from None  # found dead while it stalled: its trials are others'
        for trial in finished:
            if trial.state is TrialState.INTERRUPTED:
                self._curves.pop(trial.number, None)
                continue
            if trial.number in self._curves:
                self._curves[trial.number] = self._curve(
                    trial.number, trial.state, self._curves[trial.number].series
                )
            self.strategy.tell(trial)
            if self._sharing is not None:
                self._sharing.told(trial.number)
            self._count(trial)
        self._notify()

    @staticmethod
    def _curve(
        number: int, state: TrialState, series: Sequence[tuple[int, float]]
    ) -> TrialProgress:
        return TrialProgress(number, state, tuple(series))

    def _consider_stopping(self, number: int, observation: Observation) -> None:
        """Ask the stopping rule about a trial whose objective just got a new value."""
        if self.stopping_rule is None:
            return
        previous = self._curves.get(number)
        series = (*(previous.series if previous else ()), (observation.step, observation.value))
        progress = self._curve(number, TrialState.RUNNING, series)
        self._curves[number] = progress
        if number in self._stopping or number not in self.executor.running:
            return
        history = [curve for n, curve in self._curves.items() if n != number]
        decision = self.stopping_rule.decide(progress, history)
        if decision.stop:
            self._stopping.add(number)
            self.executor.stop(number, decision.reason or "stopped early", TrialState.STOPPED_EARLY)

    def _count(self, trial: Trial) -> None:
        counts = self._counts
        if trial.state is TrialState.COMPLETED:
            counts.completed += 1
            if trial.value is not None and math.isfinite(trial.value) and self._better(trial):
                counts.best = trial
        elif trial.state is TrialState.FAILED:
            counts.failed += 1
        elif trial.state is TrialState.STOPPED:
            counts.stopped += 1
        elif trial.state is TrialState.STOPPED_EARLY:
            counts.stopped_early += 1
        elif trial.state is TrialState.INTERRUPTED:
            counts.interrupted += 1
        counts.finished.append(trial)

    def _better(self, trial: Trial) -> bool:
        best = self._counts.best
        if best is None or best.value is None or trial.value is None:
            return True
        if self.direction == "maximize":
            return trial.value > best.value
        return trial.value < best.value

    def _notify(self) -> None:
        if self.on_progress is None:
            self._counts.finished.clear()
            return
        counts = self._counts
        self.on_progress(
            Progress(
                n_completed=counts.completed,
                n_failed=counts.failed,
                n_stopped=counts.stopped,
                n_stopped_early=counts.stopped_early,
                running=tuple(sorted(self.executor.running)),
                max_trials=self.max_trials,
                elapsed=self.clock() - self._started,
                best=counts.best,
                finished=tuple(counts.finished),
                n_interrupted=counts.interrupted,
            )
        )
        counts.finished.clear()

    # -- stopping --------------------------------------------------------------------------
    def _apply_stop_requests(self) -> None:
        # Read at most once per poll interval: when events pour in, the loop turns many
        # times a second, and a stop request only needs to be seen within that interval.
        now = time.monotonic()
        if now - self._stops_read_at < self.poll_interval:
            return
        self._stops_read_at = now
        job_stop, trial_numbers = self.storage.stop_requests(self.job_name)
        if job_stop and self._end is None:
            self._end_job(JobState.STOPPED, "stopped on request", "the job was stopped on request")
        for number in trial_numbers & self.executor.running:
            self.executor.stop(number, "stopped on request")

    def _check_limits(self) -> None:
        if self._end is not None:
            return
        if self.max_failures is not None and self._counts.failed >= self.max_failures:
            self._end_job(
                JobState.FAILED,
                f"{self._counts.failed} trials failed (limits.max_failures is {self.max_failures})",
                "the job ended after too many failed trials",
            )
        elif self.time_limit is not None and self._elapsed() >= self.time_limit:
            self._end_job(
                JobState.COMPLETED,
                f"the time limit of {self.time_limit:g}s was reached",
                "the job's time limit was reached",
            )

    def _end_job(self, state: JobState, reason: str, trial_reason: str) -> None:
        self._end = (state, reason)
        for number in self.executor.running:
            self.executor.stop(number, trial_reason)

    def _interrupt(self) -> None:
        """Ctrl-C: end running trials as INTERRUPTED (re-run on resume) and wait for them."""
        for number in self.executor.running:
            self.executor.stop(number, "interrupted (Ctrl-C)", TrialState.INTERRUPTED)
        record = True
        while self.executor.running:
            try:
                events = self.executor.poll(self.poll_interval)
                if record:
                    self._record(events)
            except KeyboardInterrupt:
                continue  # the runners are already ending their process groups
            except _LeaseLost:
                record = False  # its trials are other controllers' now: write nothing
        if record:
            self.storage.set_job_state(self.job_name, JobState.INTERRUPTED, "interrupted (Ctrl-C)")

    def _abandon(self, *, record: bool) -> None:
        """End every running trial as INTERRUPTED after a failure, recording what still can be.

        ``record=False`` (another controller owns the job now) writes nothing; otherwise the
        outcomes are written while storage takes them, and the job is marked INTERRUPTED.
        """
        for number in self.executor.running:
            self.executor.stop(number, "the controller stopped", TrialState.INTERRUPTED)
        while self.executor.running:
            try:
                events = self.executor.poll(self.poll_interval)
            except KeyboardInterrupt:
                continue  # the runners are already ending their process groups
            if not record:
                continue
            try:
                self._record(events)
            except (StorageError, _LeaseLost):
                record = False  # storage is failing, or the trials are others' now
        if record:
            with contextlib.suppress(StorageError):
                self.storage.set_job_state(
                    self.job_name, JobState.INTERRUPTED, "the controller stopped: storage failed"
                )

    def _completion_reason(self) -> str:
        if self._sharing is not None and self._sharing.full:
            return f"max_trials ({self.max_trials}) reached"
        if self._exhausted and self._counts.done < self.max_trials:
            return f"the strategy has no more configurations after {self._counts.done} trials"
        return f"max_trials ({self.max_trials}) reached"
