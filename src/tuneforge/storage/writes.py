"""Changes to a job's trials, as values, so that many of them go into one transaction.

A controller polling eight trials that end together gets their last metric values and
their outcomes at once. Written one method call at a time that is a dozen transactions,
each with its own lock, round trip and commit; :meth:`Storage.write_trials` takes the
whole list and writes it in one, all or nothing, in the order given. The single-change
methods (``start_trial``, ``finish_trial`` ...) are that list with one entry.

Example:
    >>> from tuneforge.storage import Storage
    >>> storage = Storage("sqlite://")
    >>> _ = storage.create_job("demo", document={}, base_dir=".", objective="loss",
    ...     direction="minimize", strategy="random", max_trials=2, output_dir=None)
    >>> number = storage.create_trial("demo", {"x": 0.5})
    >>> [trial.value for trial in storage.write_trials("demo", [
    ...     StartTrial(number, trial_dir=None, pid=None, time=1.0),
    ...     AddObservations(number, (Observation("loss", 0.25, 0, 1.5),)),
    ...     FinishTrial(number, state=TrialState.COMPLETED, value=0.25, reason=None,
    ...                 log_tail=None, time=2.0),
    ... ])]
    [0.25]
"""

from __future__ import annotations

from dataclasses import dataclass

from tuneforge.trial import Observation, TrialState

__all__ = [
    "FINAL_STATES",
    "AddObservations",
    "FinishTrial",
    "RetryTrial",
    "StartTrial",
    "TrialWrite",
]

#: The states a trial can finish in.
FINAL_STATES = (
    TrialState.COMPLETED,
    TrialState.FAILED,
    TrialState.STOPPED,
    TrialState.STOPPED_EARLY,
    TrialState.INTERRUPTED,
)


@dataclass(frozen=True)
class StartTrial:
    """The trial's process (or function) runs: state RUNNING."""

    number: int
    trial_dir: str | None
    pid: int | None
    time: float


@dataclass(frozen=True)
class RetryTrial:
    """A new attempt of a running trial runs: the previous attempt's metric values go."""

    number: int
    attempt: int
    reason: str
    trial_dir: str | None
    pid: int | None
    time: float


@dataclass(frozen=True)
class AddObservations:
    """Metric values to append to a trial's series."""

    number: int
    observations: tuple[Observation, ...]


@dataclass(frozen=True)
class FinishTrial:
    """How a trial ended; ``state`` must be one of :data:`FINAL_STATES`."""

    number: int
    state: TrialState
    value: float | None
    reason: str | None
    log_tail: str | None
    time: float

    def __post_init__(self) -> None:
        if self.state not in FINAL_STATES:
            valid = ", ".join(s.value for s in FINAL_STATES)
            raise ValueError(
                f"a trial cannot finish as {self.state.value!r}; expected one of {valid}."
            )


TrialWrite = StartTrial | RetryTrial | AddObservations | FinishTrial
