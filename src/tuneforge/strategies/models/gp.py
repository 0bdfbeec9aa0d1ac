"""A Gaussian process for mixed spaces: Matérn-5/2 with one length scale per parameter.

Written here rather than taken from ``sklearn.gaussian_process`` because the search needs
what that class does not offer: a Hamming distance for unordered categoricals and an
activity-aware distance for conditional parameters inside one Matérn kernel, priors on
the hyperparameters (maximum a posteriori, not plain maximum likelihood, so a few points
do not give absurd length scales), warm-started refits, gradients of the posterior with
respect to the inputs (for the acquisition's local refinement), and cheap "fantasy"
points for pending trials. The linear algebra is numpy/scipy (Cholesky, triangular
solves, L-BFGS-B).

The distance between two feature rows ``x`` and ``x'`` is
``r² = Σ_i d_i(x, x')² / ℓ_i²`` with, per column,

* numeric columns: ``a a' (x_i - x'_i)² + (a - a')²``, where ``a`` says the parameter is
  active (1) or not (0): two inactive values are equal, an active and an inactive one are
  as far apart as the ends of the range;
* unordered categorical columns: ``1`` when the categories differ, else ``0``
  (inactive is the category ``-1``).

Priors (inputs in the unit cube, outputs standardized): ``log ℓ ~ N(√2 + ½ log D, √3)``,
the dimension-scaled prior of Hvarfner et al. (2024) that keeps BO sound as ``D`` grows;
``log s² ~ N(0, 1)`` for the signal variance; ``log σ² ~ N(-7, 2.5)`` for the noise, which
lets deterministic objectives interpolate while noisy ones find their level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import linalg, optimize

Array = npt.NDArray[np.float64]

SQRT5 = math.sqrt(5.0)
LOG_NOISE_BOUNDS = (math.log(1e-6), math.log(0.5))
LOG_SIGNAL_BOUNDS = (math.log(0.05), math.log(20.0))
LOG_LENGTH_BOUNDS = (math.log(0.01), math.log(100.0))
NOISE_PRIOR = (-7.0, 2.5)
SIGNAL_PRIOR = (0.0, 1.0)
JITTER = 1e-9


def squared_distances(a: Array, b: Array, categorical: npt.NDArray[np.bool_]) -> Array:
    """Per-column squared distances, shape ``(D, len(a), len(b))`` (see the module docstring)."""
    out = np.empty((a.shape[1], a.shape[0], b.shape[0]))
    for i in range(a.shape[1]):
        ai, bi = a[:, i][:, None], b[:, i][None, :]
        if categorical[i]:
            out[i] = ai != bi
            continue
        active_a, active_b = ~np.isnan(ai), ~np.isnan(bi)
        if active_a.all() and active_b.all():
            out[i] = (ai - bi) ** 2
        else:
            diff = np.nan_to_num(ai) - np.nan_to_num(bi)
            both = active_a & active_b
            out[i] = np.where(both, diff**2, np.where(active_a == active_b, 0.0, 1.0))
    return out


def matern52(r2: Array) -> Array:
    """The Matérn-5/2 correlation at squared distances ``r2``."""
    r = np.sqrt(np.maximum(r2, 0.0))
    return (1.0 + SQRT5 * r + 5.0 / 3.0 * r2) * np.exp(-SQRT5 * r)


@dataclass(frozen=True)
class Hyperparameters:
    """Log length scales (one per column), log signal variance, log noise variance."""

    log_lengths: Array
    log_signal: float
    log_noise: float

    def vector(self) -> Array:
        return np.concatenate([self.log_lengths, [self.log_signal, self.log_noise]])

    @classmethod
    def from_vector(cls, theta: Array) -> Hyperparameters:
        return cls(np.array(theta[:-2]), float(theta[-2]), float(theta[-1]))


def length_prior(dim: int) -> tuple[float, float]:
    """Mean and standard deviation of the log-normal length-scale prior."""
    return math.sqrt(2.0) + 0.5 * math.log(max(dim, 1)), math.sqrt(3.0)


class GaussianProcess:
    """A zero-mean GP on standardized outputs; fit with ``fit``, query with ``predict``."""

    def __init__(self, categorical: npt.NDArray[np.bool_]) -> None:
        self.categorical = np.asarray(categorical, dtype=bool)
        self.dim = len(self.categorical)
        self.hyper: Hyperparameters | None = None
        self._x = np.empty((0, self.dim))
        self._chol = np.empty((0, 0))
        self._alpha = np.empty(0)

    # -- fitting --------------------------------------------------------------------------
    def fit(
        self,
        x: Array,
        y: Array,
        rng: np.random.Generator,
        *,
        n_restarts: int = 2,
        max_iter: int = 200,
        start: Hyperparameters | None = None,
    ) -> None:
        """Fit the hyperparameters by maximum a posteriori, from the prior's mode, from
        ``start`` (a previous fit) and from ``n_restarts`` draws of the prior."""
        d2 = squared_distances(x, x, self.categorical)
        mean, sd = length_prior(self.dim)
        starts = [np.concatenate([np.full(self.dim, mean - 1.0), [0.0, -5.0]])]
        if start is not None:
            starts.insert(0, start.vector())
        for _ in range(n_restarts):
            starts.append(
                np.concatenate(
                    [
                        rng.normal(mean - 1.0, sd / 2, self.dim),
                        [rng.normal(*SIGNAL_PRIOR), rng.normal(-5.0, 2.0)],
                    ]
                )
            )
        bounds = [LOG_LENGTH_BOUNDS] * self.dim + [LOG_SIGNAL_BOUNDS, LOG_NOISE_BOUNDS]
        best: tuple[float, Array] | None = None
        for theta0 in starts:
            theta0 = np.clip(theta0, [b[0] for b in bounds], [b[1] for b in bounds])
            result = optimize.minimize(
                _neg_log_posterior,
                theta0,
                args=(d2, y, mean, sd),
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": max_iter},
            )
            value = float(result.fun)
            if math.isfinite(value) and (best is None or value < best[0]):
                best = (value, np.asarray(result.x, dtype=float))
        theta = best[1] if best is not None else starts[-1]
        self.condition(x, y, Hyperparameters.from_vector(theta), d2=d2)

    def condition(
        self, x: Array, y: Array, hyper: Hyperparameters, *, d2: Array | None = None
    ) -> None:
        """Condition on ``(x, y)`` with fixed hyperparameters (used for pending fantasies)."""
        if d2 is None:
            d2 = squared_distances(x, x, self.categorical)
        self.hyper = hyper
        k = self._kernel(d2, hyper) + (math.exp(hyper.log_noise) + JITTER) * np.eye(len(x))
        for extra in (0.0, 1e-8, 1e-6, 1e-4):
            try:
                self._chol = linalg.cholesky(k + extra * np.eye(len(x)), lower=True)
                break
            except linalg.LinAlgError:
                continue
        else:  # pragma: no cover - a kernel matrix with noise >= 1e-6 is positive definite
            raise linalg.LinAlgError("the kernel matrix is not positive definite")
        self._x = np.array(x, dtype=float)
        self._alpha = linalg.cho_solve((self._chol, True), y)

    def _kernel(self, d2: Array, hyper: Hyperparameters) -> Array:
        r2 = np.tensordot(np.exp(-2.0 * hyper.log_lengths), d2, axes=1)
        return math.exp(hyper.log_signal) * matern52(r2)

    # -- prediction -----------------------------------------------------------------------
    def predict(self, x: Array) -> tuple[Array, Array]:
        """Posterior mean and variance of the latent function at the rows of ``x``."""
        assert self.hyper is not None, "fit or condition the GP first"
        kx = self._kernel(squared_distances(x, self._x, self.categorical), self.hyper)
        mean = kx @ self._alpha
        v = linalg.solve_triangular(self._chol, kx.T, lower=True, check_finite=False)
        var = math.exp(self.hyper.log_signal) - np.einsum("ij,ij->j", v, v)
        return mean, np.maximum(var, 1e-12)

    def predict_with_gradient(
        self, x: Array, columns: npt.NDArray[np.intp]
    ) -> tuple[Array, Array, Array, Array]:
        """Mean, variance and their gradients with respect to ``columns`` of each row.

        ``columns`` must be numeric columns; inactive ones (NaN) get zero gradient.
        Returns ``mean (m,)``, ``var (m,)``, ``dmean (m, c)``, ``dvar (m, c)``.
        """
        assert self.hyper is not None, "fit or condition the GP first"
        hyper = self.hyper
        inv_l2 = np.exp(-2.0 * hyper.log_lengths)
        d2 = squared_distances(x, self._x, self.categorical)
        r2 = np.tensordot(inv_l2, d2, axes=1)
        r = np.sqrt(np.maximum(r2, 0.0))
        signal = math.exp(hyper.log_signal)
        e = np.exp(-SQRT5 * r)
        kx = signal * (1.0 + SQRT5 * r + 5.0 / 3.0 * r2) * e
        # dk/dx_c = -s² (5/3) (1 + √5 r) e^{-√5 r} (x_c - x'_c) / ℓ_c²
        common = -signal * 5.0 / 3.0 * (1.0 + SQRT5 * r) * e
        mean = kx @ self._alpha
        solved = linalg.cho_solve((self._chol, True), kx.T)  # (n, m)
        var = signal - np.einsum("ij,ji->i", kx, solved)
        dmean = np.empty((len(x), len(columns)))
        dvar = np.empty((len(x), len(columns)))
        for j, c in enumerate(columns):
            diff = np.nan_to_num(x[:, c][:, None]) - np.nan_to_num(self._x[:, c][None, :])
            active = ~np.isnan(x[:, c])[:, None] & ~np.isnan(self._x[:, c])[None, :]
            dk = common * diff * inv_l2[c] * active  # (m, n)
            dmean[:, j] = dk @ self._alpha
            dvar[:, j] = -2.0 * np.einsum("ij,ji->i", dk, solved)
        return mean, np.maximum(var, 1e-12), dmean, dvar


def _neg_log_posterior(
    theta: Array, d2: Array, y: Array, length_mean: float, length_sd: float
) -> tuple[float, Array]:
    """Negative log marginal likelihood plus negative log prior, and its gradient."""
    n = len(y)
    log_lengths, log_signal, log_noise = theta[:-2], theta[-2], theta[-1]
    inv_l2 = np.exp(-2.0 * log_lengths)
    r2 = np.tensordot(inv_l2, d2, axes=1)
    r = np.sqrt(np.maximum(r2, 0.0))
    e = np.exp(-SQRT5 * r)
    signal, noise = math.exp(log_signal), math.exp(log_noise)
    kf = signal * (1.0 + SQRT5 * r + 5.0 / 3.0 * r2) * e
    k = kf + (noise + JITTER) * np.eye(n)
    try:
        chol = linalg.cholesky(k, lower=True, check_finite=False)
    except linalg.LinAlgError:
        return 1e10, np.zeros_like(theta)
    alpha = linalg.cho_solve((chol, True), y, check_finite=False)
    nll = (
        0.5 * float(y @ alpha)
        + float(np.log(np.diag(chol)).sum())
        + 0.5 * n * math.log(2 * math.pi)
    )
    k_inv = linalg.cho_solve((chol, True), np.eye(n), check_finite=False)
    w = np.outer(alpha, alpha) - k_inv
    g = signal * 5.0 / 3.0 * (1.0 + SQRT5 * r) * e  # dk/dlog ℓ_i = g * d2_i / ℓ_i²
    grad = np.empty_like(theta)
    grad[:-2] = -0.5 * inv_l2 * np.tensordot(d2, w * g, axes=([1, 2], [0, 1]))
    grad[-2] = -0.5 * float(np.sum(w * kf))
    grad[-1] = -0.5 * noise * float(np.trace(w))
    # Priors (Gaussian in log space).
    prior = 0.5 * float(np.sum(((log_lengths - length_mean) / length_sd) ** 2))
    grad[:-2] += (log_lengths - length_mean) / length_sd**2
    prior += 0.5 * ((log_signal - SIGNAL_PRIOR[0]) / SIGNAL_PRIOR[1]) ** 2
    grad[-2] += (log_signal - SIGNAL_PRIOR[0]) / SIGNAL_PRIOR[1] ** 2
    prior += 0.5 * ((log_noise - NOISE_PRIOR[0]) / NOISE_PRIOR[1]) ** 2
    grad[-1] += (log_noise - NOISE_PRIOR[0]) / NOISE_PRIOR[1] ** 2
    return nll + prior, grad
