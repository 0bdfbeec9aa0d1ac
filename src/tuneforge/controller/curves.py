"""The learning curves the early-stopping rule reads: the objective's values, trial by trial.

A running trial is judged on each new value of its objective against the curves of the
others (finished ones included, those of earlier runs of the job too); once the rule says
stop, the trial is not judged again. A retried attempt starts a new curve, and an
interrupted trial's goes (it runs again).
"""

from __future__ import annotations

from collections.abc import Sequence

from tuneforge.stopping import StoppingRule, TrialProgress
from tuneforge.storage import Storage
from tuneforge.trial import Observation, Trial, TrialState

__all__ = ["Curves"]


class Curves:
    """The objective's curve of every trial, kept only when there is a stopping rule."""

    def __init__(self, rule: StoppingRule | None, metric: str | None) -> None:
        if rule is not None and metric is None:
            raise ValueError("a stopping rule needs the objective's metric name")
        self.rule = rule
        self.metric = metric
        self._curves: dict[int, TrialProgress] = {}
        self._stopping: set[int] = set()  # judged already: the rule said stop

    def restore(self, storage: Storage, job_name: str, trials: Sequence[Trial]) -> None:
        """Read the curves of a resumed job's finished trials: the history rules compare to."""
        if self.rule is None:
            return
        for trial in trials:
            if trial.state.is_finished():
                series = storage.metric_series(job_name, trial.number, self.metric)
                steps = tuple((o.step, o.value) for o in series)
                self._curves[trial.number] = TrialProgress(trial.number, trial.state, steps)

    def observe(self, number: int, observation: Observation, *, judge: bool) -> str | None:
        """Add a value to trial ``number``'s curve; why to stop it now, if the rule says so.

        ``judge=False`` (the trial is no longer running here) only records the value.
        """
        if self.rule is None or observation.metric != self.metric:
            return None
        previous = self._curves.get(number)
        series = (*(previous.series if previous else ()), (observation.step, observation.value))
        progress = TrialProgress(number, TrialState.RUNNING, series)
        self._curves[number] = progress
        if number in self._stopping or not judge:
            return None
        history = [curve for n, curve in self._curves.items() if n != number]
        decision = self.rule.decide(progress, history)
        if not decision.stop:
            return None
        self._stopping.add(number)
        return decision.reason or "stopped early"

    def restart(self, number: int) -> None:
        """A new attempt of the trial runs: the failed attempt's values go."""
        self._curves.pop(number, None)

    def ended(self, number: int) -> None:
        """The trial's process ended (its outcome is not recorded yet)."""
        self._stopping.discard(number)

    def recorded(self, trial: Trial) -> None:
        """The trial's end is recorded: its curve joins the history in its final state,
        except an interrupted trial's, which runs again."""
        if trial.state is TrialState.INTERRUPTED:
            self._curves.pop(trial.number, None)
        elif trial.number in self._curves:
            series = self._curves[trial.number].series
            self._curves[trial.number] = TrialProgress(trial.number, trial.state, series)
