"""``tuneforge.optimize``: tune a Python function in-process, with the same controller,
strategies and storage as command jobs.

Example:
    >>> import tuneforge as tf
    >>> result = tf.optimize(lambda p: (p["x"] - 2) ** 2, {"x": tf.Float(-5, 5)},
    ...                      max_trials=20, seed=0)
    >>> round(result.best.params["x"])
    2

An objective with a second parameter gets the running trial, to report a learning curve
and stop when the early-stopping rule says so (the trial is then ``STOPPED_EARLY``, with
the value it returned)::

    def objective(params, trial):
        for epoch in range(1, 51):
            loss = train_one_epoch(params)
            trial.report(loss, step=epoch)
            if trial.should_stop():
                break
        return loss

    tf.optimize(objective, space, max_trials=40, early_stopping="asha")
"""

from __future__ import annotations

import inspect
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from tuneforge.controller import Controller, ControllerSettings, JobLimits, Progress
from tuneforge.errors import ConfigError
from tuneforge.events import (
    MetricObserved,
    StopSignal,
    TrialEvent,
    TrialFinished,
    TrialOutcome,
    TrialStarted,
)
from tuneforge.executors.base import Emit, Executor, Work
from tuneforge.executors.dask import make_executor
from tuneforge.executors.local import LocalExecutor
from tuneforge.launch import JobEntry, coordination, enter, stored_job
from tuneforge.results.curves import read_curves
from tuneforge.results.table import best_trial
from tuneforge.runner import trial_folder
from tuneforge.space import Parameter, SearchSpace, SpaceRecord
from tuneforge.stopping import rule_from_setting
from tuneforge.storage import Storage
from tuneforge.strategies.base import make_strategy
from tuneforge.trial import Direction, Observation, Trial, TrialState

if TYPE_CHECKING:  # the cluster extra
    from distributed import Client

ObjectiveResult = float | Mapping[str, float]
#: ``objective(params)`` or ``objective(params, trial)`` (see :class:`RunningTrial`).
Objective = Callable[..., ObjectiveResult]


@dataclass(frozen=True)
class OptimizeResult:
    """What ``optimize`` returns: every trial in evaluation order, and the best one."""

    job_name: str
    direction: str
    trials: list[Trial]
    storage_url: str
    #: The storage the trials are in (an in-memory one lives as long as this result).
    storage: Storage | None = field(default=None, repr=False, compare=False)

    @property
    def best(self) -> Trial | None:
        """The best completed trial, or ``None`` when no trial completed."""
        return best_trial(self.trials, self.direction)

    def curves(self, metric: str | None = None) -> pd.DataFrame:
        """Every reported value as a long table: number, state, metric, step, value, time.

        See :mod:`tuneforge.results.curves`; ``metric`` keeps one metric only.
        """
        store = self.storage if self.storage is not None else Storage(self.storage_url)
        return read_curves(store, self.job_name, metric=metric)


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


class _Delivery:
    """Counts the events trials emit and those the controller has finished handling.

    The controller handles a batch of events (records them, asks the stopping rule) before
    it polls again, so every event handed out by the previous poll is handled once the
    next poll starts. ``RunningTrial.should_stop`` waits for that, so a rule's decision
    on the value just reported is seen at once, as with a command trial that a rule
    stops at the step it judged, instead of some steps later.
    """

    #: The longest a trial waits for the controller before it goes on undecided.
    WAIT_SECONDS = 10.0

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._sent = 0
        self._delivered = 0
        self._handled = 0

    def emit(self, emit: Emit, event: TrialEvent) -> int:
        """Emit ``event``; returns its sequence number (queue order, hence the lock)."""
        with self._condition:
            self._sent += 1
            emit(event)
            return self._sent

    def delivered(self, count: int) -> None:
        with self._condition:
            self._delivered += count

    def handled(self) -> None:
        with self._condition:
            self._handled = self._delivered
            self._condition.notify_all()

    def wait(self, sequence: int, stop: StopSignal) -> None:
        """Until the event numbered ``sequence`` is handled, the trial is stopped, or time out."""
        deadline = time.monotonic() + self.WAIT_SECONDS
        with self._condition:
            while self._handled < sequence and not stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._condition.wait(min(remaining, 0.05))


class _InProcessExecutor(LocalExecutor):
    """``LocalExecutor`` that tells in-process trials when their events were handled."""

    def __init__(self) -> None:
        super().__init__()
        self.delivery = _Delivery()

    def poll(self, timeout: float) -> list[TrialEvent]:
        self.delivery.handled()
        events = super().poll(timeout)
        # Every event but TrialFinished (put by the executor itself) went through delivery.
        self.delivery.delivered(sum(1 for e in events if not isinstance(e, TrialFinished)))
        return events


class RunningTrial:
    """The trial an objective ``objective(params, trial)`` receives while it runs.

    ``report(value, step)`` records the objective's value at a step (an epoch, a boosting
    round); the early-stopping rule (``optimize(..., early_stopping="asha")``) judges the
    curve, and ``should_stop()`` says whether it decided to stop this trial. An objective
    that returns after ``should_stop()`` said yes is recorded as ``STOPPED_EARLY`` with
    the value it returned; one that never asks runs to its end.

    With ``optimize(..., output_dir=...)`` each trial has a folder of its own, ``dir``, for
    the files it keeps (a model, a checkpoint); ``resume_dir`` is the folder of the earlier
    trial it continues (``hyperband`` runs a promoted configuration again on a larger
    resource), so an objective that saved a checkpoint there can load it and train only
    the rest, instead of from scratch. Both are ``None`` when there is no such folder.
    """

    def __init__(
        self,
        number: int,
        params: Mapping[str, Any],
        *,
        metric: str,
        emit: Emit,
        stop: StopSignal,
        delivery: _Delivery,
        judged: bool,
        folder: str | None = None,
        resume_folder: str | None = None,
    ) -> None:
        self.number = number
        self.params = dict(params)
        self.dir = None if folder is None else Path(folder)
        self.resume_dir = None if resume_folder is None else Path(resume_folder)
        self._metric = metric
        self._emit = emit
        self._stop = stop
        self._delivery = delivery
        self._judged = judged
        self._sequence = 0
        self.last_step: int | None = None
        self.last_value: float | None = None
        self.stopped = False  # whether should_stop() said yes

    def report(self, value: float, step: int) -> None:
        """Record the objective's ``value`` at ``step`` (an int >= 0, growing)."""
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"trial.report: step must be an int >= 0, got {step!r}.")
        number = float(value)
        observation = Observation(self._metric, number, step, time.time())
        self._sequence = self._delivery.emit(self._emit, MetricObserved(self.number, observation))
        self.last_step, self.last_value = step, number

    def should_stop(self) -> bool:
        """Whether the trial should end now (the stopping rule, a stop request, a time limit).

        With a stopping rule, this first waits (briefly) until the controller has judged
        the values reported so far.
        """
        if self._judged and self._sequence:
            self._delivery.wait(self._sequence, self._stop)
        if self._stop.is_set():
            self.stopped = True
        return self.stopped


def _takes_trial(objective: Objective) -> bool:
    """Whether ``objective`` wants the trial: a second positional parameter without a
    default (or one named ``trial``), or ``*args``."""
    try:
        parameters = list(inspect.signature(objective).parameters.values())
    except (TypeError, ValueError):  # builtins and some callables have no signature
        return False
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return True
    positional = [
        p
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    if len(positional) < 2:
        return False
    second = positional[1]
    return second.default is inspect.Parameter.empty or second.name == "trial"


def _function_work(
    objective: Objective,
    number: int,
    params: dict[str, Any],
    metric: str,
    *,
    delivery: _Delivery | None = None,
    judged: bool = False,
    folder: str | None = None,
    resume_folder: str | None = None,
) -> Work:
    takes_trial = _takes_trial(objective)

    def work(emit: Emit, stop: StopSignal) -> TrialOutcome:
        channel = delivery or _Delivery()
        if folder is not None:
            os.makedirs(folder, exist_ok=True)
        channel.emit(emit, TrialStarted(number, time.time(), trial_dir=folder))
        trial = None
        if takes_trial:
            trial = RunningTrial(
                number,
                params,
                metric=metric,
                emit=emit,
                stop=stop,
                delivery=channel,
                judged=judged,
                folder=folder,
                resume_folder=resume_folder,
            )
            result = objective(dict(params), trial)
        else:
            result = objective(dict(params))
        now = time.time()
        stopped = trial is not None and trial.stopped
        if isinstance(result, Mapping):
            values = {str(k): float(v) for k, v in result.items()}
        else:
            values = {metric: float(result)}
        # The final values belong to the last reported step (not a new step 0), and the
        # objective's is not repeated when it is the value last reported.
        step = trial.last_step if trial is not None and trial.last_step is not None else 0
        reported = trial is not None and trial.last_step is not None
        last_reported = trial.last_value if trial is not None else None
        for name, result_value in values.items():
            if not (name == metric and reported and result_value == last_reported):
                observation = Observation(name, result_value, step, now)
                channel.emit(emit, MetricObserved(number, observation))
        value = values.get(metric)
        if stopped:
            last = value if value is not None or trial is None else trial.last_value
            finite = last if last is not None and math.isfinite(last) else None
            return TrialOutcome(stop.state, value=finite, reason=stop.reason, metrics=values)
        if value is None:
            return TrialOutcome(
                TrialState.FAILED,
                metrics=values,
                reason=f"the objective returned {sorted(values)} without the metric {metric!r}",
            )
        if not math.isfinite(value):
            return TrialOutcome(
                TrialState.FAILED, metrics=values, reason=f"the objective returned {value}"
            )
        return TrialOutcome(TrialState.COMPLETED, value=value, metrics=values)

    return work


def _is_local(executor: str | Executor | Client | None) -> bool:
    return executor is None or (isinstance(executor, str) and executor.strip() == "local")


def optimize(
    objective: Objective,
    space: SearchSpace | Mapping[str, Any],
    *,
    strategy: str = "auto",
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
    early_stopping: str | Mapping[str, Any] | None = "off",
    warm_start: Sequence[Trial] = (),
    executor: str | Executor | Client | None = None,
    join: bool = False,
    output_dir: str | os.PathLike[str] | None = None,
) -> OptimizeResult:
    """Minimize (or maximize) ``objective(params) -> float`` over ``space``.

    ``objective`` may also return a dict of metrics, of which ``metric`` is the one to
    optimize. An exception in the objective fails that trial, not the run. ``storage``
    is a URL (``sqlite:///file.db``) or a ``Storage``; by default an in-memory database.
    ``n_jobs`` trials run at once, in threads. ``resume=True`` continues an existing job
    of the same name instead of refusing it.

    ``objective(params, trial)`` also gets a :class:`RunningTrial`: ``trial.report(value,
    step)`` records a learning curve and ``trial.should_stop()`` says when the
    ``early_stopping`` rule (``"off"``, ``"auto"`` (median rule), ``"asha"``, or
    ``{"rule": "asha", "min_resource": 1, "reduction_factor": 3}``) ends the trial.

    ``warm_start`` lists finished trials of earlier runs (``result.trials``; see
    ``tuneforge.strategies.warm.compatible_trials``) that the strategy learns from before
    its first ask; the default strategy, ``auto``, then skips its initial design.

    ``executor`` runs the trials elsewhere: ``"dask://host:8786"`` or a
    ``distributed.Client`` (``LocalCluster``, dask-jobqueue, dask-kubernetes) runs each as
    a Dask task, ``n_jobs`` at a time; the objective must then be picklable (a module-level
    function, or one cloudpickle can ship). See docs/cluster.md.

    ``join=True`` runs beside other processes optimizing the same ``job_name`` in the same
    ``storage`` (created by whichever comes first): each trial number and each of the
    strategy's configurations is taken by exactly one of them (see
    tuneforge.controller.coordination).

    ``output_dir`` gives each trial a folder there (``trial-0007``: ``trial.dir``) for its
    files, and lets a ``hyperband`` promotion start from its earlier run's checkpoint
    (``trial.resume_dir``); with ``executor``, it must be a folder the workers share.
    """
    try:
        parsed = Direction.parse(direction)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    for name, value in (("max_trials", max_trials), ("n_jobs", n_jobs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name}: must be an int >= 1, got {value!r}.")
    search_space = as_search_space(space)
    folders = None if output_dir is None else os.path.abspath(os.fspath(output_dir))
    stopping_rule = rule_from_setting(early_stopping, direction)
    chosen = make_strategy(
        strategy, search_space, seed=seed, options=strategy_options, direction=direction
    )
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
        "early_stopping": early_stopping
        if isinstance(early_stopping, str | None)
        else dict(early_stopping),
    }
    stored = stored_job(store, name, resume=resume, join=join)

    # Threads here by default; "dask://host:8786", a distributed.Client or an Executor runs
    # each trial elsewhere (the objective is pickled to the worker, so no delivery channel:
    # should_stop() there sees stop requests and decisions as they arrive).
    runner = _InProcessExecutor() if _is_local(executor) else make_executor(executor, name=name)
    delivery = runner.delivery if isinstance(runner, _InProcessExecutor) else None

    def folder_of(number: int | None) -> str | None:
        return None if folders is None or number is None else trial_folder(folders, number)

    def make_work(number: int, params: Mapping[str, Any], continues: int | None) -> Work:
        return _function_work(
            objective,
            number,
            {**search_space.static, **params},
            metric,
            delivery=delivery,
            judged=stopping_rule is not None and delivery is not None,
            folder=folder_of(number),
            resume_folder=folder_of(continues),
        )

    controller = Controller(
        storage=store,
        job_name=name,
        strategy=chosen,
        executor=runner,
        make_work=make_work,
        direction=parsed,
        limits=JobLimits(max_trials, n_jobs, max_failures, time_limit),
        enqueue=queued,
        warm_start=warm_start,
        stopping_rule=stopping_rule,
        objective=metric,
        coordination=coordination(join),
        settings=ControllerSettings(poll_interval=0.05),
        on_progress=on_progress,
    )
    entry = JobEntry(
        name=name,
        document=document,
        base_dir="",
        objective=metric,
        direction=parsed,
        strategy=strategy,
        max_trials=max_trials,
        output_dir=folders,
        space=SpaceRecord.from_space(search_space),
    )
    enter(store, entry, controller, stored=stored, join=join)
    controller.run()
    return OptimizeResult(name, direction, store.trials(name), store.url, storage=store)
