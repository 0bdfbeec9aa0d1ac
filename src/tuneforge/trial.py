"""Trials as values: their state, their observations and the record strategies and results read.

These cross every boundary (storage -> controller -> strategy, storage -> results), so
they are frozen and hold plain data only.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Direction(enum.StrEnum):
    """Which way the objective improves; the one place that compares two values.

    >>> Direction.MAXIMIZE.is_better(0.9, 0.8)
    True
    >>> Direction.parse("minimise")
    Traceback (most recent call last):
    ...
    ValueError: direction: expected 'minimize' or 'maximize', got 'minimise'.
    """

    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"

    def is_better(self, value: float, than: float) -> bool:
        """Whether ``value`` is strictly better than ``than``."""
        return value > than if self is Direction.MAXIMIZE else value < than

    @property
    def sign(self) -> float:
        """``+1`` to minimize, ``-1`` to maximize: multiply to turn any objective into a loss."""
        return -1.0 if self is Direction.MAXIMIZE else 1.0

    @classmethod
    def parse(cls, value: object, field: str = "direction") -> Direction:
        """Read a direction, or raise ``ValueError`` naming ``field``, the value and the choices."""
        if isinstance(value, str) and value in cls._value2member_map_:
            return cls(value)
        raise ValueError(f"{field}: expected 'minimize' or 'maximize', got {value!r}.")


class TrialOrigin(enum.StrEnum):
    """Where a trial's configuration came from."""

    STRATEGY = "strategy"  # asked of the job's strategy
    ENQUEUED = "enqueued"  # given by the user (``enqueue:``), run before the strategy's
    WARM_START = "warm_start"  # a trial of an earlier job, shown to the strategy only


class OnInterrupt(enum.StrEnum):
    """What a resume does with trials a controller left unfinished (killed, Ctrl-C)."""

    RERUN = "rerun"  # run them again under their numbers
    MARK = "mark"  # leave them interrupted, counted toward ``max_trials``


class TrialState(enum.Enum):
    """Where a trial is in its life.

    ``STOPPED`` is a stop asked for by a person (``tuneforge stop --trial``) and
    ``STOPPED_EARLY`` one decided by the early-stopping rule; both count toward
    ``max_trials``. ``INTERRUPTED`` is a trial cut short by the controller itself ending
    (Ctrl-C, a crash) and is run again on resume.
    """

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"
    STOPPED_EARLY = "stopped_early"
    INTERRUPTED = "interrupted"

    def is_finished(self) -> bool:
        """Finished trials never change again and count toward ``max_trials``."""
        return self in (
            TrialState.COMPLETED,
            TrialState.FAILED,
            TrialState.STOPPED,
            TrialState.STOPPED_EARLY,
        )

    def is_active(self) -> bool:
        return self in (TrialState.PENDING, TrialState.RUNNING)

    @classmethod
    def parse(cls, text: str) -> TrialState:
        """Read a state name as a user types it, with an error that lists the valid ones."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            valid = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown trial state {text!r}; expected one of {valid}.") from None


@dataclass(frozen=True)
class Observation:
    """One value of one metric, at a step (epoch, iteration...) and a wall-clock time."""

    metric: str
    value: float
    step: int
    time: float

    @property
    def is_finite(self) -> bool:
        return math.isfinite(self.value)


@dataclass(frozen=True)
class Trial:
    """A trial as recorded: its configuration, state and results.

    ``value`` is the objective's final value (``None`` until the trial completes);
    ``metrics`` holds the last value of every metric it reported. ``pid`` is the process
    group of its command's last attempt, if it had one; ``attempt`` counts the attempts
    made (more than 1 when a retryable failure was run again). ``continues`` is the number
    of the earlier trial whose saved state this one starts from (a Hyperband promotion: the
    same configuration on a larger resource), or ``None`` when it starts from scratch.
    """

    number: int
    params: Mapping[str, Any]
    state: TrialState
    value: float | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    reason: str | None = None
    log_tail: str | None = None
    trial_dir: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    origin: str = "strategy"
    pid: int | None = None
    attempt: int = 1
    continues: int | None = None

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at
