"""One controller per job: the lease in storage, its heartbeat, and taking over a dead one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.reliability.conftest import MakeJob, marked_processes, spawn
from tuneforge.cli import app
from tuneforge.controller import Controller, ControllerSettings, JobLimits
from tuneforge.events import StopSignal, TrialOutcome, TrialStarted
from tuneforge.executors.base import Emit, Work
from tuneforge.executors.local import LocalExecutor
from tuneforge.processes import process_identity
from tuneforge.space import Float, SearchSpace
from tuneforge.storage import ControllerLease, JobBusyError, JobState, Storage
from tuneforge.strategies import make_strategy
from tuneforge.trial import TrialState


def _storage(url: str = "sqlite://") -> Storage:
    storage = Storage(url)
    storage.create_job(
        "job",
        document={},
        base_dir="",
        objective="loss",
        direction="minimize",
        strategy="random",
        max_trials=None,
        output_dir=None,
    )
    return storage


def _lease(pid: int = 4242, host: str = "elsewhere", lease_id: str = "a") -> ControllerLease:
    return ControllerLease(id=lease_id, host=host, pid=pid, start=None)


def test_a_live_holder_keeps_the_job_and_a_dead_one_loses_it() -> None:
    """claim_job refuses while the holder lives, names it, and takes over once it is dead."""
    storage = _storage()
    assert storage.claim_job("job", _lease(lease_id="a"), is_alive=lambda _: True) is None
    with pytest.raises(JobBusyError, match=r"another controller \(pid 4242 on elsewhere"):
        storage.claim_job("job", _lease(lease_id="b", pid=7), is_alive=lambda _: True)
    assert storage.get_job("job").controller is not None
    assert storage.get_job("job").controller.id == "a"  # type: ignore[union-attr]
    replaced = storage.claim_job("job", _lease(lease_id="b", pid=7), is_alive=lambda _: False)
    assert replaced is not None and replaced.id == "a"
    assert not storage.heartbeat("job", "a", active_seconds=1.0)  # "a" lost it
    assert storage.heartbeat("job", "b", active_seconds=5.0)
    storage.release_job("job", "a")  # not the holder: nothing happens
    assert storage.get_job("job").controller is not None
    storage.release_job("job", "b", active_seconds=6.0)
    record = storage.get_job("job")
    assert record.controller is None and record.active_seconds == 6.0
    kinds = [e.kind for e in storage.events("job")]
    assert kinds.count("controller_claimed") == 2 and "controller_released" in kinds


def _work(number: int, params: object, continues: object = None) -> Work:
    def work(emit: Emit, stop: StopSignal) -> TrialOutcome:
        emit(TrialStarted(number, time.time()))
        return TrialOutcome(TrialState.COMPLETED, value=1.0)

    return work


def _controller(storage: Storage, **kwargs: object) -> Controller:
    space = SearchSpace({"x": Float(0.0, 1.0)})
    settings: dict[str, object] = {
        "storage": storage,
        "job_name": "job",
        "strategy": make_strategy("random", space, seed=0),
        "executor": LocalExecutor(),
        "make_work": _work,
        "direction": "minimize",
        "limits": JobLimits(kwargs.pop("max_trials", 3), time_limit=kwargs.pop("time_limit", None)),
        "settings": ControllerSettings(
            poll_interval=0.01,
            heartbeat_interval=kwargs.pop("heartbeat_interval", 2.0),
            lease_timeout=kwargs.pop("lease_timeout", 30.0),
        ),
    }
    settings.update(kwargs)
    return Controller(**settings)  # type: ignore[arg-type]


def test_controller_refuses_a_job_held_by_a_live_process_on_this_machine() -> None:
    """A lease held by a live local process (here: this test's parent) blocks a controller."""
    storage = _storage()
    parent = os.getppid()
    lease = ControllerLease(
        id="other", host=os.uname().nodename, pid=parent, start=process_identity(parent)
    )
    storage.claim_job("job", lease, is_alive=lambda _: True)
    with pytest.raises(JobBusyError, match="being run by another controller"):
        _controller(storage).run()
    assert storage.trials("job") == []  # nothing was touched


def test_controller_takes_over_from_a_dead_local_process_or_a_reused_pid() -> None:
    """A lease of a pid that is gone, or reused by another process, is taken over at once."""
    storage = _storage()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    boot = (process_identity(os.getpid()) or "?").split(":")[0]
    dead = ControllerLease(id="dead", host=os.uname().nodename, pid=child.pid, start=f"{boot}:1")
    storage.claim_job("job", dead, is_alive=lambda _: True)
    assert _controller(storage).run() is JobState.COMPLETED
    # A live pid whose start time differs is another process: the old controller is gone.
    reused = ControllerLease(
        id="reused", host=os.uname().nodename, pid=os.getpid(), start=f"{boot}:1"
    )
    storage.claim_job("job", reused, is_alive=lambda _: True)
    assert _controller(storage, max_trials=4).run() is JobState.COMPLETED
    assert len(storage.trials("job")) == 4


def test_controller_on_another_host_waits_for_the_heartbeat_to_go_stale() -> None:
    """A lease from another machine blocks until its heartbeat is older than lease_timeout."""
    clock = [1000.0]
    storage = Storage("sqlite://", clock=lambda: clock[0])
    storage.create_job(
        "job",
        document={},
        base_dir="",
        objective="loss",
        direction="minimize",
        strategy="random",
        max_trials=None,
        output_dir=None,
    )
    storage.claim_job("job", _lease(host="other-machine"), is_alive=lambda _: True)
    controller = _controller(storage, lease_timeout=1e12)
    with pytest.raises(JobBusyError, match="other-machine"):
        controller.run()
    assert _controller(storage, lease_timeout=1e-9).run() is JobState.COMPLETED


def test_a_controller_whose_lease_was_taken_stops_its_trials() -> None:
    """If another controller takes the job over, the first ends its trials and says so."""
    storage = _storage()

    def slow(number: int, params: object, continues: object = None) -> Work:
        def work(emit: Emit, stop: StopSignal) -> TrialOutcome:
            emit(TrialStarted(number, time.time()))
            stop.wait(10)
            return TrialOutcome(stop.state, reason=stop.reason)

        return work

    def steal(progress: object) -> None:
        if storage.trials("job"):
            storage.claim_job("job", _lease(lease_id="thief"), is_alive=lambda _: False)

    controller = _controller(storage, make_work=slow, heartbeat_interval=0.0, on_progress=steal)
    started = time.monotonic()
    with pytest.raises(JobBusyError, match="taken over by another controller"):
        controller.run()
    assert time.monotonic() - started < 5
    assert storage.get_job("job").controller.id == "thief"  # type: ignore[union-attr]


def test_time_limit_counts_the_time_of_earlier_runs() -> None:
    """A resumed job's time limit includes what earlier controllers spent on it."""
    storage = _storage()
    storage.claim_job("job", _lease(lease_id="old"), is_alive=lambda _: True)
    storage.release_job("job", "old", active_seconds=100.0)
    state = _controller(storage, max_trials=50, time_limit=60.0).run()
    assert state is JobState.COMPLETED
    assert storage.trials("job") == []
    assert "time limit" in (storage.get_job("job").reason or "")


def test_run_resume_refuses_a_job_another_controller_runs(
    make_job: MakeJob, workspace: Path
) -> None:
    """`tuneforge run --resume` (and `resume`) on a job running elsewhere is a clear error."""
    job = make_job(
        "busy",
        parameters={
            "x": {"type": "float", "low": 0.0, "high": 1.0},
            "nap": {"type": "float", "low": 30.0, "high": 31.0},
        },
        limits={"max_trials": 2, "max_parallel": 1},
    )
    first = spawn(workspace, "run", str(job))
    try:
        storage = Storage(f"sqlite:///{workspace / 'tuneforge.db'}")
        deadline = time.monotonic() + 30
        while not (
            "busy" in {r.name for r in storage.list_jobs()}
            and [t.state for t in storage.trials("busy")] == [TrialState.RUNNING]
        ):
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        runner = CliRunner()
        for args in (["run", str(job), "--resume"], ["resume", "busy"]):
            result = runner.invoke(app, args, catch_exceptions=False)
            assert result.exit_code == 1, result.output
            assert "being run by another controller" in result.output
            assert f"pid {first.pid}" in result.output
            assert "Traceback" not in result.output
        assert first.poll() is None
        assert [t.state for t in storage.trials("busy")] == [TrialState.RUNNING]
        first.send_signal(signal.SIGTERM)  # ends like Ctrl-C
        output = first.communicate(timeout=30)[0]
    finally:
        first.kill()
    assert first.returncode == 130, output
    assert [t.state for t in storage.trials("busy")] == [TrialState.INTERRUPTED]
    assert storage.get_job("busy").state is JobState.INTERRUPTED
    assert storage.get_job("busy").controller is None
    assert marked_processes(workspace / "runs") == []
