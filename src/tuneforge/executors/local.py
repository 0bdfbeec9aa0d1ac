"""Runs each trial in a thread of this process.

A command trial spends its thread waiting on its subprocess, so threads are enough to
keep ``max_parallel`` trials running without a process pool; an in-process objective
runs in the thread itself, as ``n_jobs`` threads do in Optuna.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback

from tuneforge.events import StopSignal, TrialEvent, TrialFinished, TrialOutcome
from tuneforge.executors.base import Executor, Work
from tuneforge.trial import TrialState


class LocalExecutor(Executor):
    """One thread per running trial; the controller bounds how many run at once."""

    def __init__(self) -> None:
        self._events: queue.Queue[TrialEvent] = queue.Queue()
        self._signals: dict[int, StopSignal] = {}
        self._threads: dict[int, threading.Thread] = {}
        self._running: set[int] = set()

    def submit(self, number: int, work: Work) -> None:
        signal = StopSignal()
        self._signals[number] = signal
        self._running.add(number)
        thread = threading.Thread(
            target=self._run,
            args=(number, work, signal),
            name=f"tuneforge-trial-{number}",
            daemon=True,
        )
        self._threads[number] = thread
        thread.start()

    def _run(self, number: int, work: Work, signal: StopSignal) -> None:
        try:
            outcome = work(self._events.put, signal)
        except BaseException as exc:  # noqa: BLE001 - a broken trial must not end the job
            lines = traceback.format_exception_only(type(exc), exc)
            outcome = TrialOutcome(
                TrialState.FAILED,
                reason=f"{type(exc).__name__}: {exc}",
                log_tail="".join(traceback.format_exc().splitlines(True)[-20:]) or "".join(lines),
            )
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
                self._threads.pop(event.number, None)
        return events

    @property
    def running(self) -> set[int]:
        return set(self._running)

    def shutdown(self) -> None:
        for number in list(self._signals):
            self.stop(number, "the executor shut down", TrialState.INTERRUPTED)
        for thread in list(self._threads.values()):
            thread.join(timeout=30)
