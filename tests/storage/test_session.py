"""The transaction API storage's modules write with: lookups, events, counts, one trial insert."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from tuneforge.errors import NotFoundError, StorageError
from tuneforge.storage import EventKind, NewTrial, Storage, StorageSession
from tuneforge.storage.models import TrialRow
from tuneforge.storage.trials import insert_trials
from tuneforge.trial import TrialOrigin, TrialState


class Clock:
    """Every reading one second after the previous one."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


@pytest.fixture
def storage() -> Iterator[Storage]:
    with Storage("sqlite://", clock=Clock()) as storage:
        storage.create_job(
            "job",
            document={},
            base_dir=".",
            objective="loss",
            direction="minimize",
            strategy="random",
            max_trials=None,
            output_dir=None,
        )
        yield storage


def test_a_transaction_returns_what_its_work_returns(storage: Storage) -> None:
    """The work gets a StorageSession on one transaction; its result comes back."""
    assert storage.transaction("read a job", lambda tx: tx.job("job").name) == "job"


def test_lookups_name_what_exists(storage: Storage) -> None:
    """job() and trial() raise NotFoundError listing the known jobs and trial numbers."""
    storage.create_trials("job", [NewTrial({"x": 1}), NewTrial({"x": 2})])
    with pytest.raises(NotFoundError, match="known jobs: job$"):
        storage.transaction("read a job", lambda tx: tx.job("other"))
    with pytest.raises(NotFoundError, match=r"trials are numbered 0\.\.1$"):
        storage.transaction("read a trial", lambda tx: tx.trial(tx.job("job"), 5))


def test_record_event_is_written_with_the_change_and_the_storage_clock(storage: Storage) -> None:
    """An event recorded in a write transaction is on record with the clock's time."""

    def note(tx: StorageSession) -> None:
        tx.record_event(tx.job("job"), None, EventKind.NOTE, "by hand")

    storage.transaction("record a note", note, write=True)
    event = storage.events("job")[-1]
    # creating the job read the clock twice (its creation time and its event): 101, 102
    assert (event.kind, event.message, event.time) == (EventKind.NOTE, "by hand", 103.0)


def test_a_failing_transaction_records_nothing(storage: Storage) -> None:
    """Work that raises rolls its transaction back, events included."""

    def note_then_fail(tx: StorageSession) -> None:
        tx.record_event(tx.job("job"), None, EventKind.NOTE, "never kept")
        raise StorageError("failed on purpose")

    with pytest.raises(StorageError, match="failed on purpose"):
        storage.transaction("record a note", note_then_fail, write=True)
    assert [event.kind for event in storage.events("job")] == [EventKind.JOB_CREATED]


def test_event_kinds_read_back_as_event_kinds_equal_to_their_words(storage: Storage) -> None:
    """Stored kinds are the plain words; read back, they are EventKind members."""
    storage.note("job", "hello")
    kinds = [event.kind for event in storage.events("job")]
    assert kinds == ["job_created", "note"]
    assert all(isinstance(kind, EventKind) for kind in kinds)


def test_count_by_state_has_every_state_for_every_job_asked(storage: Storage) -> None:
    """Counts come by job id, with zeros for states (and jobs) without trials."""
    storage.create_trials("job", [NewTrial({"x": 1}), NewTrial({"x": 2})])
    counts = storage.transaction("count", lambda tx: tx.count_by_state([tx.job("job")]))
    [job_counts] = counts.values()
    assert job_counts == {**dict.fromkeys(TrialState, 0), TrialState.PENDING: 2}
    assert storage.transaction("count", lambda tx: tx.count_by_state([])) == {}


def test_insert_trials_numbers_after_the_last_and_records_each(storage: Storage) -> None:
    """One insert for every caller: next numbers, parameters, origin, owner and an event each."""
    storage.create_trial("job", {"x": 0})

    def insert(tx: StorageSession) -> list[int]:
        job = tx.job("job", for_update=True)
        planned = [NewTrial({"x": 1}, TrialOrigin.ENQUEUED), NewTrial({"x": 2}, continues=0)]
        numbers = insert_trials(tx, job, planned, owner="me", position=3)
        owners = tx.session.scalars(select(TrialRow.owner).where(TrialRow.number.in_(numbers)))
        assert set(owners) == {"me"}
        return numbers

    assert storage.transaction("insert", insert, write=True) == [1, 2]
    trials = storage.trials("job")
    assert [(t.params, t.origin, t.continues) for t in trials[1:]] == [
        ({"x": 1}, "enqueued", None),
        ({"x": 2}, "strategy", 0),
    ]
    messages = [e.message for e in storage.events("job") if e.kind is EventKind.TRIAL_CREATED]
    assert messages[1:] == [
        "trial 1 created (enqueued #3): x=1",
        "trial 2 created (strategy #4, continues trial 0): x=2",
    ]


def test_trials_from_rows_reads_rows_as_trials(storage: Storage) -> None:
    """Rows of any query become trials with their parameters, in the rows' order."""
    storage.create_trials("job", [NewTrial({"x": 1}), NewTrial({"x": 2})])

    def read(tx: StorageSession) -> list[tuple[int, object]]:
        rows = list(tx.session.scalars(select(TrialRow).order_by(TrialRow.number.desc())))
        return [(trial.number, trial.params["x"]) for trial in tx.trials_from_rows(rows)]

    assert storage.transaction("read", read) == [(1, 2), (0, 1)]
