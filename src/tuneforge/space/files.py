"""Load a search space from a file, choosing the reader from the extension (or the content).

============================  ==============================================================
``.pcs`` (``.pcs_new``)       SMAC PCS, classic or new syntax (:func:`read_pcs`)
``.json``                     a tuning job's ``ParameterRanges`` (:func:`read_parameter_ranges`)
``.yaml`` / ``.yml``          a mapping with ``parameters:`` and optional ``static:`` and
                              ``forbidden:``, as in a job file (:func:`space_from_mapping`)
anything else                 JSON if it parses as an object, YAML if it has ``parameters:``,
                              PCS otherwise
============================  ==============================================================

Other top-level YAML keys (``command:``, ``strategy:``...) are ignored here: a whole job
file is checked by the job-file reader, and this only pulls its space out.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tuneforge.errors import ConfigError
from tuneforge.space.mapping import space_from_mapping
from tuneforge.space.pcs import read_pcs
from tuneforge.space.ranges import read_parameter_ranges
from tuneforge.space.search_space import SearchSpace

PCS_SUFFIXES = (".pcs", ".pcs_new")
JSON_SUFFIXES = (".json",)
YAML_SUFFIXES = (".yaml", ".yml")


def load_space_file(path: str | os.PathLike[str]) -> SearchSpace:
    """Read the search space in ``path``; any problem is a ``ConfigError`` naming the file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{file}: cannot read the search space file ({reason}).") from None
    source, suffix = str(file), file.suffix.lower()
    if suffix in PCS_SUFFIXES:
        return read_pcs(text, source=source)
    if suffix in JSON_SUFFIXES:
        return read_parameter_ranges(text, source=source)
    if suffix in YAML_SUFFIXES:
        return _space_from_yaml(_load_yaml(text, source), source)
    return _guess(text, source, suffix)


def _guess(text: str, source: str, suffix: str) -> SearchSpace:
    """Pick a reader from the content when the extension does not say."""
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            data = None  # a PCS file may start with a forbidden clause such as {a=1, b=2}
        if isinstance(data, Mapping):
            return read_parameter_ranges(data, source=source)
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, RecursionError):
        data = None
    if isinstance(data, Mapping) and "parameters" in data:
        return _space_from_yaml(data, source)
    try:
        return read_pcs(text, source=source)
    except ConfigError as exc:
        hint = (
            f"{source}: read as PCS because the extension '{suffix}' does not name a format; "
            f"use {', '.join(PCS_SUFFIXES + JSON_SUFFIXES + YAML_SUFFIXES)} to choose the reader."
        )
        raise ConfigError([*exc.problems, hint]) from None


def _load_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        where = f"{source} line {exc.problem_mark.line + 1}" if exc.problem_mark else source
        raise ConfigError(f"{where}: not valid YAML ({exc.problem or exc}).") from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise ConfigError(f"{source}: not valid YAML ({exc}).") from None


def _space_from_yaml(data: Any, source: str) -> SearchSpace:
    if not isinstance(data, Mapping) or "parameters" not in data:
        got = f"keys {sorted(map(str, data))}" if isinstance(data, Mapping) else repr(data)[:60]
        raise ConfigError(
            f"{source}: expected a YAML mapping with a top-level 'parameters:' key (and "
            f"optional 'static:' and 'forbidden:'), got {got}."
        )
    static, forbidden = data.get("static"), data.get("forbidden")
    if static is not None and not isinstance(static, Mapping):
        raise ConfigError(f"{source}: static: expected a mapping of name to value, got {static!r}.")
    if forbidden is not None and not isinstance(forbidden, list):
        raise ConfigError(
            f"{source}: forbidden: expected a list of mappings such as "
            f"[{{optimizer: sgd, layers: 3}}], got {forbidden!r}."
        )
    try:
        return space_from_mapping(data["parameters"], static=static, forbidden=forbidden or ())
    except ConfigError as exc:
        raise ConfigError([f"{source}: {problem}" for problem in exc.problems]) from None
