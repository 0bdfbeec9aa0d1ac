"""What a running trial tells the controller, and how the controller tells it to stop.

Runners and in-process objectives produce these events; executors carry them to the
controller, which is the only one that writes them to storage. ``StopSignal`` travels
the other way.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from tuneforge.trial import Observation, TrialState


@dataclass(frozen=True)
class TrialStarted:
    """The trial's process (or function) is running; ``pid`` is its process group, if any."""

    number: int
    time: float
    trial_dir: str | None = None
    pid: int | None = None


@dataclass(frozen=True)
class TrialRetried(TrialStarted):
    """A new attempt of a trial runs; ``reason`` says why the previous one is retried.

    ``attempt`` counts from 1 (so the first retry is attempt 2); ``pid`` is the new
    attempt's process group. It is a ``TrialStarted`` too (a new attempt starts), so a
    reader that only wants to know when processes start needs no case of its own; the
    controller, which records the two differently, tells them apart by exact type.
    """

    attempt: int = 2
    reason: str = ""


@dataclass(frozen=True)
class MetricObserved:
    number: int
    observation: Observation


@dataclass(frozen=True)
class TrialOutcome:
    """How a trial ended, as its runner saw it."""

    state: TrialState
    value: float | None = None
    reason: str | None = None
    log_tail: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TrialFinished:
    number: int
    time: float
    outcome: TrialOutcome


#: Everything a running trial reports, in the order it happens.
TrialEvent = TrialStarted | TrialRetried | MetricObserved | TrialFinished


class StopSignal:
    """A one-way flag with a reason: set by the controller, polled by the runner."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: str | None = None
        self.state = TrialState.STOPPED

    def request(self, reason: str, state: TrialState = TrialState.STOPPED) -> None:
        """Ask the trial to end; it will be recorded in ``state`` with ``reason``."""
        if not self._event.is_set():
            self.reason = reason
            self.state = state
            self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)
