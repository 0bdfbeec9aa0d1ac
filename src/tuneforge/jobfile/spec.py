"""What a checked job file becomes: a frozen :class:`JobSpec` and its small values.

Everything after the job file (the launch wiring, the CLI, the server) reads these, never
the YAML; ``JobSpec.document`` keeps the job file as parsed so storage can rebuild the
spec on resume.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tuneforge.metrics import MetricDefinition
from tuneforge.retry import RetryPolicy
from tuneforge.runner import DEFAULT_MAX_LOG_BYTES, TemplateSpec
from tuneforge.space import Scalar, SearchSpace
from tuneforge.stopping import StoppingRule, make_stopping_rule
from tuneforge.strategies import Strategy, make_strategy
from tuneforge.trial import Direction, OnInterrupt


@dataclass(frozen=True)
class Objective:
    """The metric a job optimizes and in which direction."""

    metric: str
    direction: Direction

    @property
    def maximize(self) -> bool:
        return self.direction == Direction.MAXIMIZE


@dataclass(frozen=True)
class Limits:
    """When a job stops: trial count, failures, wall-clock time; and how many run at once."""

    max_trials: int
    max_parallel: int
    trial_timeout: float | None
    max_failures: int | None
    time_limit: float | None
    max_log_bytes: int | None = DEFAULT_MAX_LOG_BYTES  # None: trial logs grow without limit


@dataclass(frozen=True)
class JobSpec:
    """Everything a job needs, checked: built by :func:`load_job_file` or :func:`job_from_document`.

    ``space`` holds the static values too (``space.static``). ``workdir`` is absolute unless
    it starts with a placeholder (``${trial_dir}``). ``enqueue`` lists the configurations to
    run before the strategy's, the space's default first when ``enqueue_default`` was set.
    ``document`` is the job file as parsed (JSON-ready), which storage keeps so that
    ``job_from_document(document, base_dir)`` rebuilds the same job on resume.
    """

    name: str
    description: str | None
    command: tuple[str, ...]
    space: SearchSpace
    objective: Objective
    metrics: tuple[MetricDefinition, ...]
    templates: tuple[TemplateSpec, ...]
    env: Mapping[str, str]
    workdir: str
    output_dir: str | None
    strategy: str
    strategy_options: Mapping[str, Any]
    early_stopping: str
    early_stopping_options: Mapping[str, Any]
    limits: Limits
    storage: str | None
    seed: int | None
    enqueue: tuple[dict[str, Scalar], ...]
    document: dict[str, Any]
    base_dir: str
    #: Which failed trials run again (``None``: none).
    retry: RetryPolicy | None = None
    #: Trials a controller left unfinished: ``rerun`` on resume, or ``mark`` (count them).
    on_interrupt: OnInterrupt = OnInterrupt.RERUN
    #: Where trials run: ``None`` (this machine) or a Dask scheduler, ``dask://host:8786``.
    executor: str | None = None
    #: Earlier jobs whose finished trials seed the strategy (``warm_start: [job, ...]``).
    warm_start: tuple[str, ...] = ()

    def make_strategy(self) -> Strategy:
        """A fresh strategy for this job (seeded, with its options and direction)."""
        return make_strategy(
            self.strategy,
            self.space,
            seed=self.seed,
            options=self.strategy_options,
            direction=self.objective.direction,
        )

    def make_stopping_rule(self) -> StoppingRule | None:
        """The job's early-stopping rule, or ``None`` when it is off."""
        return make_stopping_rule(
            self.early_stopping, self.objective.direction, self.early_stopping_options
        )
