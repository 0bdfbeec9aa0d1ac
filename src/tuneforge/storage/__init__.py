"""Storage: the single source of truth for jobs, trials, parameters, metric series and events.

Imports nothing from tuneforge above ``errors`` and ``trial``, so every other module can
depend on it. ``Storage`` (:mod:`~tuneforge.storage.sql`) is the facade; the package's
other modules write through its transaction API (:mod:`~tuneforge.storage.session`).
"""

from tuneforge.storage.engine import default_storage_url
from tuneforge.storage.models import JobState
from tuneforge.storage.records import (
    ControllerLease,
    EventKind,
    JobBusyError,
    JobEvent,
    JobRecord,
    NewTrial,
    TrialTakenOverError,
)
from tuneforge.storage.schema import SCHEMA_VERSION
from tuneforge.storage.session import StorageSession
from tuneforge.storage.sql import Storage
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
    "EventKind",
    "FinishTrial",
    "JobBusyError",
    "JobEvent",
    "JobRecord",
    "JobState",
    "NewTrial",
    "RetryTrial",
    "StartTrial",
    "Storage",
    "StorageSession",
    "TrialTakenOverError",
    "TrialWrite",
    "default_storage_url",
]
