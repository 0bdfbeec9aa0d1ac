"""``SpaceRecord``: the search space a job searched, as a value stored with the job.

A job's space may come from the job file's ``parameters:``, from a file named by
``parameters_file:`` (PCS, ParameterRanges JSON, YAML) or from ``optimize``; storage
keeps what it resolved to, whatever the source, so that the dashboard's job page and
charts never read the space out of the document again. A record holds each parameter's
type, range or values, scale, declared default and condition (as text), the static
values and the forbidden clauses (as text). It describes the space; it is not used to
search it (conditions are text, not expressions).

Its JSON form (:meth:`SpaceRecord.to_dict`) has the job file's shape: ``parameters``
(name to entry: ``type``, ``low``/``high`` with ``log: true`` when log-scaled, or
``values``; ``default`` when one was declared; ``when`` for a condition), ``static`` and
``forbidden``. :meth:`SpaceRecord.from_dict` reads it back, and reads the description
``SearchSpace.to_dict`` gives too.

Example:
    >>> from tuneforge.space import Categorical, Float, SearchSpace
    >>> space = SearchSpace(
    ...     {"lr": Float(1e-5, 0.1, log=True), "opt": Categorical(["sgd", "adam"])},
    ...     static={"epochs": 3},
    ... )
    >>> record = SpaceRecord.from_space(space)
    >>> record.log_parameters
    ['lr']
    >>> record.entries()["opt"]
    {'type': 'categorical', 'values': ['sgd', 'adam']}
    >>> SpaceRecord.from_dict(record.to_dict()) == record
    True
"""

from __future__ import annotations

import enum
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tuneforge.errors import SpaceError
from tuneforge.space.parameters import Categorical, Float, Int, Parameter, Scalar
from tuneforge.space.search_space import SearchSpace

__all__ = ["ParameterRecord", "ParameterType", "SpaceRecord"]


class ParameterType(enum.StrEnum):
    """A parameter's type, as the job file names it."""

    FLOAT = "float"
    INT = "int"
    CATEGORICAL = "categorical"
    ORDINAL = "ordinal"

    @property
    def numeric(self) -> bool:
        """A range (``low``/``high``), not a list of values."""
        return self in (ParameterType.FLOAT, ParameterType.INT)


@dataclass(frozen=True)
class ParameterRecord:
    """One parameter of a :class:`SpaceRecord`.

    ``low``/``high``/``log`` for a float or int, ``values`` for a categorical or ordinal;
    ``default`` is the declared default (``None``: none was declared); ``when`` is the
    condition as text (``None``: always active).
    """

    name: str
    type: ParameterType
    low: float | None = None
    high: float | None = None
    log: bool = False
    values: tuple[Scalar, ...] | None = None
    default: Scalar | None = None
    when: str | None = None

    @classmethod
    def of(cls, name: str, parameter: Parameter) -> ParameterRecord:
        """The record of a space's parameter."""
        when = None if parameter.when is None else parameter.when.describe()
        if isinstance(parameter, Float | Int):
            kind = ParameterType.FLOAT if isinstance(parameter, Float) else ParameterType.INT
            return cls(
                name,
                kind,
                low=parameter.low,
                high=parameter.high,
                log=parameter.log,
                default=parameter.default_value,
                when=when,
            )
        if isinstance(parameter, Categorical):
            kind = ParameterType.ORDINAL if parameter.ordered else ParameterType.CATEGORICAL
            return cls(
                name, kind, values=parameter.values, default=parameter.default_value, when=when
            )
        raise SpaceError(
            f"parameter '{name}' must be a Float, Int or Categorical, got {parameter!r}."
        )

    def entry(self) -> dict[str, Any]:
        """The job file's entry for the parameter, with only what it declares."""
        out: dict[str, Any] = {"type": self.type.value}
        if self.type.numeric:
            out["low"], out["high"] = self.low, self.high
            if self.log:
                out["log"] = True
        else:
            out["values"] = list(self.values or ())
        if self.default is not None:
            out["default"] = self.default
        if self.when is not None:
            out["when"] = self.when
        return out

    @classmethod
    def from_entry(cls, name: str, entry: Any, path: str) -> ParameterRecord:
        """Read an entry of :meth:`entry`'s shape; ``SpaceError`` names the field at ``path``."""
        if not isinstance(entry, Mapping):
            raise SpaceError(f"{path}: expected a mapping with 'type', got {entry!r}.")
        try:
            kind = ParameterType(str(entry.get("type")))
        except ValueError:
            raise SpaceError(
                f"{path}.type: expected one of {', '.join(ParameterType)}, "
                f"got {entry.get('type')!r}."
            ) from None
        valid = {"type", "default", "when"} | (
            {"low", "high", "log"} if kind.numeric else {"values"}
        )
        unknown = sorted(map(str, set(entry) - valid))
        if unknown:
            raise SpaceError(
                f"{path}: unknown key(s) {unknown} for a {kind} parameter; "
                f"valid keys: {sorted(valid)}."
            )
        default, when = entry.get("default"), entry.get("when")
        if default is not None and not _is_scalar(default):
            raise SpaceError(
                f"{path}.default: expected a number, string or boolean, got {default!r}."
            )
        if when is not None and not isinstance(when, str):
            raise SpaceError(f"{path}.when: expected the condition as text, got {when!r}.")
        if not kind.numeric:
            values = entry.get("values")
            if not isinstance(values, list | tuple) or not all(map(_is_scalar, values)):
                raise SpaceError(
                    f"{path}.values: expected a list of numbers, strings or booleans, "
                    f"got {values!r}."
                )
            return cls(name, kind, values=tuple(values), default=default, when=when)
        low, high, log = entry.get("low"), entry.get("high"), entry.get("log", False)
        for key, bound in (("low", low), ("high", high)):
            if not _is_number(bound):
                raise SpaceError(f"{path}.{key}: expected a number, got {bound!r}.")
        if not isinstance(log, bool):
            raise SpaceError(f"{path}.log: expected true or false, got {log!r}.")
        return cls(name, kind, low=low, high=high, log=log, default=default, when=when)


@dataclass(frozen=True)
class SpaceRecord:
    """A job's resolved search space: parameters in order, static values, forbidden clauses.

    ``SpaceRecord()`` is the empty space of a job whose space is not known.
    """

    parameters: tuple[ParameterRecord, ...] = ()
    static: Mapping[str, Any] = field(default_factory=dict)
    forbidden: tuple[str, ...] = ()

    @classmethod
    def from_space(cls, space: SearchSpace) -> SpaceRecord:
        """The record of a search space (parents before children, as the space orders them)."""
        return cls(
            parameters=tuple(ParameterRecord.of(name, p) for name, p in space.parameters.items()),
            static=dict(space.static),
            forbidden=tuple(clause.describe() for clause in space.forbidden),
        )

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def log_parameters(self) -> list[str]:
        """Names of the log-scaled parameters (their charts get log axes)."""
        return [p.name for p in self.parameters if p.log]

    def entries(self) -> dict[str, dict[str, Any]]:
        """The parameters as the job file's ``parameters:`` mapping of name to entry."""
        return {p.name: p.entry() for p in self.parameters}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``parameters`` (name to entry), ``static``, ``forbidden``."""
        return {
            "parameters": self.entries(),
            "static": dict(self.static),
            "forbidden": list(self.forbidden),
        }

    @classmethod
    def from_dict(cls, data: Any, path: str = "space") -> SpaceRecord:
        """Read :meth:`to_dict`'s form (or ``SearchSpace.to_dict``'s); ``SpaceError`` names
        the field that is wrong."""
        if not isinstance(data, Mapping) or not isinstance(data.get("parameters"), Mapping):
            raise SpaceError(
                f"{path}: expected a mapping with 'parameters' (name to entry) and optional "
                f"'static' and 'forbidden', got {data!r}."
            )
        static = data.get("static") or {}
        if not isinstance(static, Mapping):
            raise SpaceError(f"{path}.static: expected a mapping of name to value, got {static!r}.")
        forbidden = data.get("forbidden") or []
        texts = isinstance(forbidden, list | tuple) and all(isinstance(c, str) for c in forbidden)
        if not texts:
            raise SpaceError(
                f"{path}.forbidden: expected a list of clauses as text, got {forbidden!r}."
            )
        return cls(
            parameters=tuple(
                ParameterRecord.from_entry(str(name), entry, f"{path}.parameters.{name}")
                for name, entry in data["parameters"].items()
            ),
            static={str(name): value for name, value in static.items()},
            forbidden=tuple(map(str, forbidden)),
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | bool) or _is_number(value)
