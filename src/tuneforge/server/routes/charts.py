"""The chart route: a job's charts as Plotly figures, built from :mod:`tuneforge.server.charts`.

Figures are cached by the storage's fingerprint, as JSON bytes: serialising a
10,000-point figure costs as much as building it, and the page asks for every chart at
once, each time a trial of a running job finishes.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from tuneforge.results import job_space
from tuneforge.server import charts
from tuneforge.server.context import ApiContext, Context
from tuneforge.server.schemas import ChartName, ChartOut
from tuneforge.storage.queries import TrialPoint

router = APIRouter()


@router.get(
    "/jobs/{job}/charts/{chart}",
    response_model=ChartOut,
    summary="A chart of the job as Plotly figures",
)
def chart(ctx: Context, job: str, chart: ChartName) -> Response:
    record = ctx.storage.get_job(job)
    events, values = ctx.queries.fingerprint()
    # Curves change with every metric value; the others only when a trial changes state.
    stamp = (events, values) if chart is ChartName.curves else (events,)
    content = ctx.cache.get(
        (job, chart.value, stamp),
        lambda: _json_bytes(_chart(ctx, record.name, chart, events)),
    )
    return Response(content, media_type="application/json")


def _chart(ctx: ApiContext, job: str, chart: ChartName, events: int) -> dict[str, Any]:
    record = ctx.storage.get_job(job)
    points: list[TrialPoint] = ctx.cache.get(
        ("points", job, events), lambda: ctx.queries.trial_points(job)
    )
    objective, direction = record.objective, record.direction
    log_params = charts.log_parameters(job_space(record))
    figures: list[dict[str, Any]] = []
    note: str | None = None
    n_done = len(charts.completed(points))
    if chart is ChartName.curves:
        numbers = [p.number for p in points][-charts.MAX_CURVES :]
        series = ctx.queries.series(job, objective, numbers)
        data = charts.curves_data(
            series, {p.number: p.state for p in points}, objective, len(points)
        )
        if data.curves:
            figures.append(charts.curves_figure(data))
        else:
            note = f"No trial has reported {objective} yet."
    elif n_done == 0:
        note = "No trial has completed with a value yet."
    elif chart is ChartName.history:
        figures.append(charts.history_figure(charts.history_data(points, direction), objective))
    elif chart is ChartName.parallel:
        lines = charts.parallel_data(points, objective, log_params, direction=direction)
        figures.append(charts.parallel_figure(lines))
    elif chart is ChartName.importance:
        importance = charts.importance_data(points)
        if importance.names:
            figures.append(charts.importance_figure(importance))
        else:
            note = (
                f"Parameter importance needs at least {charts.MIN_IMPORTANCE_TRIALS} completed "
                f"trials and a parameter that varies; the job has {n_done} completed."
            )
    else:
        figures.extend(
            charts.slice_figure(s, objective) for s in charts.slice_data(points, log_params)
        )
    return {"name": chart.value, "figures": figures, "note": note}


def _json_bytes(content: Any) -> bytes:
    return json.dumps(content, allow_nan=False, separators=(",", ":")).encode()
