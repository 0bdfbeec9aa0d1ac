"""Where trials run. An executor takes *work* (a callable that runs one trial) and reports
the trial's events back; it decides nothing about what to run or when to stop.

``Work`` is the same for a command trial (``functools.partial(run_trial, spec)``) and an
in-process objective, so the controller drives both the same way.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence

from tuneforge.events import StopSignal, TrialEvent, TrialOutcome
from tuneforge.trial import Trial, TrialState

Emit = Callable[[TrialEvent], None]
Work = Callable[[Emit, StopSignal], TrialOutcome]


class Executor(abc.ABC):
    """Runs trials somewhere and hands their events back to the controller.

    An implementation must:
      * run each submitted ``work`` once, passing it an ``emit`` callback and a
        ``StopSignal``;
      * return every emitted event from ``poll``, followed by exactly one
        ``TrialFinished`` per submitted trial (also when the work raised);
      * make ``stop`` reach the trial's ``StopSignal``.
    """

    @abc.abstractmethod
    def submit(self, number: int, work: Work) -> None:
        """Start trial ``number``."""

    @abc.abstractmethod
    def stop(self, number: int, reason: str, state: TrialState = TrialState.STOPPED) -> None:
        """Ask trial ``number`` to end; it finishes in ``state`` with ``reason``."""

    @abc.abstractmethod
    def poll(self, timeout: float) -> list[TrialEvent]:
        """Events since the last call, waiting up to ``timeout`` seconds for the first one."""

    @property
    @abc.abstractmethod
    def running(self) -> set[int]:
        """Numbers of the trials submitted and not yet reported finished by ``poll``."""

    def shutdown(self) -> None:  # noqa: B027 - nothing to release by default
        """Release workers; called once the controller is done."""

    def end_orphans(
        self, job_name: str, output_dir: str | None, trials: Sequence[Trial]
    ) -> list[tuple[int | None, str]]:
        """End what a dead controller of the job left running; say what was ended.

        Called by a new controller before it runs anything, holding the job's lease, so
        nothing of this job may legitimately run. ``trials`` are the ones the dead
        controller left PENDING or RUNNING (with the ``pid`` and folder it recorded).
        Returns ``(trial number or None, description)`` per trial whose processes were
        ended. The default, for executors that run nothing outside their own lifetime,
        ends nothing.
        """
        return []
