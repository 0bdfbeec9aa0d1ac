"""Chart data first (plain NamedTuples), then the Plotly figures built from it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest

from tuneforge.server import charts
from tuneforge.space import SpaceRecord, load_space_file, space_from_mapping
from tuneforge.storage.queries import TrialPoint
from tuneforge.trial import TrialState

C = TrialState.COMPLETED


def point(number: int, value: float | None, state: TrialState = C, **params: object) -> TrialPoint:
    return TrialPoint(number, state, value, dict(params))


def test_history_tracks_the_best_so_far_for_either_direction() -> None:
    """Completed finite values in number order, with the running min (or max)."""
    points = [
        point(0, 3.0),
        point(1, None, TrialState.FAILED),
        point(2, 1.0),
        point(3, math.inf),
        point(4, 2.0),
        point(5, 0.5, TrialState.STOPPED_EARLY),
    ]
    low = charts.history_data(points, "minimize")
    assert (low.numbers, low.values, low.best) == ([0, 2, 4], [3.0, 1.0, 2.0], [3.0, 1.0, 1.0])
    high = charts.history_data(points, "maximize")
    assert high.best == [3.0, 3.0, 3.0]


def test_parallel_codes_categories_and_logs_log_parameters() -> None:
    """Categories become sorted codes with tick labels; log parameters are shown as log10."""
    points = [
        point(0, 1.0, lr=0.001, opt="sgd"),
        point(1, 2.0, lr=0.1, opt="adam"),
        point(2, 3.0, lr=0.01),  # opt inactive in this trial
    ]
    data = charts.parallel_data(points, "loss", log_params=["lr"])
    lr, opt = data.dimensions
    assert lr.log and lr.values == pytest.approx([-3.0, -1.0, -2.0])
    assert opt.ticktext == ["adam", "sgd"] and opt.tickvals == [0.0, 1.0]
    assert opt.values[:2] == [1.0, 0.0] and math.isnan(opt.values[2])
    assert data.values == [1.0, 2.0, 3.0]
    figure = charts.parallel_figure(data)
    assert figure["data"][0]["dimensions"][0]["label"] == "log10 lr"
    assert figure["data"][0]["dimensions"][1]["values"][2] is None


def test_parallel_keeps_the_best_lines_and_a_sample_of_the_rest() -> None:
    """Beyond max_lines: the best fifth always, a seeded sample of the rest, number order."""
    points = [point(n, float(n), x=n / 100) for n in range(100)]
    data = charts.parallel_data(points, "loss", max_lines=20, direction="maximize")
    assert len(data.numbers) == 20 and data.n_completed == 100
    assert set(range(96, 100)) <= set(data.numbers) and data.numbers == sorted(data.numbers)
    assert data == charts.parallel_data(points, "loss", max_lines=20, direction="maximize")
    title = charts.parallel_figure(data)["layout"]["title"]["text"]
    assert "20 of 100 completed trials" in title
    low = charts.parallel_data(points, "loss", max_lines=20)
    assert set(range(4)) <= set(low.numbers)


def test_importance_ranks_the_parameter_that_drives_the_value_first() -> None:
    """A value that depends on x only gives x most of the importance; shares sum to 1."""
    rng = np.random.default_rng(0)
    points = []
    for n in range(60):
        x, noise = float(rng.uniform()), float(rng.uniform())
        kind = ["a", "b", "c"][n % 3]
        points.append(point(n, (x - 0.5) ** 2 * 10, x=x, noise=noise, kind=kind))
    data = charts.importance_data(points)
    assert data.names[0] == "x" and set(data.names) == {"x", "noise", "kind"}
    assert data.importances[0] > 0.6
    assert sum(data.importances) == pytest.approx(1.0)
    assert data.n_trials == 60


def test_importance_is_empty_below_five_completed_trials_and_zero_for_a_flat_value() -> None:
    """Four trials say nothing; a constant value makes every importance 0."""
    few = [point(n, float(n), x=n / 10) for n in range(4)]
    assert charts.importance_data(few).names == []
    failed = few + [point(4, None, TrialState.FAILED, x=0.9)]
    assert charts.importance_data(failed).names == []
    flat = [point(n, 1.0, x=n / 10, y=n % 2) for n in range(8)]
    data = charts.importance_data(flat)
    assert data.importances == [0.0, 0.0]


def test_importance_handles_conditional_parameters_and_drops_constants() -> None:
    """A parameter missing in some trials is a missing value; a constant is left out."""
    points = [
        point(n, float(n % 4), depth=n % 4, momentum=(0.9 if n % 2 else None), fixed=1)
        for n in range(20)
    ]
    data = charts.importance_data(points)
    assert set(data.names) == {"depth", "momentum"}
    assert data.names[0] == "depth"


def test_importance_samples_large_jobs() -> None:
    """Beyond max_trials completed trials the forest learns from a seeded sample."""
    points = [point(n, float(n % 7), x=float(n % 7)) for n in range(50)]
    data = charts.importance_data(points, max_trials=20)
    assert data.n_trials == 20 and data.names == ["x"]


def test_slices_give_one_plot_per_parameter_with_only_the_trials_that_have_it() -> None:
    """A conditional parameter's slice holds the trials where it was active."""
    points = [
        point(0, 1.0, lr=0.01, opt="sgd", momentum=0.9),
        point(1, 2.0, lr=0.1, opt="adam"),
        point(2, None, TrialState.FAILED, lr=0.5, opt="adam"),
    ]
    slices = {s.name: s for s in charts.slice_data(points, log_params=["lr"])}
    assert set(slices) == {"lr", "opt", "momentum"}
    assert slices["lr"].log and slices["lr"].x == [0.01, 0.1]
    assert slices["opt"].categorical and slices["opt"].x == ["sgd", "adam"]
    assert slices["momentum"].numbers == [0]
    figure = charts.slice_figure(slices["lr"], "loss")
    assert figure["layout"]["xaxis"]["type"] == "log"
    assert charts.slice_figure(slices["opt"], "loss")["layout"]["xaxis"]["type"] == "category"


def test_curves_mark_the_trials_stopped_early() -> None:
    """Stopped-early curves are dashed and get an x where they stopped; the title counts."""
    series = {0: [(0, 1.0), (1, 0.5)], 1: [(0, 2.0)], 2: []}
    states = {0: C, 1: TrialState.STOPPED_EARLY, 2: TrialState.RUNNING}
    data = charts.curves_data(series, states, "loss", n_trials=5)
    assert [c.number for c in data.curves] == [0, 1]
    assert [c.stopped_early for c in data.curves] == [False, True]
    figure = charts.curves_figure(data)
    others, early, marks = figure["data"]
    assert others["x"] == [0, 1, None] and others["customdata"] == [0, 0, None]
    assert early["line"]["dash"] == "dot" and early["name"] == "stopped early"
    assert early["y"] == [2.0, None]
    assert marks["x"] == [0] and marks["y"] == [2.0] and marks["customdata"] == [1]
    assert "2 of 5 trials" in figure["layout"]["title"]["text"]


def test_large_scatters_use_webgl() -> None:
    """Above WEBGL_ABOVE points the history and slices switch to scattergl."""
    many = [point(n, float(n), x=n / 2000) for n in range(charts.WEBGL_ABOVE + 1)]
    history = charts.history_figure(charts.history_data(many, "minimize"), "loss")
    assert {trace["type"] for trace in history["data"]} == {"scattergl"}
    (slice_,) = charts.slice_data(many)
    assert charts.slice_figure(slice_, "loss")["data"][0]["type"] == "scattergl"
    few = charts.history_figure(charts.history_data(many[:10], "minimize"), "loss")
    assert {trace["type"] for trace in few["data"]} == {"scatter"}


def test_log_parameters_come_from_the_job_space_whatever_its_source(tmp_path: Path) -> None:
    """log-scaled parameters are read from the job's space: a job file's parameters,
    optimize()'s space, and a parameters_file (here PCS) the document does not spell out."""
    job_file = space_from_mapping(
        {
            "lr": {"type": "float", "low": 1e-5, "high": 0.1, "log": True},
            "n": {"type": "int", "low": 1, "high": 8},
        }
    )
    assert charts.log_parameters(SpaceRecord.from_space(job_file)) == ["lr"]
    optimize = {"parameters": {"c": {"type": "float", "low": 0.1, "high": 10.0, "log": True}}}
    assert charts.log_parameters(SpaceRecord.from_dict(optimize)) == ["c"]
    (tmp_path / "space.pcs").write_text("lr real [1e-5, 0.1] [1e-3] log\nn integer [1, 8] [4]\n")
    from_file = load_space_file(tmp_path / "space.pcs")
    assert charts.log_parameters(SpaceRecord.from_space(from_file)) == ["lr"]


def test_figures_are_valid_plotly_and_json_with_non_finite_values() -> None:
    """Every figure passes Plotly's own validation and serialises as strict JSON."""
    points = [
        point(n, float(n % 5) if n != 3 else math.nan, x=n / 10, opt=["a", "b"][n % 2])
        for n in range(10)
    ]
    figures = [
        charts.history_figure(charts.history_data(points, "minimize"), "loss <b>"),
        charts.parallel_figure(charts.parallel_data(points, "loss")),
        charts.importance_figure(charts.importance_data(points)),
        *(charts.slice_figure(s, "loss") for s in charts.slice_data(points)),
        charts.curves_figure(
            charts.curves_data({0: [(0, math.nan), (1, 1.0)]}, {0: C}, "loss", n_trials=1)
        ),
    ]
    for figure in figures:
        go.Figure(figure)  # raises on any invalid property
        json.dumps(figure, allow_nan=False)
    assert "&lt;b&gt;" in figures[0]["layout"]["title"]["text"]
