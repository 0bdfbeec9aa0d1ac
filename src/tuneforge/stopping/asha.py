"""Asynchronous successive halving (``early_stopping: asha``).

Rungs sit at steps ``min_resource * reduction_factor**k``. When a trial reaches a rung,
it goes on only if its value there is in the top ``1/reduction_factor`` of the values
every trial recorded at that rung; otherwise it stops. No trial waits for others: a
trial among the first few at a rung goes on if it is the best so far there (as in the
ASHA paper's asynchronous promotion and Optuna's SuccessiveHalvingPruner).
"""

from __future__ import annotations

from collections.abc import Sequence

from tuneforge.stopping.base import (
    CONTINUE,
    Decision,
    StoppingRule,
    TrialProgress,
    check_int,
    register,
)
from tuneforge.trial import Direction


@register("asha")
class ASHARule(StoppingRule):
    def __init__(self, direction: str, *, min_resource: int = 1, reduction_factor: int = 3) -> None:
        super().__init__(direction)
        self.min_resource = check_int("asha", "min_resource", min_resource, 1)
        self.reduction_factor = check_int("asha", "reduction_factor", reduction_factor, 2)

    def rungs_until(self, step: int) -> list[int]:
        """Rung steps <= ``step``: min_resource, min_resource*eta, ..."""
        rungs, rung = [], self.min_resource
        while rung <= step:
            rungs.append(rung)
            rung *= self.reduction_factor
        return rungs

    def value_at(self, trial: TrialProgress, rung: int) -> float | None:
        """The trial's last finite value at a step <= rung, if it reached the rung."""
        if trial.last_step is None or max(s for s, _ in trial.series) < rung:
            return None
        values = trial.values_until(rung)
        return values[-1] if values else None

    def decide(self, trial: TrialProgress, history: Sequence[TrialProgress]) -> Decision:
        if len(trial.series) == 0:
            return CONTINUE
        step = trial.series[-1][0]
        previous = max((s for s, _ in trial.series[:-1]), default=-1)
        crossed = [r for r in self.rungs_until(step) if r > previous]
        if not crossed:
            return CONTINUE
        rung = crossed[-1]
        own = self.value_at(trial, rung)
        if own is None:
            return CONTINUE
        competing = [own]
        for other in history:
            if other.number != trial.number:
                value = self.value_at(other, rung)
                if value is not None:
                    competing.append(value)
        competing.sort(reverse=self.direction is Direction.MAXIMIZE)
        n_promoted = max(len(competing) // self.reduction_factor, 1)
        threshold = competing[n_promoted - 1]
        if self.is_worse(own, threshold):
            return Decision(
                True,
                f"ASHA at rung {rung}: {own:.6g} is not in the top 1/{self.reduction_factor} "
                f"of {len(competing)} trials there (needs {threshold:.6g})",
            )
        return CONTINUE
