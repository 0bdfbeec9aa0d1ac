"""Reading a job: YAML text or a parsed document in, a checked :class:`JobSpec` out.

A user fixes a job file best in one pass, so every problem becomes one line
``<field.path>: <what is wrong>, got <value>; <what is valid>`` and all of them are raised
together in one ``ConfigError``. YAML is read safely (plain data, never objects; dates
stay text; duplicate keys refused) and a syntax error names the line and column. A
document is refused at once when it would not survive storage as JSON or is too large to
be a job file (a YAML "billion laughs" of aliases, nesting thousands deep).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tuneforge.errors import ConfigError
from tuneforge.jobfile.assembly import Assembly
from tuneforge.jobfile.schema import validate
from tuneforge.jobfile.spec import JobSpec


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
    model, schema_problems, failed = validate(plain)
    problems.extend(schema_problems)
    assembly = Assembly(plain, model, Path(base_dir).expanduser().resolve(), problems, failed)
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


# -- YAML ---------------------------------------------------------------------------------------

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
