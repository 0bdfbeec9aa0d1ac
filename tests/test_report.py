"""Tests for tuneforge.report: the JSON lines a training script appends for the runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tuneforge.metrics import MetricReader
from tuneforge.report import report


@pytest.fixture
def report_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "report.jsonl"
    monkeypatch.setenv("TUNEFORGE_REPORT", str(path))
    return path


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_report_appends_one_json_line_per_call(report_file: Path) -> None:
    """Each call appends {"step", "metrics", "time"} as one line."""
    report(step=0, val_acc=0.5, loss=2)
    report(val_acc=0.75)
    first, second = read_lines(report_file)
    assert first["step"] == 0 and first["metrics"] == {"val_acc": 0.5, "loss": 2.0}
    assert second["step"] is None and second["metrics"] == {"val_acc": 0.75}
    assert isinstance(first["time"], float)


def test_report_lines_are_read_by_the_metric_reader(report_file: Path) -> None:
    """What report() writes, MetricReader.feed_report reads back."""
    report(step=2, **{"validation:accuracy": 0.5})
    reader = MetricReader([], "validation:accuracy")
    (obs,) = reader.feed_report(report_file.read_text())
    assert (obs.metric, obs.value, obs.step) == ("validation:accuracy", 0.5, 2)


def test_report_without_the_variable_does_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without TUNEFORGE_REPORT the script runs standalone: nothing is written, no error."""
    monkeypatch.delenv("TUNEFORGE_REPORT", raising=False)
    monkeypatch.chdir(tmp_path)
    report(val_acc=0.5)
    assert list(tmp_path.iterdir()) == []


def test_numpy_numbers_are_accepted(report_file: Path) -> None:
    """numpy scalars (float32, int64 steps) are numbers and are written as plain JSON."""
    report(step=np.int64(1), val_acc=np.float32(0.5))  # type: ignore[arg-type]
    (line,) = read_lines(report_file)
    assert line["step"] == 1 and line["metrics"] == {"val_acc": 0.5}


@pytest.mark.parametrize("value", ["0.5", None, True, [0.5], 1j])
def test_non_numbers_are_rejected_naming_the_metric(report_file: Path, value: object) -> None:
    """A value that is not a real number (bools included) raises TypeError naming the metric."""
    with pytest.raises(TypeError, match="metric 'val_acc' must be a number"):
        report(val_acc=value)  # type: ignore[arg-type]
    assert not report_file.exists()


@pytest.mark.parametrize("step", [1.0, "1", True])
def test_non_int_step_is_rejected(report_file: Path, step: object) -> None:
    """A step that is not an int raises TypeError."""
    with pytest.raises(TypeError, match="step must be an int >= 0 or None"):
        report(step=step, val_acc=0.5)  # type: ignore[arg-type]


def test_negative_step_is_rejected(report_file: Path) -> None:
    """A negative step raises ValueError."""
    with pytest.raises(ValueError, match="step must be an int >= 0 or None, got -1"):
        report(step=-1, val_acc=0.5)


def test_report_needs_a_metric(report_file: Path) -> None:
    """Calling report() without metrics is a mistake, not a no-op."""
    with pytest.raises(TypeError, match="at least one metric"):
        report(step=1)


def test_report_from_a_real_subprocess(tmp_path: Path) -> None:
    """A separate Python process reports through the file named by TUNEFORGE_REPORT."""
    path = tmp_path / "report.jsonl"
    code = (
        "from tuneforge.report import report\n"
        "for i in range(3):\n"
        "    report(step=i, val_acc=i / 10)\n"
    )
    subprocess.run(
        [sys.executable, "-c", code], check=True, env={**os.environ, "TUNEFORGE_REPORT": str(path)}
    )
    reader = MetricReader([], "val_acc")
    seen = [o for line in path.read_text().splitlines() for o in reader.feed_report(line)]
    assert [(o.step, o.value) for o in seen] == [(0, 0.0), (1, 0.1), (2, 0.2)]


def test_importing_report_is_cheap() -> None:
    """Importing tuneforge.report loads no heavy dependency and no heavy tuneforge module."""
    code = (
        "import sys, json, tuneforge.report\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in\n"
        "    {'numpy', 'pandas', 'scipy', 'sqlalchemy', 'pydantic', 'tuneforge'})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    # errors.py is standard library only; the package __init__ imports it eagerly.
    assert set(json.loads(out)) <= {"tuneforge", "tuneforge.report", "tuneforge.errors"}
