"""DaskExecutor against a real scheduler and two workers: events, stops, lost workers."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.services import DaskCluster
from tuneforge.errors import ConfigError, TuneforgeError
from tuneforge.events import MetricObserved, StopSignal, TrialEvent, TrialFinished, TrialStarted
from tuneforge.executors.base import Emit
from tuneforge.executors.local import LocalExecutor
from tuneforge.metrics import MetricDefinition
from tuneforge.runner import RunSpec, run_trial
from tuneforge.trial import Trial, TrialState

distributed = pytest.importorskip("distributed")
from tuneforge.executors.dask import (  # noqa: E402 - after the importorskip
    DaskExecutor,
    make_executor,
    scheduler_address,
)

#: Prints ``loss=<step>`` every ``period`` seconds for ``steps`` steps, with a child process
#: in its group when asked, so a test can watch the whole group end.
SCRIPT = textwrap.dedent(
    """
    import subprocess, sys, time
    steps, period, child = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "child"
    if child:
        kid = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        print(f"child={kid.pid}", flush=True)
    for step in range(steps):
        print(f"loss={step}", flush=True)
        time.sleep(period)
    """
)


def spec(tmp_path: Path, number: int, steps: int = 3, period: float = 0.2, child: bool = False):
    """A command trial running SCRIPT in its own folder under ``tmp_path``."""
    return RunSpec(
        job_name="cluster",
        number=number,
        params={"steps": steps},
        static={},
        command=(sys.executable, "-c", SCRIPT, str(steps), str(period), "child" if child else "-"),
        trial_dir=str(tmp_path / f"trial-{number:04d}"),
        workdir="",
        metrics=(MetricDefinition("loss", r"loss=([0-9.]+)"),),
        objective="loss",
    )


def collect(
    executor: DaskExecutor, timeout: float = 60.0, until: int | None = None
) -> list[TrialEvent]:
    """Poll until every trial finished (or ``until`` trials started); return all events."""
    events: list[TrialEvent] = []
    deadline = time.monotonic() + timeout
    while executor.running and time.monotonic() < deadline:
        events.extend(executor.poll(0.2))
        if until is not None and sum(isinstance(e, TrialStarted) for e in events) >= until:
            return events
    assert not executor.running or until is not None, f"trials still running: {executor.running}"
    return events


def gone(pid: int, timeout: float = 15.0) -> bool:
    """Whether process group ``pid`` disappears within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def executor(cluster: DaskCluster) -> Iterator[DaskExecutor]:
    """A DaskExecutor connected to the session's cluster through its job-file address."""
    made = DaskExecutor(cluster.url, name="test")
    yield made
    made.shutdown()


def test_trials_run_on_workers_and_stream_events_before_finishing(
    executor: DaskExecutor, tmp_path: Path
) -> None:
    """Each trial's start and metrics arrive as they happen and before its TrialFinished."""
    for number in range(3):
        executor.submit(number, functools.partial(run_trial, spec(tmp_path, number)))
    assert executor.running == {0, 1, 2}
    events = collect(executor)
    for number in range(3):
        mine = [e for e in events if getattr(e, "number", None) == number]
        assert isinstance(mine[0], TrialStarted)
        assert [e.observation.value for e in mine if isinstance(e, MetricObserved)] == [0, 1, 2]
        finished = mine[-1]
        assert isinstance(finished, TrialFinished)
        assert finished.outcome.state is TrialState.COMPLETED
        assert finished.outcome.value == 2
        assert (tmp_path / f"trial-{number:04d}" / "trial.log").read_text().count("loss=") == 3
    assert executor.running == set()


def test_metrics_arrive_while_the_trial_still_runs(executor: DaskExecutor, tmp_path: Path) -> None:
    """A metric printed by a remote trial reaches poll() long before the trial ends."""
    executor.submit(0, functools.partial(run_trial, spec(tmp_path, 0, steps=20, period=0.25)))
    started = time.monotonic()
    seen: list[TrialEvent] = []
    while not any(isinstance(e, MetricObserved) for e in seen):
        seen.extend(executor.poll(0.2))
        assert time.monotonic() - started < 20
    assert 0 in executor.running
    executor.stop(0, "enough")
    collect(executor)


def test_stop_ends_the_remote_process_group(executor: DaskExecutor, tmp_path: Path) -> None:
    """stop() reaches the trial on its worker: its whole process group ends, state STOPPED."""
    executor.submit(0, functools.partial(run_trial, spec(tmp_path, 0, 600, 0.5, child=True)))
    events = collect(executor, until=1)
    pid = next(e.pid for e in events if isinstance(e, TrialStarted))
    assert pid is not None
    executor.stop(0, "stopped by the test", TrialState.STOPPED_EARLY)
    events += collect(executor, timeout=30)
    finished = [e for e in events if isinstance(e, TrialFinished)]
    assert finished[0].outcome.state is TrialState.STOPPED_EARLY
    assert finished[0].outcome.reason == "stopped by the test"
    assert gone(pid)


def test_a_stop_before_the_trial_starts_means_it_never_runs(
    executor: DaskExecutor, tmp_path: Path
) -> None:
    """A trial stopped while it waits for a worker ends STOPPED without starting its command."""
    for number in range(3):  # two workers: trial 2 waits
        executor.submit(number, functools.partial(run_trial, spec(tmp_path, number, 4, 0.5)))
    executor.stop(2, "not needed")
    events = collect(executor)
    outcome = next(e.outcome for e in events if isinstance(e, TrialFinished) and e.number == 2)
    assert outcome.state is TrialState.STOPPED
    assert (
        not (tmp_path / "trial-0002" / "trial.log").exists()
        or "loss=3" not in (tmp_path / "trial-0002" / "trial.log").read_text()
    )


def test_a_killed_worker_fails_its_trial_and_ends_its_processes(
    executor: DaskExecutor, cluster: DaskCluster, tmp_path: Path
) -> None:
    """SIGKILL of the worker mid-trial: FAILED 'lost worker', the trial's group ends too."""
    executor.submit(0, functools.partial(run_trial, spec(tmp_path, 0, 600, 0.5, child=True)))
    events = collect(executor, until=1)
    pid = next(e.pid for e in events if isinstance(e, TrialStarted))
    assert pid is not None
    processing = executor.client.processing()
    (address,) = [w for w, keys in processing.items() if keys]
    os.kill(cluster.worker_pids()[address], signal.SIGKILL)
    events += collect(executor, timeout=60)
    outcome = next(e.outcome for e in events if isinstance(e, TrialFinished))
    assert outcome.state is TrialState.FAILED
    assert outcome.reason is not None and "lost worker" in outcome.reason
    assert gone(pid), "the trial's processes outlived their worker"


def test_function_trials_run_remotely_and_exceptions_fail_only_their_trial(
    executor: DaskExecutor,
) -> None:
    """In-process objectives travel to the workers too; one that raises is FAILED with why."""

    def work(value: float):  # type: ignore[no-untyped-def]
        def run(emit: Emit, stop: StopSignal):  # type: ignore[no-untyped-def]
            from tuneforge.events import TrialOutcome

            if value < 0:
                raise ValueError("negative")
            return TrialOutcome(TrialState.COMPLETED, value=value * 2)

        return run

    executor.submit(0, work(1.5))
    executor.submit(1, work(-1.0))
    events = collect(executor)
    outcomes = {e.number: e.outcome for e in events if isinstance(e, TrialFinished)}
    assert outcomes[0].state is TrialState.COMPLETED and outcomes[0].value == 3.0
    assert outcomes[1].state is TrialState.FAILED
    assert outcomes[1].reason == "ValueError: negative"


def test_an_unreachable_scheduler_is_one_clear_error() -> None:
    """Connecting to a scheduler that is not there says where and how to start one."""
    with pytest.raises(TuneforgeError, match=r"cannot reach the Dask scheduler at tcp://127"):
        DaskExecutor("dask://127.0.0.1:9", connect_timeout=2)


def test_executor_targets_are_read_or_refused_with_the_valid_forms() -> None:
    """'local' and None give threads; dask:// maps to tcp://; other schemes are refused."""
    assert isinstance(make_executor(None), LocalExecutor)
    assert isinstance(make_executor("local"), LocalExecutor)
    assert scheduler_address("dask://10.1.2.3:8786") == "tcp://10.1.2.3:8786"
    assert scheduler_address("tls://host:8786") == "tls://host:8786"
    with pytest.raises(ConfigError, match="expected 'local' or a Dask scheduler address"):
        make_executor("spark://host:7077")
    with pytest.raises(ConfigError, match="names no scheduler"):
        scheduler_address("dask://")


def test_end_orphans_ends_what_a_dead_controller_left_on_the_workers(
    cluster: DaskCluster, tmp_path: Path
) -> None:
    """A resuming controller's executor ends, on the workers, trials nobody watches any more."""
    old = DaskExecutor(cluster.url, name="old")
    old.submit(0, functools.partial(run_trial, spec(tmp_path, 0, 600, 0.5, child=True)))
    pid = next(e.pid for e in collect(old, until=1) if isinstance(e, TrialStarted))
    assert pid is not None
    old.client.close()  # the controller is gone; its task keeps running on the worker
    new = DaskExecutor(cluster.url, name="new")
    try:
        left = Trial(
            number=0,
            params={"steps": 600},
            state=TrialState.RUNNING,
            trial_dir=str(tmp_path / "trial-0000"),
            pid=pid,
        )
        ended = new.end_orphans("cluster", str(tmp_path), [left])
        assert [number for number, _ in ended] == [0], ended
        assert gone(pid)
    finally:
        new.shutdown()


def test_optimize_runs_its_objective_on_the_cluster(cluster: DaskCluster) -> None:
    """optimize(executor=client) evaluates every trial on the workers, n_jobs at a time."""
    from tuneforge import Float, optimize

    with distributed.Client(cluster.address, set_as_default=False) as client:
        result = optimize(
            lambda p: {"value": (p["x"] - 0.3) ** 2, "pid": os.getpid()},
            {"x": Float(0.0, 1.0)},
            strategy="random",
            max_trials=6,
            n_jobs=2,
            seed=0,
            executor=client,
        )
        worker_pids = set(client.run(os.getpid).values())
    assert [t.state for t in result.trials] == [TrialState.COMPLETED] * 6
    assert all(t.value == pytest.approx((t.params["x"] - 0.3) ** 2) for t in result.trials)
    assert {t.metrics["pid"] for t in result.trials} <= worker_pids
    assert os.getpid() not in worker_pids


def test_connecting_gives_each_worker_thread_one_trial_at_a_time(
    cluster: DaskCluster, caplog: pytest.LogCaptureFixture
) -> None:
    """Dask's default worker-saturation (1.1) lets a one-thread worker take a second trial
    that then waits a whole trial behind the first while another worker idles: the
    executor lowers it to 1.0 on connecting, says so, and leaves 1.0 or less alone."""
    client = distributed.Client(scheduler_address(cluster.url), set_as_default=False)
    try:

        def saturation(value: float | None = None) -> float:
            def on_scheduler(dask_scheduler) -> float:  # type: ignore[no-untyped-def]
                if value is not None:
                    dask_scheduler.WORKER_SATURATION = value
                return float(dask_scheduler.WORKER_SATURATION)

            return float(client.run_on_scheduler(on_scheduler))

        saturation(1.1)
        with caplog.at_level("INFO", logger="tuneforge.executors.dask"):
            DaskExecutor(cluster.url, name="placement").shutdown()
        assert saturation() == 1.0
        assert "worker-saturation from 1.1 to 1.0" in caplog.text

        saturation(0.5)
        caplog.clear()
        with caplog.at_level("INFO", logger="tuneforge.executors.dask"):
            DaskExecutor(cluster.url, name="placement").shutdown()
        assert saturation() == 0.5 and "worker-saturation" not in caplog.text
    finally:
        with contextlib.suppress(Exception):
            client.run_on_scheduler(_restore_one_task_per_thread)
        client.close()


def _restore_one_task_per_thread(dask_scheduler) -> None:  # type: ignore[no-untyped-def]
    dask_scheduler.WORKER_SATURATION = 1.0
