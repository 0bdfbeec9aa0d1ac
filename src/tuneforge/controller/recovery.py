"""Taking over what dead controllers left: their processes ended, their trials INTERRUPTED.

A controller that dies (killed, a lost machine, Ctrl-C) leaves trials PENDING or RUNNING
and perhaps processes still running. The controller that takes its job over ends those
processes, against pid reuse (:meth:`Executor.end_orphans`), notes what it ended, and
marks the trials INTERRUPTED; the job's ``on_interrupt`` then decides whether they run
again under their numbers. Finished trials never change, so a completed trial is
recorded exactly once; one whose result was not yet recorded runs again (at-least-once).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tuneforge.executors.base import Executor
from tuneforge.storage import ControllerLease, Storage
from tuneforge.storage.controllers import recover_dead
from tuneforge.trial import Trial, TrialState

__all__ = ["interrupt_leftovers", "take_over_dead_sharers"]


def interrupt_leftovers(
    storage: Storage,
    job_name: str,
    executor: Executor,
    *,
    output_dir: str | None,
    now: Callable[[], float],
) -> list[Trial]:
    """End what the job's trials left running and mark the unfinished ones INTERRUPTED.

    Only a controller holding the job's lease may call it: nothing of the job may run
    then, so whatever does is an orphan. Returns the job's trials afterwards.
    """
    trials = storage.trials(job_name)
    leftovers = [t for t in trials if t.state.is_active()]
    if trials:
        for number, message in executor.end_orphans(job_name, output_dir, leftovers):
            storage.note(job_name, message, trial_number=number)
    for trial in leftovers:
        # A controller that died left it behind; nobody is watching it any more.
        storage.finish_trial(
            job_name,
            trial.number,
            state=TrialState.INTERRUPTED,
            value=None,
            reason="the controller ended while the trial ran",
            log_tail=trial.log_tail,
            time=now(),
        )
    return storage.trials(job_name) if leftovers else trials


def take_over_dead_sharers(
    storage: Storage,
    job_name: str,
    executor: Executor,
    *,
    own_id: str | None,
    is_alive: Callable[[ControllerLease], bool],
) -> None:
    """Mark the unfinished trials of dead controllers sharing the job INTERRUPTED (to be
    re-run by whichever controller claims them), ending their processes first.

    ``own_id`` is this controller's id when it is one of the sharing controllers.
    """
    notes: list[tuple[int | None, str]] = []

    def end_processes(trials: Sequence[Trial]) -> None:
        # Only the dead controllers' trials, by recorded folder and process group.
        notes.extend(executor.end_orphans(job_name, None, trials))

    recover_dead(storage, job_name, own_id=own_id, is_alive=is_alive, end_processes=end_processes)
    for number, message in notes:
        storage.note(job_name, message, trial_number=number)
