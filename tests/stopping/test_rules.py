"""Stopping rules decide on scripted curves exactly as specified."""

from __future__ import annotations

import pytest

from tuneforge.errors import ConfigError
from tuneforge.stopping import TrialProgress, make_stopping_rule
from tuneforge.stopping.asha import ASHARule
from tuneforge.stopping.median import MedianRule
from tuneforge.trial import TrialState

DONE = TrialState.COMPLETED
RUNNING = TrialState.RUNNING


def curve(number: int, values: list[float], state: TrialState = DONE) -> TrialProgress:
    return TrialProgress(number, state, tuple(enumerate(values)))


def completed(values_per_trial: list[list[float]]) -> list[TrialProgress]:
    return [curve(i, v) for i, v in enumerate(values_per_trial)]


class TestMedianRule:
    HISTORY = completed([[0.5, 0.6, 0.7], [0.4, 0.5, 0.6], [0.6, 0.7, 0.8]])

    def rule(self, **options: int) -> MedianRule:
        settings = {"n_startup_trials": 3, "n_warmup_steps": 1, **options}
        return MedianRule("maximize", **settings)

    def test_stops_a_trial_worse_than_the_median_of_running_averages(self) -> None:
        """At step 1 the running averages are .55/.45/.65 (median .55); a best of .5 stops."""
        decision = self.rule().decide(curve(9, [0.3, 0.5], RUNNING), self.HISTORY)
        assert decision.stop
        assert "median" in (decision.reason or "") and "0.55" in (decision.reason or "")

    def test_lets_a_trial_at_or_above_the_median_go_on(self) -> None:
        """A best of exactly the median (.55) is not strictly worse: it goes on."""
        assert not self.rule().decide(curve(9, [0.3, 0.55], RUNNING), self.HISTORY).stop

    def test_uses_the_best_value_so_far_not_the_last(self) -> None:
        """A trial that dipped after a good step is judged by its best value."""
        assert not self.rule().decide(curve(9, [0.9, 0.1], RUNNING), self.HISTORY).stop

    def test_waits_for_the_warmup_steps(self) -> None:
        """Before n_warmup_steps nothing is stopped, however bad."""
        rule = self.rule(n_warmup_steps=2)
        assert not rule.decide(curve(9, [0.0, 0.0], RUNNING), self.HISTORY).stop
        assert rule.decide(curve(9, [0.0, 0.0, 0.0], RUNNING), self.HISTORY).stop

    def test_waits_for_the_startup_trials(self) -> None:
        """With fewer completed trials than n_startup_trials nothing is stopped."""
        rule = self.rule(n_startup_trials=4)
        assert not rule.decide(curve(9, [0.0, 0.0], RUNNING), self.HISTORY).stop

    def test_ignores_running_and_failed_trials_in_the_median(self) -> None:
        """Only completed trials make the median."""
        history = [
            *self.HISTORY,
            curve(5, [0.0, 0.0], RUNNING),
            curve(6, [0.0, 0.0], TrialState.FAILED),
        ]
        assert self.rule().decide(curve(9, [0.3, 0.5], RUNNING), history).stop

    def test_minimize_flips_the_comparison(self) -> None:
        """When minimizing, a trial above the median stops."""
        rule = MedianRule("minimize", n_startup_trials=3, n_warmup_steps=0)
        assert rule.decide(curve(9, [0.9], RUNNING), self.HISTORY).stop
        assert not rule.decide(curve(9, [0.4], RUNNING), self.HISTORY).stop


class TestASHARule:
    def test_rungs_grow_geometrically(self) -> None:
        """Rungs sit at min_resource * eta**k."""
        thirds = ASHARule("minimize", min_resource=1, reduction_factor=3)
        halves = ASHARule("minimize", min_resource=2, reduction_factor=2)
        assert thirds.rungs_until(30) == [1, 3, 9, 27]
        assert halves.rungs_until(16) == [2, 4, 8, 16]

    def test_the_first_trial_at_a_rung_goes_on(self) -> None:
        """Asynchronous: with no competitors a trial is promoted, it never waits."""
        rule = ASHARule("minimize", reduction_factor=3)
        assert not rule.decide(curve(0, [5.0, 5.0], RUNNING), []).stop

    def test_stops_a_trial_outside_the_top_third_at_a_rung(self) -> None:
        """At rung 1 with values 1..6 seen, only the top 2 (1.0, 2.0) go on."""
        rule = ASHARule("minimize", reduction_factor=3)
        history = [curve(i, [9.0, float(i)], DONE) for i in range(1, 6)]  # rung-1 values 1..5
        assert rule.decide(curve(9, [9.0, 2.0], RUNNING), history).stop is False
        decision = rule.decide(curve(9, [9.0, 3.0], RUNNING), history)
        assert decision.stop and "rung 1" in (decision.reason or "")

    def test_decides_only_when_a_rung_is_crossed(self) -> None:
        """Between rungs (step 2 after rung 1) the rule does not decide again."""
        rule = ASHARule("minimize", reduction_factor=3)
        history = [curve(i, [9.0, 0.0, 0.0], DONE) for i in range(5)]
        assert not rule.decide(curve(9, [9.0, 0.0, 5.0], RUNNING), history).stop

    def test_maximize_keeps_the_highest_values(self) -> None:
        """When maximizing, the highest values at a rung are the top ones."""
        rule = ASHARule("maximize", reduction_factor=2)
        history = [curve(i, [0.0, v], DONE) for i, v in enumerate([0.1, 0.2, 0.3])]
        assert not rule.decide(curve(9, [0.0, 0.4], RUNNING), history).stop
        assert rule.decide(curve(9, [0.0, 0.15], RUNNING), history).stop


def test_make_stopping_rule_names_and_options() -> None:
    """off is None, auto is the median rule, and bad names or options are clear errors."""
    assert make_stopping_rule("off", "minimize") is None
    assert isinstance(make_stopping_rule("auto", "minimize"), MedianRule)
    assert isinstance(make_stopping_rule("asha", "maximize", {"reduction_factor": 4}), ASHARule)
    with pytest.raises(ConfigError, match="unknown rule 'hunch'; expected one of asha, auto"):
        make_stopping_rule("hunch", "minimize")
    with pytest.raises(ConfigError, match="has no option"):
        make_stopping_rule("asha", "minimize", {"eta": 3})
    expected = r"'reduction_factor' option of asha must be an int in the range \[2, inf\). Got 1"
    with pytest.raises(ConfigError, match=expected):
        make_stopping_rule("asha", "minimize", {"reduction_factor": 1})


def test_rule_from_setting_reads_what_users_write() -> None:
    """A name, a mapping with 'rule' and options, or False/None (off) build the right rule."""
    from tuneforge.stopping import rule_from_setting

    assert rule_from_setting(None, "minimize") is None
    assert rule_from_setting(False, "minimize") is None
    assert rule_from_setting("off", "minimize") is None
    assert isinstance(rule_from_setting(" AUTO ", "minimize"), MedianRule)
    rule = rule_from_setting({"rule": "asha", "min_resource": 2}, "maximize")
    assert isinstance(rule, ASHARule) and rule.min_resource == 2
    assert rule.rungs_until(20) == [2, 6, 18]
    with pytest.raises(ConfigError, match="a mapping needs 'rule'"):
        rule_from_setting({"min_resource": 2}, "minimize")
    with pytest.raises(ConfigError, match="expected one of asha, auto"):
        rule_from_setting(3, "minimize")
