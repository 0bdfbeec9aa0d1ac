"""Acquisition functions and their optimization over mixed spaces.

``log_expected_improvement`` is the numerically stable LogEI of Ament et al. (2023,
"Unexpected improvements to expected improvement"): plain EI underflows to exactly zero
far from the incumbent, which leaves a gradient-based optimizer nowhere to go; its
logarithm keeps a useful slope everywhere. scipy has ``log_ndtr`` and ``erfcx`` but no
LogEI, so it is written here.

``maximize_gp`` optimizes it the way BoTorch does: many random candidates (uniform in the
cube, plus Gaussian perturbations of the best observed points), L-BFGS-B from the best of
them on the continuous columns (integers relaxed), then a discrete one-exchange search
(other categories, neighbouring integers) on the snapped winners. ``local_search`` is the
SMAC-style search used with the forest, whose mean has no gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

from tuneforge.strategies.models.encoding import Encoder
from tuneforge.strategies.models.gp import GaussianProcess

Array = npt.NDArray[np.float64]

_C1 = 0.5 * math.log(2 * math.pi)
_C2 = 0.5 * math.log(math.pi / 2)
_BIG_NEG = -1.0 / math.sqrt(np.finfo(float).eps)


def _log1mexp(x: Array) -> Array:
    """log(1 - exp(x)) for x < 0, accurate on both sides of -log 2."""
    x = np.minimum(x, -1e-300)
    return np.where(x > -math.log(2.0), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def log_h(z: Array) -> Array:
    """log(φ(z) + z Φ(z)), stable for very negative z."""
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    upper = z > -1.0
    zu = z[upper]
    out[upper] = np.log(special.ndtr(zu) * zu + np.exp(-0.5 * zu**2 - _C1))
    middle = ~upper & (z > _BIG_NEG)
    zm = z[middle]
    out[middle] = (
        -0.5 * zm**2 - _C1 + _log1mexp(np.log(special.erfcx(-zm / math.sqrt(2)) * np.abs(zm)) + _C2)
    )
    lower = z <= _BIG_NEG
    out[lower] = -0.5 * z[lower] ** 2 - _C1 - 2.0 * np.log(np.abs(z[lower]))
    return out


def log_expected_improvement(mean: Array, var: Array, best: float) -> Array:
    """log E[max(best - f, 0)] for minimization, f ~ N(mean, var)."""
    sigma = np.sqrt(var)
    return np.log(sigma) + log_h((best - mean) / sigma)


def log_ei_gradient(
    mean: Array, var: Array, dmean: Array, dvar: Array, best: float
) -> tuple[Array, Array]:
    """LogEI and its gradient, from the posterior's value and gradient."""
    sigma = np.sqrt(var)
    z = (best - mean) / sigma
    lh = log_h(z)
    value = np.log(sigma) + lh
    # d log h / dz = Φ(z) / h(z)
    ratio = np.exp(special.log_ndtr(z) - lh)
    dsigma = dvar / (2.0 * sigma[:, None])
    dz = (-dmean - z[:, None] * dsigma) / sigma[:, None]
    grad = dsigma / sigma[:, None] + ratio[:, None] * dz
    return value, grad


def maximize_gp(
    gp: GaussianProcess,
    encoder: Encoder,
    best: float,
    anchors: Array,
    rng: np.random.Generator,
    *,
    n_candidates: int = 1024,
    n_local: int = 64,
    n_starts: int = 5,
    exclude: Callable[[Array], bool],
) -> Array | None:
    """The feature row with the highest LogEI that ``exclude`` does not reject, or None."""

    def acquisition(rows: Array) -> Array:
        mean, var = gp.predict(rows)
        return log_expected_improvement(mean, var, best)

    pools = [encoder.random(n_candidates, rng)]
    for anchor in anchors:
        for scale in (0.02, 0.08, 0.25):
            pools.append(encoder.perturb(anchor, n_local // 3 + 1, scale, rng))
    candidates = np.vstack(pools)
    values = acquisition(candidates)
    order = np.argsort(-values)
    starts = _distinct(candidates[order], n_starts)
    columns = np.flatnonzero(encoder.continuous)
    if columns.size:
        refined = _refine_continuous(gp, encoder, starts, columns, best)
        refined = encoder.canonical(encoder.to_unit(refined))
        candidates = np.vstack([candidates, refined])
        values = np.concatenate([values, acquisition(refined)])
    # Discrete moves from the best few: another category, a neighbouring integer.
    if not encoder.continuous.all():
        order = np.argsort(-values)
        for row in _distinct(candidates[order], 2):
            current, current_value = row, float(acquisition(row[None, :])[0])
            for _ in range(8):
                neighbours = encoder.one_exchange(current)
                if not len(neighbours):
                    break
                scores = acquisition(neighbours)
                candidates = np.vstack([candidates, neighbours])
                values = np.concatenate([values, scores])
                k = int(np.argmax(scores))
                if scores[k] <= current_value + 1e-12:
                    break
                current, current_value = neighbours[k], float(scores[k])
    for index in np.argsort(-values, kind="stable"):
        row = candidates[index]
        if not exclude(row):
            return np.asarray(row, dtype=float)
    return None


def _distinct(rows: Array, n: int) -> Array:
    chosen: list[Array] = []
    for row in rows:
        if all(not np.allclose(row, c, equal_nan=True) for c in chosen):
            chosen.append(row)
            if len(chosen) == n:
                break
    return np.array(chosen) if chosen else rows[:0]


def _refine_continuous(
    gp: GaussianProcess,
    encoder: Encoder,
    starts: Array,
    columns: npt.NDArray[np.intp],
    best: float,
) -> Array:
    """L-BFGS-B on the continuous columns of every start at once (their sum is separable)."""
    fixed = np.array(starts, dtype=float)
    active = ~np.isnan(fixed[:, columns])
    x0 = np.nan_to_num(fixed[:, columns], nan=0.5).ravel()

    def objective(flat: Array) -> tuple[float, Array]:
        rows = fixed.copy()
        block = flat.reshape(len(fixed), len(columns))
        rows[:, columns] = np.where(active, block, np.nan)
        mean, var, dmean, dvar = gp.predict_with_gradient(rows, columns)
        value, grad = log_ei_gradient(mean, var, dmean, dvar, best)
        return -float(value.sum()), -(grad * active).ravel()

    result = optimize.minimize(
        objective,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, 1.0)] * len(x0),
        options={"maxiter": 100},
    )
    out = fixed.copy()
    block = np.asarray(result.x, dtype=float).reshape(len(fixed), len(columns))
    out[:, columns] = np.where(active, block, np.nan)
    return out


def local_search(
    score: Callable[[Array], Array],
    encoder: Encoder,
    starts: Array,
    rng: np.random.Generator,
    *,
    n_neighbours: int = 20,
    max_steps: int = 12,
) -> tuple[Array, Array]:
    """Hill climbing from every start at once: each step scores ``n_neighbours`` Gaussian
    neighbours and the one-exchange neighbours of every point (in one call of ``score``),
    and moves each point to its best neighbour while that improves. Returns every row
    scored and its score."""
    current = np.array(starts, dtype=float)
    current_scores = score(current)
    seen_rows, seen_scores = [current.copy()], [current_scores.copy()]
    for step in range(max_steps):
        scale = 0.2 * 0.7**step
        near, near_owner = encoder.perturb_rows(current, n_neighbours, scale, rng)
        exchange, exchange_owner = encoder.one_exchange_rows(current)
        rows = np.vstack([near, exchange])
        owner = np.concatenate([near_owner, exchange_owner])
        scores = score(rows)
        seen_rows.append(rows)
        seen_scores.append(scores)
        # The best neighbour of each point: sort by score, keep each owner's first.
        order = np.lexsort((-scores, owner))
        first = order[np.r_[True, owner[order][1:] != owner[order][:-1]]]
        better = scores[first] > current_scores[owner[first]] + 1e-12
        moved = bool(better.any())
        current[owner[first][better]] = rows[first][better]
        current_scores[owner[first][better]] = scores[first][better]
        if not moved:
            break
    return np.vstack(seen_rows), np.concatenate(seen_scores)
