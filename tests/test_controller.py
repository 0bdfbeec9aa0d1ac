"""The controller loop, driven with in-process trials (real threads, real SQLite storage)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from tuneforge.controller import Controller, ControllerSettings, JobLimits, Progress
from tuneforge.events import MetricObserved, StopSignal, TrialOutcome, TrialStarted
from tuneforge.executors.base import Emit, Work
from tuneforge.executors.local import LocalExecutor
from tuneforge.space import Float, SearchSpace
from tuneforge.storage import JobState, Storage
from tuneforge.strategies import make_strategy
from tuneforge.trial import Observation, TrialState

SPACE = SearchSpace({"x": Float(0.0, 1.0)})
Script = Callable[[int, Mapping[str, Any], StopSignal], TrialOutcome]


def scripted(script: Script) -> Callable[[int, Mapping[str, Any]], Work]:
    """Work that runs ``script(number, params, stop)`` and reports one observation."""

    def make_work(number: int, params: Mapping[str, Any], continues: int | None = None) -> Work:
        def work(emit: Emit, stop: StopSignal) -> TrialOutcome:
            emit(TrialStarted(number, time.time()))
            outcome = script(number, params, stop)
            if outcome.value is not None:
                emit(MetricObserved(number, Observation("loss", outcome.value, 0, time.time())))
            return outcome

        return work

    return make_work


def quadratic(number: int, params: Mapping[str, Any], stop: StopSignal) -> TrialOutcome:
    return TrialOutcome(TrialState.COMPLETED, value=(params["x"] - 0.3) ** 2)


@pytest.fixture
def storage() -> Storage:
    store = Storage("sqlite://")
    store.create_job(
        "job",
        document={"name": "job"},
        base_dir="",
        objective="loss",
        direction="minimize",
        strategy="random",
        max_trials=None,
        output_dir=None,
    )
    return store


def make_controller(storage: Storage, script: Script = quadratic, **kwargs: Any) -> Controller:
    settings: dict[str, Any] = {
        "storage": storage,
        "job_name": "job",
        "strategy": make_strategy(
            kwargs.pop("strategy", "random"),
            SPACE,
            seed=0,
            options=kwargs.pop("strategy_options", None),
        ),
        "executor": LocalExecutor(),
        "make_work": scripted(script),
        "direction": "minimize",
        "limits": JobLimits(
            kwargs.pop("max_trials", 5),
            kwargs.pop("max_parallel", 1),
            kwargs.pop("max_failures", None),
            kwargs.pop("time_limit", None),
        ),
        "settings": ControllerSettings(poll_interval=0.01),
    }
    settings.update(kwargs)
    return Controller(**settings)


def test_runs_max_trials_and_records_each(storage: Storage) -> None:
    """Every trial is created, completed and recorded with its value and observation."""
    state = make_controller(storage, max_trials=5).run()
    assert state is JobState.COMPLETED
    trials = storage.trials("job")
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]
    assert all(t.state is TrialState.COMPLETED for t in trials)
    assert all(t.value == pytest.approx((t.params["x"] - 0.3) ** 2) for t in trials)
    assert storage.metric_series("job", 0)[0].metric == "loss"
    assert storage.get_job("job").state is JobState.COMPLETED


def test_keeps_max_parallel_trials_running_and_never_more(storage: Storage) -> None:
    """Three slots are kept busy, and no fourth trial runs alongside them."""
    lock = threading.Lock()
    running, peak = [0], [0]

    def slow(number: int, params: Mapping[str, Any], stop: StopSignal) -> TrialOutcome:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return TrialOutcome(TrialState.COMPLETED, value=1.0)

    make_controller(storage, slow, max_trials=9, max_parallel=3).run()
    assert peak[0] == 3
    assert len(storage.trials("job")) == 9


def test_failures_count_toward_max_trials_and_max_failures_ends_the_job(storage: Storage) -> None:
    """Once max_failures trials failed the job ends FAILED and no new trial starts."""

    def failing(number: int, params: Mapping[str, Any], stop: StopSignal) -> TrialOutcome:
        return TrialOutcome(TrialState.FAILED, reason="exit code 1")

    state = make_controller(storage, failing, max_trials=10, max_failures=3).run()
    assert state is JobState.FAILED
    assert len(storage.trials("job")) == 3
    assert "max_failures" in (storage.get_job("job").reason or "")


def test_an_exception_in_the_work_fails_only_that_trial(storage: Storage) -> None:
    """A trial whose work raises is FAILED with the exception; the job completes."""

    def sometimes(number: int, params: Mapping[str, Any], stop: StopSignal) -> TrialOutcome:
        if number == 1:
            raise ValueError("bad batch")
        return quadratic(number, params, stop)

    assert make_controller(storage, sometimes, max_trials=3).run() is JobState.COMPLETED
    states = [t.state for t in storage.trials("job")]
    assert states == [TrialState.COMPLETED, TrialState.FAILED, TrialState.COMPLETED]
    assert "ValueError: bad batch" in (storage.get_trial("job", 1).reason or "")


def test_a_stop_request_in_storage_stops_running_trials_and_the_job(storage: Storage) -> None:
    """A job-level stop request (as from `tuneforge stop`) ends trials as STOPPED."""

    def until_stopped(number: int, params: Mapping[str, Any], stop: StopSignal) -> TrialOutcome:
        if number == 0:
            storage.request_stop("job")
        stop.wait(10)
        return TrialOutcome(stop.state, reason=stop.reason)

    state = make_controller(storage, until_stopped, max_trials=5, max_parallel=2).run()
    assert state is JobState.STOPPED
    trials = storage.trials("job")
    assert trials and all(t.state is TrialState.STOPPED for t in trials)


def test_a_trial_stop_request_stops_only_that_trial(storage: Storage) -> None:
    """A stop request for trial 0 ends it as STOPPED; other trials complete."""

    def first_waits(number: int, params: Mapping[str, Any], stop: StopSignal) -> TrialOutcome:
        if number == 0:
            storage.request_stop("job", 0)
            stop.wait(10)
            return TrialOutcome(stop.state, reason=stop.reason)
        return quadratic(number, params, stop)

    make_controller(storage, first_waits, max_trials=3).run()
    states = [t.state for t in storage.trials("job")]
    assert states == [TrialState.STOPPED, TrialState.COMPLETED, TrialState.COMPLETED]


def test_the_time_limit_ends_the_job(storage: Storage) -> None:
    """With a time limit, running trials are stopped and the job completes with the reason."""

    def sleepy(number: int, params: Mapping[str, Any], stop: StopSignal) -> TrialOutcome:
        stop.wait(10)
        return TrialOutcome(stop.state, reason=stop.reason)

    started = time.time()
    state = make_controller(storage, sleepy, max_trials=5, time_limit=0.3).run()
    assert time.time() - started < 5
    assert state is JobState.COMPLETED
    assert "time limit" in (storage.get_job("job").reason or "")


def test_enqueued_configurations_run_first(storage: Storage) -> None:
    """Enqueued configurations run before the strategy's, marked as enqueued."""
    make_controller(storage, max_trials=3, enqueue=[{"x": 0.3}]).run()
    first = storage.get_trial("job", 0)
    assert first.params == {"x": 0.3} and first.origin == "enqueued"


def test_an_exhausted_strategy_ends_the_job_early(storage: Storage) -> None:
    """A grid of 3 points in a job of 10 trials runs 3 trials and completes."""
    controller = make_controller(
        storage, max_trials=10, strategy="grid", strategy_options={"grid_points": 3}
    )
    assert controller.run() is JobState.COMPLETED
    assert len(storage.trials("job")) == 3
    assert "no more configurations" in (storage.get_job("job").reason or "")


def test_resume_reruns_trials_left_running_with_the_same_numbers(storage: Storage) -> None:
    """Trials a dead controller left RUNNING are interrupted, then re-run under their number."""
    first = make_controller(storage, max_trials=2)
    first.run()
    leftover = storage.create_trial("job", {"x": 0.9})
    storage.start_trial("job", leftover, trial_dir=None, pid=None, time=time.time())
    make_controller(storage, max_trials=4).run()
    trials = storage.trials("job")
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert all(t.state is TrialState.COMPLETED for t in trials)
    assert trials[2].params == {"x": 0.9}


def recording(given: dict[int, int | None]) -> Callable[..., Work]:
    """``scripted(quadratic)`` work that records the trial each one continues."""
    work = scripted(quadratic)

    def make_work(number: int, params: Mapping[str, Any], continues: int | None) -> Work:
        given[number] = continues
        return work(number, params, continues)

    return make_work


def test_the_trial_a_strategy_continues_reaches_the_work_and_storage(storage: Storage) -> None:
    """hyperband's promotions (3 x 1 -> 2 x 3) name the trial they continue, in storage
    and to make_work; fresh configurations name none."""
    given: dict[int, int | None] = {}
    make_controller(
        storage,
        max_trials=5,
        make_work=recording(given),
        strategy="hyperband",
        strategy_options={"resource": "r", "max_resource": 3, "eta": 3},
    ).run()
    trials = storage.trials("job")
    assert [t.continues is not None for t in trials] == [False, False, False, True, True]
    for trial in trials:
        assert given[trial.number] == trial.continues
        if trial.continues is not None:
            assert trials[trial.continues].params == {**trial.params, "r": 1}


def test_a_rerun_trial_continues_the_trial_it_continued(storage: Storage) -> None:
    """A promotion left running reruns from the same earlier trial's checkpoint."""
    make_controller(storage, max_trials=1).run()
    leftover = storage.create_trial("job", {"x": 0.9}, continues=0)
    storage.start_trial("job", leftover, trial_dir=None, pid=None, time=time.time())
    given: dict[int, int | None] = {}
    make_controller(storage, max_trials=3, make_work=recording(given)).run()
    assert given == {leftover: 0, 2: None}
    assert storage.get_trial("job", leftover).state is TrialState.COMPLETED


def test_resume_continues_the_seeded_sequence(storage: Storage) -> None:
    """A job run as 2 + 2 trials tries the same configurations as one run of 4."""
    make_controller(storage, max_trials=2).run()
    make_controller(storage, max_trials=4).run()
    resumed = [t.params["x"] for t in storage.trials("job")]
    other = Storage("sqlite://")
    other.create_job(
        "job",
        document={},
        base_dir="",
        objective="loss",
        direction="minimize",
        strategy="random",
        max_trials=None,
        output_dir=None,
    )
    make_controller(other, max_trials=4).run()
    assert resumed == [t.params["x"] for t in other.trials("job")]


def test_ctrl_c_interrupts_running_trials(storage: Storage) -> None:
    """KeyboardInterrupt ends running trials as INTERRUPTED, the job too, and propagates."""

    def interrupting(number: int, params: Mapping[str, Any], stop: StopSignal) -> TrialOutcome:
        stop.wait(10)
        return TrialOutcome(stop.state, reason=stop.reason)

    def on_progress(progress: Progress) -> None:
        if progress.running:
            raise KeyboardInterrupt

    controller = make_controller(storage, interrupting, max_trials=3, on_progress=on_progress)
    with pytest.raises(KeyboardInterrupt):
        controller.run()
    assert storage.trials("job")[0].state is TrialState.INTERRUPTED
    assert storage.get_job("job").state is JobState.INTERRUPTED


def test_progress_reports_the_best_trial(storage: Storage) -> None:
    """The last progress snapshot counts every trial and names the lowest value as best."""
    snapshots: list[Progress] = []
    make_controller(storage, max_trials=4, on_progress=snapshots.append).run()
    last = snapshots[-1]
    assert last.n_completed == 4 and not last.running
    values = [t.value for t in storage.trials("job")]
    assert last.best is not None and last.best.value == min(v for v in values if v is not None)


def test_a_stopping_rule_ends_hopeless_trials_early(storage: Storage) -> None:
    """With the median rule, trials whose curve lags the completed ones stop early."""
    from tuneforge.stopping import make_stopping_rule

    def make_work(number: int, params: Mapping[str, Any], continues: int | None = None) -> Work:
        def work(emit: Emit, stop: StopSignal) -> TrialOutcome:
            emit(TrialStarted(number, time.time()))
            level = 1.0 if number < 3 else 5.0  # the first three trials are the good ones
            value = level
            for step in range(10):
                if stop.is_set():
                    return TrialOutcome(stop.state, value=value, reason=stop.reason)
                value = level / (step + 1)
                emit(MetricObserved(number, Observation("loss", value, step, time.time())))
                time.sleep(0.02)
            return TrialOutcome(TrialState.COMPLETED, value=value)

        return work

    rule = make_stopping_rule("median", "minimize", {"n_startup_trials": 3, "n_warmup_steps": 2})
    controller = make_controller(
        storage, max_trials=6, make_work=make_work, stopping_rule=rule, objective="loss"
    )
    controller.run()
    states = [t.state for t in storage.trials("job")]
    assert states[:3] == [TrialState.COMPLETED] * 3
    assert states[3:] == [TrialState.STOPPED_EARLY] * 3
    stopped = storage.get_trial("job", 3)
    assert "median rule at step 2" in (stopped.reason or "")
    assert len(storage.metric_series("job", 3, "loss")) < 10
