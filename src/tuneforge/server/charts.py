"""The job page's charts: plain data first (NamedTuples, tested as data), then Plotly figures.

Each chart has a ``*_data`` function that reads :class:`~tuneforge.storage.queries.TrialPoint`
values (or metric series) and returns a NamedTuple of plain lists, and a ``*_figure``
function that turns that into a Plotly figure as a JSON-ready dict (``{"data": [...],
"layout": {...}}``), which the page hands to ``Plotly.newPlot``. Figures are built as dicts,
not ``plotly.graph_objects``, because validating 10,000-point traces costs more than the
whole request may take; the tests check that Plotly accepts them.

* optimization history: each completed trial's value and the best value so far;
* parallel coordinates: one line per completed trial across the parameters and the value
  (categorical values as numbered ticks, log-scaled parameters as log10), at most
  :data:`MAX_PARALLEL_LINES` of them (the best fifth and a sample of the rest);
* parameter importance: a random forest's impurity importances on the completed trials
  (one-hot columns of a categorical parameter summed back into it; a conditional
  parameter's absence is a missing value, which scikit-learn's forests split on); empty
  below :data:`MIN_IMPORTANCE_TRIALS` completed trials;
* slices: one scatter per parameter of value against that parameter;
* learning curves: the intermediate objective of every trial over its steps, the trials
  stopped early drawn dashed and marked where they stopped.

Non-finite numbers become ``None`` (JSON has no NaN), so a figure always serialises.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from tuneforge.space import SpaceRecord
from tuneforge.storage.queries import TrialPoint
from tuneforge.trial import Direction, TrialState

#: Fewer completed trials than this give no importance chart: a forest on four points says nothing.
MIN_IMPORTANCE_TRIALS = 5
#: The importance forest learns from at most this many completed trials (a seeded sample).
MAX_IMPORTANCE_TRIALS = 1000
#: Learning curves drawn at most (the most recent trials); more lines are unreadable anyway.
MAX_CURVES = 300
#: Parallel-coordinate lines drawn at most: thousands take seconds to draw and read as a blur.
MAX_PARALLEL_LINES = 1000
#: Scatter plots with more points than this are drawn with WebGL (SVG gets slow).
WEBGL_ABOVE = 1000

Figure = dict[str, Any]
_HEIGHT = 360
_STOPPED_EARLY = "#d62728"
_CURVE = "rgba(31, 119, 180, 0.55)"


class HistoryData(NamedTuple):
    """Completed trials with a finite value, in number order, and the best value so far."""

    numbers: list[int]
    values: list[float]
    best: list[float]
    direction: str


class Dimension(NamedTuple):
    """One axis of the parallel-coordinates chart.

    ``values`` are what is plotted (codes for categories, log10 for log parameters, NaN
    where a trial lacks the parameter); ``ticktext``/``tickvals`` label category codes.
    """

    name: str
    values: list[float]
    ticktext: list[str] | None
    tickvals: list[float] | None
    log: bool


class ParallelData(NamedTuple):
    """Lines of the chart; ``n_completed`` counts every completed trial, drawn or not."""

    numbers: list[int]
    dimensions: list[Dimension]
    values: list[float]
    objective: str
    n_completed: int


class ImportanceData(NamedTuple):
    """Parameters by importance, most important first; ``n_trials`` fed the forest."""

    names: list[str]
    importances: list[float]
    n_trials: int


class Slice(NamedTuple):
    """Value against one parameter for the completed trials that have it."""

    name: str
    x: list[Any]
    y: list[float]
    numbers: list[int]
    categorical: bool
    log: bool


class Curve(NamedTuple):
    number: int
    state: TrialState
    steps: list[int]
    values: list[float]

    @property
    def stopped_early(self) -> bool:
        return self.state is TrialState.STOPPED_EARLY


class CurvesData(NamedTuple):
    """Learning curves of ``metric``; ``n_trials`` is how many trials the job has in all."""

    metric: str
    curves: list[Curve]
    n_trials: int


# --------------------------------------------------------------------------------- data


def completed(points: Sequence[TrialPoint]) -> list[TrialPoint]:
    """The completed trials with a finite value (what every value chart plots)."""
    return [
        p
        for p in points
        if p.state is TrialState.COMPLETED and p.value is not None and math.isfinite(p.value)
    ]


def history_data(points: Sequence[TrialPoint], direction: str) -> HistoryData:
    """``direction`` is ``minimize`` or ``maximize`` (a :class:`~tuneforge.trial.Direction`)."""
    better = Direction.parse(direction).is_better
    done = sorted(completed(points), key=lambda p: p.number)
    values = [float(p.value) for p in done if p.value is not None]
    best: list[float] = []
    for value in values:
        best.append(value if not best or better(value, best[-1]) else best[-1])
    return HistoryData([p.number for p in done], values, best, direction)


def parameter_names(points: Sequence[TrialPoint]) -> list[str]:
    """Every parameter of the trials, in first-seen order."""
    names: dict[str, None] = {}
    for point in points:
        names.update(dict.fromkeys(point.params))
    return list(names)


def is_numeric(values: Sequence[Any]) -> bool:
    """True when every present value is a number (booleans are categories)."""
    present = [v for v in values if v is not None]
    return bool(present) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in present
    )


def parallel_data(
    points: Sequence[TrialPoint],
    objective: str,
    log_params: Sequence[str] = (),
    *,
    direction: str = Direction.MINIMIZE,
    max_lines: int = MAX_PARALLEL_LINES,
    seed: int = 0,
) -> ParallelData:
    """One line per completed trial; beyond ``max_lines``, the best fifth of them plus a
    seeded sample of the rest (in number order), so the good region stays fully drawn."""
    done = completed(points)
    n_completed = len(done)
    if n_completed > max_lines:
        sign = Direction.parse(direction).sign
        ranked = sorted(done, key=lambda p: sign * float(p.value or 0.0))
        n_best = max_lines // 5
        rest = ranked[n_best:]
        rng = np.random.default_rng(seed)
        picked = rng.choice(len(rest), size=max_lines - n_best, replace=False).tolist()
        done = sorted(ranked[:n_best] + [rest[i] for i in picked], key=lambda p: p.number)
    dimensions = []
    for name in parameter_names(done):
        raw = [p.params.get(name) for p in done]
        if is_numeric(raw):
            log = name in log_params and all(v is None or float(v) > 0 for v in raw)
            values = [
                math.nan if v is None else (math.log10(float(v)) if log else float(v)) for v in raw
            ]
            dimensions.append(Dimension(name, values, None, None, log))
        else:
            categories = sorted({str(v) for v in raw if v is not None})
            codes = {category: float(i) for i, category in enumerate(categories)}
            values = [math.nan if v is None else codes[str(v)] for v in raw]
            dimensions.append(Dimension(name, values, categories, list(codes.values()), False))
    return ParallelData(
        [p.number for p in done],
        dimensions,
        [float(p.value) for p in done if p.value is not None],
        objective,
        n_completed,
    )


def importance_data(
    points: Sequence[TrialPoint],
    *,
    min_trials: int = MIN_IMPORTANCE_TRIALS,
    max_trials: int = MAX_IMPORTANCE_TRIALS,
    seed: int = 0,
) -> ImportanceData:
    """Random-forest importances of the parameters for the value, summing to 1.

    Empty below ``min_trials`` completed trials, or when no parameter varies. When the
    value is the same for every trial, every importance is 0.
    """
    done = completed(points)
    names = [
        name
        for name in parameter_names(done)
        if len({repr(p.params.get(name)) for p in done}) > 1  # a constant explains nothing
    ]
    if len(done) < min_trials or not names:
        return ImportanceData([], [], len(done))
    if len(done) > max_trials:
        rng = np.random.default_rng(seed)
        chosen = sorted(rng.choice(len(done), size=max_trials, replace=False).tolist())
        done = [done[i] for i in chosen]
    columns: list[np.ndarray] = []
    owners: list[int] = []
    for index, name in enumerate(names):
        raw = [p.params.get(name) for p in done]
        if is_numeric(raw):
            columns.append(np.array([np.nan if v is None else float(v) for v in raw]))
            owners.append(index)
        else:
            for category in sorted({repr(v) for v in raw if v is not None}):
                columns.append(np.array([float(repr(v) == category) for v in raw]))
                owners.append(index)
    features = np.column_stack(columns)
    target = np.array([float(p.value) for p in done if p.value is not None])
    if float(np.ptp(target)) == 0.0:
        return ImportanceData(names, [0.0] * len(names), len(done))

    from sklearn.ensemble import RandomForestRegressor  # imported on use: it is slow to load

    # 32 trees on at most 1,000 trials: stable rankings, and fast enough to redo each time a
    # trial of a running job finishes.
    forest = RandomForestRegressor(n_estimators=32, min_samples_leaf=2, random_state=seed, n_jobs=1)
    forest.fit(features, target)
    totals = np.zeros(len(names))
    np.add.at(totals, owners, forest.feature_importances_)
    total = float(totals.sum())
    shares = (totals / total) if total > 0 else totals
    ranked = sorted(zip(names, shares.tolist(), strict=True), key=lambda item: -item[1])
    return ImportanceData([n for n, _ in ranked], [float(s) for _, s in ranked], len(done))


def slice_data(points: Sequence[TrialPoint], log_params: Sequence[str] = ()) -> list[Slice]:
    done = completed(points)
    slices = []
    for name in parameter_names(done):
        having = [p for p in done if p.params.get(name) is not None]
        raw = [p.params[name] for p in having]
        numeric = is_numeric(raw)
        log = numeric and name in log_params and all(float(v) > 0 for v in raw)
        slices.append(
            Slice(
                name,
                raw if numeric else [str(v) for v in raw],
                [float(p.value) for p in having if p.value is not None],
                [p.number for p in having],
                not numeric,
                log,
            )
        )
    return slices


def curves_data(
    series: Mapping[int, Sequence[tuple[int, float]]],
    states: Mapping[int, TrialState],
    metric: str,
    n_trials: int,
) -> CurvesData:
    """One curve per trial that reported ``metric``, in number order."""
    curves = [
        Curve(
            number,
            states.get(number, TrialState.PENDING),
            [step for step, _ in steps],
            [value for _, value in steps],
        )
        for number, steps in sorted(series.items())
        if steps
    ]
    return CurvesData(metric, curves, n_trials)


# ------------------------------------------------------------------------------ figures


def history_figure(data: HistoryData, objective: str) -> Figure:
    return {
        "data": [
            {
                "type": _scatter_type(len(data.numbers)),
                "mode": "markers",
                "name": objective,
                "x": data.numbers,
                "y": _finite_list(data.values),
                "marker": {"size": 6, "color": "#1f77b4"},
                "hovertemplate": "trial %{x}<br>" + _escape(objective) + " %{y:.6g}<extra></extra>",
            },
            {
                "type": _scatter_type(len(data.numbers)),
                "mode": "lines",
                "name": "best so far",
                "x": data.numbers,
                "y": _finite_list(data.best),
                "line": {"shape": "hv", "color": "#ff7f0e", "width": 2},
            },
        ],
        "layout": _layout(
            f"Optimization history ({data.direction} {objective})",
            xaxis={"title": {"text": "trial"}},
            yaxis={"title": {"text": objective}},
            legend={"orientation": "h", "x": 0, "y": -0.25},
        ),
    }


def parallel_figure(data: ParallelData) -> Figure:
    dimensions: list[dict[str, Any]] = []
    for dim in data.dimensions:
        entry: dict[str, Any] = {
            "label": f"log10 {dim.name}" if dim.log else dim.name,
            "values": _finite_list(dim.values),
        }
        if dim.ticktext is not None:
            entry["tickvals"] = dim.tickvals
            entry["ticktext"] = dim.ticktext
        dimensions.append(entry)
    dimensions.append({"label": data.objective, "values": _finite_list(data.values)})
    title = "Parallel coordinates"
    if len(data.numbers) < data.n_completed:
        title += (
            f" ({len(data.numbers)} of {data.n_completed} completed trials: the best "
            f"{len(data.numbers) // 5} and a random sample of the rest)"
        )
    return {
        "data": [
            {
                "type": "parcoords",
                "line": {
                    "color": _finite_list(data.values),
                    "colorscale": "Viridis",
                    "showscale": True,
                },
                "dimensions": dimensions,
            }
        ],
        "layout": _layout(title, margin={"l": 60, "r": 60, "t": 80, "b": 30}),
    }


def importance_figure(data: ImportanceData) -> Figure:
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "x": list(reversed(data.importances)),
                "y": list(reversed(data.names)),
                "marker": {"color": "#2ca02c"},
                "hovertemplate": "%{y}: %{x:.3f}<extra></extra>",
            }
        ],
        "layout": _layout(
            f"Parameter importance (random forest on {data.n_trials} completed trials)",
            xaxis={"title": {"text": "share of importance"}, "range": [0, 1]},
            margin={"l": 140, "r": 20, "t": 50, "b": 50},
        ),
    }


def slice_figure(data: Slice, objective: str) -> Figure:
    xaxis: dict[str, Any] = {"title": {"text": data.name}}
    if data.log:
        xaxis["type"] = "log"
    elif data.categorical:
        xaxis["type"] = "category"
        xaxis["categoryorder"] = "category ascending"
    return {
        "data": [
            {
                "type": _scatter_type(len(data.x)),
                "mode": "markers",
                "x": data.x,
                "y": _finite_list(data.y),
                "customdata": data.numbers,
                "marker": {
                    "size": 7,
                    "color": data.numbers,
                    "colorscale": "Blues",
                    "showscale": True,
                    "colorbar": {"title": {"text": "trial"}},
                },
                "hovertemplate": "trial %{customdata}<br>%{x}: %{y:.6g}<extra></extra>",
            }
        ],
        "layout": _layout(
            f"{objective} against {data.name}",
            xaxis=xaxis,
            yaxis={"title": {"text": objective}},
        ),
    }


def curves_figure(data: CurvesData) -> Figure:
    """All curves in two traces (others, stopped early), each curve ending in a gap.

    One trace per trial would be clearer to hover but costs the browser a second or more
    for a few hundred trials; a gap (``None``) between curves draws the same picture.
    """
    traces: list[dict[str, Any]] = []
    for early, name, color, dash in (
        (False, "trials", _CURVE, "solid"),
        (True, "stopped early", _STOPPED_EARLY, "dot"),
    ):
        chosen = [c for c in data.curves if c.stopped_early is early]
        if not chosen:
            continue
        x: list[int | None] = []
        y: list[Any] = []
        numbers: list[int | None] = []
        for curve in chosen:
            x += [*curve.steps, None]
            y += [*_finite_list(curve.values), None]
            numbers += [curve.number] * len(curve.steps) + [None]
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": name,
                "x": x,
                "y": y,
                "customdata": numbers,
                "line": {"color": color, "width": 1.5, "dash": dash},
                "hovertemplate": "trial %{customdata}<br>step %{x}: %{y:.6g}<extra>"
                + name
                + "</extra>",
            }
        )
    stopped = [c for c in data.curves if c.stopped_early and c.steps]
    if stopped:
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "stopped here",
                "x": [c.steps[-1] for c in stopped],
                "y": _finite_list([c.values[-1] for c in stopped]),
                "customdata": [c.number for c in stopped],
                "marker": {"symbol": "x", "size": 9, "color": _STOPPED_EARLY},
                "hovertemplate": "trial %{customdata} stopped early<extra></extra>",
            }
        )
    title = f"Learning curves of {data.metric}"
    if len(data.curves) < data.n_trials:
        title += f" ({len(data.curves)} of {data.n_trials} trials)"
    if stopped:
        title += f"; {len(stopped)} stopped early (red)"
    return {
        "data": traces,
        "layout": _layout(
            title,
            xaxis={"title": {"text": "step"}},
            yaxis={"title": {"text": data.metric}},
            legend={"orientation": "h", "x": 0, "y": -0.25},
        ),
    }


def log_parameters(space: SpaceRecord) -> list[str]:
    """Names of the parameters of a job's space that are log-scaled (given log axes)."""
    return space.log_parameters


def _scatter_type(n_points: int) -> str:
    return "scattergl" if n_points > WEBGL_ABOVE else "scatter"


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": _escape(title), "font": {"size": 14}},
        "height": _HEIGHT,
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "hovermode": "closest",
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
    }
    layout.update(extra)
    for axis in ("xaxis", "yaxis"):
        if axis in layout:
            layout[axis] = {"gridcolor": "#e5e5e5", "zerolinecolor": "#cccccc", **layout[axis]}
    return layout


def _finite_list(values: Sequence[Any]) -> list[Any]:
    return [
        None
        if v is None or (isinstance(v, float) and not math.isfinite(v))
        else (float(v) if isinstance(v, np.floating) else v)
        for v in values
    ]


def _escape(text: str) -> str:
    """Plotly titles and hover templates render a subset of HTML; names are shown as text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
