"""One test body for every storage backend: in-memory SQLite, an SQLite file, PostgreSQL."""

from __future__ import annotations

import math
import multiprocessing
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tuneforge.storage.engine as storage_engine
from tuneforge.errors import ConfigError, JobExistsError, NotFoundError, StorageError
from tuneforge.storage import (
    SCHEMA_VERSION,
    AddObservations,
    FinishTrial,
    JobEvent,
    JobRecord,
    JobState,
    NewTrial,
    RetryTrial,
    StartTrial,
    Storage,
    default_storage_url,
)
from tuneforge.storage.claims import claim_trial
from tuneforge.trial import Observation, TrialState

# PostgreSQL runs on $TUNEFORGE_TEST_POSTGRES_URL (a database the tests may empty) or on a
# throwaway server started for the session; without PostgreSQL it skips (fails under CI).
BACKENDS = ["memory", "sqlite", "postgresql"]


class Clock:
    """A fake clock: every reading is one second after the previous one."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


@dataclass
class StorageSupplier:
    """Opens storages on one database; ``shared`` says whether two opens see the same data."""

    url: str
    shared: bool
    opened: list[Storage] = field(default_factory=list)

    def __call__(self, *, clock: Callable[[], float] | None = None) -> Storage:
        storage = Storage(self.url, clock=clock or Clock())
        self.opened.append(storage)
        return storage


def _empty_postgres(url: str) -> None:
    """Drop every table (tuneforge's and Alembic's) so each test starts from an empty database."""
    import sqlalchemy as sa

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    tables = sa.MetaData()
    tables.reflect(engine)
    tables.drop_all(engine)
    engine.dispose()


def _supplier(backend: str, tmp_path: Path) -> StorageSupplier:
    if backend == "memory":
        return StorageSupplier("sqlite://", shared=False)
    if backend == "sqlite":
        return StorageSupplier(f"sqlite:///{tmp_path / 'tuneforge.db'}", shared=True)
    if backend == "postgresql":
        # $TUNEFORGE_TEST_POSTGRES_URL, or a new database on a throwaway server that
        # tests/cluster/services.py starts (skipped without PostgreSQL, failed under CI).
        from tests.cluster.services import postgres_test_url

        url = postgres_test_url()
        _empty_postgres(url)
        return StorageSupplier(url, shared=True)
    raise ValueError(f"unknown backend {backend!r}")


@pytest.fixture(params=BACKENDS)
def make_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageSupplier]:
    """Every backend."""
    supplier = _supplier(request.param, tmp_path)
    yield supplier
    for storage in supplier.opened:
        storage.close()


@pytest.fixture(params=[b for b in BACKENDS if b != "memory"])
def make_shared_storage(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[StorageSupplier]:
    """The backends that several storages (and processes) can open at once."""
    supplier = _supplier(request.param, tmp_path)
    yield supplier
    for storage in supplier.opened:
        storage.close()


@pytest.fixture
def storage(make_storage: StorageSupplier) -> Storage:
    return make_storage()


def add_job(storage: Storage, name: str = "job", **overrides: Any) -> JobRecord:
    fields: dict[str, Any] = {
        "document": {"name": name, "parameters": {"lr": {"type": "float", "low": 0.1}}},
        "base_dir": "/work/jobs",
        "objective": "loss",
        "direction": "minimize",
        "strategy": "random",
        "max_trials": 10,
        "output_dir": "/work/out",
    }
    fields.update(overrides)
    return storage.create_job(name, **fields)


def add_finished_trial(
    storage: Storage, name: str, value: float | None, state: TrialState = TrialState.COMPLETED
) -> int:
    number = storage.create_trial(name, {"x": 1})
    storage.start_trial(name, number, trial_dir=None, pid=None, time=10.0)
    storage.finish_trial(
        name, number, state=state, value=value, reason=None, log_tail=None, time=20.0
    )
    return number


def obs(metric: str, value: float, step: int, at: float = 0.0) -> Observation:
    return Observation(metric=metric, value=value, step=step, time=at)


# ---------------------------------------------------------------------------------- jobs


def test_create_job_returns_the_stored_record(storage: Storage) -> None:
    """A new job is RUNNING, keeps every field, and get_job reads the same record back."""
    record = add_job(storage, max_trials=None, output_dir=None)
    assert record.name == "job"
    assert record.state is JobState.RUNNING
    assert record.document == {"name": "job", "parameters": {"lr": {"type": "float", "low": 0.1}}}
    assert (record.base_dir, record.objective, record.direction) == (
        "/work/jobs",
        "loss",
        "minimize",
    )
    assert (record.strategy, record.max_trials, record.output_dir) == ("random", None, None)
    assert record.created_at == 1001.0
    assert record.finished_at is None and record.reason is None and not record.stop_requested
    assert storage.get_job("job") == record


def test_create_job_twice_raises_job_exists(storage: Storage) -> None:
    """A taken name gives JobExistsError (a ConfigError) that suggests --resume."""
    add_job(storage)
    with pytest.raises(JobExistsError) as info:
        add_job(storage)
    assert isinstance(info.value, ConfigError)
    assert str(info.value) == (
        f"a job named 'job' already exists in {storage.url}; "
        "use --resume to continue it, or choose another name."
    )


def test_create_job_with_exist_ok_returns_the_job_already_there(storage: Storage) -> None:
    """exist_ok=True joins the job another controller created: its record, unchanged."""
    first = add_job(storage, strategy="random")
    again = add_job(storage, strategy="grid", exist_ok=True)
    assert again == first
    assert [job.name for job in storage.list_jobs()] == ["job"]


def test_get_job_unknown_lists_the_known_jobs(storage: Storage) -> None:
    """An unknown name names the storage and lists the jobs it does have."""
    add_job(storage, "a")
    add_job(storage, "b")
    with pytest.raises(NotFoundError) as info:
        storage.get_job("nope")
    assert str(info.value) == f"no job named 'nope' in {storage.url}; known jobs: a, b"


def test_get_job_on_an_empty_storage_says_so(storage: Storage) -> None:
    """With no jobs at all the error says the storage is empty."""
    with pytest.raises(NotFoundError, match="the storage has no jobs yet$"):
        storage.get_job("nope")


def test_list_jobs_is_in_creation_order(storage: Storage) -> None:
    """list_jobs returns every job, oldest first."""
    assert storage.list_jobs() == []
    for name in ("zeta", "alpha", "mid"):
        add_job(storage, name)
    assert [job.name for job in storage.list_jobs()] == ["zeta", "alpha", "mid"]


def test_job_document_keeps_non_json_numbers_as_strings(storage: Storage) -> None:
    """Non-finite floats become 'NaN'/'Infinity' strings and dates ISO text in the document."""
    import datetime

    document = {"high": math.inf, "low": -math.inf, "x": math.nan, "day": datetime.date(2024, 5, 1)}
    record = add_job(storage, document=document)
    assert record.document == {
        "high": "Infinity",
        "low": "-Infinity",
        "x": "NaN",
        "day": "2024-05-01",
    }


def test_job_document_that_is_not_json_is_refused(storage: Storage) -> None:
    """A document holding an object gives a StorageError naming where it is."""
    with pytest.raises(StorageError, match=r"document\.bad is a object"):
        add_job(storage, document={"bad": object()})
    assert storage.list_jobs() == []


def test_job_space_round_trips_as_json_data(storage: Storage) -> None:
    """The job's space is stored as its own record and read back as the same mapping."""
    space = {
        "parameters": {
            "lr": {"type": "float", "low": 1e-05, "high": 0.1, "log": True},
            "act": {"type": "categorical", "values": ["relu", "tanh"]},
        },
        "conditions": [{"parameter": "act", "when": {"lr": {"gt": 0.01}}}],
        "static": {"epochs": 3, "bound": math.inf},
    }
    record = add_job(storage, space=space)
    expected = {**space, "static": {"epochs": 3, "bound": "Infinity"}}
    assert record.space == expected
    assert storage.get_job("job").space == expected
    assert [job.space for job in storage.list_jobs()] == [expected]


def test_job_space_is_none_when_not_given(storage: Storage) -> None:
    """A job created without a space has none; an empty space is kept as empty."""
    assert add_job(storage, "plain").space is None
    assert storage.get_job("plain").space is None
    assert add_job(storage, "empty", space={}).space == {}


def test_job_space_that_is_not_json_is_refused(storage: Storage) -> None:
    """A space holding an object gives a StorageError naming the space and where it is."""
    with pytest.raises(StorageError, match=r"cannot store the job's space: space\.lr is a object"):
        add_job(storage, space={"lr": object()})
    assert storage.list_jobs() == []


def test_set_job_state_sets_and_clears_finished_at(storage: Storage) -> None:
    """Terminal states set finished_at and the reason; RUNNING clears both."""
    add_job(storage)
    storage.set_job_state("job", JobState.INTERRUPTED, "Ctrl-C")
    job = storage.get_job("job")
    assert job.state is JobState.INTERRUPTED and job.reason == "Ctrl-C"
    assert job.finished_at is not None and job.finished_at > job.created_at
    storage.set_job_state("job", JobState.RUNNING)
    job = storage.get_job("job")
    assert job.state is JobState.RUNNING and job.finished_at is None and job.reason is None
    kinds = [(e.kind, e.message) for e in storage.events("job")]
    assert ("job_state", "job running -> interrupted: Ctrl-C") in kinds
    assert ("job_state", "job interrupted -> running") in kinds


def test_set_job_state_of_unknown_job_raises(storage: Storage) -> None:
    """Every method that takes a job name raises NotFoundError for an unknown one."""
    with pytest.raises(NotFoundError, match="no job named 'ghost'"):
        storage.set_job_state("ghost", JobState.COMPLETED)


def test_delete_job_removes_it_and_keeps_the_others(storage: Storage) -> None:
    """Deleting a job removes its trials, metrics and events; other jobs stay whole."""
    for name in ("gone", "kept"):
        add_job(storage, name)
        number = storage.create_trial(name, {"x": 1})
        storage.add_observations(name, number, [obs("loss", 1.0, 0)])
    storage.delete_job("gone")
    with pytest.raises(NotFoundError):
        storage.get_job("gone")
    assert [job.name for job in storage.list_jobs()] == ["kept"]
    assert storage.trials("kept")[0].metrics == {"loss": 1.0}
    add_job(storage, "gone")
    assert storage.trials("gone") == []
    assert [e.kind for e in storage.events("gone")] == ["job_created"]


# ------------------------------------------------------------------------- stop requests


def test_stop_requests_for_job_and_trials(storage: Storage) -> None:
    """Job and trial flags are read back; only pending or running trials are listed."""
    add_job(storage)
    assert storage.stop_requests("job") == (False, set())
    pending = storage.create_trial("job", {"x": 1})
    finished = add_finished_trial(storage, "job", 1.0)
    running = storage.create_trial("job", {"x": 2})
    storage.start_trial("job", running, trial_dir=None, pid=None, time=1.0)
    for number in (pending, finished, running):
        storage.request_stop("job", number)
    assert storage.stop_requests("job") == (False, {pending, running})
    storage.request_stop("job")
    assert storage.stop_requests("job") == (True, {pending, running})
    assert storage.get_job("job").stop_requested
    storage.clear_stop_request("job")
    assert storage.stop_requests("job") == (False, {pending, running})
    messages = [e.message for e in storage.events("job") if "stop" in e.kind]
    assert messages == [
        "stop requested for trial 0 (pending)",
        "stop requested for trial 1 (completed)",
        "stop requested for trial 2 (running)",
        "stop requested for the job",
        "job stop request cleared",
    ]


def test_request_stop_of_unknown_trial_raises(storage: Storage) -> None:
    """Stopping a trial that does not exist names the valid numbers."""
    add_job(storage)
    storage.create_trial("job", {})
    with pytest.raises(
        NotFoundError, match=r"^job 'job' has no trial 5; trials are numbered 0..0$"
    ):
        storage.request_stop("job", 5)


# -------------------------------------------------------------------------------- trials


def test_create_trial_numbers_from_zero_per_job(storage: Storage) -> None:
    """Numbers are 0, 1, 2... within each job, and new trials are PENDING."""
    add_job(storage, "a")
    add_job(storage, "b")
    assert [storage.create_trial("a", {"i": i}) for i in range(3)] == [0, 1, 2]
    assert storage.create_trial("b", {}, origin="manual") == 0
    trial = storage.get_trial("b", 0)
    assert trial.state is TrialState.PENDING and trial.origin == "manual"
    assert trial.params == {} and trial.metrics == {} and trial.value is None
    assert storage.get_trial("a", 2).origin == "strategy"
    events = [e for e in storage.events("a") if e.kind == "trial_created"]
    assert events[1] == JobEvent(
        events[1].time, 1, "trial_created", "trial 1 created (strategy): i=1"
    )


def test_params_keep_their_types(storage: Storage) -> None:
    """An int stays int, '1' stays str, True stays bool, 1.0 stays float, None stays None."""
    add_job(storage)
    params = {"int": 1, "str": "1", "bool": True, "float": 1.0, "none": None, "neg0": -0.0}
    number = storage.create_trial("job", params)
    stored = storage.get_trial("job", number).params
    assert stored == params
    assert {k: type(v) for k, v in stored.items()} == {k: type(v) for k, v in params.items()}


def test_numpy_params_are_stored_as_python_values(storage: Storage) -> None:
    """numpy scalars from strategies are stored as the plain int/float/bool they hold."""
    np = pytest.importorskip("numpy")
    add_job(storage)
    number = storage.create_trial(
        "job", {"i": np.int64(3), "f": np.float64(0.5), "b": np.bool_(True)}
    )
    stored = storage.get_trial("job", number).params
    assert stored == {"i": 3, "f": 0.5, "b": True}
    assert [type(stored[k]) for k in ("i", "f", "b")] == [int, float, bool]


def test_unstorable_param_is_refused(storage: Storage) -> None:
    """A parameter value that is not JSON data gives a StorageError naming it."""
    add_job(storage)
    with pytest.raises(StorageError, match="cannot store parameter 'p'"):
        storage.create_trial("job", {"p": object()})
    assert storage.trials("job") == []


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
PARAM_NAMES = st.text(
    st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=30
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(params=st.dictionaries(PARAM_NAMES, JSON_SCALARS, max_size=5))
def test_any_json_scalar_params_round_trip(storage: Storage, params: dict[str, Any]) -> None:
    """Arbitrary JSON scalars come back equal and of the same type."""
    if not storage.list_jobs():
        add_job(storage)
    stored = storage.get_trial("job", storage.create_trial("job", params)).params
    assert set(stored) == set(params)
    for key, value in params.items():
        assert type(stored[key]) is type(value)
        assert stored[key] == value or (math.isnan(stored[key]) and math.isnan(value))


def test_start_and_finish_trial_record_their_fields(storage: Storage) -> None:
    """start_trial sets RUNNING, folder, pid and time; finish_trial the outcome."""
    add_job(storage)
    number = storage.create_trial("job", {"lr": 0.1})
    storage.start_trial("job", number, trial_dir="/out/trial-0000", pid=4321, time=50.0)
    trial = storage.get_trial("job", number)
    assert trial.state is TrialState.RUNNING
    assert (trial.trial_dir, trial.started_at, trial.finished_at) == ("/out/trial-0000", 50.0, None)
    storage.finish_trial(
        "job",
        number,
        state=TrialState.FAILED,
        value=None,
        reason="exit code 1",
        log_tail="Traceback...",
        time=80.5,
    )
    trial = storage.get_trial("job", number)
    assert trial.state is TrialState.FAILED and trial.value is None
    assert (trial.reason, trial.log_tail, trial.finished_at) == (
        "exit code 1",
        "Traceback...",
        80.5,
    )
    assert trial.duration == 30.5
    started, finished = [e for e in storage.events("job") if e.trial_number == number][1:]
    assert started == JobEvent(
        50.0, 0, "trial_started", "trial 0 running (pid 4321, folder /out/trial-0000)"
    )
    assert finished == JobEvent(80.5, 0, "trial_finished", "trial 0 failed: exit code 1")


def test_finish_trial_with_a_value(storage: Storage) -> None:
    """A completed trial keeps its value; a NaN value is stored as None."""
    add_job(storage)
    good = add_finished_trial(storage, "job", 0.25)
    nan = add_finished_trial(storage, "job", math.nan, TrialState.FAILED)
    assert storage.get_trial("job", good).value == 0.25
    assert storage.get_trial("job", nan).value is None
    assert "trial 0 completed with value 0.25" in [e.message for e in storage.events("job")]


def test_finished_trials_never_change(storage: Storage) -> None:
    """Starting, finishing or resetting a finished trial is refused with a clear error."""
    add_job(storage)
    number = add_finished_trial(storage, "job", 1.0)
    with pytest.raises(
        StorageError, match="cannot finish trial 0 of job 'job': it is already completed"
    ):
        storage.finish_trial(
            "job", number, state=TrialState.FAILED, value=None, reason="x", log_tail=None, time=1.0
        )
    with pytest.raises(StorageError, match="cannot start trial 0"):
        storage.start_trial("job", number, trial_dir=None, pid=None, time=1.0)
    with pytest.raises(StorageError, match="cannot reset trial 0"):
        storage.reset_trial("job", number)
    assert storage.get_trial("job", number).value == 1.0


def test_finish_trial_needs_a_final_state(storage: Storage) -> None:
    """Finishing as PENDING or RUNNING is a programming error (ValueError)."""
    add_job(storage)
    number = storage.create_trial("job", {})
    with pytest.raises(ValueError, match="cannot finish as 'running'"):
        storage.finish_trial(
            "job", number, state=TrialState.RUNNING, value=None, reason=None, log_tail=None, time=1
        )


def test_reset_trial_makes_an_interrupted_trial_pending_again(storage: Storage) -> None:
    """reset_trial clears the outcome, times, stop flag and metric values, keeps the params."""
    add_job(storage)
    number = storage.create_trial("job", {"lr": 0.5})
    storage.start_trial("job", number, trial_dir="/t", pid=7, time=5.0)
    storage.add_observations("job", number, [obs("loss", 2.0, 0), obs("loss", 1.0, 1)])
    storage.request_stop("job", number)
    storage.finish_trial(
        "job",
        number,
        state=TrialState.INTERRUPTED,
        value=None,
        reason="Ctrl-C",
        log_tail="...",
        time=6.0,
    )
    storage.reset_trial("job", number)
    trial = storage.get_trial("job", number)
    assert trial.state is TrialState.PENDING and trial.params == {"lr": 0.5}
    assert (trial.value, trial.reason, trial.log_tail) == (None, None, None)
    assert (trial.started_at, trial.finished_at, trial.metrics) == (None, None, {})
    assert storage.metric_series("job", number) == []
    assert storage.stop_requests("job") == (False, set())
    assert storage.events("job")[-1].message == "trial 0 interrupted -> pending"


def test_get_trial_unknown_names_the_valid_numbers(storage: Storage) -> None:
    """An unknown trial number says which numbers exist, or that there are none yet."""
    add_job(storage)
    with pytest.raises(NotFoundError, match=r"^job 'job' has no trial 7; it has no trials yet$"):
        storage.get_trial("job", 7)
    for _ in range(13):
        storage.create_trial("job", {})
    with pytest.raises(
        NotFoundError, match=r"^job 'job' has no trial 13; trials are numbered 0..12$"
    ):
        storage.get_trial("job", 13)


def test_trials_in_number_order_filtered_by_state(storage: Storage) -> None:
    """trials() lists every trial by number, or only those in the given states."""
    add_job(storage)
    add_finished_trial(storage, "job", 3.0)
    add_finished_trial(storage, "job", None, TrialState.FAILED)
    storage.create_trial("job", {"x": 9})
    add_finished_trial(storage, "job", 1.0)
    assert [t.number for t in storage.trials("job")] == [0, 1, 2, 3]
    completed = storage.trials("job", [TrialState.COMPLETED])
    assert [(t.number, t.value) for t in completed] == [(0, 3.0), (3, 1.0)]
    states = {TrialState.PENDING, TrialState.FAILED}
    assert [t.number for t in storage.trials("job", states)] == [1, 2]
    assert storage.trials("job", []) == []


def test_trials_metrics_hold_the_last_value_of_each_metric(storage: Storage) -> None:
    """The last value is the highest step's, then the latest time's, whatever the order written."""
    add_job(storage)
    first = storage.create_trial("job", {})
    second = storage.create_trial("job", {})
    storage.add_observations(
        "job",
        first,
        [obs("loss", 0.5, 3, 1.0), obs("loss", 0.9, 1, 2.0), obs("acc", 0.7, 2, 1.0)],
    )
    storage.add_observations("job", first, [obs("acc", 0.8, 2, 5.0), obs("acc", 0.6, 2, 3.0)])
    storage.add_observations("job", second, [obs("loss", 4.0, 0, 1.0)])
    trials = storage.trials("job")
    assert trials[0].metrics == {"loss": 0.5, "acc": 0.8}
    assert trials[1].metrics == {"loss": 4.0}
    assert storage.get_trial("job", first).metrics == {"loss": 0.5, "acc": 0.8}


def test_count_trials_has_every_state(storage: Storage) -> None:
    """count_trials counts each state and reports zero for the absent ones."""
    add_job(storage)
    assert storage.count_trials("job") == dict.fromkeys(TrialState, 0)
    add_finished_trial(storage, "job", 1.0)
    add_finished_trial(storage, "job", 2.0)
    add_finished_trial(storage, "job", None, TrialState.STOPPED)
    storage.create_trial("job", {})
    counts = storage.count_trials("job")
    assert counts[TrialState.COMPLETED] == 2 and counts[TrialState.STOPPED] == 1
    assert counts[TrialState.PENDING] == 1 and counts[TrialState.FAILED] == 0
    assert sum(counts.values()) == 4


def test_metric_series_in_step_order(storage: Storage) -> None:
    """metric_series returns observations by step, all metrics or just one."""
    add_job(storage)
    number = storage.create_trial("job", {})
    written = [obs("loss", 0.3, 2, 3.0), obs("acc", 0.5, 0, 1.0), obs("loss", 0.9, 0, 1.0)]
    storage.add_observations("job", number, written)
    storage.add_observations("job", number, [])
    assert storage.metric_series("job", number, "loss") == [written[2], written[0]]
    assert [o.step for o in storage.metric_series("job", number)] == [0, 0, 2]
    assert storage.metric_series("job", number, "missing") == []


def test_non_finite_observations_are_stored(storage: Storage) -> None:
    """NaN and infinities survive in metric series and last values."""
    add_job(storage)
    number = storage.create_trial("job", {})
    storage.add_observations(
        "job", number, [obs("a", math.nan, 0), obs("b", math.inf, 0), obs("c", -math.inf, 0)]
    )
    values = {o.metric: o.value for o in storage.metric_series("job", number)}
    assert math.isnan(values["a"]) and values["b"] == math.inf and values["c"] == -math.inf
    metrics = storage.get_trial("job", number).metrics
    assert math.isnan(metrics["a"]) and metrics["b"] == math.inf


def test_add_observations_to_unknown_trial_raises(storage: Storage) -> None:
    """Observations for a trial that does not exist are refused and nothing is written."""
    add_job(storage)
    with pytest.raises(NotFoundError, match="has no trial 3"):
        storage.add_observations("job", 3, [obs("loss", 1.0, 0)])


def test_events_record_every_state_change_in_order(storage: Storage) -> None:
    """Each change is an event with its time, trial number and kind, in recording order."""
    add_job(storage)
    number = storage.create_trial("job", {"x": 1})
    storage.start_trial("job", number, trial_dir=None, pid=None, time=2000.0)
    storage.finish_trial(
        "job",
        number,
        state=TrialState.COMPLETED,
        value=1.5,
        reason=None,
        log_tail=None,
        time=2001.0,
    )
    storage.set_job_state("job", JobState.COMPLETED, "max_trials reached")
    events = storage.events("job")
    assert [(e.trial_number, e.kind) for e in events] == [
        (None, "job_created"),
        (0, "trial_created"),
        (0, "trial_started"),
        (0, "trial_finished"),
        (None, "job_state"),
    ]
    assert events[0].message == "job 'job' created: strategy random, minimize loss"
    assert events[-1].message == "job running -> completed: max_trials reached"
    assert [e.time for e in events][2:4] == [2000.0, 2001.0]


# ------------------------------------------------------------------------ concurrency


def test_concurrent_create_trial_from_threads(make_storage: StorageSupplier) -> None:
    """Four threads creating trials at once get distinct, contiguous numbers."""
    first = make_storage()
    add_job(first)
    storages = [make_storage() for _ in range(4)] if make_storage.shared else [first] * 4
    barrier = threading.Barrier(4)
    numbers: list[int] = []
    errors: list[BaseException] = []

    def work(storage: Storage) -> None:
        try:
            barrier.wait()
            for i in range(15):
                numbers.append(storage.create_trial("job", {"i": i}))
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in storages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(numbers) == list(range(60))
    assert [t.number for t in first.trials("job")] == list(range(60))


def _create_trials_in_process(url: str, count: int, start: Any, results: Any) -> None:
    """Runs in a child process: open the storage and create ``count`` trials."""
    try:
        storage = Storage(url)
        start.wait(30)
        numbers = [storage.create_trial("job", {"pid": os.getpid(), "i": i}) for i in range(count)]
        storage.close()
        results.put(("ok", numbers))
    except BaseException as exc:
        results.put(("error", repr(exc)))


def _open_new_database(url: str, start: Any, results: Any) -> None:
    """Runs in a child process: open a database that may not have its tables yet."""
    try:
        start.wait(30)
        storage = Storage(url)
        results.put(("ok", len(storage.list_jobs())))
        storage.close()
    except BaseException as exc:
        results.put(("error", repr(exc)))


def _read_while_writing(url: str, ready: Any, done: Any, results: Any) -> None:
    """Runs in a child process: read the job over and over until told to stop."""
    seen: list[int] = []
    try:
        storage = Storage(url)
        while not done.is_set():
            trials = storage.trials("job")
            counts = storage.count_trials("job")
            for trial in trials:
                storage.metric_series("job", trial.number)
            seen.append(len(trials))
            assert sum(counts.values()) >= len(trials)
            ready.set()
        storage.close()
        results.put(("ok", seen))
    except BaseException as exc:
        ready.set()
        results.put(("error", repr(exc)))


def test_concurrent_create_trial_from_processes(make_shared_storage: StorageSupplier) -> None:
    """Three processes creating trials on one database get distinct, contiguous numbers."""
    storage = make_shared_storage()
    add_job(storage)
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    processes = [
        context.Process(
            target=_create_trials_in_process, args=(make_shared_storage.url, 20, start, results)
        )
        for _ in range(3)
    ]
    for process in processes:
        process.start()
    start.set()
    outcomes = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(30)
    assert [kind for kind, _ in outcomes] == ["ok"] * 3, outcomes
    numbers = sorted(n for _, batch in outcomes for n in batch)
    assert numbers == list(range(60))
    assert [t.number for t in storage.trials("job")] == list(range(60))


def test_processes_opening_a_new_database_at_once(make_shared_storage: StorageSupplier) -> None:
    """Three processes creating the tables of one new database at once all succeed."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    processes = [
        context.Process(target=_open_new_database, args=(make_shared_storage.url, start, results))
        for _ in range(3)
    ]
    for process in processes:
        process.start()
    start.set()
    outcomes = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(30)
    assert outcomes == [("ok", 0)] * 3


def test_reader_process_reads_while_a_writer_writes(make_shared_storage: StorageSupplier) -> None:
    """A reading process never fails and sees the trial count only grow while we write."""
    storage = make_shared_storage()
    add_job(storage)
    context = multiprocessing.get_context("spawn")
    ready, done, results = context.Event(), context.Event(), context.Queue()
    reader = context.Process(
        target=_read_while_writing, args=(make_shared_storage.url, ready, done, results)
    )
    reader.start()
    assert ready.wait(60)
    for i in range(40):
        number = storage.create_trial("job", {"i": i})
        storage.start_trial("job", number, trial_dir=None, pid=None, time=float(i))
        storage.add_observations("job", number, [obs("loss", 1.0 / (s + 1), s) for s in range(5)])
        storage.finish_trial(
            "job",
            number,
            state=TrialState.COMPLETED,
            value=float(i),
            reason=None,
            log_tail=None,
            time=i + 0.5,
        )
    done.set()
    kind, seen = results.get(timeout=60)
    reader.join(30)
    assert kind == "ok", seen
    assert seen == sorted(seen) and len(seen) > 1
    assert storage.count_trials("job")[TrialState.COMPLETED] == 40


# --------------------------------------------------------------------- opening, errors


def test_reopening_keeps_the_data(make_shared_storage: StorageSupplier) -> None:
    """A second storage on the same database sees what the first wrote."""
    add_job(make_shared_storage())
    again = make_shared_storage()
    assert again.get_job("job").name == "job"
    assert again.create_trial("job", {}) == 0


def test_newer_schema_version_is_refused(make_shared_storage: StorageSupplier) -> None:
    """A database written by a newer tuneforge gives a StorageError saying to upgrade."""
    make_shared_storage().close()
    import sqlalchemy as sa

    url = make_shared_storage.url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE meta SET value = :v WHERE key = 'schema_version'"),
            {"v": str(SCHEMA_VERSION + 1)},
        )
    engine.dispose()
    with pytest.raises(
        StorageError,
        match=rf"written by a newer tuneforge \(schema version {SCHEMA_VERSION + 1}; "
        rf"this one reads up to version {SCHEMA_VERSION}\); upgrade tuneforge",
    ):
        make_shared_storage()


def test_sqlite_file_uses_wal_mode(tmp_path: Path) -> None:
    """An SQLite file storage is left in WAL mode, so readers never block the writer."""
    path = tmp_path / "t.db"
    Storage(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    """An SQLite path in a folder that does not exist is refused, and nothing is created."""
    folder = tmp_path / "missing"
    with pytest.raises(StorageError, match=f"the folder {folder} does not exist; create it first"):
        Storage(f"sqlite:///{folder / 'tuneforge.db'}")
    assert not folder.exists()


def test_unreadable_url_is_a_clear_error() -> None:
    """A string that is no database URL gives a StorageError with an example."""
    with pytest.raises(
        StorageError, match="cannot read the storage URL 'not a url'; expected e.g."
    ):
        Storage("not a url")


def test_sqlalchemy_errors_are_wrapped(tmp_path: Path) -> None:
    """A database error reaches the caller as a StorageError naming the operation."""
    path = tmp_path / "t.db"
    storage = Storage(f"sqlite:///{path}")
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE events")
    with pytest.raises(
        StorageError, match=r"could not create a job in sqlite:///.*: no such table"
    ):
        add_job(storage)
    storage.close()


def _hold_write_lock(path: Path, locked: threading.Event, release: threading.Event) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    locked.set()
    release.wait(30)
    connection.execute("COMMIT")
    connection.close()


def test_locked_database_is_retried_then_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that stays locked is retried, then reported; a brief lock is waited out."""
    monkeypatch.setattr(storage_engine, "BUSY_TIMEOUT_S", 0.05)
    path = tmp_path / "t.db"
    storage = Storage(f"sqlite:///{path}")
    add_job(storage)

    locked, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, locked, release))
    holder.start()
    locked.wait()
    with pytest.raises(
        StorageError, match="could not create a trial: the storage .* stayed locked"
    ):
        storage.create_trial("job", {})
    release.set()
    holder.join()

    locked.clear()
    release.clear()
    holder = threading.Thread(target=_hold_write_lock, args=(path, locked, release))
    holder.start()
    locked.wait()
    threading.Timer(0.15, release.set).start()
    assert storage.create_trial("job", {}) == 0  # waited out by the retries
    holder.join()
    storage.close()


def test_memory_storage_is_shared_by_threads() -> None:
    """'sqlite://' is one in-memory database that every thread of the process sees."""
    storage = Storage("sqlite://")
    add_job(storage)
    seen: list[str] = []
    thread = threading.Thread(target=lambda: seen.append(storage.get_job("job").name))
    thread.start()
    thread.join()
    assert seen == ["job"]
    storage.close()


def test_default_storage_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """TUNEFORGE_STORAGE wins; otherwise tuneforge.db in the current folder, absolute."""
    monkeypatch.setenv("TUNEFORGE_STORAGE", "postgresql+psycopg://u@h/db")
    assert default_storage_url() == "postgresql+psycopg://u@h/db"
    monkeypatch.delenv("TUNEFORGE_STORAGE")
    monkeypatch.chdir(tmp_path)
    assert default_storage_url() == f"sqlite:///{tmp_path.resolve()}/tuneforge.db"


# ------------------------------------------------------------------------ batched writes


def test_create_trials_numbers_a_batch_in_order(storage: Storage) -> None:
    """create_trials gives consecutive numbers after the existing ones, in the order given."""
    add_job(storage)
    storage.create_trial("job", {"lr": 0.1})
    numbers = storage.create_trials("job", [({"lr": 0.2}, "strategy"), ({"lr": 0.3}, "enqueued")])
    assert numbers == [1, 2]
    assert [(t.params["lr"], t.origin) for t in storage.trials("job")] == [
        (0.1, "strategy"),
        (0.2, "strategy"),
        (0.3, "enqueued"),
    ]


def test_a_trial_records_the_trial_it_continues(storage: Storage) -> None:
    """NewTrial.continues is stored and read back; trials created without it continue none."""
    add_job(storage)
    first = storage.create_trial("job", {"lr": 0.1, "epochs": 3})
    [second] = storage.create_trials("job", [NewTrial({"lr": 0.1, "epochs": 9}, continues=first)])
    assert [t.continues for t in storage.trials("job")] == [None, first]
    assert storage.get_trial("job", second).continues == first
    claim = claim_trial(
        storage, "job", {"lr": 0.1, "epochs": 27}, origin="strategy", position=2,
        max_trials=None, continues=second,
    )  # fmt: skip
    assert claim.number is not None and storage.get_trial("job", claim.number).continues == second


def test_create_trials_is_all_or_nothing(storage: Storage) -> None:
    """One unstorable parameter value refuses the whole batch: no trial is created."""
    add_job(storage)
    with pytest.raises(StorageError, match="cannot store parameter 'lr'"):
        storage.create_trials("job", [({"lr": 0.2}, "strategy"), ({"lr": object()}, "strategy")])
    assert storage.trials("job") == []


def test_write_trials_applies_a_poll_in_one_go(storage: Storage) -> None:
    """Starts, values and ends of several trials, written together, read back as recorded."""
    add_job(storage)
    first, second = storage.create_trials("job", [({"lr": 0.1}, "strategy")] * 2)
    finished = storage.write_trials(
        "job",
        [
            StartTrial(first, trial_dir="/t/0", pid=10, time=1.0),
            StartTrial(second, trial_dir="/t/1", pid=11, time=1.0),
            AddObservations(first, (obs("loss", 0.5, 0, 1.5), obs("loss", 0.4, 1, 1.6))),
            FinishTrial(
                second, state=TrialState.FAILED, value=None, reason="crashed", log_tail="x", time=2
            ),
            FinishTrial(
                first, state=TrialState.COMPLETED, value=0.4, reason=None, log_tail=None, time=3
            ),
        ],
    )
    assert [(t.number, t.state) for t in finished] == [
        (second, TrialState.FAILED),
        (first, TrialState.COMPLETED),
    ]
    assert finished[1].metrics == {"loss": 0.4} and finished[1].trial_dir == "/t/0"
    assert [o.value for o in storage.metric_series("job", first)] == [0.5, 0.4]
    kinds = [e.kind for e in storage.events("job") if e.trial_number is not None]
    assert kinds[-4:] == ["trial_started", "trial_started", "trial_finished", "trial_finished"]


def test_write_trials_is_all_or_nothing(storage: Storage) -> None:
    """A write that cannot apply (a finished trial started again) undoes the whole batch."""
    add_job(storage)
    done, running = storage.create_trials("job", [({"lr": 0.1}, "strategy")] * 2)
    storage.finish_trial(
        "job", done, state=TrialState.COMPLETED, value=1.0, reason=None, log_tail=None, time=1
    )
    with pytest.raises(StorageError, match=f"cannot start trial {done} of job 'job'"):
        storage.write_trials(
            "job",
            [
                StartTrial(running, trial_dir=None, pid=None, time=2.0),
                AddObservations(running, (obs("loss", 0.5, 0),)),
                StartTrial(done, trial_dir=None, pid=None, time=2.0),
            ],
        )
    assert storage.get_trial("job", running).state is TrialState.PENDING
    assert storage.metric_series("job", running) == []


def test_a_retry_in_a_batch_drops_the_failed_attempts_values(storage: Storage) -> None:
    """Values before a RetryTrial belong to the failed attempt and go; later ones stay."""
    add_job(storage)
    number = storage.create_trial("job", {"lr": 0.1})
    storage.write_trials(
        "job",
        [
            StartTrial(number, trial_dir=None, pid=1, time=1.0),
            AddObservations(number, (obs("loss", 9.0, 0),)),
            RetryTrial(number, attempt=2, reason="exit 75", trial_dir=None, pid=2, time=2.0),
            AddObservations(number, (obs("loss", 0.5, 0),)),
        ],
    )
    assert [o.value for o in storage.metric_series("job", number)] == [0.5]
    assert storage.get_trial("job", number).attempt == 2


def test_a_finish_in_an_unknown_state_is_refused_at_once() -> None:
    """FinishTrial names the states a trial can finish in."""
    with pytest.raises(ValueError, match="cannot finish as 'running'; expected one of completed"):
        FinishTrial(0, state=TrialState.RUNNING, value=None, reason=None, log_tail=None, time=0)
