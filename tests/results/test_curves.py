"""Learning-curve tables: long format from values and storage, JSON, and `trials --curves`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import tuneforge as tf
from tuneforge import optimize  # before tuneforge.optimize: see note
from tuneforge.cli import app
from tuneforge.optimize import RunningTrial
from tuneforge.results.curves import CURVE_COLUMNS, curves_frame, curves_to_json, read_curves
from tuneforge.storage import Storage
from tuneforge.trial import Observation, Trial, TrialState

# Note: the function is imported from the package before the module tuneforge.optimize is;
# the other order would leave `tuneforge.optimize` bound to the module, not the function.


def observations(metric: str, values: list[float], start: int = 1) -> list[Observation]:
    return [Observation(metric, v, start + i, 1000.0 + i) for i, v in enumerate(values)]


TRIALS = [
    Trial(1, {}, TrialState.STOPPED_EARLY, value=0.8),
    Trial(0, {}, TrialState.COMPLETED, value=0.2),
    Trial(2, {}, TrialState.FAILED),
]
SERIES = {
    0: [*observations("loss", [0.9, 0.5, 0.2]), *observations("acc", [0.7])],
    1: observations("loss", [0.95, 0.8]),
}


def test_curves_frame_is_long_and_ordered() -> None:
    """One row per observation, by trial number, metric and step, with the trial's state."""
    frame = curves_frame(TRIALS, SERIES)
    assert tuple(frame.columns) == CURVE_COLUMNS
    assert frame[["number", "state", "metric", "step", "value"]].values.tolist() == [
        [0, "completed", "acc", 1, 0.7],
        [0, "completed", "loss", 1, 0.9],
        [0, "completed", "loss", 2, 0.5],
        [0, "completed", "loss", 3, 0.2],
        [1, "stopped_early", "loss", 1, 0.95],
        [1, "stopped_early", "loss", 2, 0.8],
    ]
    assert str(frame["time"].dt.tz) == "UTC"


def test_curves_frame_keeps_one_metric_and_types_an_empty_frame() -> None:
    """metric= filters rows; a frame without rows still has the columns and their dtypes."""
    assert set(curves_frame(TRIALS, SERIES, metric="acc")["number"]) == {0}
    empty = curves_frame(TRIALS, {})
    assert empty.empty and tuple(empty.columns) == CURVE_COLUMNS
    assert [str(empty[c].dtype) for c in ("number", "step", "value")] == [
        "int64",
        "int64",
        "float64",
    ]


def test_curves_json_writes_null_for_nan() -> None:
    """JSON records carry plain numbers, ISO times, and null for NaN values."""
    series = {0: observations("loss", [math.nan, 0.5])}
    records = json.loads(curves_to_json(curves_frame([TRIALS[1]], series)))
    assert [r["value"] for r in records] == [None, 0.5]
    assert records[0]["time"].startswith("1970-01-01T00:16:40") and records[0]["step"] == 1


def reporting(params: dict[str, Any], trial: RunningTrial) -> float:
    loss = 0.0
    for step in range(1, 10):
        loss = params["x"] / step
        trial.report(loss, step)
        if trial.should_stop():
            break
    return loss


@pytest.fixture
def stored_job(tmp_path: Path) -> str:
    """A job in a SQLite file whose later trials ASHA stopped early."""
    url = f"sqlite:///{tmp_path / 'curves.db'}"
    optimize(
        reporting,
        {"x": tf.Float(0.0, 1.0)},
        strategy="design",
        strategy_options={"configurations": [{"x": 0.1}, {"x": 0.9}, {"x": 0.05}]},
        max_trials=3,
        storage=url,
        job_name="curves",
        early_stopping="asha",
    )
    return url


def test_read_curves_returns_the_stored_curves(stored_job: str) -> None:
    """Storage keeps every reported value, including those of a trial stopped early."""
    frame = read_curves(Storage(stored_job), "curves")
    assert frame.groupby("number")["step"].max().tolist() == [9, 1, 9]
    assert frame.query("number == 1")["state"].tolist() == ["stopped_early"]
    stopped = read_curves(Storage(stored_job), "curves", states=[TrialState.STOPPED_EARLY])
    assert set(stopped["number"]) == {1}


def test_cli_trials_curves_in_every_format(stored_job: str) -> None:
    """`tuneforge trials JOB --curves` prints the long table as a table, CSV or JSON."""
    runner = CliRunner()
    base = ["trials", "curves", "--curves", "--storage", stored_job]
    as_json = runner.invoke(app, [*base, "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    records = json.loads(as_json.output)
    assert len(records) == 19 and set(records[0]) == set(CURVE_COLUMNS)
    assert records[9] == {**records[9], "number": 1, "state": "stopped_early", "step": 1}
    as_csv = runner.invoke(app, [*base, "--format", "csv", "--state", "stopped_early"])
    assert as_csv.output.splitlines()[0] == "number,state,metric,step,value,time"
    assert len(as_csv.output.splitlines()) == 2
    table = runner.invoke(app, [*base, "--limit", "3"])
    assert table.exit_code == 0 and "Learning curves of curves" in table.output
    refused = runner.invoke(app, [*base, "--sort", "value"])
    assert refused.exit_code == 2 and "--sort: not available with --curves" in refused.output
