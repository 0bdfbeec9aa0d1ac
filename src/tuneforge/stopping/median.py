"""The median stopping rule of cloud tuning services (``early_stopping: auto``).

Stop a trial at step t when its best objective so far is strictly worse than the median
of the running averages, up to step t, of the completed trials. Nothing is stopped before
``n_startup_trials`` trials completed or before step ``n_warmup_steps``, so early noise
does not end good configurations.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from tuneforge.stopping.base import (
    CONTINUE,
    Decision,
    StoppingRule,
    TrialProgress,
    check_int,
    register,
)
from tuneforge.trial import TrialState


@register("median")
class MedianRule(StoppingRule):
    def __init__(
        self, direction: str, *, n_startup_trials: int = 5, n_warmup_steps: int = 1
    ) -> None:
        super().__init__(direction)
        self.n_startup_trials = check_int("median", "n_startup_trials", n_startup_trials, 1)
        self.n_warmup_steps = check_int("median", "n_warmup_steps", n_warmup_steps, 0)

    def decide(self, trial: TrialProgress, history: Sequence[TrialProgress]) -> Decision:
        step = trial.last_step
        if step is None or step < self.n_warmup_steps:
            return CONTINUE
        completed = [
            h for h in history if h.state is TrialState.COMPLETED and h.number != trial.number
        ]
        if len(completed) < self.n_startup_trials:
            return CONTINUE
        averages = []
        for other in completed:
            values = other.values_until(step)
            if values:
                averages.append(sum(values) / len(values))
        own = trial.values_until(step)
        if len(averages) < self.n_startup_trials or not own:
            return CONTINUE
        median = statistics.median(averages)
        best = self.best_of(own)
        if self.is_worse(best, median):
            return Decision(
                True,
                f"median rule at step {step}: best so far {best:.6g} is worse than the median "
                f"{median:.6g} of {len(averages)} completed trials' running averages",
            )
        return CONTINUE
