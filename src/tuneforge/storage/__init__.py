"""Storage: the single source of truth for jobs, trials, parameters, metric series and events.

Imports nothing from tuneforge above ``errors`` and ``trial``, so every other module can
depend on it.
"""

from tuneforge.storage.models import JobState
from tuneforge.storage.schema import SCHEMA_VERSION
from tuneforge.storage.sql import (
    ControllerLease,
    JobBusyError,
    JobEvent,
    JobRecord,
    NewTrial,
    Storage,
    TrialTakenOverError,
    default_storage_url,
)
from tuneforge.storage.writes import (
    AddObservations,
    FinishTrial,
    RetryTrial,
    StartTrial,
    TrialWrite,
)

__all__ = [
    "SCHEMA_VERSION",
    "AddObservations",
    "ControllerLease",
    "FinishTrial",
    "JobBusyError",
    "JobEvent",
    "JobRecord",
    "JobState",
    "NewTrial",
    "RetryTrial",
    "StartTrial",
    "Storage",
    "TrialTakenOverError",
    "TrialWrite",
    "default_storage_url",
]
