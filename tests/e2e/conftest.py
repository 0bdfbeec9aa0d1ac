"""Fixtures for end-to-end tests: real job files, real trial subprocesses, the real CLI."""

from __future__ import annotations

import json
import os
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

from tuneforge.cli import app

#: A training-script stand-in: reads key=value arguments, prints a loss, obeys a few knobs
#: (sleep before the result, exit with a code, spawn a child) so tests can script trials.
TRIAL_SCRIPT = textwrap.dedent(
    """
    import json, os, subprocess, sys, time
    args = dict(a.split("=", 1) for a in sys.argv[1:])
    with open(os.path.join(os.environ["TUNEFORGE_TRIAL_DIR"], "argv.json"), "w") as f:
        json.dump(sys.argv[1:], f)
    if args.get("child") == "yes":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)"])
        print(f"child_pid={child.pid}", flush=True)
    x = float(args.get("x", 0.0))
    for step in range(3):
        print(f"step={step} loss={(x - 0.3) ** 2 + 1.0 / (step + 1):.6f}", flush=True)
    time.sleep(float(args.get("sleep", 0)))
    code = int(args.get("exit", 0))
    if code:
        print("something went wrong", flush=True)
        sys.exit(code)
    with open(os.path.join(os.environ["TUNEFORGE_TRIAL_DIR"], "model.txt"), "w") as f:
        f.write("weights")
    print(f"loss={(x - 0.3) ** 2:.6f}", flush=True)
    """
)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with the trial script, used as the working folder and storage location."""
    (tmp_path / "trial.py").write_text(TRIAL_SCRIPT)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNEFORGE_STORAGE", f"sqlite:///{tmp_path / 'tuneforge.db'}")
    return tmp_path


MakeJob = Callable[..., Path]


@pytest.fixture
def make_job(workspace: Path) -> MakeJob:
    """Write a job file running trial.py; keyword arguments override its fields."""

    def make(name: str = "demo", filename: str | None = None, **fields: Any) -> Path:
        document: dict[str, Any] = {
            "name": name,
            "command": [sys.executable, "trial.py", "x=${x}"],
            "parameters": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
            "objective": {"metric": "loss", "direction": "minimize"},
            "metrics": [{"name": "loss", "regex": r"loss=([0-9.eE+-]+)"}],
            "strategy": "random",
            "limits": {"max_trials": 4, "max_parallel": 2},
            "seed": 0,
        }
        document.update(fields)
        path = workspace / (filename or f"{name}.yaml")
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path

    return make


class Cli:
    """Runs ``tuneforge`` in-process (CliRunner) or as a real subprocess."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Any:
        return self.runner.invoke(app, list(args), catch_exceptions=False)

    def json(self, *args: str) -> Any:
        result = self(*args)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        return subprocess.Popen(
            [sys.executable, "-m", "tuneforge", *args],
            cwd=self.workspace,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return
            time.sleep(0.2)
        raise AssertionError("condition not met in time")


@pytest.fixture
def cli(workspace: Path) -> Cli:
    return Cli(workspace)
