"""The model's view of a search space: one feature per parameter, vectorized snapping.

Every parameter becomes one column of a feature matrix, so each has its own length scale
(GP) or split variable (forest):

* ``Float``: its unit-cube coordinate (``to_unit``, so log-scaled parameters are modelled
  in log space);
* ``Int``: the unit coordinate of the integer itself (the centre of its cell), so the model
  only ever sees values a trial can take; candidates are *snapped* to integers before the
  acquisition function is evaluated, not rounded after it chose them;
* ordered ``Categorical``: the centre of its cell, ``(index + 0.5) / n_values``;
* unordered ``Categorical``: the value's index, compared by equality (a Hamming distance
  in the GP kernel); inactive categoricals get the index ``-1``, a category of their own.

Inactive numeric parameters (conditional spaces) are NaN in ``features`` and are compared
by their activity alone in the kernel (see ``gp.squared_distances``).

scipy and scikit-learn have no encoder that keeps integers on their grid while letting a
continuous optimizer move through the relaxed cube, so this module writes that part, with
numpy replicas of ``Int.from_unit``/``to_unit`` (tested against them) for speed: snapping
thousands of candidates one ``decode`` at a time would cost more than the model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from tuneforge.space import Categorical, Float, Int, Scalar, SearchSpace

Array = npt.NDArray[np.float64]

FLOAT, INT, ORDINAL, CATEGORICAL = "float", "int", "ordinal", "categorical"


class Encoder:
    """Maps configurations to feature rows and unit-cube points to canonical feature rows."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.names = space.names
        self.kinds: list[str] = []
        self.n_values: list[int] = []
        for name in self.names:
            parameter = space[name]
            if isinstance(parameter, Float):
                self.kinds.append(FLOAT)
                self.n_values.append(0)
            elif isinstance(parameter, Int):
                self.kinds.append(INT)
                self.n_values.append(parameter.high - parameter.low + 1)
            elif isinstance(parameter, Categorical):
                self.kinds.append(ORDINAL if parameter.ordered else CATEGORICAL)
                self.n_values.append(len(parameter.values))
            else:  # pragma: no cover - the space admits these three only
                raise TypeError(f"unknown parameter type {type(parameter).__name__}")
        kinds = np.array(self.kinds, dtype=object)
        self.dim = len(self.names)
        #: unordered categorical columns (Hamming distance) and the others (Euclidean).
        self.categorical = kinds == CATEGORICAL
        self.numeric = ~self.categorical
        #: columns a gradient-based optimizer may move (floats, and integers relaxed).
        self.continuous = (kinds == FLOAT) | (kinds == INT)
        self.conditional = np.array([space[n].when is not None for n in self.names], dtype=bool)
        self.is_conditional = bool(self.conditional.any())
        parents: set[str] = set()
        for name in self.names:
            condition = space[name].when
            if condition is not None:
                parents |= condition.names()
        #: columns that conditions read: activity depends on these values only.
        self._parent_columns = np.array([i for i, n in enumerate(self.names) if n in parents])
        self.has_forbidden = bool(space.forbidden)
        self._int_edges = [
            _int_edges(space[n]) if k == INT else (0.0, 1.0)
            for n, k in zip(self.names, self.kinds, strict=True)
        ]

    # -- configurations <-> features ------------------------------------------------------
    def features(self, config: Mapping[str, Any]) -> Array:
        """The feature row of a valid configuration; inactive numeric parameters are NaN."""
        row = np.full(self.dim, math.nan)
        for i, (name, kind) in enumerate(zip(self.names, self.kinds, strict=True)):
            if name not in config:
                if kind == CATEGORICAL:
                    row[i] = -1.0
                continue
            parameter = self.space[name]
            if kind == CATEGORICAL:
                assert isinstance(parameter, Categorical)
                row[i] = float(parameter.index(config[name]))
            else:
                row[i] = parameter.to_unit(config[name])
        return row

    def to_unit(self, features: Array) -> Array:
        """Unit-cube points whose ``decode`` gives the configurations of ``features``."""
        points = np.array(features, dtype=float, copy=True)
        for i in np.flatnonzero(self.categorical):
            index = np.clip(points[..., i], 0, self.n_values[i] - 1)
            points[..., i] = (index + 0.5) / self.n_values[i]
        return np.asarray(np.nan_to_num(np.clip(points, 0.0, 1.0), nan=0.5), dtype=float)

    def config(self, features: Array) -> dict[str, Scalar]:
        """The configuration of one feature row (may be forbidden: callers check)."""
        return self.space.decode(self.to_unit(features))

    # -- unit cube -> canonical features --------------------------------------------------
    def snap(self, points: Array) -> Array:
        """Canonical feature rows of unit-cube points: integers and categories on their grid.

        Activity is not applied here (see ``canonical``).
        """
        points = np.clip(np.asarray(points, dtype=float), 0.0, 1.0)
        out = points.copy()
        for i, kind in enumerate(self.kinds):
            u = points[:, i]
            if kind == INT:
                out[:, i] = self._snap_int(i, u)
            elif kind in (CATEGORICAL, ORDINAL):
                n = self.n_values[i]
                index = np.minimum(np.floor(u * n), n - 1)
                out[:, i] = index if kind == CATEGORICAL else (index + 0.5) / n
        return out

    def _snap_int(self, i: int, u: Array) -> Array:
        parameter = self.space[self.names[i]]
        assert isinstance(parameter, Int)
        lo, hi = self._int_edges[i]
        x = lo + u * (hi - lo)
        if parameter.log:
            value = np.clip(np.round(np.exp(x)), parameter.low, parameter.high)
            return np.clip((np.log(value) - lo) / (hi - lo), 0.0, 1.0)
        value = np.clip(np.floor(x + 0.5), parameter.low, parameter.high)
        return np.clip((value - lo) / (hi - lo), 0.0, 1.0)

    def canonical(self, points: Array) -> Array:
        """``snap``, then inactive parameters marked (NaN, or -1 for categoricals).

        Activity depends only on the values the conditions read, so it is worked out once
        per distinct combination of those values, not once per row.
        """
        snapped = self.snap(points)
        if not self.is_conditional or not len(snapped):
            return snapped
        keys = snapped[:, self._parent_columns]
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        masks = np.array(
            [[name in config for name in self.names] for config in map(self.config, snapped[first])]
        )
        active = masks[np.ravel(inverse)]
        out = snapped.copy()
        out[~active & self.numeric[None, :]] = math.nan
        out[~active & self.categorical[None, :]] = -1.0
        return out

    def is_valid(self, features: Array) -> bool:
        """Whether the configuration of a feature row is allowed by the forbidden clauses."""
        return not self.has_forbidden or not self.space.is_forbidden(self.config(features))

    # -- neighbourhoods -------------------------------------------------------------------
    def perturb(self, features: Array, n: int, scale: float, rng: np.random.Generator) -> Array:
        """``n`` canonical neighbours of one row: Gaussian steps on numeric columns,
        a new value for each categorical with probability ``1/dim``."""
        base = self.to_unit(features)
        points = np.repeat(base[None, :], n, axis=0)
        numeric = np.flatnonzero(self.numeric)
        if numeric.size:
            points[:, numeric] += rng.normal(0.0, scale, (n, numeric.size))
        for i in np.flatnonzero(self.categorical):
            flip = rng.random(n) < max(1.0 / self.dim, 0.2)
            points[flip, i] = rng.random(int(flip.sum()))
        return self.canonical(np.clip(points, 0.0, 1.0))

    def perturb_rows(
        self, rows: Array, n: int, scale: float, rng: np.random.Generator
    ) -> tuple[Array, npt.NDArray[np.intp]]:
        """``perturb`` for many rows in one go; returns the neighbours and their row index."""
        base = self.to_unit(rows)
        owner = np.repeat(np.arange(len(rows)), n)
        points = base[owner]
        numeric = np.flatnonzero(self.numeric)
        if numeric.size:
            points[:, numeric] += rng.normal(0.0, scale, (len(points), numeric.size))
        for i in np.flatnonzero(self.categorical):
            flip = rng.random(len(points)) < max(1.0 / self.dim, 0.2)
            points[flip, i] = rng.random(int(flip.sum()))
        return self.canonical(np.clip(points, 0.0, 1.0)), owner

    def one_exchange_rows(self, rows: Array) -> tuple[Array, npt.NDArray[np.intp]]:
        """``one_exchange`` for many rows in one go; returns the neighbours and their row index."""
        base = self.to_unit(rows)
        blocks: list[Array] = []
        owners: list[Array] = []
        index = np.arange(len(rows))
        for i, kind in enumerate(self.kinds):
            if kind == FLOAT:
                continue
            active = ~np.isnan(rows[:, i]) & (rows[:, i] >= 0)
            if kind == CATEGORICAL:
                n = self.n_values[i]
                for value in range(n):
                    keep = active & (rows[:, i] != value)
                    point = base[keep].copy()
                    point[:, i] = (value + 0.5) / n
                    blocks.append(point)
                    owners.append(index[keep])
                continue
            steps = np.array([self._unit_step(i, float(u)) for u in base[:, i]])
            for k in (-2, -1, 1, 2):
                moved = base[:, i] + k * steps
                keep = active & (moved >= 0.0) & (moved <= 1.0)
                point = base[keep].copy()
                point[:, i] = moved[keep]
                blocks.append(point)
                owners.append(index[keep])
        if not blocks:
            return np.empty((0, self.dim)), np.empty(0, dtype=np.intp)
        points = np.vstack(blocks)
        return self.canonical(points), np.concatenate(owners).astype(np.intp)

    def one_exchange(self, features: Array) -> Array:
        """Every configuration that differs from ``features`` in one discrete column:
        each other category, each neighbouring integer or ordinal value (one and two steps)."""
        rows: list[Array] = []
        base = self.to_unit(features)
        for i, kind in enumerate(self.kinds):
            if kind == FLOAT or (np.isnan(features[i]) and kind != CATEGORICAL):
                continue
            if kind == CATEGORICAL:
                if features[i] < 0:
                    continue
                for value in range(self.n_values[i]):
                    if value != int(features[i]):
                        point = base.copy()
                        point[i] = (value + 0.5) / self.n_values[i]
                        rows.append(point)
            else:
                step = self._unit_step(i, base[i])
                for k in (-2, -1, 1, 2):
                    point = base.copy()
                    point[i] = base[i] + k * step
                    if 0.0 <= point[i] <= 1.0:
                        rows.append(point)
        if not rows:
            return np.empty((0, self.dim))
        return self.canonical(np.array(rows))

    def _unit_step(self, i: int, u: float) -> float:
        """The width of one value's cell around ``u`` in unit coordinates."""
        kind = self.kinds[i]
        if kind == ORDINAL:
            return 1.0 / self.n_values[i]
        parameter = self.space[self.names[i]]
        assert isinstance(parameter, Int)
        lo, hi = self._int_edges[i]
        if not parameter.log:
            return 1.0 / (hi - lo)
        value = math.exp(lo + u * (hi - lo))
        return max(math.log(value + 1.0) - math.log(value), 1e-9) / (hi - lo)

    def random(self, n: int, rng: np.random.Generator) -> Array:
        """``n`` canonical rows drawn uniformly in the unit cube."""
        return self.canonical(rng.random((n, self.dim)))

    def n_configurations(self) -> float:
        """How many configurations the space holds (``inf`` with a float parameter)."""
        if any(kind == FLOAT for kind in self.kinds):
            return math.inf
        return float(np.prod([float(n) for n in self.n_values]))


def _int_edges(parameter: Any) -> tuple[float, float]:
    # The same cells as ``Int._edges``: each integer owns an interval of width one.
    if parameter.log:
        low = parameter.low - 0.5 if parameter.low > 0.5 else parameter.low
        return math.log(low), math.log(parameter.high + 0.5)
    return parameter.low - 0.5, parameter.high + 0.5


def feature_key(features: Array) -> tuple[float, ...]:
    """A hashable key of a canonical row, equal for rows of the same configuration."""
    return tuple(round(float(v), 9) if not math.isnan(v) else math.inf for v in features)
