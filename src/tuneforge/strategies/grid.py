"""Grid search: every combination of a few values per parameter.

Each parameter contributes ``Parameter.grid(grid_points)``: ``grid_points`` evenly spaced
values for a float (log-spaced with ``log``), every value of an int with at most
``grid_points`` of them (else ``grid_points`` spread ones), every value of a categorical.
In a conditional space the grid holds *active* configurations only: an inactive parameter
contributes no values, so no configuration appears twice. Forbidden ones are left out.

The grid is never held in memory. Configurations are numbered in lexicographic order of
``space.names`` (the first parameter varies slowest) and ``ask`` turns the next number
into a configuration, which also gives ``sample=True`` its seeded random order cheaply.

Example:
    >>> from tuneforge.space import SearchSpace, Categorical, Int
    >>> space = SearchSpace({"opt": Categorical(["sgd", "adam"]), "layers": Int(1, 2)})
    >>> grid = GridSearch(space)
    >>> grid.n_configurations, grid.ask(), grid.ask()
    (4, {'opt': 'sgd', 'layers': 1}, {'opt': 'sgd', 'layers': 2})
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tuneforge.errors import ConfigError
from tuneforge.space import Scalar, SearchSpace
from tuneforge.strategies.base import Config, Strategy, Suggestion, register

#: Grids larger than this are refused: a search that could never finish is a mistake.
MAX_GRID_SIZE = 10_000_000
#: Counting stops after this many tree nodes (each costs memory), see ``_count``.
MAX_COUNTED_NODES = 1_000_000

# A node of the enumeration tree: the depth (index into ``space.names``) and the value
# indices chosen so far for the *structural* parameters (-1 where inactive). Only those
# decide which parameters are active and which configurations are forbidden, so every
# node with the same key has the same number of configurations below it.
_Key = tuple[int, tuple[int, ...]]


class _TooLarge(Exception):
    """Counting visited more tree nodes than ``MAX_COUNTED_NODES``."""


@register("grid")
class GridSearch(Strategy):
    """Tries every configuration of the grid once, in order or in a seeded random order.

    Options:
        grid_points: values per float parameter (and per int with more values than this).
        sample: visit the grid in a random order drawn from ``seed``, so a job whose
            ``max_trials`` is smaller than the grid samples it evenly instead of only
            varying the last parameters.
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int | None = None,
        grid_points: int = 5,
        sample: bool = False,
    ) -> None:
        super().__init__(space, seed=seed)
        if isinstance(grid_points, bool) or not isinstance(grid_points, int) or grid_points < 1:
            raise ConfigError(
                f"strategy_options.grid_points: expected an int >= 1, got {grid_points!r}."
            )
        if not isinstance(sample, bool):
            raise ConfigError(f"strategy_options.sample: expected true or false, got {sample!r}.")
        self.grid_points = grid_points
        self.sample = sample
        self._names = space.names
        self._values: list[list[Scalar]] = [space[n].grid(grid_points) for n in self._names]
        read: set[str] = set()
        for name in self._names:
            condition = space[name].when
            if condition is not None:
                read |= condition.names()
        for clause in space.forbidden:
            read |= clause.names()
        self._structural = [name in read for name in self._names]
        self._below: dict[_Key, int] = {}
        try:
            self._size = self._count(0, (), {})
        except _TooLarge:
            raise ConfigError(
                f"grid: this space's grid is too large to enumerate: its conditions and forbidden "
                f"clauses combine more than {MAX_COUNTED_NODES:,} partial configurations "
                f"(grid_points={self.grid_points}); use fewer grid_points, fewer parameters in "
                f"forbidden clauses or a sampling strategy (random, sobol, lhs)."
            ) from None
        if self._size > MAX_GRID_SIZE:
            raise ConfigError(
                f"grid: this space's grid has {self._size:,} configurations "
                f"(grid_points={self.grid_points}), more than the limit of {MAX_GRID_SIZE:,}; "
                f"use fewer grid_points or a sampling strategy (random, sobol, lhs)."
            )
        self._asked = 0
        self._order: np.ndarray[Any, np.dtype[np.uint32]] | None = None

    def check_limits(self, *, max_trials: int) -> list[str]:
        """A grid in order that ``max_trials`` cuts short would vary only the last parameters."""
        if self.sample or self._size <= max_trials:
            return []
        return [
            f"strategy: the grid has {self._size} configurations but limits.max_trials is "
            f"{max_trials}; raise limits.max_trials, lower strategy_options.grid_points, or set "
            f"strategy_options.sample: true to try a random subset."
        ]

    @property
    def n_configurations(self) -> int:
        return self._size

    def ask(self) -> Suggestion | None:
        if self._asked >= self._size:
            return None
        index = self._asked
        self._asked += 1
        if self.sample:
            if self._order is None:
                # Drawn on first use so that building the strategy (n_configurations, option
                # checks) stays cheap; 4 bytes per configuration, at most 40 MB.
                self._order = np.arange(self._size, dtype=np.uint32)
                self.rng.shuffle(self._order)
            index = int(self._order[index])
        return Suggestion(self._configuration(index))

    def _count(self, depth: int, chosen: tuple[int, ...], partial: dict[str, Scalar]) -> int:
        """Configurations below a node; ``partial`` holds the active structural values."""
        key = (depth, chosen)
        known = self._below.get(key)
        if known is not None:
            return known
        if len(self._below) >= MAX_COUNTED_NODES:
            raise _TooLarge
        if depth == len(self._names):
            total = 0 if self.space.is_forbidden(partial) else 1
        else:
            name, values = self._names[depth], self._values[depth]
            structural = self._structural[depth]
            if not self.space.is_active(name, partial):
                total = self._count(depth + 1, (*chosen, -1) if structural else chosen, partial)
            elif not structural:
                total = len(values) * self._count(depth + 1, chosen, partial)
            else:
                total = sum(
                    self._count(depth + 1, (*chosen, i), {**partial, name: value})
                    for i, value in enumerate(values)
                )
        self._below[key] = total
        return total

    def _configuration(self, index: int) -> Config:
        """The configuration numbered ``index``, walking down the counted tree."""
        config: Config = {}
        partial: dict[str, Scalar] = {}
        chosen: tuple[int, ...] = ()
        for depth, name in enumerate(self._names):
            structural = self._structural[depth]
            if not self.space.is_active(name, partial):
                if structural:
                    chosen = (*chosen, -1)
                continue
            values = self._values[depth]
            if not structural:
                position, index = divmod(index, self._below[(depth + 1, chosen)])
                config[name] = values[position]
                continue
            position = 0
            while index >= (below := self._below[(depth + 1, (*chosen, position))]):
                index -= below
                position += 1
            chosen = (*chosen, position)
            partial[name] = config[name] = values[position]
        return config
