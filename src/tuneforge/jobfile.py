"""The YAML job file: checked with pydantic, turned into a frozen :class:`JobSpec`.

A user fixes a job file best in one pass, so every problem becomes one line
``<field.path>: <what is wrong>, got <value>; <what is valid>`` and all of them are raised
together in one ``ConfigError``. Pydantic checks each field's shape (the field validators
write the messages, so no pydantic wording or URL reaches the user); the search space, the
files the job names and the ``${...}`` placeholders are then checked across fields, on
every field that parsed cleanly.

``limits.max_failures`` defaults to ``max(5, max_trials // 4)``: a command that always
fails stops the job after a few trials, while a few unlucky configurations (out of memory,
diverged) do not. ``max_failures: null`` never stops the job for failures.

Reliability settings (see docs/reliability.md): ``retry: {max_retries, exit_codes,
log_regex, delay}`` runs a failed trial again when its failure is one of those;
``on_interrupt: rerun | mark`` says whether trials cut short by a dead or interrupted
controller run again on resume (``rerun``, the default) or stay INTERRUPTED and count
toward ``max_trials`` (``mark``); ``limits.max_log_bytes`` (``100MB`` by default, ``null``
for no limit) is where ``trial.log`` stops growing.

Example:
    >>> spec = load_job_file("examples/digits-mlp/job.yaml")  # doctest: +SKIP
    >>> spec.objective, spec.limits.max_trials  # doctest: +SKIP
    (Objective(metric='validation:accuracy', direction='maximize'), 16)
"""

from __future__ import annotations

import contextlib
import difflib
import json
import math
import os
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator

from tuneforge import placeholders
from tuneforge.errors import ConfigError, SpaceError, TrialError
from tuneforge.metrics import MetricDefinition, check_metric_definition
from tuneforge.retry import RetryPolicy
from tuneforge.runner import DEFAULT_MAX_LOG_BYTES, TemplateSpec
from tuneforge.space import Scalar, SearchSpace, load_space_file, space_from_mapping
from tuneforge.space.conditions import Condition, condition_from_mapping
from tuneforge.stopping import StoppingRule, available_rules, make_stopping_rule
from tuneforge.strategies import Strategy, available_strategies, make_strategy
from tuneforge.strategies.base import is_strategy
from tuneforge.strategies.design import read_design_csv

#: Suffixes dropped from a template's file name to name the file it fills.
TEMPLATE_SUFFIXES = (".in", ".tmpl", ".template")
DIRECTIONS = ("minimize", "maximize")

_JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_DURATION = re.compile(r"^(?:\s*(?:\d+(?:\.\d*)?|\.\d+)\s*[hms]\s*)+$", re.IGNORECASE)
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([hms])", re.IGNORECASE)
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


# -- the frozen result ------------------------------------------------------------------------


@dataclass(frozen=True)
class Objective:
    """The metric a job optimizes and in which direction."""

    metric: str
    direction: str  # "minimize" | "maximize"

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"


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
    on_interrupt: str = "rerun"
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


# -- field checks: each returns the value in canonical form or raises ValueError -------------
# The message completes "<field.path>: ", so it reads "<what is wrong>, got <value>; <fix>".


def parse_duration(value: Any) -> float:
    """Seconds from a number or text such as ``90s``, ``10m``, ``1h30m``, ``1.5h``.

    Example:
        >>> parse_duration("1h30m"), parse_duration(90)
        (5400.0, 90.0)
    """
    seconds = math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if _DURATION.match(text):
            parts = _DURATION_PART.findall(text)
            seconds = sum(float(n) * _SECONDS[unit.lower()] for n, unit in parts)
        else:
            with contextlib.suppress(ValueError):
                seconds = float(text)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(
            f"must be a positive duration, got {value!r}; give seconds (90) or text such as "
            f"'90s', '10m', '1h30m', '1.5h'."
        )
    return seconds


def _optional_duration(value: Any) -> float | None:
    return None if value is None else parse_duration(value)


def _int_at_least(low: int, *, optional: bool = False) -> Callable[[Any], int | None]:
    def check(value: Any) -> int | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            suffix = " or null" if optional else ""
            raise ValueError(f"must be an int >= {low}{suffix}, got {value!r}.")
        return value

    return check


def _text(what: str, *, optional: bool = True) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"expected {what}, got {value!r}.")
        return value

    return check


def _job_name(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _JOB_NAME.match(value) or ".." in value:
        raise ValueError(
            f"invalid job name, got {value!r}; use 1 to 128 letters, digits, '_', '.' or '-', "
            f"starting with a letter or digit, without '..' (the name is a folder name)."
        )
    return value


def _command(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            argv = shlex.split(value, posix=True)
        except ValueError as exc:
            raise ValueError(
                f"cannot split the command like a shell would ({exc}), got {value!r}; "
                f"check the quotes."
            ) from None
    elif isinstance(value, list):
        argv = []
        for i, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise ValueError(
                    f"item {i} is not a string, got {item!r}; a command list holds one "
                    f"string per argument."
                )
            argv.append(item if isinstance(item, str) else str(item))
    else:
        raise ValueError(
            f"expected a command line or a list of arguments, got {value!r}; e.g. "
            f"'python train.py --lr ${{lr}}'."
        )
    if not argv or not argv[0].strip():
        raise ValueError(
            f"the command is empty, got {value!r}; e.g. 'python train.py --lr ${{lr}}'."
        )
    return argv


def _direction(value: Any) -> str:
    text = value.strip().lower() if isinstance(value, str) else value
    if text not in DIRECTIONS:
        raise ValueError(f"expected 'minimize' or 'maximize', got {value!r}.")
    return str(text)


def _regex(value: Any) -> str:
    problem = check_metric_definition("metric", value)
    if problem is not None:
        raise ValueError(problem)
    return str(value)


def _template_target(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise ValueError(f"expected a file name inside the trial folder, got {value!r}.")
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or os.path.isabs(value):
        raise ValueError(
            f"must stay inside the trial folder, got {value!r}; give a relative path "
            f"without '..', e.g. 'train.py'."
        )
    if str(path) in ("", "."):
        raise ValueError(f"expected a file name inside the trial folder, got {value!r}.")
    return str(path)


def _env_name(value: Any) -> str:
    if not isinstance(value, str) or not value or "=" in value or "\0" in value:
        raise ValueError(
            f"invalid environment variable name, got {value!r}; use a non-empty name without '='."
        )
    return value


def _env_value(value: Any) -> str:
    if isinstance(value, str | int | float | bool):
        return placeholders.format_value(value) if not isinstance(value, str) else value
    raise ValueError(f"expected a string or a number, got {value!r}; environment values are text.")


def _static_value(value: Any) -> Scalar:
    if isinstance(value, str | int | bool) or (isinstance(value, float) and math.isfinite(value)):
        return value
    raise ValueError(
        f"expected a single value (string, number or boolean), got {value!r}; "
        f"static values are the same in every trial."
    )


def _early_stopping(value: Any) -> dict[str, Any]:
    """``off`` / ``auto`` / ``asha``, or ``{rule: asha, reduction_factor: 3, ...}``."""
    if value is False:  # YAML reads a bare `off` as false
        return {"rule": "off"}
    if isinstance(value, Mapping):
        rule = value.get("rule")
        options = {str(k): v for k, v in value.items() if k != "rule"}
    else:
        rule, options = value, {}
    rule = rule.strip().lower() if isinstance(rule, str) else rule
    valid = available_rules()
    if rule not in valid:
        why = " (YAML reads a bare on or yes as true)" if rule is True else ""
        raise ValueError(
            f"expected one of {', '.join(valid)} (or a mapping with 'rule:' and its options), "
            f"got {value!r}{why}."
        )
    return {"rule": rule, **options}


def _warm_start(value: Any) -> list[str]:
    """``warm_start: [job-a, job-b]`` (or one name): earlier jobs whose trials seed the model."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list):
        raise ValueError(f"expected a list of earlier job names, got {value!r}.")
    for name in names:
        if not isinstance(name, str):
            raise ValueError(f"expected a list of earlier job names, got {value!r}.")
        _job_name(name)
    return list(dict.fromkeys(names))


def _design(value: Any) -> str | list[dict[str, Any]] | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, list) and all(isinstance(row, dict) for row in value):
        return value
    raise ValueError(
        f"expected a CSV file or a list of configurations, got {value!r}; e.g. "
        f"design.csv or [{{lr: 0.01, batch_size: 32}}]."
    )


def _storage(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _URL.match(value):
        raise ValueError(
            f"expected a database URL, got {value!r}; e.g. 'sqlite:///tuneforge.db' or "
            f"'postgresql+psycopg://user@host/db'."
        )
    return value


_EXECUTOR = re.compile(r"^(?:dask|tcp|tls)://[^/\s]+$")


def _executor(value: Any) -> str | None:
    if value is None or value == "local":
        return None
    if not isinstance(value, str) or not _EXECUTOR.match(value.strip()):
        raise ValueError(
            f"expected 'local' or a Dask scheduler address, got {value!r}; e.g. "
            f"'dask://scheduler-host:8786'."
        )
    return value.strip()


_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(value: Any) -> int:
    """Bytes from a number or text such as ``100MB``, ``1.5 GB``, ``512KiB`` (units of 1024).

    Example:
        >>> parse_size("100MB"), parse_size(2048)
        (104857600, 2048)
    """
    size = None
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str) and (match := _SIZE.match(value)):
        size = int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
    if size is None or size < 1:
        raise ValueError(
            f"must be a positive size, got {value!r}; give bytes (1048576) or text such as "
            f"'100MB', '1GB', '512KB' (units of 1024), or null for no limit."
        )
    return size


def _optional_size(value: Any) -> int | None:
    return None if value is None else parse_size(value)


def _exit_codes(value: Any) -> list[int]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= 255:
            raise ValueError(
                f"expected exit codes from 1 to 255, got {value!r}; e.g. [137] (a process "
                f"killed by signal N exits with 128 + N: 137 is SIGKILL, the OOM killer's)."
            )
    return list(items)


def _retry_regex(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a regular expression, got {value!r}; e.g. 'out of memory'.")
    try:
        re.compile(value)
    except (re.error, RecursionError, OverflowError) as exc:
        raise ValueError(
            f"invalid regular expression {value!r} ({exc}); e.g. 'out of memory|CUDA OOM'."
        ) from None
    return value


def _delay(value: Any) -> float:
    if value is None or (type(value) in (int, float) and value == 0):
        return 0.0
    return parse_duration(value)


def _on_interrupt(value: Any) -> str:
    if value not in ("rerun", "mark"):
        raise ValueError(
            f"expected 'rerun' (run interrupted trials again on resume) or 'mark' (leave them "
            f"interrupted, counted toward max_trials), got {value!r}."
        )
    return str(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}.")
    return value


def _or_empty(empty: Callable[[], Any]) -> BeforeValidator:
    """An omitted section (``env:`` with nothing after it is null) counts as empty."""
    return BeforeValidator(lambda value: empty() if value is None else value)


# -- the pydantic schema ------------------------------------------------------------------------


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _ObjectiveModel(_Section):
    metric: Annotated[str, BeforeValidator(_text("a metric name", optional=False))]
    direction: Annotated[str, BeforeValidator(_direction)] = "minimize"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):  # `objective: val_acc`
            return {"metric": value}
        if not isinstance(value, Mapping):
            raise ValueError(
                f"expected a metric name or {{metric: <name>, direction: minimize|maximize}}, "
                f"got {value!r}."
            )
        return value


class _MetricModel(_Section):
    name: Annotated[str, BeforeValidator(_text("a metric name", optional=False))]
    regex: Annotated[str, BeforeValidator(_regex)]

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValueError(
                f"expected a mapping {{name: <metric>, regex: <pattern with one group>}}, "
                f"got {value!r}."
            )
        return value


class _TemplateModel(_Section):
    source: Annotated[str, BeforeValidator(_text("a template file name", optional=False))]
    target: Annotated[str | None, BeforeValidator(_template_target)] = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):  # `templates: [train.py.in]`
            return {"source": value}
        if not isinstance(value, Mapping):
            raise ValueError(
                f"expected a file name or a mapping {{source: <file>, target: <file>}}, "
                f"got {value!r}."
            )
        return value


class _LimitsModel(_Section):
    max_trials: Annotated[int, BeforeValidator(_int_at_least(1))] = 20
    max_parallel: Annotated[int, BeforeValidator(_int_at_least(1))] = 1
    trial_timeout: Annotated[float | None, BeforeValidator(_optional_duration)] = None
    max_failures: Annotated[int | None, BeforeValidator(_int_at_least(1, optional=True))] = None
    time_limit: Annotated[float | None, BeforeValidator(_optional_duration)] = None
    max_log_bytes: Annotated[int | None, BeforeValidator(_optional_size)] = DEFAULT_MAX_LOG_BYTES

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValueError(
                f"expected a mapping such as {{max_trials: 20, max_parallel: 1}}, got {value!r}."
            )
        return value


class _RetryModel(_Section):
    max_retries: Annotated[int, BeforeValidator(_int_at_least(0))] = 1
    exit_codes: Annotated[list[int], BeforeValidator(_exit_codes)] = []
    log_regex: Annotated[str | None, BeforeValidator(_retry_regex)] = None
    delay: Annotated[float, BeforeValidator(_delay)] = 0.0

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValueError(
                f"expected a mapping such as {{max_retries: 2, exit_codes: [137], log_regex: "
                f"'out of memory'}}, got {value!r}."
            )
        if not value.get("exit_codes") and not value.get("log_regex"):
            raise ValueError(
                f"names no failure to retry, got {dict(value)!r}; give exit_codes (e.g. "
                f"[137]) and/or log_regex (e.g. 'out of memory|CUDA OOM')."
            )
        return value

    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_retries=self.max_retries,
            exit_codes=tuple(self.exit_codes),
            log_regex=self.log_regex,
            delay=self.delay,
        )


_Text = Annotated[str | None, BeforeValidator(_text("a non-empty string"))]
_EnvName = Annotated[str, BeforeValidator(_env_name)]
_EnvValue = Annotated[str, BeforeValidator(_env_value)]


class _JobModel(_Section):
    # Required fields are optional here and checked afterwards, so that a job whose other
    # fields fail can still be validated without them (see ``_validate``).
    name: Annotated[str | None, BeforeValidator(_job_name)] = None
    description: Annotated[str | None, BeforeValidator(_text("a string"))] = None
    command: Annotated[list[str] | None, BeforeValidator(_command)] = None
    templates: Annotated[list[_TemplateModel], _or_empty(list)] = []
    env: Annotated[dict[_EnvName, _EnvValue], _or_empty(dict)] = {}
    workdir: _Text = None
    parameters: Any = None
    parameters_file: _Text = None
    static: Annotated[
        dict[str, Annotated[Scalar, BeforeValidator(_static_value)]], _or_empty(dict)
    ] = {}
    forbidden: Annotated[list[Any], _or_empty(list)] = []
    objective: _ObjectiveModel | None = None
    metrics: Annotated[list[_MetricModel], _or_empty(list)] = []
    strategy: Annotated[str, BeforeValidator(_text("a strategy name", optional=False))] = "auto"
    strategy_options: Annotated[dict[str, Any], _or_empty(dict)] = {}
    design: Annotated[Any, BeforeValidator(_design)] = None
    enqueue_default: Annotated[bool, BeforeValidator(_bool)] = False
    enqueue: Annotated[list[dict[str, Any]], _or_empty(list)] = []
    early_stopping: Annotated[dict[str, Any], BeforeValidator(_early_stopping)] = {"rule": "off"}
    limits: Annotated[_LimitsModel, _or_empty(dict)] = _LimitsModel()
    storage: Annotated[str | None, BeforeValidator(_storage)] = None
    retry: _RetryModel | None = None
    on_interrupt: Annotated[str, BeforeValidator(_on_interrupt)] = "rerun"
    executor: Annotated[str | None, BeforeValidator(_executor)] = None
    warm_start: Annotated[list[str], BeforeValidator(_warm_start), _or_empty(list)] = []
    output_dir: _Text = None
    seed: Annotated[int | None, BeforeValidator(_int_at_least(0, optional=True))] = None


#: The schema of each section, by the field path that leads to it (list indices dropped).
_SECTIONS: dict[str, type[BaseModel]] = {
    "": _JobModel,
    "objective": _ObjectiveModel,
    "metrics": _MetricModel,
    "templates": _TemplateModel,
    "limits": _LimitsModel,
    "retry": _RetryModel,
}

#: What a field holds, for pydantic's own type errors (containers) and for missing fields.
_EXPECTED = {
    "name": "a job name such as 'digits-mlp' (it names the job's folder)",
    "command": "the training command, e.g. 'python train.py --lr ${lr}' or a list of arguments",
    "objective": "the metric to optimize, e.g. {metric: 'validation:accuracy', direction: "
    "maximize} or just the metric name",
    "objective.metric": "the name of the metric to optimize, e.g. 'validation:accuracy'",
    "metrics": "a list of {name, regex} mappings",
    "metrics.name": "the metric's name, e.g. 'validation:accuracy'",
    "metrics.regex": "a regular expression with one group around the value, e.g. "
    "'val_acc=([0-9.eE+-]+)'",
    "templates": "a list of template files (names, or {source, target} mappings)",
    "templates.source": "the template file, relative to the job file's folder",
    "env": "a mapping of variable name to value",
    "static": "a mapping of name to a fixed value",
    "forbidden": "a list of mappings such as {optimizer: adadelta, batch_size: [8, 16]}",
    "strategy_options": "a mapping of option name to value",
    "enqueue": "a list of configurations (mappings of parameter name to value)",
    "limits": "a mapping such as {max_trials: 20, max_parallel: 1}",
    "retry": "a mapping such as {max_retries: 2, exit_codes: [137], log_regex: 'out of memory'}",
}
_TYPE_TEXT = {
    "dict_type": "a mapping",
    "list_type": "a list",
    "string_type": "a string",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


# -- pydantic errors -> one line each ------------------------------------------------------------


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part != "[key]":  # pydantic's marker for a bad mapping key
            out += f".{part}" if out else str(part)
    return out


def _section_key(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc if isinstance(p, str) and p != "[key]")


def _describe(error: ValidationError) -> list[str]:
    lines = []
    for entry in error.errors(include_url=False):
        loc = tuple(entry["loc"])
        path = _path(loc) or "job file"
        kind = entry["type"]
        if kind == "extra_forbidden":
            lines.append(_unknown_field(path, str(loc[-1]), _section_key(loc[:-1])))
        elif kind == "missing":
            expected = _EXPECTED.get(_section_key(loc), "a value")
            lines.append(f"{path}: missing; expected {expected}.")
        elif kind in ("value_error", "assertion_error") and "error" in entry.get("ctx", {}):
            lines.append(f"{path}: {entry['ctx']['error']}")
        else:
            # A whole field is described by _EXPECTED, an item of a list by its type only.
            field = None if isinstance(loc[-1], int) else _EXPECTED.get(_section_key(loc))
            expected = field or _TYPE_TEXT.get(kind) or entry["msg"]
            lines.append(f"{path}: expected {expected}, got {entry['input']!r}.")
    return lines


def _unknown_field(path: str, name: str, section: str) -> str:
    valid = list(_SECTIONS.get(section, _JobModel).model_fields)
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    hint = f" did you mean {close[0]!r}?" if close else ""
    return f"{path}: unknown field;{hint} valid fields: {', '.join(valid)}."


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _validate(document: Mapping[str, Any]) -> tuple[_JobModel, list[str], set[str]]:
    """The schema-checked job, the problems found and the top-level fields that failed.

    When some fields fail, the job is checked again without them, so the checks across
    fields still run on everything else and one run reports as much as it can.
    """
    try:
        return _JobModel.model_validate(document), [], set()
    except ValidationError as exc:
        problems = _describe(exc)
        failed = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
    try:
        rest = {k: v for k, v in document.items() if k not in failed}
        return _JobModel.model_validate(rest), problems, failed
    except ValidationError:  # pragma: no cover - fields are independent
        raise ConfigError(problems) from None


def _json_problems(value: Any, path: str) -> list[str]:
    """Values that would not survive storage as JSON (the document is stored as is)."""
    if isinstance(value, Mapping):
        problems = []
        for key, item in value.items():
            if not isinstance(key, str):
                where = f"{path}: key" if path else "key"
                problems.append(f"{where} {key!r} is not a string; quote it, e.g. '{key}'.")
                continue
            problems.extend(_json_problems(item, f"{path}.{key}" if path else key))
        return problems
    if isinstance(value, list | tuple):
        return [p for i, item in enumerate(value) for p in _json_problems(item, f"{path}[{i}]")]
    if value is None or isinstance(value, str | int | float | bool):
        return []
    return [f"{path}: expected plain YAML data, got {value!r}."]


def _plain(value: Any) -> Any:
    """A JSON-ready deep copy of the document (mappings become dicts, tuples lists)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# -- checks across fields -------------------------------------------------------------------------


class _Assembly:
    """Checks what the schema cannot see alone and builds the ``JobSpec``."""

    def __init__(
        self,
        document: Mapping[str, Any],
        model: _JobModel,
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
                self.problems.append(f"{field}: missing; expected {_EXPECTED[field]}.")
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
        assert self.space is not None and workdir is not None
        limits = m.limits
        max_failures = limits.max_failures
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
                hint = _did_you_mean(name, known)
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

    # -- strategy, design, enqueue --------------------------------------------------------------
    def strategy_options(self) -> dict[str, Any]:
        m = self.model
        options = dict(m.strategy_options)
        if not self.ok("strategy", "design", "strategy_options"):
            return options
        if m.design is not None and m.strategy != "design":
            self.problems.append(
                f"design: only the design strategy reads it, got strategy {m.strategy!r}; set "
                f"strategy: design, or remove design:."
            )
            return options
        if m.strategy != "design":
            return options
        if m.design is None:
            if "configurations" not in options:
                self.problems.append(
                    "design: missing; strategy 'design' needs the configurations to run: a CSV "
                    "file (design: design.csv) or a list (design: [{lr: 0.01}, ...])."
                )
            return options
        if "configurations" in options:
            self.problems.append(
                "design: given together with strategy_options.configurations; give the "
                "configurations in one place."
            )
            return options
        if self.space is None:
            return options
        if isinstance(m.design, str):
            options["configurations"] = self.read_design(m.design, self.space)
        else:
            configurations = []
            for i, row in enumerate(m.design):
                try:
                    configurations.append(self.space.check(row))
                except SpaceError as exc:
                    self.problems.append(f"design[{i}]: {exc}")
            options["configurations"] = configurations
        return options

    def read_design(self, relative: str, space: SearchSpace) -> list[dict[str, Any]]:
        path = self.resolve(relative)
        if not path.is_file():
            self.problems.append(
                f"design: file not found, got {relative!r}; relative paths are read from the "
                f"job file's folder ({self.base_dir})."
            )
            return []
        try:
            return read_design_csv(path, space)
        except (ConfigError, SpaceError) as exc:
            lines = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
            self.problems.extend(
                line if line.startswith("design") else f"design: {line}" for line in lines
            )
            return []

    def check_strategy(self, options: dict[str, Any]) -> None:
        m = self.model
        if not self.ok("strategy", "strategy_options"):
            return
        names = available_strategies()
        if not is_strategy(m.strategy):
            self.problems.append(
                f"strategy: unknown strategy {m.strategy!r}; expected one of "
                f"{', '.join(names)}.{_did_you_mean(m.strategy, names)}"
            )
            return
        if self.space is None or any(p.startswith("design") for p in self.problems):
            return
        try:
            direction = m.objective.direction if m.objective is not None else "minimize"
            strategy = make_strategy(
                m.strategy, self.space, seed=m.seed, options=options, direction=direction
            )
        except ConfigError as exc:
            self.problems.extend(exc.problems)
            return
        except (SpaceError, ValueError, TypeError) as exc:
            self.problems.append(f"strategy_options: {exc}")
            return
        size = strategy.n_configurations
        if (
            m.strategy == "grid"
            and self.ok("limits")
            and size is not None
            and size > m.limits.max_trials
            and not options.get("sample")
        ):
            self.problems.append(
                f"strategy: the grid has {size} configurations but limits.max_trials is "
                f"{m.limits.max_trials}; raise limits.max_trials, lower "
                f"strategy_options.grid_points, or set strategy_options.sample: true to try a "
                f"random subset."
            )

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


# -- entry points ----------------------------------------------------------------------------------


def job_from_document(
    document: Mapping[str, Any], base_dir: str | Path, *, source: str = "job file"
) -> JobSpec:
    """Check a parsed job document and build its ``JobSpec``; relative paths start at ``base_dir``.

    Storage keeps the document, so this also rebuilds a stored job on resume.
    """
    if not isinstance(document, Mapping):
        raise ConfigError(
            f"{source}: expected a mapping of fields (name, command, parameters, objective, ...) "
            f"at the top level, got {type(document).__name__} {document!r}."
        )
    _check_size(document, source)
    problems = _json_problems(document, "")
    plain = _plain(document)
    model, schema_problems, failed = _validate(plain)
    problems.extend(schema_problems)
    assembly = _Assembly(plain, model, Path(base_dir).expanduser().resolve(), problems, failed)
    # default=repr: values that are not JSON are already reported as problems above.
    return assembly.build(json.loads(json.dumps(plain, default=repr)))


#: Bounds on a job document, so that a hostile file (a YAML "billion laughs" of aliases,
#: nesting thousands deep) is refused at once instead of exhausting time, memory or stack.
MAX_DOCUMENT_VALUES = 100_000
MAX_DOCUMENT_DEPTH = 64


def _check_size(document: Any, source: str) -> None:
    """Refuse documents that expand to too many values or nest too deeply (checked in bounded
    time: the walk stops at the first bound crossed)."""
    count = 0
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_DOCUMENT_VALUES:
            raise ConfigError(
                f"{source}: the job file holds more than {MAX_DOCUMENT_VALUES} values once its "
                f"YAML aliases (*name) are expanded; a job file is a few dozen settings."
            )
        if depth > MAX_DOCUMENT_DEPTH:
            raise ConfigError(
                f"{source}: the job file nests more than {MAX_DOCUMENT_DEPTH} levels deep; "
                f"a job file is a few levels of mappings and lists."
            )
        if isinstance(value, Mapping):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list | tuple):
            stack.extend((item, depth + 1) for item in value)


def load_job_file(path: str | Path) -> JobSpec:
    """Read, check and build a job file; every problem is raised in one ``ConfigError``."""
    file = Path(path).expanduser()
    if not file.is_file():
        what = "is a folder, not a job file" if file.is_dir() else "not found"
        raise ConfigError(f"{path}: job file {what}; expected a YAML file such as job.yaml.")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the job file as UTF-8 text ({exc}).") from None
    document = parse_yaml(text, str(path))
    if document is None:
        raise ConfigError(
            f"{path}: the job file is empty; expected a mapping with at least name, command, "
            f"parameters and objective."
        )
    return job_from_document(document, file.resolve().parent, source=str(path))


# -- YAML ------------------------------------------------------------------------------------

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"


class _Loader(yaml.SafeLoader):
    """Safe YAML that keeps dates as text (the document is stored as JSON), no duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key; SafeLoader reports it itself
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}; give each key once", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != _TIMESTAMP]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_yaml(text: str, source: str = "job file") -> Any:
    """Parse YAML text; a syntax error becomes one line with the file, line and column."""
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader: plain data only, never objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}, line {mark.line + 1}, column {mark.column + 1}" if mark else source
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ConfigError(f"{where}: invalid YAML: {what}.") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {' '.join(str(exc).split())}.") from None
    except RecursionError:
        raise ConfigError(
            f"{source}: invalid YAML: it nests too deeply to read; a job file is a few levels "
            f"of mappings and lists."
        ) from None
