"""Routes of a job's trials: a sorted, filtered page of them, one trial, its stop, its series."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from tuneforge.errors import ConfigError
from tuneforge.results import resolve_sort_key
from tuneforge.server.context import Context, TrialNumber, check_write
from tuneforge.server.files import log_size
from tuneforge.server.schemas import (
    PointOut,
    SeriesOut,
    StopOut,
    TrialDetailOut,
    TrialPageOut,
    finite,
    stop_out,
    trial_out,
)
from tuneforge.steering import request_stop
from tuneforge.storage.queries import TRIAL_SORT_KEYS
from tuneforge.trial import TrialState

#: Largest page of trials one request may ask for.
MAX_PAGE = 1000

router = APIRouter()


@router.get(
    "/jobs/{job}/trials",
    response_model=TrialPageOut,
    summary="One page of the job's trials, filtered by state and sorted",
)
def list_trials(
    ctx: Context,
    job: str,
    sort: Annotated[
        str,
        Query(
            description="number, value, state, started_at, finished_at, duration, origin, "
            "params.<name> or metrics.<name> (a bare parameter or metric name works too)."
        ),
    ] = "number",
    order: Annotated[Literal["asc", "desc"], Query()] = "asc",
    state: Annotated[
        list[str] | None,
        Query(description="Only trials in these states (repeat, or separate by commas)."),
    ] = None,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> TrialPageOut:
    states = parse_states(state)
    events, values = ctx.queries.fingerprint()
    params, metrics = ctx.cache.get(
        ("columns", job, events, values), lambda: ctx.queries.trial_columns(job)
    )
    sortable = [
        *TRIAL_SORT_KEYS,
        *(f"params.{name}" for name in params),
        *(f"metrics.{name}" for name in metrics),
    ]
    key = resolve_sort_key(sort, sortable, field="sort")
    page = ctx.queries.trial_page(
        job, states=states, sort=key, descending=order == "desc", offset=offset, limit=limit
    )
    return TrialPageOut(
        total=page.total,
        offset=offset,
        limit=limit,
        sort=key,
        order=order,
        states=None if states is None else [s.value for s in states],
        params=params,
        metrics=metrics,
        trials=[trial_out(t) for t in page.trials],
    )


@router.get("/jobs/{job}/trials/{number}", response_model=TrialDetailOut, summary="A trial")
def get_trial(ctx: Context, job: str, number: TrialNumber) -> TrialDetailOut:
    trial = ctx.storage.get_trial(job, number)
    return TrialDetailOut(
        **trial_out(trial).model_dump(),
        job=job,
        log_tail=trial.log_tail,
        log_size=log_size(trial.trial_dir),
        active=trial.state.is_active(),
    )


@router.post(
    "/jobs/{job}/trials/{number}/stop",
    response_model=StopOut,
    dependencies=[Depends(check_write)],
    summary="Ask the job's controller to stop one trial",
)
def stop_trial(ctx: Context, job: str, number: TrialNumber) -> StopOut:
    request_stop(ctx.storage, job, number)
    return stop_out(job, number)


@router.get(
    "/jobs/{job}/trials/{number}/metrics",
    response_model=SeriesOut,
    summary="A trial's metric series (every metric, or one)",
)
def trial_metrics(
    ctx: Context, job: str, number: TrialNumber, metric: str | None = None
) -> SeriesOut:
    series: dict[str, list[PointOut]] = {}
    for obs in ctx.storage.metric_series(job, number, metric):
        point = PointOut(step=obs.step, value=finite(obs.value), time=obs.time)
        series.setdefault(obs.metric, []).append(point)
    return SeriesOut(job=job, trial=number, series=series)


def parse_states(values: list[str] | None) -> list[TrialState] | None:
    """``?state=completed&state=failed`` or ``?state=completed,failed``; empty means all."""
    if not values:
        return None
    states: list[TrialState] = []
    for value in values:
        for part in value.split(","):
            if part.strip():
                try:
                    states.append(TrialState.parse(part))
                except ValueError as exc:
                    raise ConfigError(f"state: {exc}") from None
    return states or None
