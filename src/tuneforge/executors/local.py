"""Runs each trial in a thread of this process.

A command trial spends its thread waiting on its subprocess, so threads are enough to
keep ``max_parallel`` trials running without a process pool; an in-process objective
runs in the thread itself, as ``n_jobs`` threads do in Optuna.

The trials' processes live in process groups of their own, so they outlive a controller
killed with SIGKILL; :meth:`LocalExecutor.end_orphans` finds them on resume (by the
process group storage recorded and by the marker in their environment, see
:mod:`tuneforge.processes`) and ends them.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import traceback
from collections.abc import Sequence

from tuneforge.events import StopSignal, TrialEvent, TrialFinished, TrialOutcome
from tuneforge.executors.base import Executor, Work
from tuneforge.processes import TrialFinder, end_processes
from tuneforge.trial import Trial, TrialState

#: Seconds a left-over trial process gets between SIGTERM and SIGKILL on resume.
ORPHAN_GRACE = 3.0


class LocalExecutor(Executor):
    """Each running trial in a thread of its own; the controller bounds how many run at once.

    The threads stay between trials: a trial goes to a thread that finished one (started
    only when none is free), so a short trial costs no thread start, whose hand-off to the
    new thread took longer than a trivial objective's whole run.
    """

    def __init__(self) -> None:
        self._events: queue.Queue[TrialEvent] = queue.Queue()
        self._signals: dict[int, StopSignal] = {}
        self._running: set[int] = set()
        self._workers: list[_Worker] = []
        self._free: list[_Worker] = []  # waiting for a trial
        self._lock = threading.Lock()  # guards _free, which the workers join

    def submit(self, number: int, work: Work) -> None:
        signal = StopSignal()
        self._signals[number] = signal
        self._running.add(number)
        with self._lock:
            worker = self._free.pop() if self._free else None
        if worker is None:
            worker = _Worker(self, number)
            self._workers.append(worker)
            worker.thread.start()
        worker.inbox.put((number, work, signal))

    def _run(self, worker: _Worker, number: int, work: Work, signal: StopSignal) -> None:
        worker.thread.name = f"tuneforge-trial-{number}"
        try:
            outcome = work(self._events.put, signal)
        except BaseException as exc:  # noqa: BLE001 - a broken trial must not end the job
            # The last 20 lines of the traceback play the part of a command trial's log tail.
            outcome = TrialOutcome(
                TrialState.FAILED,
                reason=f"{type(exc).__name__}: {exc}",
                log_tail="".join(traceback.format_exc().splitlines(True)[-20:]),
            )
        # Free before the controller hears of the end, so the trial it starts next takes
        # this thread instead of starting another.
        with self._lock:
            self._free.append(worker)
        self._events.put(TrialFinished(number, time.time(), outcome))

    def stop(self, number: int, reason: str, state: TrialState = TrialState.STOPPED) -> None:
        signal = self._signals.get(number)
        if signal is not None:
            signal.request(reason, state)

    def poll(self, timeout: float) -> list[TrialEvent]:
        events: list[TrialEvent] = []
        try:
            events.append(self._events.get(timeout=timeout))
        except queue.Empty:
            return events
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                break
        for event in events:
            if isinstance(event, TrialFinished):
                self._running.discard(event.number)
                self._signals.pop(event.number, None)
        return events

    @property
    def running(self) -> set[int]:
        return set(self._running)

    def end_orphans(
        self, job_name: str, output_dir: str | None, trials: Sequence[Trial]
    ) -> list[tuple[int | None, str]]:
        """End the job's trial processes still running: recorded groups and marked ones."""
        folders = {os.path.normpath(t.trial_dir): t.number for t in trials if t.trial_dir}
        finder = TrialFinder(
            job_name,
            trial_dirs=folders,
            under=output_dir,
            groups={t.pid for t in trials if t.pid is not None},
        )
        ended = end_processes(finder(), grace=ORPHAN_GRACE, rescan=finder)
        groups = {t.pid: t.number for t in trials if t.pid is not None}
        by_trial: dict[int | str, list[int]] = {}
        for process in ended:
            folder = os.path.normpath(process.trial_dir) if process.trial_dir else None
            number = folders.get(folder) if folder is not None else None
            if number is None:
                number = groups.get(process.pgid)
            key: int | str = number if number is not None else (folder or "an unknown folder")
            by_trial.setdefault(key, []).append(process.pid)
        notes: list[tuple[int | None, str]] = []
        for key, pids in sorted(by_trial.items(), key=lambda item: str(item[0])):
            number = key if isinstance(key, int) else None
            what = f"trial {key}" if number is not None else f"the trial in {key}"
            shown = ", ".join(str(pid) for pid in sorted(pids))
            message = (
                f"ended {len(pids)} process(es) of {what} left running by a controller that "
                f"is gone (pid {shown})"
            )
            notes.append((number, message))
        return notes

    def shutdown(self) -> None:
        for number in list(self._signals):
            self.stop(number, "the executor shut down", TrialState.INTERRUPTED)
        workers, self._workers = self._workers, []
        with self._lock:
            self._free = []
        for worker in workers:
            worker.inbox.put(None)  # after the trial it runs, if any
        for worker in workers:
            worker.thread.join(timeout=30)


class _Worker:
    """A thread that runs the trials put in its inbox, one at a time, until ``None``."""

    def __init__(self, executor: LocalExecutor, first: int) -> None:
        self.inbox: queue.SimpleQueue[tuple[int, Work, StopSignal] | None] = queue.SimpleQueue()
        self.thread = threading.Thread(
            target=self._serve, args=(executor,), name=f"tuneforge-trial-{first}", daemon=True
        )

    def _serve(self, executor: LocalExecutor) -> None:
        while (item := self.inbox.get()) is not None:
            executor._run(self, *item)
