"""Stop requests from outside a controller: what `tuneforge stop` and the stop buttons share."""

from __future__ import annotations

import pytest

from tuneforge.errors import ConfigError, NotFoundError, NotRunningError
from tuneforge.steering import request_stop
from tuneforge.storage import JobState, Storage
from tuneforge.trial import TrialState


@pytest.fixture
def storage() -> Storage:
    """A running job with a pending trial 0 and a completed trial 1."""
    store = Storage("sqlite://")
    store.create_job(
        "job",
        document={},
        base_dir=".",
        objective="loss",
        direction="minimize",
        strategy="random",
        max_trials=5,
        output_dir=None,
    )
    store.create_trial("job", {"x": 1})
    store.create_trial("job", {"x": 2})
    store.finish_trial(
        "job", 1, state=TrialState.COMPLETED, value=0.5, reason=None, log_tail=None, time=0.0
    )
    return store


def test_a_running_job_is_asked_to_stop(storage: Storage) -> None:
    """The job's stop flag is set in storage, for its controller to read."""
    request_stop(storage, "job")
    assert storage.stop_requests("job") == (True, set())


def test_an_active_trial_is_asked_to_stop(storage: Storage) -> None:
    """Only the trial's flag is set; the job goes on."""
    request_stop(storage, "job", 0)
    assert storage.stop_requests("job") == (False, {0})


def test_a_finished_trial_cannot_be_stopped(storage: Storage) -> None:
    """A completed trial is a NotRunningError (a ConfigError: exit code 2) naming its state."""
    with pytest.raises(NotRunningError, match="trial 1 of job 'job' is completed, not running"):
        request_stop(storage, "job", 1)
    assert issubclass(NotRunningError, ConfigError)


def test_the_option_that_named_the_trial_starts_the_message(storage: Storage) -> None:
    """The CLI passes ``--trial``, so its error names the option the user typed."""
    with pytest.raises(NotRunningError, match=r"^--trial: trial 1 of job 'job' is completed"):
        request_stop(storage, "job", 1, field="--trial")


def test_a_finished_job_cannot_be_stopped(storage: Storage) -> None:
    """A job that is not running says which state it is in."""
    storage.set_job_state("job", JobState.COMPLETED)
    with pytest.raises(NotRunningError, match="job 'job' is completed, not running"):
        request_stop(storage, "job")


@pytest.mark.parametrize(("job", "trial"), [("nope", None), ("nope", 0), ("job", 7)])
def test_an_unknown_job_or_trial_is_not_found(storage: Storage, job: str, trial: int) -> None:
    """Unknown names and numbers raise NotFoundError and request nothing."""
    with pytest.raises(NotFoundError):
        request_stop(storage, job, trial)
    assert storage.stop_requests("job") == (False, set())
