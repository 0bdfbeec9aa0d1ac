"""The three kinds of tunable parameter: ``Float``, ``Int`` and ``Categorical``.

A parameter knows its range, its default, how to check a value and how to map a point
of the unit interval onto its range (``from_unit``/``to_unit``), which is what the
Monte Carlo designs and the model-based strategies work in. Parameters carry no name:
a :class:`~tuneforge.space.SearchSpace` maps names to them.

Example:
    >>> from tuneforge.space import Float, Int, Categorical
    >>> round(Float(1e-5, 1e-1, log=True).from_unit(0.5), 12)
    0.001
    >>> Int(8, 64).from_unit(1.0)
    64
    >>> Categorical(["sgd", "adam"]).default
    'sgd'
"""

from __future__ import annotations

import abc
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tuneforge.errors import SpaceError
from tuneforge.space.conditions import Condition, condition_from_mapping

Scalar = str | int | float | bool


class Parameter(abc.ABC):
    """A tunable dimension. Implementations are frozen dataclasses.

    An implementation must provide ``default``, ``check`` (normalise a value or raise
    ``SpaceError``), ``from_unit``/``to_unit`` and ``grid``.
    """

    when: Condition | None

    @property
    @abc.abstractmethod
    def default(self) -> Scalar:
        """The value used when a configuration is built from defaults."""

    @abc.abstractmethod
    def check(self, value: Any, name: str = "value") -> Scalar:
        """Return ``value`` in canonical form, or raise ``SpaceError`` naming ``name``."""

    @abc.abstractmethod
    def from_unit(self, u: float) -> Scalar:
        """Map ``u`` in [0, 1] onto the range (uniformly in log space when ``log``)."""

    @abc.abstractmethod
    def to_unit(self, value: Scalar) -> float:
        """Inverse of ``from_unit``: the centre of the value's cell in [0, 1]."""

    @abc.abstractmethod
    def grid(self, n_points: int) -> list[Scalar]:
        """Values a grid search tries: all of them, or ``n_points`` spread over the range."""

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description, the same shape as a job file's ``parameters`` entry."""

    def _condition_dict(self, out: dict[str, Any]) -> dict[str, Any]:
        if self.when is not None:
            out["when"] = self.when.describe()
        return out


def _as_condition(when: Condition | Mapping[str, Any] | None) -> Condition | None:
    if when is None or isinstance(when, Condition):
        return when
    if isinstance(when, Mapping):
        return condition_from_mapping(when)
    raise SpaceError(
        f"'when' must be a mapping such as {{'optimizer': 'sgd'}} or a Condition; got {when!r}."
    )


def _is_number(value: Any) -> bool:
    # numbers.Real, not int | float: numpy integers (pandas, numpy designs) are numbers too.
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
    """A number a float can hold: huge integers (10**400) overflow instead of failing."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _clip_unit(u: float) -> float:
    """``u`` clipped to [0, 1]; NaN would map to no value of the range, so it is an error."""
    u = float(u)
    if math.isnan(u):
        raise SpaceError("a unit-interval coordinate must be a number, got nan.")
    return min(max(u, 0.0), 1.0)


def _check_bounds(kind: str, low: Any, high: Any, log: bool) -> None:
    for label, bound in (("low", low), ("high", high)):
        if not _is_number(bound) or not _is_finite(bound):
            raise SpaceError(
                f"{kind}: '{label}' must be a finite number, got {bound!r}.", field=label
            )
    if not low < high:
        raise SpaceError(
            f"{kind}: 'low < high' must hold, but got low={low!r}, high={high!r}.", field="low"
        )
    if log and low <= 0:
        raise SpaceError(f"{kind}: a log scale needs low > 0, but got low={low!r}.", field="low")


@dataclass(frozen=True)
class Float(Parameter):
    """A real number in [low, high], sampled uniformly or, with ``log=True``, log-uniformly."""

    low: float
    high: float
    log: bool = False
    default_value: float | None = None
    when: Condition | None = None

    def __init__(
        self,
        low: float,
        high: float,
        *,
        log: bool = False,
        default: float | None = None,
        when: Condition | Mapping[str, Any] | None = None,
    ) -> None:
        _check_bounds("Float", low, high, log)
        object.__setattr__(self, "low", float(low))
        object.__setattr__(self, "high", float(high))
        object.__setattr__(self, "log", bool(log))
        object.__setattr__(self, "when", _as_condition(when))
        object.__setattr__(self, "default_value", None)
        if default is not None:
            object.__setattr__(self, "default_value", _check_default(self, default))

    @property
    def default(self) -> float:
        if self.default_value is not None:
            return self.default_value
        return self.from_unit(0.5)

    def check(self, value: Any, name: str = "value") -> float:
        if not _is_number(value) or not _is_finite(value):
            raise SpaceError(
                f"{name} must be a finite number in [{self.low}, {self.high}], got {value!r}."
            )
        if not self.low <= value <= self.high:
            raise SpaceError(f"{name} must lie in [{self.low}, {self.high}], got {value!r}.")
        return float(value)

    def from_unit(self, u: float) -> float:
        u = _clip_unit(u)
        if u in (0.0, 1.0):
            return self.low if u == 0.0 else self.high  # exact ends: grids name the bounds
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            value = math.exp(lo + u * (hi - lo))
        else:
            value = self.low + u * (self.high - self.low)
        return min(max(value, self.low), self.high)

    def to_unit(self, value: Scalar) -> float:
        v = float(value)
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            return (math.log(v) - lo) / (hi - lo)
        return (v - self.low) / (self.high - self.low)

    def grid(self, n_points: int) -> list[Scalar]:
        if n_points < 1:
            raise SpaceError(f"grid_points must be an int >= 1, got {n_points!r}.")
        if n_points == 1:
            return [self.default]
        return [self.from_unit(i / (n_points - 1)) for i in range(n_points)]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "float", "low": self.low, "high": self.high, "log": self.log}
        out["default"] = self.default
        return self._condition_dict(out)


@dataclass(frozen=True)
class Int(Parameter):
    """An integer in [low, high] (both included), uniform or log-uniform."""

    low: int
    high: int
    log: bool = False
    default_value: int | None = None
    when: Condition | None = None

    def __init__(
        self,
        low: int,
        high: int,
        *,
        log: bool = False,
        default: int | None = None,
        when: Condition | Mapping[str, Any] | None = None,
    ) -> None:
        for label, bound in (("low", low), ("high", high)):
            if not _is_number(bound) or not _is_finite(bound) or not float(bound).is_integer():
                raise SpaceError(f"Int: '{label}' must be an integer, got {bound!r}.", field=label)
        _check_bounds("Int", low, high, log)
        object.__setattr__(self, "low", int(low))
        object.__setattr__(self, "high", int(high))
        object.__setattr__(self, "log", bool(log))
        object.__setattr__(self, "when", _as_condition(when))
        object.__setattr__(self, "default_value", None)
        if default is not None:
            object.__setattr__(self, "default_value", _check_default(self, default))

    @property
    def default(self) -> int:
        if self.default_value is not None:
            return self.default_value
        return self.from_unit(0.5)

    def check(self, value: Any, name: str = "value") -> int:
        if not _is_number(value) or not _is_finite(value) or not float(value).is_integer():
            raise SpaceError(
                f"{name} must be an integer in [{self.low}, {self.high}], got {value!r}."
            )
        if not self.low <= value <= self.high:
            raise SpaceError(f"{name} must lie in [{self.low}, {self.high}], got {value!r}.")
        return int(value)

    def _edges(self) -> tuple[float, float]:
        # Each integer owns a cell of width 1 (in log space: from k-0.5 to k+0.5), so every
        # integer is equally likely on a linear scale and the ends are not under-sampled.
        if self.log:
            return math.log(self.low - 0.5 if self.low > 0.5 else self.low), math.log(
                self.high + 0.5
            )
        return self.low - 0.5, self.high + 0.5

    def from_unit(self, u: float) -> int:
        u = _clip_unit(u)
        lo, hi = self._edges()
        x = lo + u * (hi - lo)
        value = round(math.exp(x)) if self.log else math.floor(x + 0.5)
        return int(min(max(value, self.low), self.high))

    def to_unit(self, value: Scalar) -> float:
        lo, hi = self._edges()
        x = math.log(float(value)) if self.log else float(value)
        return min(max((x - lo) / (hi - lo), 0.0), 1.0)

    def grid(self, n_points: int) -> list[Scalar]:
        if n_points < 1:
            raise SpaceError(f"grid_points must be an int >= 1, got {n_points!r}.")
        if self.high - self.low + 1 <= n_points:
            return list(range(self.low, self.high + 1))
        if n_points == 1:
            return [self.default]
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            points = [round(math.exp(lo + i * (hi - lo) / (n_points - 1))) for i in range(n_points)]
        else:
            points = [
                round(self.low + i * (self.high - self.low) / (n_points - 1))
                for i in range(n_points)
            ]
        return list(dict.fromkeys(int(p) for p in points))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "int", "low": self.low, "high": self.high, "log": self.log}
        out["default"] = self.default
        return self._condition_dict(out)


def _check_default(parameter: Parameter, default: Any) -> Any:
    try:
        return parameter.check(default, "default")
    except SpaceError as exc:
        raise SpaceError(str(exc), field="default") from None


def _value_key(value: Any) -> tuple[str, Any]:
    # True == 1 == 1.0 in Python; a categorical may hold both "1" and 1 but not 1 and 1.0.
    kind = "bool" if isinstance(value, bool) else "number" if _is_number(value) else "str"
    return kind, value


@dataclass(frozen=True)
class Categorical(Parameter):
    """One of a list of values (strings, numbers or booleans), tried in no particular order.

    ``ordered=True`` marks an ordinal parameter (PCS ``ordinal``): models may then treat
    neighbouring values as similar.
    """

    values: tuple[Scalar, ...]
    ordered: bool = False
    default_value: Scalar | None = None
    when: Condition | None = None
    _has_default: bool = field(default=False, repr=False)

    def __init__(
        self,
        values: Sequence[Scalar],
        *,
        ordered: bool = False,
        default: Scalar | None = None,
        when: Condition | Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(values, str | bytes) or not isinstance(values, Sequence):
            raise SpaceError(
                f"Categorical: 'values' must be a list, got {values!r}.", field="values"
            )
        if len(values) == 0:
            raise SpaceError("Categorical: 'values' must not be empty.", field="values")
        seen: set[tuple[str, Any]] = set()
        for value in values:
            if not isinstance(value, str | int | float | bool) or (
                isinstance(value, float) and not _is_finite(value)
            ):
                raise SpaceError(
                    f"Categorical: each value must be a string, a finite number or a boolean, "
                    f"got {value!r}.",
                    field="values",
                )
            key = _value_key(value)
            if key in seen:
                raise SpaceError(
                    f"Categorical: duplicate value {value!r} in {list(values)!r}.", field="values"
                )
            seen.add(key)
        object.__setattr__(self, "values", tuple(values))
        object.__setattr__(self, "ordered", bool(ordered))
        object.__setattr__(self, "when", _as_condition(when))
        object.__setattr__(self, "default_value", None)
        object.__setattr__(self, "_has_default", False)
        if default is not None:
            object.__setattr__(self, "default_value", _check_default(self, default))
            object.__setattr__(self, "_has_default", True)

    @property
    def default(self) -> Scalar:
        return self.default_value if self._has_default else self.values[0]  # type: ignore[return-value]

    def index(self, value: Any) -> int:
        key = _value_key(value)
        for i, candidate in enumerate(self.values):
            if _value_key(candidate) == key:
                return i
        raise SpaceError(f"value must be one of {list(self.values)!r}, got {value!r}.")

    def check(self, value: Any, name: str = "value") -> Scalar:
        try:
            return self.values[self.index(value)]
        except SpaceError:
            raise SpaceError(
                f"{name} must be one of {list(self.values)!r}, got {value!r}."
            ) from None

    def from_unit(self, u: float) -> Scalar:
        u = _clip_unit(u)
        return self.values[min(int(u * len(self.values)), len(self.values) - 1)]

    def to_unit(self, value: Scalar) -> float:
        return (self.index(value) + 0.5) / len(self.values)

    def grid(self, n_points: int) -> list[Scalar]:
        return list(self.values)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "ordinal" if self.ordered else "categorical"}
        out["values"] = list(self.values)
        out["default"] = self.default
        return self._condition_dict(out)
