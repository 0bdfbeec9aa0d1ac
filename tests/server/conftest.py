"""Fixtures for the dashboard tests: real jobs (real trial subprocesses, real SQLite) and apps.

``finished_job`` runs one small job to its end once per session; ``running_job`` starts a
job whose single trial prints a line every 0.1 s until it is stopped (it runs in its own
``tuneforge run`` process, as a job started from another terminal would).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from tuneforge.cli import app as cli_app
from tuneforge.server import create_app
from tuneforge.storage import JobState, Storage
from tuneforge.trial import TrialState

with warnings.catch_warnings():
    # Starlette's test client warns that it will move to httpx2; not ours to fix.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

TOKEN = "test-token-0123456789"
BASE_URL = "http://127.0.0.1"

#: A training-script stand-in: three parameters, a loss curve over 4 steps, a model file.
TRIAL_SCRIPT = textwrap.dedent(
    """
    import json, math, os, sys, time
    args = dict(a.split("=", 1) for a in sys.argv[1:])
    x, lr, opt = float(args["x"]), float(args["lr"]), args["opt"]
    final = (x - 0.3) ** 2 + 0.1 * abs(math.log10(lr) + 2) + (0.05 if opt == "b" else 0.0)
    for step in range(4):
        print(f"step={step} loss={final + 1.0 / (step + 1):.6f}", flush=True)
    with open(os.path.join(os.environ["TUNEFORGE_TRIAL_DIR"], "model.txt"), "w") as f:
        f.write("weights")
    os.makedirs(os.path.join(os.environ["TUNEFORGE_TRIAL_DIR"], "sub"), exist_ok=True)
    with open(os.path.join(os.environ["TUNEFORGE_TRIAL_DIR"], "sub", "notes.txt"), "w") as f:
        f.write("café ✓")
    print(f"loss={final:.6f} acc={1 - final / 3:.4f}", flush=True)
    """
)

#: A trial that prints forever (until stopped), for live logs and stop buttons.
SLOW_SCRIPT = textwrap.dedent(
    """
    import sys, time
    for step in range(100000):
        print(f"tick {step} loss={1.0 / (step + 1):.6f}", flush=True)
        time.sleep(0.1)
    """
)


def job_document(name: str, folder: Path, **fields: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": name,
        "command": [sys.executable, "trial.py", "x=${x}", "lr=${lr}", "opt=${opt}"],
        "parameters": {
            "x": {"type": "float", "low": 0.0, "high": 1.0},
            "lr": {"type": "float", "low": 1.0e-4, "high": 1.0, "log": True},
            "opt": {"type": "categorical", "values": ["a", "b"]},
        },
        "objective": {"metric": "loss", "direction": "minimize"},
        "metrics": [
            {"name": "loss", "regex": r"loss=([0-9.eE+-]+)"},
            {"name": "acc", "regex": r"acc=([0-9.eE+-]+)"},
        ],
        "strategy": "sobol",
        "limits": {"max_trials": 10, "max_parallel": 2},
        "output_dir": str(folder / "runs" / name),
        "seed": 0,
    }
    document.update(fields)
    return document


@dataclass
class RealJob:
    name: str
    url: str
    folder: Path

    def storage(self) -> Storage:
        return Storage(self.url)


def write_scripts(folder: Path) -> None:
    (folder / "trial.py").write_text(TRIAL_SCRIPT)
    (folder / "slow.py").write_text(SLOW_SCRIPT)


@pytest.fixture(scope="session")
def finished_job(tmp_path_factory: pytest.TempPathFactory) -> RealJob:
    """A real 10-trial job (sobol, 2 at a time) run to its end by ``tuneforge run``."""
    folder = tmp_path_factory.mktemp("finished")
    write_scripts(folder)
    url = f"sqlite:///{folder / 'tuneforge.db'}"
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(job_document("finished", folder), sort_keys=False))
    result = CliRunner().invoke(cli_app, ["run", str(path), "--storage", url])
    assert result.exit_code == 0, result.output
    return RealJob("finished", url, folder)


@dataclass
class RunningJob(RealJob):
    process: subprocess.Popen[str]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise AssertionError("condition not met in time")


@pytest.fixture
def running_job(tmp_path: Path) -> Iterator[RunningJob]:
    """A job whose trial 0 runs (and prints) until stopped, in a separate process."""
    write_scripts(tmp_path)
    url = f"sqlite:///{tmp_path / 'tuneforge.db'}"
    document = job_document(
        "live",
        tmp_path,
        command=[sys.executable, "slow.py"],
        parameters={"x": {"type": "float", "low": 0.0, "high": 1.0}},
        metrics=[{"name": "loss", "regex": r"loss=([0-9.eE+-]+)"}],
        strategy="random",
        limits={"max_trials": 1, "max_parallel": 1},
    )
    path = tmp_path / "live.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    output = (tmp_path / "run.out").open("w")  # a file, so a full pipe never blocks it
    process = subprocess.Popen(
        [sys.executable, "-m", "tuneforge", "run", str(path), "--storage", url],
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )
    job = RunningJob("live", url, tmp_path, process)
    storage = job.storage()

    def trial_runs() -> bool:
        try:
            trial = storage.get_trial("live", 0)
        except Exception:  # the job or trial is not recorded yet
            return False
        return trial.state is TrialState.RUNNING and trial.trial_dir is not None

    try:
        job.wait_for(trial_runs)
        yield job
    finally:
        try:
            if storage.get_job("live").state is JobState.RUNNING:
                storage.request_stop("live")
            process.wait(timeout=20)
        except Exception:
            process.kill()
            process.wait()
        storage.close()
        output.close()


def make_client(storage: Storage, **options: Any) -> TestClient:
    """A test client for the dashboard over ``storage`` with the test token."""
    application = create_app(storage, token=TOKEN, **options)
    return TestClient(application, base_url=BASE_URL)


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def finished_client(finished_job: RealJob) -> Iterator[TestClient]:
    storage = finished_job.storage()
    yield make_client(storage)
    storage.close()


@dataclass
class LiveServer:
    """A real uvicorn server on a free loopback port, in a thread of this process."""

    url: str
    server: Any
    thread: Any

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def start_server(storage: Storage, **options: Any) -> LiveServer:
    """Serve the dashboard over ``storage`` (with the test token) until ``stop()``."""
    import socket
    import threading

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    application = create_app(storage, token=TOKEN, **options)
    config = uvicorn.Config(
        application,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="dashboard", daemon=True)
    thread.start()
    deadline = time.time() + 15
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("the dashboard server did not start")
        time.sleep(0.02)
    return LiveServer(f"http://127.0.0.1:{port}", server, thread)
