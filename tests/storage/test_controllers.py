"""Controllers sharing a job: registration, heartbeats, and recovering a dead one's trials.

On SQLite and PostgreSQL, since several processes (on several machines) use these at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from tuneforge.storage import (
    ControllerLease,
    FinishTrial,
    StartTrial,
    Storage,
    TrialTakenOverError,
)
from tuneforge.storage.claims import claim_rerun, claim_trial
from tuneforge.storage.controllers import (
    heartbeat,
    join_job,
    leave_job,
    recover_dead,
    sharing_controllers,
)
from tuneforge.trial import Trial, TrialState

DEAD = ControllerLease(id="dead", host="host-a", pid=101)
LIVE = ControllerLease(id="live", host="host-b", pid=202)


def heartbeat_within(seconds: float) -> Callable[[ControllerLease], bool]:
    """The liveness rule for controllers on other machines: a recent heartbeat."""

    def is_alive(lease: ControllerLease) -> bool:
        return lease.heartbeat_at is not None and time.time() - lease.heartbeat_at < seconds

    return is_alive


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tuneforge.db'}"
        return
    from tests.cluster.services import postgres_test_url
    from tests.storage.test_schema import _empty_database

    database = postgres_test_url()
    _empty_database(database)
    yield database


@pytest.fixture
def storage(url: str) -> Iterator[Storage]:
    store = Storage(url)
    store.create_job(
        "job",
        document={},
        base_dir=".",
        objective="loss",
        direction="minimize",
        strategy="sobol",
        max_trials=10,
        output_dir=None,
    )
    yield store
    store.close()


def run_trial_of(storage: Storage, owner: str, position: int) -> int:
    """Claim a trial for ``owner`` and start it; its number."""
    claim = claim_trial(
        storage,
        "job",
        {"x": position / 10},
        origin="strategy",
        position=position,
        max_trials=10,
        owner=owner,
    )
    assert claim.number is not None
    storage.start_trial("job", claim.number, trial_dir=f"/runs/{claim.number}", pid=None, time=1)
    return claim.number


def test_a_controller_joins_beats_and_leaves(storage: Storage) -> None:
    """Registered controllers are listed; a heartbeat refreshes; leaving unregisters."""
    join_job(storage, "job", DEAD)
    join_job(storage, "job", LIVE)
    assert {c.id for c in sharing_controllers(storage, "job")} == {"dead", "live"}
    assert heartbeat(storage, "job", "live") is True
    leave_job(storage, "job", "live")
    assert [c.id for c in sharing_controllers(storage, "job")] == ["dead"]
    assert heartbeat(storage, "job", "live") is False


def test_a_dead_controllers_unfinished_trials_are_interrupted(storage: Storage) -> None:
    """Its running and pending trials become INTERRUPTED with the reason; others' stay."""
    join_job(storage, "job", DEAD)
    join_job(storage, "job", LIVE)
    dead_running = run_trial_of(storage, "dead", 0)
    live_running = run_trial_of(storage, "live", 1)
    dead_pending = claim_trial(
        storage, "job", {"x": 0.9}, origin="enqueued", position=0, max_trials=10, owner="dead"
    ).number
    ended: list[Sequence[Trial]] = []

    numbers = recover_dead(
        storage,
        "job",
        own_id="live",
        is_alive=lambda lease: lease.id == "live",
        end_processes=ended.append,
    )

    assert numbers == [dead_running, dead_pending]
    # Its processes were ended first, while the trials were still as recorded.
    assert [(t.number, t.state, t.trial_dir) for t in ended[0]] == [
        (dead_running, TrialState.RUNNING, f"/runs/{dead_running}"),
        (dead_pending, TrialState.PENDING, None),
    ]
    trials = {t.number: t for t in storage.trials("job")}
    assert trials[dead_running].state is TrialState.INTERRUPTED
    assert trials[dead_running].reason == (
        "its controller (pid 101 on host-a) stopped while the trial ran"
    )
    assert trials[dead_pending].state is TrialState.INTERRUPTED
    assert trials[live_running].state is TrialState.RUNNING
    assert [c.id for c in sharing_controllers(storage, "job")] == ["live"]
    assert heartbeat(storage, "job", "dead") is False  # were it only stalled, it learns so


def test_a_controller_whose_heartbeat_expired_is_dead(storage: Storage) -> None:
    """On another machine, a heartbeat older than the timeout is what makes a controller dead."""
    join_job(storage, "job", DEAD)
    number = run_trial_of(storage, "dead", 0)
    assert recover_dead(storage, "job", own_id="live", is_alive=heartbeat_within(60.0)) == []
    time.sleep(0.2)
    assert recover_dead(storage, "job", own_id="live", is_alive=heartbeat_within(0.1)) == [number]


def test_controllers_noticing_a_death_at_once_recover_it_once(url: str, storage: Storage) -> None:
    """Four controllers recover the same dead one together: each trial once, one rerun each."""
    join_job(storage, "job", DEAD)
    numbers = [run_trial_of(storage, "dead", position) for position in range(3)]
    start = threading.Barrier(4)
    recovered: list[int] = []
    reruns: list[int] = []
    errors: list[BaseException] = []

    def notice(index: int) -> None:
        own = Storage(url)
        try:
            join_job(own, "job", ControllerLease(id=f"c{index}", host="h", pid=index))
            start.wait(10)
            recovered.extend(
                recover_dead(
                    own, "job", own_id=f"c{index}", is_alive=lambda lease: lease.id != "dead"
                )
            )
            for number in numbers:
                if claim_rerun(own, "job", number, owner=f"c{index}"):
                    reruns.append(number)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=notice, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(recovered) == numbers
    assert sorted(reruns) == numbers
    assert [t.state for t in storage.trials("job")] == [TrialState.PENDING] * 3
    lost = [e for e in storage.events("job") if e.kind == "controller_lost"]
    assert len(lost) == 1 and lost[0].message.endswith("its unfinished trials: 0, 1, 2")


def test_trials_no_live_controller_watches_are_recovered(storage: Storage) -> None:
    """A trial whose owner left unregistered is recovered; the live lease holder's is not."""
    join_job(storage, "job", LIVE)
    left = run_trial_of(storage, "gone", 0)  # its controller left without finishing it
    holder = ControllerLease(id="holder", host="host-c", pid=303)
    storage.claim_job("job", holder, is_alive=lambda lease: False)
    held = run_trial_of(storage, "holder", 1)
    alive = {"live", "holder"}

    numbers = recover_dead(storage, "job", own_id="live", is_alive=lambda c: c.id in alive)

    assert numbers == [left]
    trials = {t.number: t for t in storage.trials("job")}
    assert trials[left].reason == "its controller stopped while the trial ran"
    assert trials[held].state is TrialState.RUNNING
    alive.discard("holder")  # once the lease holder is dead, its trial is recovered too
    assert recover_dead(storage, "job", own_id="live", is_alive=lambda c: c.id in alive) == [held]


def test_a_controller_found_dead_cannot_write_its_old_trials(storage: Storage) -> None:
    """After recovery the old owner's writes are refused whole; the re-run's owner writes."""
    join_job(storage, "job", DEAD)
    number = run_trial_of(storage, "dead", 0)
    recover_dead(storage, "job", own_id="live", is_alive=lambda lease: False)
    finish = FinishTrial(
        number, state=TrialState.COMPLETED, value=1.0, reason=None, log_tail=None, time=5.0
    )
    with pytest.raises(TrialTakenOverError, match=rf"trial\(s\) {number} of job 'job' no longer"):
        storage.write_trials("job", [finish], owner="dead")
    assert storage.get_trial("job", number).state is TrialState.INTERRUPTED
    assert claim_rerun(storage, "job", number, owner="live")
    storage.write_trials(
        "job", [StartTrial(number, trial_dir=None, pid=None, time=6.0), finish], owner="live"
    )
    assert storage.get_trial("job", number).state is TrialState.COMPLETED
