"""Conditions (when a parameter is active) and forbidden combinations, as small expressions.

A condition is evaluated on a configuration that holds only *active* parameters: a
comparison that names an absent (inactive) parameter is false, so a child of an inactive
parent is inactive too, as in SMAC's PCS and ConfigSpace. A forbidden clause is a
condition that a valid configuration must not satisfy.

Example:
    >>> from tuneforge.space.conditions import Equals, InSet, AllOf
    >>> c = AllOf((Equals("optimizer", "sgd"), InSet("layers", (2, 3))))
    >>> c.evaluate({"optimizer": "sgd", "layers": 2}), c.evaluate({"optimizer": "adam"})
    (True, False)
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tuneforge.errors import SpaceError


class Condition(abc.ABC):
    """A boolean expression over parameter values."""

    @abc.abstractmethod
    def evaluate(self, config: Mapping[str, Any]) -> bool:
        """True when the expression holds for ``config`` (absent names make comparisons false)."""

    @abc.abstractmethod
    def names(self) -> frozenset[str]:
        """The parameter names the expression reads."""

    @abc.abstractmethod
    def describe(self) -> str:
        """A readable form, e.g. ``optimizer == 'sgd' && layers in {2, 3}``."""

    def __str__(self) -> str:
        return self.describe()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, str) != isinstance(b, str):
        return False
    return bool(a == b)


@dataclass(frozen=True)
class Equals(Condition):
    name: str
    value: Any

    def evaluate(self, config: Mapping[str, Any]) -> bool:
        return self.name in config and _same(config[self.name], self.value)

    def names(self) -> frozenset[str]:
        return frozenset({self.name})

    def describe(self) -> str:
        return f"{self.name} == {self.value!r}"


@dataclass(frozen=True)
class NotEquals(Condition):
    name: str
    value: Any

    def evaluate(self, config: Mapping[str, Any]) -> bool:
        return self.name in config and not _same(config[self.name], self.value)

    def names(self) -> frozenset[str]:
        return frozenset({self.name})

    def describe(self) -> str:
        return f"{self.name} != {self.value!r}"


@dataclass(frozen=True)
class InSet(Condition):
    name: str
    values: tuple[Any, ...]

    def evaluate(self, config: Mapping[str, Any]) -> bool:
        return self.name in config and any(_same(config[self.name], v) for v in self.values)

    def names(self) -> frozenset[str]:
        return frozenset({self.name})

    def describe(self) -> str:
        return f"{self.name} in {{{', '.join(repr(v) for v in self.values)}}}"


@dataclass(frozen=True)
class LessThan(Condition):
    name: str
    value: float

    def evaluate(self, config: Mapping[str, Any]) -> bool:
        v = config.get(self.name)
        return isinstance(v, int | float) and not isinstance(v, bool) and v < self.value

    def names(self) -> frozenset[str]:
        return frozenset({self.name})

    def describe(self) -> str:
        return f"{self.name} < {self.value!r}"


@dataclass(frozen=True)
class GreaterThan(Condition):
    name: str
    value: float

    def evaluate(self, config: Mapping[str, Any]) -> bool:
        v = config.get(self.name)
        return isinstance(v, int | float) and not isinstance(v, bool) and v > self.value

    def names(self) -> frozenset[str]:
        return frozenset({self.name})

    def describe(self) -> str:
        return f"{self.name} > {self.value!r}"


@dataclass(frozen=True)
class AllOf(Condition):
    conditions: tuple[Condition, ...]

    def evaluate(self, config: Mapping[str, Any]) -> bool:
        return all(c.evaluate(config) for c in self.conditions)

    def names(self) -> frozenset[str]:
        return frozenset().union(*(c.names() for c in self.conditions))

    def describe(self) -> str:
        return " && ".join(_wrap(c, AnyOf) for c in self.conditions)


@dataclass(frozen=True)
class AnyOf(Condition):
    conditions: tuple[Condition, ...]

    def evaluate(self, config: Mapping[str, Any]) -> bool:
        return any(c.evaluate(config) for c in self.conditions)

    def names(self) -> frozenset[str]:
        return frozenset().union(*(c.names() for c in self.conditions))

    def describe(self) -> str:
        return " || ".join(_wrap(c, AllOf) for c in self.conditions)


def _wrap(condition: Condition, needs_parens: type) -> str:
    text = condition.describe()
    return f"({text})" if isinstance(condition, needs_parens) else text


def all_of(conditions: list[Condition]) -> Condition:
    """Combine conditions with AND, without wrapping a single one."""
    if not conditions:
        raise SpaceError("a condition needs at least one clause.")
    return conditions[0] if len(conditions) == 1 else AllOf(tuple(conditions))


def condition_from_mapping(when: Mapping[str, Any], *, field: str = "when") -> Condition:
    """Read the job file's ``when:`` form: ``{parent: value}`` or ``{parent: [v1, v2]}``, ANDed.

    Example:
        >>> condition_from_mapping({"optimizer": ["sgd", "rmsprop"]}).describe()
        "optimizer in {'sgd', 'rmsprop'}"
    """
    if not isinstance(when, Mapping) or not when:
        raise SpaceError(
            f"{field} must be a non-empty mapping of parameter name to value or list of values, "
            f"got {when!r}."
        )
    clauses: list[Condition] = []
    for name, wanted in when.items():
        if not isinstance(name, str):
            raise SpaceError(f"{field}: parameter names must be strings, got {name!r}.")
        if isinstance(wanted, list | tuple | set | frozenset):
            if not wanted:
                raise SpaceError(f"{field}.{name} must list at least one value.")
            clauses.append(InSet(name, tuple(wanted)))
        else:
            clauses.append(Equals(name, wanted))
    return all_of(clauses)
