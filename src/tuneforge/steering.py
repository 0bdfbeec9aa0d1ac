"""Steering a job from outside its controller: stop requests, from any process or machine.

The controller of a job (``tuneforge run`` in another terminal, a dashboard thread, a
controller on another machine) polls storage for stop requests, so asking is a storage
write; :func:`request_stop` adds the checks and messages that ``tuneforge stop`` and the
dashboard's stop buttons share.
"""

from __future__ import annotations

from tuneforge.errors import NotRunningError
from tuneforge.storage import JobState, Storage


def request_stop(
    storage: Storage, job: str, trial: int | None = None, *, field: str | None = None
) -> None:
    """Ask the controller of ``job`` to stop the job, or only its trial number ``trial``.

    Raises ``NotFoundError`` for an unknown job or trial, and ``NotRunningError`` for a
    job that is not running or a trial that is neither pending nor running; ``field``
    (the option that named the trial, ``--trial`` in the CLI) starts that message.
    """
    record = storage.get_job(job)
    if trial is None:
        if record.state is not JobState.RUNNING:
            raise NotRunningError(f"job {job!r} is {record.state.value}, not running.")
    else:
        target = storage.get_trial(job, trial)
        if not target.state.is_active():
            named = f"{field}: " if field else ""
            raise NotRunningError(
                f"{named}trial {trial} of job {job!r} is {target.state.value}, not running."
            )
    storage.request_stop(job, trial)
