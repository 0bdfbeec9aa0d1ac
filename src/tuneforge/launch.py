"""From a job to a running controller: the one path ``tuneforge run``, the dashboard and
``optimize`` take.

A launch looks the job up in storage: a new name, or a stored job that a resume or a
join (``--join``) continues, which must keep its search space. It then builds everything
that can fail (the warm-start trials, the strategy, the stopping rule, the executor)
before it writes anything, and only then records the job, so a bad setting leaves
nothing half-created behind. What comes back is the controller that runs the job.

:func:`launch_job` does it for a job file's :class:`~tuneforge.jobfile.JobSpec` (the
CLI's ``run`` and ``resume``, the dashboard's ``POST /api/jobs``); ``optimize`` takes the
same steps with its in-process objective: :func:`stored_job`, a :class:`Controller`
with :func:`coordination`, :func:`enter`.

Example::

    launched = launch_job(spec, storage, resume=False, join=False)
    launched.controller.run()
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuneforge.controller import (
    Controller,
    Coordination,
    JobLimits,
    LeasedJob,
    MakeWork,
    Progress,
    SharedJob,
)
from tuneforge.errors import ConfigError, NotFoundError
from tuneforge.executors.base import Work
from tuneforge.executors.dask import make_executor
from tuneforge.jobfile import JobSpec, job_from_document
from tuneforge.runner import RunSpec, run_trial, trial_folder
from tuneforge.space import SearchSpace, SpaceRecord
from tuneforge.storage import JobRecord, Storage
from tuneforge.strategies.warm import compatible_trials
from tuneforge.trial import Direction

__all__ = [
    "JobEntry",
    "Launched",
    "check_resumable",
    "command_work",
    "coordination",
    "enter",
    "launch_job",
    "stored_job",
]


@dataclass(frozen=True)
class JobEntry:
    """What storage records about a job when it is created, its resolved space with it."""

    name: str
    document: Mapping[str, Any]
    base_dir: str
    objective: str
    direction: Direction
    strategy: str
    max_trials: int
    output_dir: str | None
    space: SpaceRecord

    @classmethod
    def of(cls, spec: JobSpec, output_dir: str) -> JobEntry:
        """The entry of a job file's job, its trial folders in ``output_dir``."""
        return cls(
            name=spec.name,
            document=spec.document,
            base_dir=spec.base_dir,
            objective=spec.objective.metric,
            direction=Direction.parse(spec.objective.direction, "objective.direction"),
            strategy=spec.strategy,
            max_trials=spec.limits.max_trials,
            output_dir=output_dir,
            space=SpaceRecord.from_space(spec.space),
        )

    def create(self, storage: Storage, *, exist_ok: bool = False) -> JobRecord:
        """Record the job (``JobExistsError`` if the name is taken); the one place a job is
        created. ``exist_ok``: a job another controller created a moment ago is joined."""
        return storage.create_job(
            self.name,
            document=dict(self.document),
            base_dir=self.base_dir,
            objective=self.objective,
            direction=self.direction,
            strategy=self.strategy,
            max_trials=self.max_trials,
            output_dir=self.output_dir,
            space=self.space.to_dict(),
            exist_ok=exist_ok,
        )


@dataclass(frozen=True)
class Launched:
    """A job ready to run: its controller, its record in storage, its trial folders, and
    whether it continues a stored job (``resumed``) or was created by this launch."""

    controller: Controller
    record: JobRecord
    output_dir: str | None
    resumed: bool


def stored_job(storage: Storage, name: str, *, resume: bool, join: bool) -> JobRecord | None:
    """The stored job a resume or a join continues; ``None``: the launch creates the job."""
    if not (resume or join):
        return None
    try:
        return storage.get_job(name)
    except NotFoundError:
        return None


def check_resumable(record: JobRecord, spec: JobSpec) -> None:
    """Refuse to continue ``record`` with a job file whose search space differs from it.

    Static values may change (a longer sleep, a new data path); the space may not, or the
    rebuilt strategy would not continue the sequence it started.
    """
    stored = job_from_document(
        record.document, record.base_dir, source=f"stored job '{record.name}'"
    )

    def shape(space: SearchSpace) -> tuple[Any, Any]:
        described = space.to_dict()
        return described["parameters"], described["forbidden"]

    if shape(stored.space) != shape(spec.space):
        raise ConfigError(
            f"parameters: the job file's search space differs from the stored job "
            f"'{record.name}'; a resumed job must keep its space. Give the job a new name instead."
        )


def coordination(join: bool) -> type[Coordination]:
    """How the controller takes part in its job: beside others (``join``) or holding it."""
    return SharedJob if join else LeasedJob


def enter(
    storage: Storage,
    entry: JobEntry,
    controller: Controller,
    *,
    stored: JobRecord | None,
    join: bool,
) -> Launched:
    """Record the job unless it is ``stored`` (a resume or a join continues it); a job
    that is ``join``-ed may have been created by another controller just now. If
    recording fails, the controller's executor is shut down."""
    if stored is not None:
        return Launched(controller, stored, entry.output_dir, resumed=True)
    try:
        record = entry.create(storage, exist_ok=join)
    except BaseException:
        controller.executor.shutdown()
        raise
    return Launched(controller, record, entry.output_dir, resumed=False)


def launch_job(
    spec: JobSpec,
    storage: Storage,
    *,
    resume: bool = False,
    join: bool = False,
    base_dir: str | Path | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> Launched:
    """Check a job file's job against storage, build its controller, record the job.

    ``resume`` continues the stored job of the same name (without it, a taken name is a
    ``JobExistsError``); ``join`` runs beside the job's other controllers: the job is
    created if it is new and joined if not, and each new trial is claimed through
    storage. Relative trial folders start at ``base_dir`` (the current folder by default).
    """
    base = Path.cwd() if base_dir is None else Path(base_dir)
    stored = stored_job(storage, spec.name, resume=resume, join=join)
    if stored is not None:
        check_resumable(stored, spec)
        output_dir = stored.output_dir or str((base / "runs" / spec.name).resolve())
    else:
        output_dir = str((base / (spec.output_dir or Path("runs") / spec.name)).resolve())
    warm = [
        trial
        for earlier in spec.warm_start
        for trial in compatible_trials(storage.trials(earlier), spec.space)
    ]
    limits = spec.limits
    controller = Controller(
        storage=storage,
        job_name=spec.name,
        strategy=spec.make_strategy(),
        stopping_rule=spec.make_stopping_rule(),
        executor=make_executor(spec.executor, name=spec.name),
        make_work=command_work(spec, output_dir),
        direction=spec.objective.direction,
        objective=spec.objective.metric,
        limits=JobLimits(
            limits.max_trials, limits.max_parallel, limits.max_failures, limits.time_limit
        ),
        enqueue=spec.enqueue,
        warm_start=warm,
        on_interrupt=spec.on_interrupt,
        coordination=coordination(join),
        on_progress=on_progress,
    )
    return enter(storage, JobEntry.of(spec, output_dir), controller, stored=stored, join=join)


def command_work(spec: JobSpec, output_dir: str) -> MakeWork:
    """``make_work`` for a job file's command: each trial runs it in its own folder."""

    def make_work(number: int, params: Mapping[str, Any], continues: int | None) -> Work:
        run_spec = RunSpec(
            job_name=spec.name,
            number=number,
            params=dict(params),
            static=dict(spec.space.static),
            command=spec.command,
            trial_dir=trial_folder(output_dir, number),
            workdir=spec.workdir,
            env=dict(spec.env),
            templates=spec.templates,
            metrics=spec.metrics,
            objective=spec.objective.metric,
            timeout=spec.limits.trial_timeout,
            retry=spec.retry,
            max_log_bytes=spec.limits.max_log_bytes,
            resume_dir=None if continues is None else trial_folder(output_dir, continues),
        )
        return functools.partial(run_trial, run_spec)

    return make_work
