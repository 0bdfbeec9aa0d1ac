"""Checks across the job file's fields, and the :class:`JobSpec` they build.

The schema checks each field alone; :class:`Assembly` checks what needs several: the
search space (``parameters`` or ``parameters_file``, with ``static`` and ``forbidden``),
the files the job names, the ``${...}`` placeholders against the parameters, the
strategy with its options and the early-stopping rule. A strategy that reads more of
the job than its options (a ``design:`` section, the limits) says so through its hooks,
``Strategy.prepare_options`` and ``Strategy.check_limits``, so nothing here names one.
Each check runs on every field that parsed cleanly, so one run reports every problem.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuneforge import placeholders
from tuneforge.errors import ConfigError, SpaceError, TrialError
from tuneforge.jobfile.schema import EXPECTED, JobModel, did_you_mean
from tuneforge.jobfile.spec import JobSpec, Limits, Objective
from tuneforge.metrics import MetricDefinition
from tuneforge.runner import TemplateSpec
from tuneforge.space import Scalar, SearchSpace, load_space_file, space_from_mapping
from tuneforge.space.conditions import Condition, condition_from_mapping
from tuneforge.stopping import make_stopping_rule
from tuneforge.strategies import Strategy, available_strategies, make_strategy, strategy_class
from tuneforge.strategies.base import is_strategy
from tuneforge.trial import Direction

#: Suffixes dropped from a template's file name to name the file it fills.
TEMPLATE_SUFFIXES = (".in", ".tmpl", ".template")


class Assembly:
    """Checks what the schema cannot see alone and builds the ``JobSpec``."""

    def __init__(
        self,
        document: Mapping[str, Any],
        model: JobModel,
        base_dir: Path,
        problems: list[str],
        failed: set[str],
    ) -> None:
        self.model = model
        self.base_dir = base_dir
        self.problems = problems
        self.failed = failed
        self.space: SearchSpace | None = None
        # Names placeholders may use; None when the space could not even be read.
        self.parameter_names: list[str] | None = None
        self.conditional: dict[str, str] = {}
        # Read from the document, so that a bad static value does not hide placeholder checks.
        static = document.get("static")
        self.static_names = [str(k) for k in static] if isinstance(static, Mapping) else []

    def ok(self, *fields: str) -> bool:
        return not self.failed.intersection(fields)

    def resolve(self, relative: str) -> Path:
        return (self.base_dir / os.path.expanduser(relative)).resolve()

    def build(self, document: dict[str, Any]) -> JobSpec:
        m = self.model
        for field in ("name", "command", "objective"):
            if getattr(m, field) is None and self.ok(field):
                self.problems.append(f"{field}: missing; expected {EXPECTED[field]}.")
        self.read_space()
        metrics = self.metrics()
        templates = self.templates()
        workdir = self.workdir()
        self.check_placeholders(templates)
        options = self.strategy_options()
        self.check_strategy(options)
        self.check_early_stopping()
        enqueue = self.enqueue()
        if self.problems:
            raise ConfigError(self.problems)
        # Guaranteed by the checks above (no problems); spelled out for the type checker.
        assert m.name is not None and m.command is not None and m.objective is not None
        assert self.space is not None and workdir is not None and options is not None
        limits = m.limits
        max_failures = limits.max_failures
        # A command that always fails stops the job after a few trials; a few unlucky
        # configurations (out of memory, diverged) do not.
        if "max_failures" not in limits.model_fields_set:
            max_failures = max(5, limits.max_trials // 4)
        return JobSpec(
            name=m.name,
            description=m.description,
            command=tuple(m.command),
            space=self.space,
            objective=Objective(m.objective.metric, m.objective.direction),
            metrics=metrics,
            templates=templates,
            env=dict(m.env),
            workdir=workdir,
            output_dir=m.output_dir,
            strategy=m.strategy,
            strategy_options=options,
            early_stopping=m.early_stopping["rule"],
            early_stopping_options={k: v for k, v in m.early_stopping.items() if k != "rule"},
            limits=Limits(
                max_trials=limits.max_trials,
                max_parallel=limits.max_parallel,
                trial_timeout=limits.trial_timeout,
                max_failures=max_failures,
                time_limit=limits.time_limit,
                max_log_bytes=limits.max_log_bytes,
            ),
            storage=m.storage,
            seed=m.seed,
            enqueue=tuple(enqueue),
            document=document,
            base_dir=str(self.base_dir),
            retry=m.retry.policy() if m.retry is not None else None,
            on_interrupt=m.on_interrupt,
            executor=m.executor,
            warm_start=tuple(m.warm_start),
        )

    def check_early_stopping(self) -> None:
        if not self.ok("early_stopping", "objective") or self.model.objective is None:
            return
        settings = dict(self.model.early_stopping)
        try:
            make_stopping_rule(settings.pop("rule"), self.model.objective.direction, settings)
        except ConfigError as exc:
            self.problems.extend(exc.problems)

    # -- the search space ---------------------------------------------------------------------
    def read_space(self) -> None:
        m = self.model
        if m.parameters is not None and m.parameters_file is not None:
            self.problems.append(
                f"parameters_file: given together with parameters, got {m.parameters_file!r}; "
                f"define the space in one place, either parameters: or parameters_file:."
            )
            return
        if m.parameters is None and m.parameters_file is None:
            if self.ok("parameters", "parameters_file"):
                self.problems.append(
                    "parameters: missing; expected the search space, e.g. "
                    "{lr: {type: float, low: 1.0e-5, high: 0.1, log: true}}, or a PCS, JSON or "
                    "YAML file named by parameters_file:."
                )
            return
        # A failed static or forbidden section is left out, so that the parameters are
        # still checked; the job is refused anyway, for that section's own problem.
        static = self.model.static if self.ok("static") else {}
        forbidden = self.model.forbidden if self.ok("forbidden") else []
        for name in self.static_names:
            self.check_name(name, f"static.{name}")
        if m.parameters is not None:
            self.read_parameters(m.parameters, static, forbidden)
        else:
            assert m.parameters_file is not None  # for the type checker: tested above
            self.read_parameters_file(m.parameters_file, static, forbidden)
        if self.space is not None:
            self.parameter_names = self.space.names
            self.conditional = {
                name: f"active only when {p.when}"
                for name, p in self.space.parameters.items()
                if p.when is not None
            }

    def read_parameters(
        self, parameters: Any, static: Mapping[str, Any], forbidden: list[Any]
    ) -> None:
        if isinstance(parameters, Mapping):
            self.parameter_names = [str(name) for name in parameters]
            for name, entry in parameters.items():
                self.check_name(str(name), f"parameters.{name}")
                if isinstance(entry, Mapping) and entry.get("when") is not None:
                    self.conditional[str(name)] = f"active only when {_describe_when(entry)}"
        try:
            space = space_from_mapping(parameters, static=static, forbidden=forbidden)
        except ConfigError as exc:
            self.problems.extend(exc.problems)
            return
        if not any(p.startswith("parameters.") for p in self.problems):
            self.space = space

    def read_parameters_file(
        self, relative: str, static: Mapping[str, Any], forbidden: list[Any]
    ) -> None:
        path = self.resolve(relative)
        if not path.is_file():
            self.problems.append(
                f"parameters_file: file not found, got {relative!r}; relative paths are read "
                f"from the job file's folder ({self.base_dir})."
            )
            return
        try:
            space = load_space_file(path)
        except (ConfigError, SpaceError) as exc:
            lines = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
            self.problems.extend(f"parameters_file: {line}" for line in lines)
            return
        self.parameter_names = space.names
        for name in space.names:
            self.check_name(name, f"parameters_file: parameter {name!r}")
        clauses: list[Condition] = []
        for i, clause in enumerate(forbidden):
            try:
                clauses.append(condition_from_mapping(clause, field=f"forbidden[{i}]"))
            except SpaceError as exc:
                self.problems.append(str(exc))
        try:
            self.space = SearchSpace(
                space.parameters,
                static={**space.static, **static},
                forbidden=[*space.forbidden, *clauses],
            )
        except SpaceError as exc:
            self.problems.append(f"parameters_file: {exc}")

    def check_name(self, name: str, where: str) -> None:
        if name in placeholders.BUILTIN_PLACEHOLDERS:
            self.problems.append(
                f"{where}: {name!r} is a built-in placeholder name; rename it (built-ins: "
                f"{', '.join(placeholders.BUILTIN_PLACEHOLDERS)})."
            )

    # -- metrics, templates, workdir -----------------------------------------------------------
    def metrics(self) -> tuple[MetricDefinition, ...]:
        seen: dict[str, int] = {}
        for i, metric in enumerate(self.model.metrics):
            if metric.name in seen:
                self.problems.append(
                    f"metrics[{i}].name: duplicate metric name {metric.name!r} (also "
                    f"metrics[{seen[metric.name]}]); give each metric its own name."
                )
            seen.setdefault(metric.name, i)
        return tuple(MetricDefinition(name=m.name, regex=m.regex) for m in self.model.metrics)

    def templates(self) -> tuple[TemplateSpec, ...]:
        specs: list[TemplateSpec] = []
        targets: dict[str, int] = {}
        for i, template in enumerate(self.model.templates):
            source = self.resolve(template.source)
            if not source.is_file():
                self.problems.append(
                    f"templates[{i}].source: file not found, got {template.source!r}; relative "
                    f"paths are read from the job file's folder ({self.base_dir})."
                )
                continue
            target = template.target or _default_target(source.name)
            if target in targets:
                self.problems.append(
                    f"templates[{i}].target: {target!r} is already written by "
                    f"templates[{targets[target]}]; give each template its own target."
                )
            targets.setdefault(target, i)
            specs.append(TemplateSpec(source=str(source), target=target))
        return tuple(specs)

    def workdir(self) -> str | None:
        given = self.model.workdir
        if given is None:
            return str(self.base_dir)
        if given.startswith("${"):  # ${trial_dir}: known only when the trial starts
            return given
        folder = self.base_dir / os.path.expanduser(given)
        if "${" not in given:
            folder = folder.resolve()
            if not folder.is_dir():
                self.problems.append(
                    f"workdir: folder not found, got {given!r}; relative paths are read from "
                    f"the job file's folder ({self.base_dir})."
                )
                return None
        return os.path.normpath(folder)

    # -- placeholders ---------------------------------------------------------------------------
    def check_placeholders(self, templates: tuple[TemplateSpec, ...]) -> None:
        if self.parameter_names is None:
            return
        known = list(
            dict.fromkeys(
                [*self.parameter_names, *self.static_names, *placeholders.BUILTIN_PLACEHOLDERS]
            )
        )
        m = self.model
        for item in m.command or ():
            self.check_text("command", item, known)
        for key, value in m.env.items():
            self.check_text(f"env.{key}", value, known)
        if m.workdir is not None:
            self.check_text("workdir", m.workdir, known)
        for i, (template, spec) in enumerate(zip(m.templates, templates, strict=False)):
            try:
                text = Path(spec.source).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                self.problems.append(
                    f"templates[{i}].source: cannot read {template.source!r} as UTF-8 text "
                    f"({exc}); a template is a text file."
                )
                continue
            for number, line in enumerate(text.splitlines(), start=1):
                where = f"templates[{i}]: {template.source} line {number}"
                self.check_text(where, line, known)

    def check_text(self, where: str, text: str, known: list[str]) -> None:
        try:
            found = placeholders.find(text)
        except TrialError as exc:
            self.problems.append(f"{where}: {exc}")
            return
        for placeholder in found:
            name = placeholder.name
            if name not in known:
                line = (
                    f"{where}: placeholder ${{{name}}} has no parameter; known: {', '.join(known)}"
                )
                hint = did_you_mean(name, known)
                line += hint if hint else "."
            elif name in self.conditional and placeholder.fallback is None:
                line = (
                    f"{where}: placeholder ${{{name}}} names the conditional parameter {name!r} "
                    f"({self.conditional[name]}), which has no value when inactive; write "
                    f"${{{name}:-<value>}} to give it a fallback."
                )
            else:
                continue
            if line not in self.problems:
                self.problems.append(line)

    # -- strategy, enqueue ----------------------------------------------------------------------
    def strategy_options(self) -> dict[str, Any] | None:
        """The options completed by the strategy's own hook; ``None`` if they have problems."""
        m = self.model
        if not self.ok("strategy", "design", "strategy_options"):
            return None
        # An unknown strategy reads no section: the base class says what that means.
        cls = strategy_class(m.strategy) if is_strategy(m.strategy) else Strategy
        try:
            return cls.prepare_options(
                dict(m.strategy_options),
                name=m.strategy,
                space=self.space,
                design=m.design,
                base_dir=str(self.base_dir),
            )
        except ConfigError as exc:
            self.problems.extend(exc.problems)
            return None

    def check_strategy(self, options: dict[str, Any] | None) -> None:
        m = self.model
        if not self.ok("strategy", "strategy_options"):
            return
        if not is_strategy(m.strategy):
            names = available_strategies()
            self.problems.append(
                f"strategy: unknown strategy {m.strategy!r}; expected one of "
                f"{', '.join(names)}.{did_you_mean(m.strategy, names)}"
            )
            return
        if self.space is None or options is None:
            return
        try:
            direction = m.objective.direction if m.objective is not None else Direction.MINIMIZE
            strategy = make_strategy(
                m.strategy, self.space, seed=m.seed, options=options, direction=direction
            )
        except ConfigError as exc:
            self.problems.extend(exc.problems)
            return
        except (SpaceError, ValueError, TypeError) as exc:
            self.problems.append(f"strategy_options: {exc}")
            return
        if self.ok("limits"):
            self.problems.extend(strategy.check_limits(max_trials=m.limits.max_trials))

    def enqueue(self) -> list[dict[str, Scalar]]:
        m = self.model
        if self.space is None:
            return []
        configurations = []
        if m.enqueue_default:
            try:
                configurations.append(self.space.default())
            except SpaceError as exc:
                self.problems.append(f"enqueue_default: {exc}")
        for i, config in enumerate(m.enqueue):
            try:
                configurations.append(self.space.check(config))
            except SpaceError as exc:
                self.problems.append(f"enqueue[{i}]: {exc}")
        return configurations


def _describe_when(entry: Mapping[str, Any]) -> str:
    try:
        return condition_from_mapping(entry["when"]).describe()
    except SpaceError:
        return repr(entry["when"])


def _default_target(source_name: str) -> str:
    for suffix in TEMPLATE_SUFFIXES:
        if source_name.endswith(suffix) and len(source_name) > len(suffix):
            return source_name[: -len(suffix)]
    return source_name
