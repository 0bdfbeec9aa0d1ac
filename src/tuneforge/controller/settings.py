"""The values a controller is configured with: the job's limits and the loop's timing.

Frozen, so the launch that builds them (:mod:`tuneforge.launch`) and the parts of the
controller that read them share one copy that nobody changes while the job runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ControllerSettings", "JobLimits"]


@dataclass(frozen=True)
class JobLimits:
    """When a job ends, and how many of its trials run at once.

    ``max_trials`` counts every trial that ended (completed, failed, stopped, and
    interrupted ones a job marks instead of re-running); ``max_failures`` and
    ``time_limit`` (seconds, earlier runs of the job included) end it sooner. The job
    file and ``optimize`` check the values; these only carry them.
    """

    max_trials: int
    max_parallel: int = 1
    max_failures: int | None = None
    time_limit: float | None = None


@dataclass(frozen=True)
class ControllerSettings:
    """How often a controller looks around, and how long a silent one is taken for alive.

    ``poll_interval``: the longest the loop waits for a trial event before it reads stop
    requests and limits again. ``heartbeat_interval``: how often it shows storage that it
    lives; ``lease_timeout``: how old another machine's heartbeat may get before that
    controller counts as dead (one on this machine is checked by its process at once).
    ``busy_stop_interval``: how often it reads stop requests while events keep arriving
    (when the loop waits, once per ``poll_interval``): short trials end many times a
    second, and reading the requests after each would double the loop's storage reads.
    ``clock`` gives the time the loop measures elapsed time and heartbeats by.
    """

    poll_interval: float = 0.2
    heartbeat_interval: float = 2.0
    lease_timeout: float = 30.0
    busy_stop_interval: float = 0.5
    clock: Callable[[], float] = time.time
