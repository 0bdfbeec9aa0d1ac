"""A random-forest surrogate with an uncertainty: the spread of its trees (as in SMAC).

scikit-learn grows the trees (``RandomForestRegressor``); this module adds only what a
search needs from it: features with inactive parameters imputed outside their range (so a
split can separate them), unordered categoricals one-hot encoded (scikit-learn's forests
split numbers only, and a split on an arbitrary category index cannot isolate one value;
SMAC's own forest splits categories natively), and the mean and variance of the trees'
predictions at many candidate rows in one call.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import RandomForestRegressor

Array = npt.NDArray[np.float64]

#: The value inactive parameters take: outside [0, 1] and below every category index.
INACTIVE = -1.0
#: The most rows one tree is grown on.
MAX_SAMPLES = 400


def impute(x: Array, n_values: Sequence[int] = ()) -> Array:
    """Feature rows with inactive parameters (NaN) set to ``INACTIVE`` and the columns
    with ``n_values[i] > 2`` (unordered categoricals, index-coded) one-hot encoded."""
    x = np.nan_to_num(np.asarray(x, dtype=float), nan=INACTIVE)
    if not any(n > 2 for n in n_values):
        return x
    blocks = []
    for i, n in enumerate(n_values):
        if n > 2:
            blocks.append((x[:, i][:, None] == np.arange(n)[None, :]).astype(float))
        else:
            blocks.append(x[:, i][:, None])
    return np.hstack(blocks)


class Forest:
    """A bagged forest; ``predict`` gives the mean and the variance across its trees.

    ``n_values`` gives, per feature column, the number of values of an unordered
    categorical (0 for the other columns).
    """

    def __init__(
        self, *, n_trees: int = 24, min_samples_leaf: int = 1, n_values: Sequence[int] = ()
    ) -> None:
        self.n_values = list(n_values)
        self.n_trees = n_trees
        self.min_samples_leaf = min_samples_leaf
        self._model: RandomForestRegressor | None = None

    def fit(self, x: Array, y: Array, rng: np.random.Generator) -> None:
        # Each tree sees a bootstrap sample of at most MAX_SAMPLES rows: with long
        # histories the trees stay cheap to grow and still differ from one another.
        max_samples = MAX_SAMPLES if len(x) > MAX_SAMPLES else None
        model = RandomForestRegressor(
            max_samples=max_samples,
            n_estimators=self.n_trees,
            max_features=0.8,
            min_samples_leaf=self.min_samples_leaf,
            min_samples_split=3,
            bootstrap=True,
            random_state=int(rng.integers(2**31 - 1)),
            n_jobs=1,
        )
        model.fit(impute(x, self.n_values), y)
        self._model = model

    def predict(self, x: Array) -> tuple[Array, Array]:
        assert self._model is not None, "fit the forest first"
        rows = impute(x, self.n_values).astype(np.float32)
        per_tree = np.stack([tree.tree_.predict(rows)[:, 0] for tree in self._model.estimators_])
        return per_tree.mean(axis=0), np.maximum(per_tree.var(axis=0), 1e-6)
