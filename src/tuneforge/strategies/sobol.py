"""Sobol search: a scrambled Sobol' sequence, a low-discrepancy design of experiments.

Its points fill the unit cube more evenly than random ones, so the first trials already
cover every region of the space. Each point is mapped with ``SearchSpace.decode`` (one
coordinate per parameter in ``space.names`` order; coordinates of inactive parameters
are ignored) and forbidden points are skipped.

Points are drawn from ``scipy.stats.qmc.Sobol`` in blocks of a power of two and
buffered: the sequence is the same as drawing them one by one, and scipy does not warn
that the balance properties of Sobol' points need a power-of-two sample size.

Example:
    >>> from tuneforge.space import SearchSpace, Float
    >>> search = SobolSearch(SearchSpace({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)}), seed=0)
    >>> len([search.ask() for _ in range(8)])
    8
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
from scipy.stats import qmc

from tuneforge.errors import SpaceError
from tuneforge.space import SearchSpace
from tuneforge.space.search_space import MAX_REJECTIONS
from tuneforge.strategies.base import Strategy, Suggestion, register

#: Points drawn at a time; a power of two keeps scipy's balance check quiet.
BLOCK_SIZE = 64

# scipy 1.15 renamed the engines' ``seed`` argument to ``rng``; pass whichever it takes.
_RNG_ARGUMENT = "rng" if "rng" in inspect.signature(qmc.Sobol).parameters else "seed"


@register("sobol")
class SobolSearch(Strategy):
    """Proposes the points of a scrambled Sobol' sequence seeded from ``self.rng``."""

    def __init__(self, space: SearchSpace, *, seed: int | None = None) -> None:
        super().__init__(space, seed=seed)
        # scipy has no zero-dimensional engine; a space without parameters has one
        # configuration, {}, proposed from empty points.
        self._engine = self._new_engine() if len(space) else None
        self._points: np.ndarray[Any, np.dtype[np.float64]] = np.empty((0, len(space)))
        self._next = 0

    def _new_engine(self) -> qmc.Sobol:
        return qmc.Sobol(len(self.space), scramble=True, **{_RNG_ARGUMENT: self.rng})

    def _next_point(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        if self._next == len(self._points):
            engine = self._engine
            if engine is None:
                self._points = np.empty((BLOCK_SIZE, 0))
            else:
                if engine.num_generated + BLOCK_SIZE > engine.maxn:
                    engine = self._engine = self._new_engine()  # 2**30 points used: rescramble
                self._points = engine.random(BLOCK_SIZE)
            self._next = 0
        point: np.ndarray[Any, np.dtype[np.float64]] = self._points[self._next]
        self._next += 1
        return point

    def ask(self) -> Suggestion | None:
        for _ in range(MAX_REJECTIONS):
            config = self.space.decode(self._next_point())
            if not self.space.is_forbidden(config):
                return Suggestion(config)
        raise SpaceError(
            f"sobol: {MAX_REJECTIONS} points in a row were forbidden: the forbidden clauses "
            f"{[c.describe() for c in self.space.forbidden]} exclude (almost) the whole space."
        )
