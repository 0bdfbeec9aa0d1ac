"""A controller sharing a job dies (SIGKILL): the others take its trials over, once.

Real processes: three ``tuneforge run --join`` controllers on one job, on SQLite and on
PostgreSQL; one is killed while it runs a trial. The two left must finish the job with
every trial number and configuration exactly once and nothing left RUNNING.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from tests.reliability.conftest import marked_processes
from tuneforge.controller import (
    Controller,
    ControllerSettings,
    JobLimits,
    LeasedJob,
    SharedJob,
)
from tuneforge.executors.local import LocalExecutor
from tuneforge.space import Float, SearchSpace
from tuneforge.storage import ControllerLease, JobBusyError, JobState, Storage
from tuneforge.storage.claims import claim_trial
from tuneforge.storage.controllers import join_job, recover_dead, sharing_controllers
from tuneforge.strategies import make_strategy
from tuneforge.trial import TrialState

MAX_TRIALS = 12
#: A trial long enough to be killed in: it sleeps, then prints its loss.
TRIAL = "import sys, time; time.sleep(float(sys.argv[2])); print('loss=' + sys.argv[1])"


def write_job(folder: Path, trial_seconds: float = 1.0) -> Path:
    document: dict[str, Any] = {
        "name": "shared",
        "command": [sys.executable, "-c", TRIAL, "${x}", str(trial_seconds)],
        "parameters": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        "objective": "loss",
        "metrics": [{"name": "loss", "regex": r"loss=([0-9.eE+-]+)"}],
        "strategy": "sobol",
        "limits": {"max_trials": MAX_TRIALS, "max_parallel": 2},
        "seed": 11,
        "output_dir": str(folder / "runs"),
    }
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def start_controller(job: Path, storage_url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tuneforge", "run", str(job), "--join", "--storage", storage_url],
        cwd=job.parent,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def running_trials_of(storage_url: str, pid: int) -> list[int]:
    """The RUNNING trials owned by the sharing controller whose process is ``pid``."""
    storage = Storage(storage_url)
    try:
        owners = [c.id for c in sharing_controllers(storage, "shared") if c.pid == pid]
    except Exception:  # noqa: BLE001 - the job or the schema may not exist yet
        owners = []
    finally:
        storage.close()
    if not owners:
        return []
    engine = sa.create_engine(storage_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        numbers = connection.execute(
            sa.text("SELECT number FROM trials WHERE owner = :owner AND state = 'running'"),
            {"owner": owners[0]},
        ).scalars()
        found = list(numbers)
    engine.dispose()
    return found


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_others_finish_the_trials_of_a_killed_controller(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """3 `run --join` controllers, one SIGKILLed mid-trial: the job ends whole, no duplicate."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'tuneforge.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database()
    job = write_job(tmp_path)
    first = start_controller(job, url)
    time.sleep(1.0)  # the first creates the job; the others join it
    others = [start_controller(job, url) for _ in range(2)]
    victim = others[0]

    deadline = time.monotonic() + 60
    while not (killed_in := running_trials_of(url, victim.pid)):
        assert time.monotonic() < deadline, "the victim never ran a trial"
        assert victim.poll() is None, victim.communicate()[0]
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)

    for survivor in (first, others[1]):
        output, _ = survivor.communicate(timeout=180)
        assert survivor.returncode == 0, output

    storage = Storage(url)
    trials = storage.trials("shared")
    assert [t.number for t in trials] == list(range(MAX_TRIALS))
    assert all(t.state is TrialState.COMPLETED for t in trials), [
        (t.number, t.state, t.reason) for t in trials
    ]
    assert len({t.params["x"] for t in trials}) == MAX_TRIALS, "a configuration ran twice"
    events = storage.events("shared")
    lost = [e for e in events if e.kind == "controller_lost"]
    assert len(lost) == 1 and f"pid {victim.pid}" in lost[0].message, lost
    resets = Counter(e.trial_number for e in events if e.kind == "trial_reset")
    assert set(killed_in) <= set(resets) and max(resets.values()) == 1, resets
    assert sharing_controllers(storage, "shared") == []
    assert storage.get_job("shared").state is JobState.COMPLETED
    storage.close()
    assert marked_processes(tmp_path / "runs") == []


# --------------------------------------------------------------- resume of a shared job


SPACE = SearchSpace({"x": Float(0.0, 1.0)})


def _shared_job(tmp_path: Path) -> Storage:
    storage = Storage(f"sqlite:///{tmp_path / 'tuneforge.db'}")
    storage.create_job(
        "shared",
        document={"name": "shared"},
        base_dir=str(tmp_path),
        objective="loss",
        direction="minimize",
        strategy="random",
        max_trials=3,
        output_dir=None,
    )
    return storage


def _controller(
    storage: Storage, make_work: Any, *, max_trials: int, shared: bool = False, **settings: Any
) -> Controller:
    """A controller of the shared job over ``make_work``, random strategy, fast polls."""
    return Controller(
        storage=storage,
        job_name="shared",
        strategy=make_strategy("random", SPACE, seed=0),
        executor=LocalExecutor(),
        make_work=make_work,
        direction="minimize",
        limits=JobLimits(max_trials),
        coordination=SharedJob if shared else LeasedJob,
        settings=ControllerSettings(poll_interval=0.01, **settings),
    )


def _resume(storage: Storage, **settings: Any) -> Controller:
    def make_work(number: int, params: Any, continues: Any = None) -> Any:
        def work(emit: Any, stop: Any) -> Any:
            from tuneforge.events import TrialOutcome

            return TrialOutcome(TrialState.COMPLETED, value=params["x"])

        return work

    return _controller(storage, make_work, max_trials=3, **settings)


def test_resume_refuses_a_job_that_live_controllers_share(tmp_path: Path) -> None:
    """A plain resume does not take a job from live --join controllers; it names them."""
    storage = _shared_job(tmp_path)
    join_job(storage, "shared", ControllerLease(id="live", host=os.uname().nodename, pid=1))
    with pytest.raises(JobBusyError, match=r"is being run by 1 controller\(s\) sharing it"):
        _resume(storage).run()
    assert storage.trials("shared") == []


def test_resume_reruns_the_trials_of_dead_sharing_controllers(tmp_path: Path) -> None:
    """Resume finds the dead sharing controller, re-runs its trial and completes the job."""
    storage = _shared_job(tmp_path)
    dead = ControllerLease(id="dead", host="another-host", pid=4242, start="1:1")
    join_job(storage, "shared", dead)
    claim = claim_trial(
        storage, "shared", {"x": 0.5}, origin="enqueued", position=0, max_trials=3, owner="dead"
    )
    assert claim.number == 0
    storage.start_trial("shared", 0, trial_dir=None, pid=None, time=time.time())
    controller = _resume(storage, lease_timeout=0.0)  # its heartbeat is too old already
    assert controller.run() is JobState.COMPLETED
    trials = storage.trials("shared")
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 3
    assert trials[0].params == {"x": 0.5}
    assert sharing_controllers(storage, "shared") == []
    storage.close()


def test_a_controller_found_dead_while_stalled_stops_without_recording(tmp_path: Path) -> None:
    """Once the others took its trials over, a stalled controller ends them, records nothing."""
    storage = _shared_job(tmp_path)
    started = threading.Event()

    def make_work(number: int, params: Any, continues: Any = None) -> Any:
        def work(emit: Any, stop: Any) -> Any:
            from tuneforge.events import TrialOutcome, TrialStarted

            emit(TrialStarted(number, time.time()))
            started.set()
            stop.wait(30)  # runs until the controller ends it
            return TrialOutcome(TrialState.COMPLETED, value=1.0)

        return work

    controller = _controller(storage, make_work, max_trials=1, heartbeat_interval=0.05, shared=True)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            controller.run()
        except BaseException as exc:  # noqa: BLE001 - checked below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    assert started.wait(30)
    # Another controller decides this one is dead (as after a stall of lease_timeout).
    recovered = recover_dead(storage, "shared", own_id="other", is_alive=lambda lease: False)
    thread.join(30)

    assert recovered == [0]
    assert len(errors) == 1 and isinstance(errors[0], JobBusyError)
    assert "the other controllers sharing it took this one's trials over" in str(errors[0])
    trial = storage.get_trial("shared", 0)
    assert trial.state is TrialState.INTERRUPTED  # not overwritten by the stalled controller
    assert trial.reason is not None and trial.reason.startswith("its controller (pid")
    storage.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_resume_finishes_a_shared_job_whose_controllers_all_died(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """`tuneforge resume` refuses while --join controllers live; once all are killed it
    re-runs their cut trials and completes the job."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'tuneforge.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database()
    job = write_job(tmp_path, trial_seconds=4.0)  # still running when the resume is refused
    controllers = [start_controller(job, url)]
    time.sleep(1.0)
    controllers.append(start_controller(job, url))
    deadline = time.monotonic() + 60
    while not all(running_trials_of(url, c.pid) for c in controllers):
        assert time.monotonic() < deadline, "the controllers never ran trials together"
        time.sleep(0.05)

    resume = [sys.executable, "-m", "tuneforge", "resume", "shared", "--storage", url]
    refused = subprocess.run(resume, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0
    assert "is being run by 2 controller(s) sharing it (--join)" in refused.stdout + refused.stderr

    for controller in controllers:
        controller.send_signal(signal.SIGKILL)
        controller.wait(10)
    resumed = subprocess.run(resume, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    storage = Storage(url)
    trials = storage.trials("shared")
    assert [t.number for t in trials] == list(range(MAX_TRIALS))
    assert all(t.state is TrialState.COMPLETED for t in trials)
    assert len({t.params["x"] for t in trials}) == MAX_TRIALS
    assert len([e for e in storage.events("shared") if e.kind == "controller_lost"]) == 2
    assert sharing_controllers(storage, "shared") == []
    storage.close()
    assert marked_processes(tmp_path / "runs") == []
