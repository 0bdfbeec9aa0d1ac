"""Latin hypercube search: a design of experiments that stratifies every parameter.

A Latin hypercube of ``n`` points cuts each axis of the unit cube into ``n`` equal cells
and puts exactly one point in each cell of each axis, so even a small design tries every
part of every parameter's range. The stratification only holds for a complete design,
so its size is needed up front:

* ``n_points=N`` runs one design of ``N`` points and is then exhausted. Set it to the
  job's ``max_trials`` to get a single stratified design, as a design-of-experiments
  tool would.
* ``n_points=None`` (the default) runs designs of ``DEFAULT_N_POINTS`` one after another
  and never ends; every complete block of that many trials is a Latin hypercube.

Points come from ``scipy.stats.qmc.LatinHypercube`` (seeded from ``self.rng``), are mapped
with ``SearchSpace.decode`` in ``space.names`` order, and forbidden ones are skipped
(so a design may run fewer than ``n_points`` configurations; ``n_configurations`` says
how many).

Example:
    >>> from tuneforge.space import SearchSpace, Float
    >>> search = LatinHypercubeSearch(SearchSpace({"x": Float(0.0, 1.0)}), seed=0, n_points=4)
    >>> sorted(int(search.ask()["x"] * 4) for _ in range(4))
    [0, 1, 2, 3]
"""

from __future__ import annotations

import inspect
from collections import deque
from typing import Any

import numpy as np
from scipy.stats import qmc

from tuneforge.errors import ConfigError, SpaceError
from tuneforge.space import SearchSpace
from tuneforge.space.search_space import MAX_REJECTIONS
from tuneforge.strategies.base import Config, Strategy, Suggestion, register

#: The size of each design when ``n_points`` is not given.
DEFAULT_N_POINTS = 100

# scipy 1.15 renamed the engines' ``seed`` argument to ``rng``; pass whichever it takes.
_RNG_ARGUMENT = "rng" if "rng" in inspect.signature(qmc.LatinHypercube).parameters else "seed"


@register("lhs")
class LatinHypercubeSearch(Strategy):
    """Proposes the points of Latin hypercube designs of ``n_points`` points each.

    Options:
        n_points: the size of the one design to run; ``None`` runs designs of
            ``DEFAULT_N_POINTS`` points one after another, without end.
    """

    def __init__(
        self, space: SearchSpace, *, seed: int | None = None, n_points: int | None = None
    ) -> None:
        super().__init__(space, seed=seed)
        if n_points is not None and (
            isinstance(n_points, bool) or not isinstance(n_points, int) or n_points < 1
        ):
            raise ConfigError(
                f"strategy_options.n_points: expected an int >= 1 or null (designs of "
                f"{DEFAULT_N_POINTS} points without end), got {n_points!r}."
            )
        self.n_points = n_points
        self._engine = (
            qmc.LatinHypercube(len(space), **{_RNG_ARGUMENT: self.rng}) if len(space) else None
        )
        self._queue: deque[Config] = deque()
        self._size: int | None = None
        if n_points is not None:
            self._queue.extend(self._design(n_points))
            self._size = len(self._queue)

    @property
    def n_configurations(self) -> int | None:
        return self._size

    def _design(self, n_points: int) -> list[Config]:
        """One Latin hypercube, decoded, without its forbidden points."""
        # No parameters: scipy has no zero-dimensional engine, and {} is the one configuration.
        points: np.ndarray[Any, np.dtype[np.float64]] = (
            np.empty((n_points, 0)) if self._engine is None else self._engine.random(n_points)
        )
        configs = (self.space.decode(point) for point in points)
        return [config for config in configs if not self.space.is_forbidden(config)]

    def ask(self) -> Suggestion | None:
        if self.n_points is None:
            drawn = 0
            while not self._queue:
                if drawn >= MAX_REJECTIONS:
                    raise SpaceError(
                        f"lhs: {drawn} points in a row were forbidden: the forbidden clauses "
                        f"{[c.describe() for c in self.space.forbidden]} exclude (almost) the "
                        f"whole space."
                    )
                self._queue.extend(self._design(DEFAULT_N_POINTS))
                drawn += DEFAULT_N_POINTS
        return Suggestion(self._queue.popleft()) if self._queue else None
