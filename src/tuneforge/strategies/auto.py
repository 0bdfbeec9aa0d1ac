"""``auto``, the default strategy: picks the model from the space and the number of trials.

* no parameters: nothing to learn, ``random`` (the one empty configuration);
* until ``n_initial`` trials are in: the Sobol' initial design (as every model-based
  strategy);
* a Gaussian process (``bayesian``) while the space is small enough for it to model well
  (at most ``MAX_GP_DIM`` parameters, and not a large space of mostly categoricals) and
  the history is short enough for it to stay fast (at most ``MAX_GP_TRIALS`` told trials);
* a random forest (``forest``, SMAC-style) otherwise: many dimensions, large
  categorical-heavy spaces, long histories.

In small spaces the GP's Hamming kernel handles categoricals better than the forest,
whose trees cannot tell a category never tried from the others (measured: on 2 six-valued
categoricals, an int and a float, the GP found the optimum in 40 trials in 3 of 3 seeds,
the forest did not beat random search), hence the higher bar for categorical spaces.

Both models learn from the same history, so switching from the GP to the forest as a job
grows loses nothing. The choice and its reason are in ``choice`` and ``reason`` and are
logged (logger ``tuneforge.strategies.auto``, level INFO) when the strategy is built
and whenever the choice changes.

Example:
    >>> from tuneforge.space import SearchSpace, Float
    >>> search = AutoSearch(SearchSpace({"x": Float(0.0, 1.0)}), seed=0)
    >>> search.choice
    'bayesian'
"""

from __future__ import annotations

import logging

import numpy as np

from tuneforge.space import SearchSpace
from tuneforge.strategies.base import register
from tuneforge.strategies.bayesian import GPProposer
from tuneforge.strategies.forest import ForestProposer
from tuneforge.strategies.models.encoding import CATEGORICAL
from tuneforge.strategies.models.search import Array, ModelBasedSearch, check_int_option

logger = logging.getLogger("tuneforge.strategies.auto")

#: Above this many parameters the GP's length scales are poorly determined: use the forest.
MAX_GP_DIM = 20
#: Above this many told trials a GP ask gets slow (cubic cost): use the forest.
MAX_GP_TRIALS = 200
#: Spaces with more parameters than this, mostly unordered categoricals, use the forest.
MAX_GP_CATEGORICAL_DIM = 10


@register("auto")
class AutoSearch(ModelBasedSearch):
    """Gaussian-process BO for small spaces and short histories, a random forest beyond.

    Options:
        n_initial: trials of the initial Sobol' design (default ``min(max(dim + 1, 5), 10)``).
        local_every: with the GP, every this many asks a local step around the best trial
            (default 3; 0 turns local steps off; see ``bayesian``).
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int | None = None,
        direction: str = "minimize",
        n_initial: int | None = None,
        local_every: int = 3,
    ) -> None:
        super().__init__(space, seed=seed, direction=direction, n_initial=n_initial)
        self._gp = GPProposer(
            self,
            n_candidates=1024,
            max_observations=MAX_GP_TRIALS,
            local_every=check_int_option("local_every", local_every, 0),
        )
        self._forest = ForestProposer(self, n_trees=10, n_candidates=300, random_fraction=0.05)
        self.choice, self.reason = self._choose()
        logger.info("auto: %s (%s)", self.choice, self.reason)

    def _choose(self) -> tuple[str, str]:
        """The model to use now and why, from the space and the number of told trials."""
        dim = len(self.space)
        if dim == 0:
            return "random", "the space has no parameters"
        n_categorical = sum(1 for kind in self.encoder.kinds if kind == CATEGORICAL)
        if dim > MAX_GP_DIM:
            return "forest", f"{dim} parameters (a GP is weak above {MAX_GP_DIM})"
        if dim > MAX_GP_CATEGORICAL_DIM and n_categorical * 2 > dim:
            return "forest", (
                f"{n_categorical} of {dim} parameters are categoricals (trees split a large "
                f"categorical space better than a GP's kernel)"
            )
        if self.n_observations > MAX_GP_TRIALS:
            return "forest", (
                f"{self.n_observations} trials told (a GP gets slow above {MAX_GP_TRIALS})"
            )
        return "bayesian", (
            f"{dim} parameters ({n_categorical} categorical), {self.n_observations} trials "
            f"told: a Gaussian process finds good configurations in the fewest trials"
        )

    def _propose(self, rng: np.random.Generator) -> Array | None:
        choice, reason = self._choose()
        if choice != self.choice:
            logger.info("auto: switching from %s to %s (%s)", self.choice, choice, reason)
        self.choice, self.reason = choice, reason
        if choice == "bayesian":
            return self._gp.propose(rng)
        if choice == "forest":
            return self._forest.propose(rng)
        return None
