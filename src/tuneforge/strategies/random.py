"""Random search: independent draws, uniform on each parameter's scale.

The baseline every other strategy must beat, and often a hard one to beat (Bergstra and
Bengio, 2012). Floats and ints with ``log`` are drawn log-uniformly; inactive parameters
are left out and forbidden draws are redrawn (see ``SearchSpace.sample``).

Example:
    >>> from tuneforge.space import SearchSpace, Float
    >>> search = RandomSearch(SearchSpace({"x": Float(0.0, 1.0)}), seed=0)
    >>> 0.0 <= search.ask()["x"] <= 1.0
    True
"""

from __future__ import annotations

from tuneforge.strategies.base import Strategy, Suggestion, register


@register("random")
class RandomSearch(Strategy):
    """Draws every configuration independently from ``self.rng``; never exhausted."""

    def ask(self) -> Suggestion | None:
        return Suggestion(self.space.sample(self.rng))
