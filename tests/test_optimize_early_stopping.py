"""optimize() with objective(params, trial): reported curves, stopping rules, hyperband."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import tuneforge as tf
from tuneforge import optimize  # before tuneforge.optimize: see note
from tuneforge.errors import ConfigError
from tuneforge.optimize import OptimizeResult, RunningTrial, _takes_trial
from tuneforge.results.table import best_trial
from tuneforge.trial import TrialState

# Note: the function is imported from the package before the module tuneforge.optimize is;
# the other order would leave `tuneforge.optimize` bound to the module, not the function.

DONE = TrialState.COMPLETED
EARLY = TrialState.STOPPED_EARLY
SPACE = {"a": tf.Float(0.0, 10.0), "b": tf.Float(0.0, 1.0)}


def curve_objective(n_steps: int) -> Callable[[dict[str, Any], RunningTrial], float]:
    """loss = a / step + b for steps 1..n_steps, stopping when told to."""

    def objective(params: dict[str, Any], trial: RunningTrial) -> float:
        loss = 0.0
        for step in range(1, n_steps + 1):
            loss = params["a"] / step + params["b"]
            trial.report(loss, step)
            if trial.should_stop():
                break
        return loss

    return objective


def run_design(
    designs: list[dict[str, float]], early_stopping: Any, n_steps: int = 9
) -> OptimizeResult:
    return optimize(
        curve_objective(n_steps),
        SPACE,
        strategy="design",
        strategy_options={"configurations": designs},
        max_trials=len(designs),
        early_stopping=early_stopping,
    )


ASHA_DESIGN = [
    {"a": 1.0, "b": 0.0},  # 1, .333, .111 at rungs 1, 3, 9: alone, goes on
    {"a": 2.0, "b": 0.0},  # rung 1: 2 is not the best of [1, 2]
    {"a": 0.1, "b": 0.5},  # rung 1: .6 is the best third of [1, 2, .6]; rung 3: .533 > .333
    {"a": 0.5, "b": 0.0},  # the best at every rung
    {"a": 3.0, "b": 0.0},  # rung 1: 3 is outside the top third
]


def test_asha_stops_in_process_trials_exactly_at_the_rung_they_fail() -> None:
    """Each trial stops at the step of the rung it fails, with that rung in its reason."""
    result = run_design(ASHA_DESIGN, {"rule": "asha", "min_resource": 1, "reduction_factor": 3})
    assert [t.state for t in result.trials] == [DONE, EARLY, EARLY, DONE, EARLY]
    curves = result.curves("value")
    assert curves.groupby("number")["step"].max().tolist() == [9, 1, 3, 9, 1]
    reasons = [t.reason for t in result.trials]
    assert "ASHA at rung 1" in (reasons[1] or "") and "ASHA at rung 3" in (reasons[2] or "")
    # A stopped trial keeps the value it returned: its last reported one.
    assert result.trials[2].value == pytest.approx(0.1 / 3 + 0.5)
    assert result.best is not None and result.best.number == 3


def test_auto_is_the_median_rule_in_process() -> None:
    """early_stopping='auto' stops a trial whose best is worse than the completed median."""
    designs = [
        {"a": 1.0, "b": 0.0},
        {"a": 0.5, "b": 0.0},
        {"a": 4.0, "b": 0.0},  # step 1: 4 > median(1, .5) = .75
        {"a": 0.2, "b": 0.3},  # .5 at step 1, then always at or below the median
    ]
    result = run_design(designs, {"rule": "auto", "n_startup_trials": 2}, n_steps=5)
    assert [t.state for t in result.trials] == [DONE, DONE, EARLY, DONE]
    stopped = result.trials[2]
    assert stopped.value == 4.0 and "median rule at step 1" in (stopped.reason or "")
    assert result.curves("value").query("number == 2")["step"].tolist() == [1]


def test_stopped_early_trials_are_never_best_unless_asked() -> None:
    """A stopped trial with a better value is not best; include_stopped_early=True lets it be."""
    designs = [{"a": 1.0, "b": 0.5}, {"a": 5.0, "b": 0.0}]
    result = run_design(designs, {"rule": "asha", "reduction_factor": 2}, n_steps=9)
    stopped, completed = result.trials[1], result.trials[0]
    assert stopped.state is EARLY and completed.state is DONE
    assert stopped.value is not None and completed.value is not None
    # Make the stopped one look better, as a noisy early value would.
    better = [completed, replace(stopped, value=0.0)]
    assert best_trial(better, "minimize") is completed
    assert best_trial(better, "minimize", include_stopped_early=True) is better[1]


def test_an_objective_that_never_asks_runs_to_its_end() -> None:
    """Reporting without calling should_stop() completes the trial, whatever the rule says."""

    def objective(params: dict[str, Any], trial: RunningTrial) -> float:
        for step in range(1, 4):
            trial.report(params["a"] * step, step)
        return params["a"] * 3

    designs = [{"a": 1.0, "b": 0.0}, {"a": 5.0, "b": 0.0}]
    result = optimize(
        objective,
        SPACE,
        strategy="design",
        strategy_options={"configurations": designs},
        max_trials=2,
        early_stopping="asha",
    )
    assert [t.state for t in result.trials] == [DONE, DONE]
    assert result.curves("value").query("number == 1")["step"].tolist() == [1, 2, 3]


def test_one_argument_objectives_work_with_early_stopping() -> None:
    """objective(params) is unchanged: its single value is recorded at step 0."""
    result = optimize(
        lambda p: p["a"], SPACE, strategy="random", max_trials=6, seed=0, early_stopping="asha"
    )
    assert {t.state for t in result.trials} == {DONE}
    assert set(result.curves()["step"]) == {0}


def test_final_values_belong_to_the_last_reported_step() -> None:
    """Returned metrics land on the last reported step; the objective is not repeated."""

    def objective(params: dict[str, Any], trial: RunningTrial) -> dict[str, float]:
        for step in (1, 2, 3):
            trial.report(float(step), step)
        return {"value": 3.0, "accuracy": 0.9}

    result = optimize(objective, SPACE, strategy="random", max_trials=1, seed=0)
    rows = result.curves()[["metric", "step", "value"]].values.tolist()
    assert rows == [["accuracy", 3, 0.9], ["value", 1, 1.0], ["value", 2, 2.0], ["value", 3, 3.0]]
    assert result.trials[0].metrics == {"accuracy": 0.9, "value": 3.0}


def test_a_bad_step_fails_the_trial_with_a_clear_reason() -> None:
    """trial.report(value, step=-1) raises inside the objective, which fails that trial."""

    def objective(params: dict[str, Any], trial: RunningTrial) -> float:
        trial.report(1.0, -1)
        return 1.0

    result = optimize(objective, SPACE, strategy="random", max_trials=1, seed=0)
    assert result.trials[0].state is TrialState.FAILED
    assert "step must be an int >= 0, got -1" in (result.trials[0].reason or "")


def test_hyperband_in_process_passes_the_resource_as_a_parameter() -> None:
    """strategy='hyperband' sets params['epochs'] per trial; maximize keeps the best."""
    seen: list[int] = []

    def objective(params: dict[str, Any]) -> float:
        seen.append(params["epochs"])
        return 1.0 - params["a"] / 10.0 - 1.0 / params["epochs"]

    result = optimize(
        objective,
        {**SPACE, "epochs": 9},
        strategy="hyperband",
        strategy_options={"resource": "epochs"},
        direction="maximize",
        max_trials=13,
        seed=0,
    )
    assert Counter(seen) == Counter({1: 9, 3: 3, 9: 1})  # the first bracket: 9 x 1, 3 x 3, 1 x 9
    on_three = [t for t in result.trials if t.params["epochs"] == 3]
    [full] = [t for t in result.trials if t.params["epochs"] == 9]
    assert full.params["a"] == max(on_three, key=lambda t: t.value or 0).params["a"]
    assert result.best is full


def test_hyperband_promotions_continue_from_the_checkpoint_of_the_rung_below(
    tmp_path: Path,
) -> None:
    """With output_dir, each trial has a folder; a promoted configuration gets the folder of
    its run on the rung below as resume_dir, and training only the extra epochs from the
    checkpoint there gives what training from scratch would."""
    trained: list[int] = []

    def objective(params: dict[str, Any], trial: RunningTrial) -> float:
        assert trial.dir is not None and trial.dir.is_dir()
        done, position = 0, 0.0
        if trial.resume_dir is not None:
            saved = json.loads((trial.resume_dir / "checkpoint.json").read_text())
            done, position = saved["epochs"], saved["position"]
        for _ in range(done, params["epochs"]):  # one "epoch": halfway to params["a"]
            position += (params["a"] - position) / 2
        trained.append(params["epochs"] - done)
        (trial.dir / "checkpoint.json").write_text(
            json.dumps({"epochs": params["epochs"], "position": position})
        )
        return abs(position - 10.0) + params["b"]

    result = optimize(
        objective,
        {**SPACE, "epochs": 9},
        strategy="hyperband",
        strategy_options={"resource": "epochs", "checkpoints": True},
        max_trials=21,
        seed=0,
        output_dir=tmp_path / "runs",
    )
    trials = {t.number: t for t in result.trials}
    promoted = [t for t in result.trials if t.continues is not None]
    # With checkpoints the brackets run 5 x 3 -> 2 x 9, then 9 x 1 -> 3 x 3 -> 2 x 9.
    assert len(promoted) == 2 + 3 + 2
    for trial in promoted:
        parent = trials[trial.continues]
        assert {**parent.params, "epochs": trial.params["epochs"]} == dict(trial.params)
        assert parent.params["epochs"] < trial.params["epochs"]
        assert trial.trial_dir == str(tmp_path / "runs" / f"trial-{trial.number:04d}")
        position = 0.0
        for _ in range(trial.params["epochs"]):
            position += (trial.params["a"] - position) / 2
        assert trial.value == pytest.approx(abs(position - 10.0) + trial.params["b"])
    # Compute: the promotions trained only the epochs their checkpoints lacked.
    assert (
        sum(trained)
        == sum(
            t.params["epochs"]
            - (0 if t.continues is None else trials[t.continues].params["epochs"])
            for t in result.trials
        )
        < sum(t.params["epochs"] for t in result.trials)
    )


def test_without_output_dir_trials_have_no_folder() -> None:
    """No output_dir: trial.dir and trial.resume_dir are None and nothing is written."""
    seen: list[tuple[Any, Any]] = []

    def objective(params: dict[str, Any], trial: RunningTrial) -> float:
        seen.append((trial.dir, trial.resume_dir))
        return params["a"] / params["epochs"]

    result = optimize(
        objective,
        {**SPACE, "epochs": 3},
        strategy="hyperband",
        strategy_options={"resource": "epochs"},
        max_trials=4,
        seed=0,
    )
    assert seen == [(None, None)] * 4
    assert [t.trial_dir for t in result.trials] == [None] * 4
    assert result.trials[3].continues is not None  # still recorded: 3 x 1 -> 1 x 3


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("hunch", r"unknown rule 'hunch'; expected one of asha, auto"),
        ({"reduction_factor": 3}, r"a mapping needs 'rule'"),
        ({"rule": "asha", "eta": 3}, r"rule 'asha' has no option"),
    ],
)
def test_bad_early_stopping_settings_are_config_errors(setting: Any, message: str) -> None:
    """Unknown rules and options are refused before any trial runs."""
    with pytest.raises(ConfigError, match=message):
        optimize(lambda p: 0.0, SPACE, strategy="random", max_trials=1, early_stopping=setting)


def test_the_trial_is_passed_to_objectives_that_want_it() -> None:
    """A second required parameter, one named trial, or *args gets the trial; an option does not."""

    def with_trial(params: dict[str, Any], trial: RunningTrial) -> float:
        return 0.0

    def optional_trial(params: dict[str, Any], trial: RunningTrial | None = None) -> float:
        return 0.0

    def with_option(params: dict[str, Any], scale: float = 1.0) -> float:
        return 0.0

    def star(*args: Any) -> float:
        return 0.0

    assert _takes_trial(with_trial) and _takes_trial(optional_trial) and _takes_trial(star)
    assert not _takes_trial(with_option) and not _takes_trial(lambda p: 0.0)


def test_hyperband_keeps_every_slot_busy_with_n_jobs() -> None:
    """With n_jobs=2 every trial finds a second one running: no slot waits for a bracket."""
    condition = threading.Condition()
    running = 0
    paired: list[bool] = []

    def objective(params: dict[str, Any]) -> float:
        nonlocal running
        with condition:
            running += 1
            condition.notify_all()
            paired.append(condition.wait_for(lambda: running >= 2, timeout=2.0))
        time.sleep(0.002 * params["epochs"])
        with condition:
            running -= 1
        return params["a"] / params["epochs"]

    result = optimize(
        objective,
        {**SPACE, "epochs": 9},
        strategy="hyperband",
        strategy_options={"resource": "epochs"},
        max_trials=16,  # more than the first bracket (14), so brackets overlap
        seed=0,
        n_jobs=2,
    )
    # The last trial to start may outlive its partner: with max_trials reached, nothing
    # else starts, so it alone may wait (it is the last to record whether it was paired).
    assert len(result.trials) == 16 and all(paired[:-1])
    assert {t.params["epochs"] for t in result.trials} == {1, 3, 9}
