"""End to end on real services: jobs whose trials run on Dask workers, state in PostgreSQL.

The job files differ from local ones by two lines only: ``storage:`` and ``executor:``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from tests.cluster.services import REPO, DaskCluster
from tuneforge.cli import app
from tuneforge.storage import JobState, Storage
from tuneforge.trial import TrialState

pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")  # comes with distributed

DIGITS = REPO / "examples" / "digits-mlp"

#: Trials 0 and 1 run until stopped (or their worker dies); the others end at once.
LONG_TRIAL = textwrap.dedent(
    """
    import os, subprocess, sys, time
    number = int(sys.argv[1])
    if number < 2:
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    for step in range(600 if number < 2 else 2):
        print(f"step={step} loss={1.0 / (step + 1 + number):.4f}", flush=True)
        time.sleep(0.5 if number < 2 else 0.1)
    """
)


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what or predicate}")


def group_gone(pgid: int, timeout: float = 20.0) -> bool:
    try:
        wait_for(lambda: _no_group(pgid), timeout)
    except AssertionError:
        return False
    return True


def _no_group(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_digits_job_runs_on_the_dask_cluster_with_postgresql_storage(
    cluster: DaskCluster, postgres_url: str, tmp_path: Path
) -> None:
    """The digits example, 20 trials, two changed lines: trials run on the workers, all recorded."""
    folder = tmp_path / "digits"
    folder.mkdir()
    shutil.copy(DIGITS / "train.py", folder / "train.py")
    document: dict[str, Any] = yaml.safe_load((DIGITS / "job.yaml").read_text())
    document["storage"] = postgres_url  # the two lines a cluster job changes
    document["executor"] = cluster.url
    document["static"] = {"epochs": 8}  # keep the test short
    document["limits"] = {**document["limits"], "max_trials": 20, "max_parallel": 2}
    document["output_dir"] = str(tmp_path / "runs")
    (folder / "job.yaml").write_text(yaml.safe_dump(document, sort_keys=False))

    result = CliRunner().invoke(app, ["run", str(folder / "job.yaml")], catch_exceptions=False)
    assert result.exit_code == 0, result.output

    storage = Storage(postgres_url)
    job = storage.get_job("digits-mlp")
    assert job.state is JobState.COMPLETED
    trials = storage.trials("digits-mlp")
    assert [t.number for t in trials] == list(range(20))
    assert all(t.state is TrialState.COMPLETED for t in trials), [t.reason for t in trials]
    assert max(t.value or 0 for t in trials) > 0.9
    # Metrics were recorded per epoch, as the trials printed them on the workers.
    series = storage.metric_series("digits-mlp", 3, "validation:accuracy")
    assert [o.step for o in series] == list(range(8))
    for trial in trials:
        assert trial.trial_dir is not None
        assert (Path(trial.trial_dir) / "model.pkl").exists()
        assert "test_acc=" in (Path(trial.trial_dir) / "trial.log").read_text()
    storage.close()


def test_cli_stop_and_a_killed_worker_reach_remote_trials(
    cluster: DaskCluster, postgres_url: str, tmp_path: Path
) -> None:
    """`tuneforge stop --trial` ends a remote trial's group; a killed worker fails its trial."""
    (tmp_path / "long.py").write_text(LONG_TRIAL)
    document = {
        "name": "remote",
        "command": [sys.executable, "long.py", "${trial_number}", "${x}"],
        "parameters": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        "objective": "loss",
        "metrics": [{"name": "loss", "regex": r"loss=([0-9.]+)"}],
        "limits": {"max_trials": 4, "max_parallel": 2},
        "storage": postgres_url,
        "executor": cluster.url,
        "output_dir": str(tmp_path / "runs"),
    }
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump(document, sort_keys=False))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    controller = subprocess.Popen(
        [sys.executable, "-m", "tuneforge", "run", str(job)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        storage = Storage(postgres_url)

        def running(number: int) -> bool:
            try:
                trial = storage.get_trial("remote", number)
            except Exception:  # noqa: BLE001 - the job or trial is not created yet
                return False
            return trial.state is TrialState.RUNNING and trial.metrics.get("loss") is not None

        wait_for(lambda: running(0) and running(1), 90, "trials 0 and 1 to run")
        pid0 = storage.get_trial("remote", 0).pid
        pid1 = storage.get_trial("remote", 1).pid
        assert pid0 is not None and pid1 is not None

        # A stop from another terminal reaches trial 0 on its worker.
        result = CliRunner().invoke(
            app, ["stop", "remote", "--trial", "0", "--storage", postgres_url]
        )
        assert result.exit_code == 0, result.output
        wait_for(lambda: storage.get_trial("remote", 0).state.is_finished(), 30, "the stop")
        stopped = storage.get_trial("remote", 0)
        assert stopped.state is TrialState.STOPPED
        assert stopped.reason == "stopped on request"
        assert group_gone(pid0), "the stopped trial's processes still run"

        # Kill the worker that runs trial 1: its trial fails as lost, its processes end.
        worker = psutil.Process(pid1).ppid()  # the trial's command is the worker's child
        assert worker in cluster.worker_pids().values()
        os.kill(worker, signal.SIGKILL)
        out, _ = controller.communicate(timeout=120)
        assert controller.returncode == 0, out
        lost = storage.get_trial("remote", 1)
        assert lost.state is TrialState.FAILED
        assert lost.reason is not None and "lost worker" in lost.reason
        assert group_gone(pid1), "the lost trial's processes outlived their worker"
        # The job went on with the other trials and completed.
        assert [t.state for t in storage.trials("remote")[2:]] == [TrialState.COMPLETED] * 2
        assert storage.get_job("remote").state is JobState.COMPLETED
        storage.close()
    finally:
        if controller.poll() is None:
            controller.kill()
            controller.communicate()
