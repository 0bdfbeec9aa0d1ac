"""Warm start: which trials of earlier jobs can seed a new job's model.

A job may name earlier jobs (``warm_start: [job-a, job-b]`` in the job file, or
``tuneforge.optimize(..., warm_start=trials)``) whose finished trials the strategy learns
from before it asks anything, as cloud tuning services do for "identical data and
algorithm" and "transfer learning" warm starts. ``compatible_trials`` keeps the trials
that fit this job's space: parameters this space does not have are dropped, nothing is
filled in, and a trial is kept only when the rest is a valid configuration here
(``space.check``). So an earlier job over a superset of the parameters, or with wider
ranges, still contributes every trial that lies inside this space.

Example:
    >>> from tuneforge.space import SearchSpace, Float
    >>> from tuneforge.trial import Trial, TrialState
    >>> space = SearchSpace({"x": Float(0.0, 1.0)})
    >>> old = [Trial(0, {"x": 0.5, "y": 3}, TrialState.COMPLETED, value=1.0),
    ...        Trial(1, {"x": 7.0}, TrialState.COMPLETED, value=0.0)]
    >>> [dict(t.params) for t in compatible_trials(old, space)]
    [{'x': 0.5}]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from tuneforge.errors import SpaceError
from tuneforge.space import SearchSpace
from tuneforge.trial import Trial


def compatible_trials(trials: Iterable[Trial], space: SearchSpace) -> list[Trial]:
    """The finished trials that are valid configurations of ``space`` once extra
    parameters are dropped, with their params in this space's canonical form; their
    origin becomes ``"warm_start"``."""
    kept: list[Trial] = []
    for trial in trials:
        if not trial.state.is_finished():
            continue
        params = {name: value for name, value in trial.params.items() if name in space}
        try:
            checked = space.check(params)
        except SpaceError:
            continue
        kept.append(dataclasses.replace(trial, params=checked, origin="warm_start"))
    return kept
