"""Fixtures for the reliability tests: a workspace with a trial script, and the figures.

Each test adds what it proved to ``figures`` (controller kills survived, hostile inputs
tried, trials lost...); the totals are printed at the end of the run, under
"reliability figures", which is where docs/reliability.md takes its numbers from.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

#: The trial: prints a loss for ``x`` after a nap, leaving a ``sleep`` child in its
#: process group meanwhile, so an orphaned trial is still running when its controller dies.
TRIAL_SCRIPT = textwrap.dedent(
    """
    import os, subprocess, sys, time
    args = dict(a.split("=", 1) for a in sys.argv[1:])
    child = subprocess.Popen(["sleep", "60"])
    x = float(args.get("x", 0.0))
    print(f"step=0 loss={x + 1.0:.6f}", flush=True)
    time.sleep(float(args.get("nap", 0.0)))
    code = int(args.get("exit", 0))
    if code:
        print(args.get("say", "failing"), flush=True)
        sys.exit(code)
    print(f"loss={(x - 0.3) ** 2:.6f}", flush=True)
    """
)

_FIGURES: Counter[str] = Counter()


@pytest.fixture(scope="session")
def figures() -> Counter[str]:
    """Totals the reliability tests report (printed at the end of the run)."""
    return _FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name, value in sorted(_FIGURES.items()):
        terminalreporter.write_line(f"{name}: {value}")


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

    def make(name: str = "soak", **fields: Any) -> Path:
        document: dict[str, Any] = {
            "name": name,
            "command": [sys.executable, "trial.py", "x=${x}", "nap=${nap}"],
            "parameters": {
                "x": {"type": "float", "low": 0.0, "high": 1.0},
                "nap": {"type": "float", "low": 0.05, "high": 0.4},
            },
            "objective": {"metric": "loss", "direction": "minimize"},
            "metrics": [{"name": "loss", "regex": r"^loss=([0-9.eE+-]+)"}],
            "strategy": "random",
            "limits": {"max_trials": 8, "max_parallel": 2},
            "seed": 0,
        }
        document.update(fields)
        path = workspace / f"{name}.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path

    return make


def spawn(workspace: Path, *args: str) -> subprocess.Popen[str]:
    """``python -m tuneforge ARGS`` as a real process, output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "tuneforge", *args],
        cwd=workspace,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def marked_processes(root: Path) -> list[int]:
    """Live (non-zombie) processes whose TUNEFORGE_TRIAL_DIR lies under ``root``.

    Read straight from /proc, independently of tuneforge's own process finder.
    """
    found = []
    prefix = (str(root.resolve()) + os.sep).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as file:
                state = file.read().rsplit(b")", 1)[1].split()[0]
            with open(f"/proc/{entry}/environ", "rb") as file:
                environ = file.read().split(b"\0")
        except OSError:
            continue
        if state in (b"Z", b"X"):
            continue
        if any(item.startswith(b"TUNEFORGE_TRIAL_DIR=" + prefix) for item in environ):
            found.append(int(entry))
    return found
