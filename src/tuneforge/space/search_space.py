"""``SearchSpace``: named parameters, static values, conditions and forbidden combinations.

A *configuration* is a dict holding the active parameters only: a parameter whose
condition does not hold is absent. Static values are not part of a configuration; the
runner adds them when it fills placeholders.

Example:
    >>> import numpy as np
    >>> from tuneforge.space import SearchSpace, Float, Categorical
    >>> space = SearchSpace({
    ...     "optimizer": Categorical(["sgd", "adam"]),
    ...     "momentum": Float(0.0, 0.99, when={"optimizer": "sgd"}),
    ... })
    >>> space.sample(np.random.default_rng(0)).keys() <= {"optimizer", "momentum"}
    True
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from tuneforge.errors import SpaceError
from tuneforge.space.conditions import Condition
from tuneforge.space.parameters import Parameter, Scalar

#: How many draws ``sample`` makes before it calls the forbidden clauses infeasible.
MAX_REJECTIONS = 10_000


class SearchSpace:
    """An ordered set of named parameters; parents always come before their children."""

    def __init__(
        self,
        parameters: Mapping[str, Parameter],
        *,
        static: Mapping[str, Any] | None = None,
        forbidden: Sequence[Condition] = (),
    ) -> None:
        for name, parameter in parameters.items():
            if not isinstance(name, str) or not name:
                raise SpaceError(f"parameter names must be non-empty strings, got {name!r}.")
            if not isinstance(parameter, Parameter):
                raise SpaceError(
                    f"parameter '{name}' must be a Float, Int or Categorical, got {parameter!r}."
                )
        self.static: dict[str, Any] = dict(static or {})
        clash = sorted(set(self.static) & set(parameters))
        if clash:
            raise SpaceError(f"{clash} are both parameters and static values; keep one of each.")
        self.parameters: dict[str, Parameter] = {
            name: parameters[name] for name in _parents_first(parameters)
        }
        self.forbidden: tuple[Condition, ...] = tuple(forbidden)
        for clause in self.forbidden:
            unknown = sorted(clause.names() - set(self.parameters))
            if unknown:
                raise SpaceError(
                    f"forbidden clause '{clause.describe()}' names unknown parameter(s) {unknown}; "
                    f"known: {list(self.parameters)}."
                )

    # -- the mapping interface -------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return list(self.parameters)

    def __len__(self) -> int:
        return len(self.parameters)

    def __iter__(self) -> Iterator[str]:
        return iter(self.parameters)

    def __contains__(self, name: object) -> bool:
        return name in self.parameters

    def __getitem__(self, name: str) -> Parameter:
        return self.parameters[name]

    def __repr__(self) -> str:
        return f"SearchSpace({self.parameters!r}, static={self.static!r})"

    @property
    def is_conditional(self) -> bool:
        return any(p.when is not None for p in self.parameters.values())

    # -- configurations --------------------------------------------------------------------
    def is_active(self, name: str, config: Mapping[str, Any]) -> bool:
        """Whether ``name`` is active given the (already active) values in ``config``."""
        condition = self.parameters[name].when
        return condition is None or condition.evaluate(config)

    def is_forbidden(self, config: Mapping[str, Any]) -> bool:
        return any(clause.evaluate(config) for clause in self.forbidden)

    def _assemble(self, value_of: Any) -> dict[str, Scalar]:
        """Build a configuration parent by parent, asking ``value_of(name, param)`` for values."""
        config: dict[str, Scalar] = {}
        for name, parameter in self.parameters.items():
            if self.is_active(name, config):
                config[name] = value_of(name, parameter)
        return config

    def default(self) -> dict[str, Scalar]:
        """The configuration of all defaults (inactive parameters left out)."""
        config = self._assemble(lambda _n, p: p.default)
        if self.is_forbidden(config):
            raise SpaceError(f"the default configuration {config} is forbidden.")
        return config

    def decode(self, point: Sequence[float] | np.ndarray) -> dict[str, Scalar]:
        """Map a point of the unit cube (one coordinate per parameter, in ``names`` order).

        Coordinates of inactive parameters are ignored. The result may be forbidden;
        callers check ``is_forbidden``.
        """
        if len(point) != len(self.parameters):
            raise SpaceError(f"a point needs {len(self.parameters)} coordinates, got {len(point)}.")
        index = {name: i for i, name in enumerate(self.parameters)}
        return self._assemble(lambda n, p: p.from_unit(float(point[index[n]])))

    def encode(self, config: Mapping[str, Any]) -> np.ndarray:
        """The unit-cube point of ``config``; inactive parameters are NaN."""
        return np.array(
            [
                self.parameters[name].to_unit(config[name]) if name in config else math.nan
                for name in self.parameters
            ]
        )

    def sample(self, rng: np.random.Generator) -> dict[str, Scalar]:
        """A uniformly random valid configuration (rejection of forbidden combinations)."""
        for _ in range(MAX_REJECTIONS):
            config = self.decode(rng.random(len(self.parameters)))
            if not self.is_forbidden(config):
                return config
        raise SpaceError(
            f"no valid configuration found in {MAX_REJECTIONS} random draws: the forbidden "
            f"clauses {[c.describe() for c in self.forbidden]} exclude (almost) the whole space."
        )

    def check(self, config: Mapping[str, Any]) -> dict[str, Scalar]:
        """Validate a configuration given by a user (a design row, an enqueued default).

        Returns it in canonical form and parent-first order, or raises ``SpaceError``
        naming the first problem.
        """
        unknown = sorted(set(config) - set(self.parameters))
        if unknown:
            raise SpaceError(f"unknown parameter(s) {unknown}; known: {self.names}.")
        checked: dict[str, Scalar] = {}
        for name, parameter in self.parameters.items():
            active = self.is_active(name, checked)
            if active and name not in config:
                raise SpaceError(f"parameter '{name}' is active but has no value.")
            if not active and name in config:
                raise SpaceError(
                    f"parameter '{name}' is inactive here ({parameter.when}) but was given "
                    f"{config[name]!r}; leave it out."
                )
            if active:
                checked[name] = parameter.check(config[name], f"parameter '{name}'")
        if self.is_forbidden(checked):
            clause = next(c for c in self.forbidden if c.evaluate(checked))
            raise SpaceError(f"configuration {checked} is forbidden by '{clause.describe()}'.")
        return checked

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (the job file's ``parameters``/``static``/``forbidden``)."""
        return {
            "parameters": {name: p.to_dict() for name, p in self.parameters.items()},
            "static": dict(self.static),
            "forbidden": [c.describe() for c in self.forbidden],
        }


def _parents_first(parameters: Mapping[str, Parameter]) -> list[str]:
    """Declaration order, except that a parameter follows every parameter its condition reads."""
    for name, parameter in parameters.items():
        if parameter.when is None:
            continue
        unknown = sorted(parameter.when.names() - set(parameters))
        if unknown:
            raise SpaceError(
                f"the condition of parameter '{name}' ({parameter.when}) names unknown "
                f"parameter(s) {unknown}; known: {list(parameters)}."
            )
        if name in parameter.when.names():
            raise SpaceError(f"parameter '{name}' has a condition on itself ({parameter.when}).")
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str, chain: list[str]) -> None:
        if name in order:
            return
        if name in visiting:
            raise SpaceError(f"conditions form a cycle: {' -> '.join([*chain, name])}.")
        visiting.add(name)
        condition = parameters[name].when
        parents = condition.names() if condition else frozenset()
        for parent in (p for p in parameters if p in parents):
            visit(parent, [*chain, name])
        visiting.discard(name)
        order.append(name)

    for name in parameters:
        visit(name, [])
    return order
