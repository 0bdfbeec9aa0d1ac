"""The tuning loop: keep ``max_parallel`` trials running, record what they do, enforce limits.

The controller asks the strategy for configurations, has storage number them, submits
them to the executor, and writes every event the executor reports to storage as it
arrives. It reads stop requests from storage, so ``tuneforge stop`` works from any
terminal. It holds no state storage does not hold: a new controller on the same job
(``--resume``) rebuilds the strategy from the stored trials and carries on.

What the loop is made of, one module each: who runs the job beside this controller (a
lease held alone, or a job shared with ``--join``) and where new trials come from
(:mod:`~tuneforge.controller.coordination`); taking over what a dead controller left
(:mod:`~tuneforge.controller.recovery`); the curves the early-stopping rule reads
(:mod:`~tuneforge.controller.curves`); the counts that make :class:`Progress`
(:mod:`~tuneforge.controller.progress`).

A storage write that fails even after storage's own retries stops the job: running trials
are ended and the error is raised, naming what failed; what was recorded stays whole.

Example (an in-process objective; :mod:`tuneforge.launch` builds the same from a job)::

    controller = Controller(storage=storage, job_name="demo", strategy=strategy,
                            executor=LocalExecutor(), make_work=make_work,
                            direction="minimize", limits=JobLimits(max_trials=20))
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
from typing import Any

from tuneforge.controller.coordination import Coordination, LeasedJob, LeaseLost, Member
from tuneforge.controller.curves import Curves
from tuneforge.controller.progress import Progress, Tally
from tuneforge.controller.settings import ControllerSettings, JobLimits
from tuneforge.errors import StorageError
from tuneforge.events import MetricObserved, TrialEvent, TrialFinished, TrialRetried, TrialStarted
from tuneforge.executors.base import Executor, Work
from tuneforge.processes import process_identity
from tuneforge.stopping import StoppingRule
from tuneforge.storage import (
    AddObservations,
    ControllerLease,
    FinishTrial,
    JobBusyError,
    JobState,
    RetryTrial,
    StartTrial,
    Storage,
    TrialTakenOverError,
    TrialWrite,
)
from tuneforge.strategies.base import Strategy
from tuneforge.trial import Direction, OnInterrupt, Trial, TrialState

__all__ = ["Controller", "MakeWork"]

#: ``make_work(number, params, continues)``: the work that runs trial ``number``;
#: ``continues`` is the earlier trial whose saved state it starts from (or ``None``).
MakeWork = Callable[[int, Mapping[str, Any], int | None], Work]


class Controller:
    """Runs one job to its end: max_trials, an exhausted strategy, a limit, or a stop.

    ``coordination`` says who else runs the job: :class:`LeasedJob` (the default: this
    controller alone, holding the job's lease) or :class:`SharedJob` (``--join``).
    ``on_interrupt`` says what happens to trials a controller left unfinished: run again
    under their numbers (``rerun``) or left INTERRUPTED and counted (``mark``).
    """

    def __init__(
        self,
        *,
        storage: Storage,
        job_name: str,
        strategy: Strategy,
        executor: Executor,
        make_work: MakeWork,
        direction: Direction | str,
        limits: JobLimits,
        enqueue: Sequence[Mapping[str, Any]] = (),
        warm_start: Sequence[Trial] = (),
        stopping_rule: StoppingRule | None = None,
        objective: str | None = None,
        on_interrupt: OnInterrupt | str = OnInterrupt.RERUN,
        coordination: type[Coordination] = LeasedJob,
        settings: ControllerSettings | None = None,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.storage = storage
        self.job_name = job_name
        self.strategy = strategy
        self.executor = executor
        self.make_work = make_work
        self.limits = limits
        self.settings = settings or ControllerSettings()
        self.warm_start = tuple(warm_start)
        self.on_progress = on_progress
        self._curves = Curves(stopping_rule, objective)
        self._tally = Tally(Direction.parse(direction))
        pid = os.getpid()
        identity = ControllerLease(
            id=uuid.uuid4().hex, host=socket.gethostname(), pid=pid, start=process_identity(pid)
        )
        self.coordination = coordination(
            Member(storage, job_name, executor, identity, self.settings),
            strategy,
            enqueue=enqueue,
            max_trials=limits.max_trials,
            on_interrupt=_on_interrupt(on_interrupt),
        )
        self._end: tuple[JobState, str | None] | None = None  # why the job ends, once known
        self._stops_read_at = -math.inf  # time.monotonic() of the last stop-request read
        self._busy = False  # the last poll returned events
        self._started = self.settings.clock()

    # -- the loop --------------------------------------------------------------------------
    def run(self) -> JobState:
        """Run until the job ends; returns its final state (also written to storage).

        Ctrl-C (``KeyboardInterrupt``) ends the running trials as INTERRUPTED, marks the
        job INTERRUPTED and re-raises, so the caller can tell the user how to resume.
        ``JobBusyError`` means another live controller runs the job, or live ``--join``
        controllers share it (nothing was changed), or it was taken over while this one
        ran; ``StorageError`` means a write failed for good and the job stopped, its
        running trials ended.
        """
        try:
            self._prepare()
            try:
                self._loop()
            except KeyboardInterrupt:
                self._interrupt()
                raise
            except LeaseLost:
                self._abandon(record=False)
                raise JobBusyError(
                    f"job {self.job_name!r}: {self.coordination.taken_over} while this one "
                    f"ran it (no heartbeat for over {self.settings.lease_timeout:g}s?); this "
                    f"controller ended its trials and stopped."
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
            if self._end is not None or not self.coordination.unfinished():
                self.storage.set_job_state(self.job_name, state, reason)
            return state
        finally:
            self.coordination.release(self._elapsed())

    def _loop(self) -> None:
        while True:
            self.coordination.beat(self._elapsed())
            self._apply_stop_requests()
            self._check_limits()
            if self._end is None:
                self._fill_slots()
            if not self.executor.running and self._ending() and not self._waits_for_others():
                break
            events = self.executor.poll(self.settings.poll_interval)
            self._busy = bool(events)
            self._record(events)

    def _ending(self) -> bool:
        """Nothing more to start: a stop or limit ended the job, or max_trials ended, or no
        configurations are left."""
        return (
            self._end is not None
            or self._tally.done >= self.limits.max_trials
            or self.coordination.exhausted
            or self.coordination.full
        )

    def _waits_for_others(self) -> bool:
        """A shared job's controller stays while other controllers' trials are unfinished,
        so that it can take them over should their controller die."""
        return self._end is None and self.coordination.unfinished()

    def _prepare(self) -> None:
        """Take part in the job and pick it up where it was left: the strategy restored,
        ended trials counted and their curves read (interrupted ones are re-run, unless
        the job marks them)."""
        began = self.settings.clock()
        trials, ran_before = self.coordination.prepare()
        self._started = began - ran_before
        if self.warm_start:
            self.strategy.warm_start(self.warm_start)
        if trials:
            self.strategy.restore(trials)
        self._curves.restore(self.storage, self.job_name, trials)
        marked = self.coordination.on_interrupt is OnInterrupt.MARK
        self._tally.add_earlier(
            t
            for t in trials
            if t.state.is_finished() or (marked and t.state is TrialState.INTERRUPTED)
        )
        self.storage.clear_stop_request(self.job_name)
        self.storage.set_job_state(self.job_name, JobState.RUNNING)
        self._notify()

    def _fill_slots(self) -> None:
        """Start trials in the free slots, each recorded in storage before it is submitted."""
        running = len(self.executor.running)
        free = min(
            self.limits.max_parallel - running,
            self.limits.max_trials - self._tally.done - running,
        )
        if free <= 0:
            return
        started = self.coordination.next_trials(free)
        for trial in started:
            self.executor.submit(trial.number, self.make_work(*trial))
        if started:
            self._notify()

    # -- events ----------------------------------------------------------------------------
    def _record(self, events: Sequence[TrialEvent]) -> None:
        """Write one poll's events to storage in one transaction, then act on the finished.

        The stopping rule sees each observation as it is read; the strategy is told of a
        finished trial only once storage holds it, so what it learns is never lost.
        """
        if not events:
            return
        writes = [self._write(event) for event in events]
        try:
            finished = self.storage.write_trials(
                self.job_name, writes, owner=self.coordination.member.identity.id
            )
        except TrialTakenOverError:
            raise LeaseLost from None  # found dead while it stalled: its trials are others'
        for trial in finished:
            self._curves.recorded(trial)
            if trial.state is not TrialState.INTERRUPTED:  # it runs again: nothing to learn
                self.coordination.tell(trial)
                self._tally.add(trial)
        self._notify()

    def _write(self, event: TrialEvent) -> TrialWrite:
        """The storage write that records ``event``, after the stopping rule saw it."""
        # Exact types: a TrialRetried is also a TrialStarted, and is recorded differently.
        if type(event) is TrialStarted:
            return StartTrial(
                event.number, trial_dir=event.trial_dir, pid=event.pid, time=event.time
            )
        if type(event) is TrialRetried:
            self._curves.restart(event.number)  # the failed attempt's values go
            return RetryTrial(
                event.number,
                attempt=event.attempt,
                reason=event.reason,
                trial_dir=event.trial_dir,
                pid=event.pid,
                time=event.time,
            )
        if type(event) is MetricObserved:
            number = event.number
            reason = self._curves.observe(
                number, event.observation, judge=number in self.executor.running
            )
            if reason is not None:
                self.executor.stop(number, reason, TrialState.STOPPED_EARLY)
            return AddObservations(number, (event.observation,))
        if type(event) is TrialFinished:
            self._curves.ended(event.number)
            outcome = event.outcome
            return FinishTrial(
                event.number,
                state=outcome.state,
                value=outcome.value,
                reason=outcome.reason,
                log_tail=outcome.log_tail,
                time=event.time,
            )
        raise TypeError(f"not a trial event: {event!r}")

    def _notify(self) -> None:
        progress = self._tally.snapshot(
            running=tuple(sorted(self.executor.running)),
            max_trials=self.limits.max_trials,
            elapsed=self.settings.clock() - self._started,
        )
        if self.on_progress is not None:
            self.on_progress(progress)

    # -- stopping --------------------------------------------------------------------------
    def _apply_stop_requests(self) -> None:
        # Read at most once per poll interval, and less often while events pour in: the
        # loop then turns many times a second, and a stop request needs to be seen within
        # a fraction of a second, not within a trial.
        settings = self.settings
        interval = settings.poll_interval
        if self._busy:
            interval = max(interval, settings.busy_stop_interval)
        now = time.monotonic()
        if now - self._stops_read_at < interval:
            return
        self._stops_read_at = now
        job_stop, trial_numbers = self.storage.stop_requests(self.job_name)
        if job_stop and self._end is None:
            self._end_job(JobState.STOPPED, "stopped on request", "the job was stopped on request")
        for number in trial_numbers & self.executor.running:
            self.executor.stop(number, "stopped on request")

    def _check_limits(self) -> None:
        limits = self.limits
        if self._end is not None:
            return
        if limits.max_failures is not None and self._tally.failed >= limits.max_failures:
            self._end_job(
                JobState.FAILED,
                f"{self._tally.failed} trials failed (limits.max_failures is "
                f"{limits.max_failures})",
                "the job ended after too many failed trials",
            )
        elif limits.time_limit is not None and self._elapsed() >= limits.time_limit:
            self._end_job(
                JobState.COMPLETED,
                f"the time limit of {limits.time_limit:g}s was reached",
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
                events = self.executor.poll(self.settings.poll_interval)
                if record:
                    self._record(events)
            except KeyboardInterrupt:
                continue  # the runners are already ending their process groups
            except LeaseLost:
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
                events = self.executor.poll(self.settings.poll_interval)
            except KeyboardInterrupt:
                continue  # the runners are already ending their process groups
            if not record:
                continue
            try:
                self._record(events)
            except (StorageError, LeaseLost):
                record = False  # storage is failing, or the trials are others' now
        if record:
            with contextlib.suppress(StorageError):
                self.storage.set_job_state(
                    self.job_name, JobState.INTERRUPTED, "the controller stopped: storage failed"
                )

    def _completion_reason(self) -> str:
        done, max_trials = self._tally.done, self.limits.max_trials
        if self.coordination.exhausted and not self.coordination.full and done < max_trials:
            return f"the strategy has no more configurations after {done} trials"
        return f"max_trials ({max_trials}) reached"

    def _elapsed(self) -> float:
        return max(0.0, self.settings.clock() - self._started)


def _on_interrupt(value: OnInterrupt | str) -> OnInterrupt:
    try:
        return OnInterrupt(value)
    except ValueError:
        raise ValueError(f"on_interrupt: expected 'rerun' or 'mark', got {value!r}.") from None
