"""The models behind the model-based strategies: encoding, Gaussian process, forest, acquisition.

``search.ModelBasedSearch`` is the base the ``bayesian``, ``forest`` and ``auto`` strategies
share (history, pending trials, initial design, restore); ``encoding`` maps configurations to
feature rows; ``gp`` and ``forest`` are the surrogates; ``acquisition`` holds log expected
improvement and the optimizers that maximize it.
"""
