"""How far a job is: the trials that ended, by state, and the best one, for progress displays."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from tuneforge.trial import Direction, Trial, TrialState

__all__ = ["Progress", "Tally"]


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


class Tally:
    """Counts the trials of a job that ended, by state, and keeps the best completed one.

    Every trial it is given counts toward ``max_trials`` (``done``); each
    :meth:`snapshot` is a :class:`Progress` that lists the trials added since the last.

    >>> from tuneforge.trial import Direction, Trial, TrialState
    >>> tally = Tally(Direction.MAXIMIZE)
    >>> tally.add(Trial(0, {}, TrialState.COMPLETED, value=0.8))
    >>> tally.add(Trial(1, {}, TrialState.FAILED))
    >>> progress = tally.snapshot(running=(2,), max_trials=10, elapsed=1.0)
    >>> progress.n_done, progress.best.number, [t.number for t in progress.finished]
    (2, 0, [0, 1])
    """

    def __init__(self, direction: Direction) -> None:
        self.direction = direction
        self._counts: Counter[TrialState] = Counter()
        self.best: Trial | None = None
        self._new: list[Trial] = []

    def add(self, trial: Trial) -> None:
        """Count a trial that ended (finished, or interrupted and left so)."""
        self._count(trial)
        self._new.append(trial)

    def add_earlier(self, trials: Iterable[Trial]) -> None:
        """Count trials that ended before this controller started (none is news)."""
        for trial in trials:
            self._count(trial)

    @property
    def done(self) -> int:
        """How many trials ended: what counts toward ``max_trials``."""
        return self._counts.total()

    @property
    def failed(self) -> int:
        return self._counts[TrialState.FAILED]

    def snapshot(self, *, running: tuple[int, ...], max_trials: int, elapsed: float) -> Progress:
        """The progress now; the trials it lists as finished are not listed again."""
        counts = self._counts
        progress = Progress(
            n_completed=counts[TrialState.COMPLETED],
            n_failed=counts[TrialState.FAILED],
            n_stopped=counts[TrialState.STOPPED],
            n_stopped_early=counts[TrialState.STOPPED_EARLY],
            running=running,
            max_trials=max_trials,
            elapsed=elapsed,
            best=self.best,
            finished=tuple(self._new),
            n_interrupted=counts[TrialState.INTERRUPTED],
        )
        self._new.clear()
        return progress

    def _count(self, trial: Trial) -> None:
        self._counts[trial.state] += 1
        if trial.state is TrialState.COMPLETED and self._improves(trial.value):
            self.best = trial

    def _improves(self, value: float | None) -> bool:
        if value is None or not math.isfinite(value):
            return False
        best = self.best
        return best is None or best.value is None or self.direction.is_better(value, best.value)
