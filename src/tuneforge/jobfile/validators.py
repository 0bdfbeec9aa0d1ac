"""Field checks: each returns a job-file value in canonical form or raises ``ValueError``.

The schema runs them before pydantic's own checks, so a message is always ours: it
completes ``"<field.path>: "`` and reads ``<what is wrong>, got <value>; <what is valid>``.

Example:
    >>> parse_duration("1h30m"), parse_size("100MB")
    (5400.0, 104857600)
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shlex
from collections.abc import Callable, Mapping
from pathlib import PurePosixPath
from typing import Any

from pydantic import BeforeValidator

from tuneforge import placeholders
from tuneforge.metrics import check_metric_definition
from tuneforge.space import Scalar
from tuneforge.stopping import available_rules
from tuneforge.trial import Direction, OnInterrupt

#: The objective's directions, as a job file writes them.
DIRECTIONS = tuple(Direction)

_JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_DURATION = re.compile(r"^(?:\s*(?:\d+(?:\.\d*)?|\.\d+)\s*[hms]\s*)+$", re.IGNORECASE)
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([hms])", re.IGNORECASE)
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


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


def optional_duration(value: Any) -> float | None:
    return None if value is None else parse_duration(value)


def int_at_least(low: int, *, optional: bool = False) -> Callable[[Any], int | None]:
    def check(value: Any) -> int | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            suffix = " or null" if optional else ""
            raise ValueError(f"must be an int >= {low}{suffix}, got {value!r}.")
        return value

    return check


def text(what: str, *, optional: bool = True) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"expected {what}, got {value!r}.")
        if "\0" in value:  # no file name, command or metric can hold one
            raise ValueError(f"expected {what} without NUL characters, got {value!r}.")
        return value

    return check


def job_name(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _JOB_NAME.match(value) or ".." in value:
        raise ValueError(
            f"invalid job name, got {value!r}; use 1 to 128 letters, digits, '_', '.' or '-', "
            f"starting with a letter or digit, without '..' (the name is a folder name)."
        )
    return value


def command(value: Any) -> list[str] | None:
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
    if any("\0" in arg for arg in argv):
        raise ValueError(f"a command cannot hold NUL characters, got {value!r}.")
    return argv


def direction(value: Any) -> Direction:
    """Any case, surrounding spaces ignored; the message keeps the value as written."""
    try:
        return Direction.parse(value.strip().lower() if isinstance(value, str) else value)
    except ValueError:
        choices = " or ".join(repr(str(d)) for d in Direction)
        raise ValueError(f"expected {choices}, got {value!r}.") from None


def regex(value: Any) -> str:
    problem = check_metric_definition("metric", value)
    if problem is not None:
        raise ValueError(problem)
    return str(value)


def template_target(value: Any) -> str | None:
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


def env_name(value: Any) -> str:
    if not isinstance(value, str) or not value or "=" in value or "\0" in value:
        raise ValueError(
            f"invalid environment variable name, got {value!r}; use a non-empty name without '='."
        )
    return value


def env_value(value: Any) -> str:
    if isinstance(value, str | int | float | bool):
        return placeholders.format_value(value) if not isinstance(value, str) else value
    raise ValueError(f"expected a string or a number, got {value!r}; environment values are text.")


def static_value(value: Any) -> Scalar:
    if isinstance(value, str | int | bool) or (isinstance(value, float) and math.isfinite(value)):
        return value
    raise ValueError(
        f"expected a single value (string, number or boolean), got {value!r}; "
        f"static values are the same in every trial."
    )


def early_stopping(value: Any) -> dict[str, Any]:
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


def warm_start(value: Any) -> list[str]:
    """``warm_start: [job-a, job-b]`` (or one name): earlier jobs whose trials seed the model."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list):
        raise ValueError(f"expected a list of earlier job names, got {value!r}.")
    for name in names:
        if not isinstance(name, str):
            raise ValueError(f"expected a list of earlier job names, got {value!r}.")
        job_name(name)
    return list(dict.fromkeys(names))


def design(value: Any) -> str | list[dict[str, Any]] | None:
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


def storage(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _URL.match(value):
        raise ValueError(
            f"expected a database URL, got {value!r}; e.g. 'sqlite:///tuneforge.db' or "
            f"'postgresql+psycopg://user@host/db'."
        )
    return value


_EXECUTOR = re.compile(r"^(?:dask|tcp|tls)://[^/\s]+$")


def executor(value: Any) -> str | None:
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


def optional_size(value: Any) -> int | None:
    return None if value is None else parse_size(value)


def exit_codes(value: Any) -> list[int]:
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


def retry_regex(value: Any) -> str | None:
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


def delay(value: Any) -> float:
    if value is None or (type(value) in (int, float) and value == 0):
        return 0.0
    return parse_duration(value)


def on_interrupt(value: Any) -> OnInterrupt:
    if value not in tuple(OnInterrupt):
        raise ValueError(
            f"expected 'rerun' (run interrupted trials again on resume) or 'mark' (leave them "
            f"interrupted, counted toward max_trials), got {value!r}."
        )
    return OnInterrupt(value)


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}.")
    return value


def or_empty(empty: Callable[[], Any]) -> BeforeValidator:
    """An omitted section (``env:`` with nothing after it is null) counts as empty."""
    return BeforeValidator(lambda value: empty() if value is None else value)
