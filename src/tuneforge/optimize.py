"""``tuneforge.optimize``: tune a Python function in-process, with the same controller,
strategies and storage as command jobs.

Example:
    >>> import tuneforge as tf
    >>> result = tf.optimize(lambda p: (p["x"] - 2) ** 2, {"x": tf.Float(-5, 5)},
    ...                      max_trials=20, seed=0)
    >>> round(result.best.params["x"])
    2
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tuneforge.controller import Controller, Progress
from tuneforge.errors import ConfigError
from tuneforge.events import MetricObserved, StopSignal, TrialOutcome, TrialStarted
from tuneforge.executors.base import Emit, Work
from tuneforge.executors.local import LocalExecutor
from tuneforge.results.table import best_trial
from tuneforge.space import Parameter, SearchSpace
from tuneforge.storage import Storage
from tuneforge.strategies.base import make_strategy
from tuneforge.trial import Observation, Trial, TrialState

Objective = Callable[[dict[str, Any]], float | Mapping[str, float]]
DIRECTIONS = ("minimize", "maximize")


@dataclass(frozen=True)
class OptimizeResult:
    """What ``optimize`` returns: every trial in evaluation order, and the best one."""

    job_name: str
    direction: str
    trials: list[Trial]
    storage_url: str

    @property
    def best(self) -> Trial | None:
        """The best completed trial, or ``None`` when no trial completed."""
        return best_trial(self.trials, self.direction)


def as_search_space(space: SearchSpace | Mapping[str, Any]) -> SearchSpace:
    """Accept a ``SearchSpace`` or a dict of name -> parameter (other values are static)."""
    if isinstance(space, SearchSpace):
        return space
    if not isinstance(space, Mapping):
        raise ConfigError(
            f"space: expected a dict of name -> Float/Int/Categorical or a SearchSpace, "
            f"got {type(space).__name__}."
        )
    parameters = {k: v for k, v in space.items() if isinstance(v, Parameter)}
    static = {k: v for k, v in space.items() if not isinstance(v, Parameter)}
    return SearchSpace(parameters, static=static)


def _function_work(objective: Objective, number: int, params: dict[str, Any], metric: str) -> Work:
    def work(emit: Emit, stop: StopSignal) -> TrialOutcome:
        emit(TrialStarted(number, time.time()))
        result = objective(dict(params))
        now = time.time()
        if isinstance(result, Mapping):
            values = {str(k): float(v) for k, v in result.items()}
            if metric not in values:
                return TrialOutcome(
                    TrialState.FAILED,
                    metrics=values,
                    reason=f"the objective returned {sorted(values)} without the metric {metric!r}",
                )
        else:
            values = {metric: float(result)}
        for name, value in values.items():
            emit(MetricObserved(number, Observation(name, value, 0, now)))
        value = values[metric]
        if not math.isfinite(value):
            return TrialOutcome(
                TrialState.FAILED, metrics=values, reason=f"the objective returned {value}"
            )
        return TrialOutcome(TrialState.COMPLETED, value=value, metrics=values)

    return work


def optimize(
    objective: Objective,
    space: SearchSpace | Mapping[str, Any],
    *,
    strategy: str = "random",
    max_trials: int,
    direction: str = "minimize",
    seed: int | None = None,
    storage: str | Storage | None = None,
    n_jobs: int = 1,
    job_name: str | None = None,
    strategy_options: Mapping[str, Any] | None = None,
    metric: str = "value",
    enqueue: Sequence[Mapping[str, Any]] = (),
    max_failures: int | None = None,
    time_limit: float | None = None,
    resume: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
) -> OptimizeResult:
    """Minimize (or maximize) ``objective(params) -> float`` over ``space``.

    ``objective`` may also return a dict of metrics, of which ``metric`` is the one to
    optimize. An exception in the objective fails that trial, not the run. ``storage``
    is a URL (``sqlite:///file.db``) or a ``Storage``; by default an in-memory database.
    ``n_jobs`` trials run at once, in threads. ``resume=True`` continues an existing job
    of the same name instead of refusing it.
    """
    if direction not in DIRECTIONS:
        raise ConfigError(f"direction: expected 'minimize' or 'maximize', got {direction!r}.")
    for name, value in (("max_trials", max_trials), ("n_jobs", n_jobs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name}: must be an int >= 1, got {value!r}.")
    search_space = as_search_space(space)
    chosen = make_strategy(strategy, search_space, seed=seed, options=strategy_options)
    queued = [search_space.check(config) for config in enqueue]
    store = storage if isinstance(storage, Storage) else Storage(storage or "sqlite://")
    name = job_name or f"optimize-{uuid.uuid4().hex[:8]}"
    document = {
        "name": name,
        "source": "tuneforge.optimize",
        "strategy": strategy,
        "strategy_options": dict(strategy_options or {}),
        "seed": seed,
        "space": search_space.to_dict(),
        "objective": {"metric": metric, "direction": direction},
    }
    if resume and name in {job.name for job in store.list_jobs()}:
        store.get_job(name)
    else:
        store.create_job(
            name,
            document=document,
            base_dir="",
            objective=metric,
            direction=direction,
            strategy=strategy,
            max_trials=max_trials,
            output_dir=None,
        )

    def make_work(number: int, params: Mapping[str, Any]) -> Work:
        return _function_work(objective, number, {**search_space.static, **params}, metric)

    controller = Controller(
        storage=store,
        job_name=name,
        strategy=chosen,
        executor=LocalExecutor(),
        make_work=make_work,
        direction=direction,
        max_trials=max_trials,
        max_parallel=n_jobs,
        max_failures=max_failures,
        time_limit=time_limit,
        enqueue=queued,
        on_progress=on_progress,
        poll_interval=0.05,
    )
    controller.run()
    return OptimizeResult(name, direction, store.trials(name), store.url)
