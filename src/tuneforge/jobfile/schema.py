"""The job file's schema: pydantic models whose errors become one line per problem.

Each field runs its check from :mod:`tuneforge.jobfile.validators` first, so the user
reads our wording, never pydantic's or a URL; what pydantic still reports itself (a list
where a mapping belongs, an unknown or missing field) is translated here into the same
``<field.path>: <what is wrong>, got <value>; <what is valid>`` form.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator

from tuneforge.errors import ConfigError
from tuneforge.jobfile import validators
from tuneforge.jobfile.validators import or_empty
from tuneforge.retry import RetryPolicy
from tuneforge.runner import DEFAULT_MAX_LOG_BYTES
from tuneforge.space import Scalar
from tuneforge.trial import Direction, OnInterrupt


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _ObjectiveModel(_Section):
    metric: Annotated[str, BeforeValidator(validators.text("a metric name", optional=False))]
    direction: Annotated[Direction, BeforeValidator(validators.direction)] = Direction.MINIMIZE

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
    name: Annotated[str, BeforeValidator(validators.text("a metric name", optional=False))]
    regex: Annotated[str, BeforeValidator(validators.regex)]

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
    source: Annotated[str, BeforeValidator(validators.text("a template file name", optional=False))]
    target: Annotated[str | None, BeforeValidator(validators.template_target)] = None

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
    max_trials: Annotated[int, BeforeValidator(validators.int_at_least(1))] = 20
    max_parallel: Annotated[int, BeforeValidator(validators.int_at_least(1))] = 1
    trial_timeout: Annotated[float | None, BeforeValidator(validators.optional_duration)] = None
    max_failures: Annotated[
        int | None, BeforeValidator(validators.int_at_least(1, optional=True))
    ] = None
    time_limit: Annotated[float | None, BeforeValidator(validators.optional_duration)] = None
    max_log_bytes: Annotated[int | None, BeforeValidator(validators.optional_size)] = (
        DEFAULT_MAX_LOG_BYTES
    )

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValueError(
                f"expected a mapping such as {{max_trials: 20, max_parallel: 1}}, got {value!r}."
            )
        return value


class _RetryModel(_Section):
    max_retries: Annotated[int, BeforeValidator(validators.int_at_least(0))] = 1
    exit_codes: Annotated[list[int], BeforeValidator(validators.exit_codes)] = []
    log_regex: Annotated[str | None, BeforeValidator(validators.retry_regex)] = None
    delay: Annotated[float, BeforeValidator(validators.delay)] = 0.0

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


_Text = Annotated[str | None, BeforeValidator(validators.text("a non-empty string"))]
_EnvName = Annotated[str, BeforeValidator(validators.env_name)]
_EnvValue = Annotated[str, BeforeValidator(validators.env_value)]


class JobModel(_Section):
    # Required fields are optional here and checked afterwards, so that a job whose other
    # fields fail can still be validated without them (see ``_validate``).
    name: Annotated[str | None, BeforeValidator(validators.job_name)] = None
    description: Annotated[str | None, BeforeValidator(validators.text("a string"))] = None
    command: Annotated[list[str] | None, BeforeValidator(validators.command)] = None
    templates: Annotated[list[_TemplateModel], or_empty(list)] = []
    env: Annotated[dict[_EnvName, _EnvValue], or_empty(dict)] = {}
    workdir: _Text = None
    parameters: Any = None
    parameters_file: _Text = None
    static: Annotated[
        dict[str, Annotated[Scalar, BeforeValidator(validators.static_value)]], or_empty(dict)
    ] = {}
    forbidden: Annotated[list[Any], or_empty(list)] = []
    objective: _ObjectiveModel | None = None
    metrics: Annotated[list[_MetricModel], or_empty(list)] = []
    strategy: Annotated[
        str, BeforeValidator(validators.text("a strategy name", optional=False))
    ] = "auto"
    strategy_options: Annotated[dict[str, Any], or_empty(dict)] = {}
    design: Annotated[Any, BeforeValidator(validators.design)] = None
    enqueue_default: Annotated[bool, BeforeValidator(validators.boolean)] = False
    enqueue: Annotated[list[dict[str, Any]], or_empty(list)] = []
    early_stopping: Annotated[dict[str, Any], BeforeValidator(validators.early_stopping)] = {
        "rule": "off"
    }
    limits: Annotated[_LimitsModel, or_empty(dict)] = _LimitsModel()
    storage: Annotated[str | None, BeforeValidator(validators.storage)] = None
    retry: _RetryModel | None = None
    on_interrupt: Annotated[OnInterrupt, BeforeValidator(validators.on_interrupt)] = (
        OnInterrupt.RERUN
    )
    executor: Annotated[str | None, BeforeValidator(validators.executor)] = None
    warm_start: Annotated[list[str], BeforeValidator(validators.warm_start), or_empty(list)] = []
    output_dir: _Text = None
    seed: Annotated[int | None, BeforeValidator(validators.int_at_least(0, optional=True))] = None


#: The schema of each section, by the field path that leads to it (list indices dropped).
_SECTIONS: dict[str, type[BaseModel]] = {
    "": JobModel,
    "objective": _ObjectiveModel,
    "metrics": _MetricModel,
    "templates": _TemplateModel,
    "limits": _LimitsModel,
    "retry": _RetryModel,
}

#: What a field holds, for pydantic's own type errors (containers) and for missing fields.
EXPECTED = {
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
            expected = EXPECTED.get(_section_key(loc), "a value")
            lines.append(f"{path}: missing; expected {expected}.")
        elif kind in ("value_error", "assertion_error") and "error" in entry.get("ctx", {}):
            lines.append(f"{path}: {entry['ctx']['error']}")
        else:
            # A whole field is described by EXPECTED, an item of a list by its type only.
            field = None if isinstance(loc[-1], int) else EXPECTED.get(_section_key(loc))
            expected = field or _TYPE_TEXT.get(kind) or entry["msg"]
            lines.append(f"{path}: expected {expected}, got {entry['input']!r}.")
    return lines


def _unknown_field(path: str, name: str, section: str) -> str:
    valid = list(_SECTIONS.get(section, JobModel).model_fields)
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    hint = f" did you mean {close[0]!r}?" if close else ""
    return f"{path}: unknown field;{hint} valid fields: {', '.join(valid)}."


def did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def validate(document: Mapping[str, Any]) -> tuple[JobModel, list[str], set[str]]:
    """The schema-checked job, the problems found and the top-level fields that failed.

    When some fields fail, the job is checked again without them, so the checks across
    fields still run on everything else and one run reports as much as it can.
    """
    try:
        return JobModel.model_validate(document), [], set()
    except ValidationError as exc:
        problems = _describe(exc)
        failed = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
    try:
        rest = {k: v for k, v in document.items() if k not in failed}
        return JobModel.model_validate(rest), problems, failed
    except ValidationError:  # pragma: no cover - fields are independent
        raise ConfigError(problems) from None
