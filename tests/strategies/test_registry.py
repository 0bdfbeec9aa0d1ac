"""The strategy registry and the hooks through which a strategy reads its job file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tuneforge.errors import ConfigError
from tuneforge.jobfile import job_from_document
from tuneforge.space import Categorical, Float, SearchSpace
from tuneforge.strategies import STRATEGIES, Config, Strategy, make_strategy, strategy_class
from tuneforge.strategies.design import DesignSearch
from tuneforge.strategies.grid import GridSearch

SPACE = SearchSpace({"lr": Float(0.001, 0.1), "opt": Categorical(["sgd", "adam"])})

JOB: dict[str, Any] = {
    "name": "hooks",
    "command": "python train.py --lr ${lr} --opt ${opt}",
    "parameters": {
        "lr": {"type": "float", "low": 0.001, "high": 0.1},
        "opt": {"type": "categorical", "values": ["sgd", "adam"]},
    },
    "objective": "loss",
}


def problems(tmp_path: Path, **changes: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        job_from_document({**JOB, **changes}, tmp_path)
    return info.value.problems


class Budgeted(Strategy):
    """A strategy that needs a 'budget' from the job and at least 3 trials."""

    def __init__(self, space: SearchSpace, *, seed: int | None = None, budget: int = 0) -> None:
        super().__init__(space, seed=seed)
        self.budget = budget

    def ask(self) -> Config | None:
        return self.space.default()

    @classmethod
    def prepare_options(
        cls,
        options: dict[str, Any],
        *,
        name: str,
        space: SearchSpace | None,
        design: Any,
        base_dir: str,
    ) -> dict[str, Any]:
        return {**options, "budget": len(name)}

    def check_limits(self, *, max_trials: int) -> list[str]:
        return [] if max_trials >= 3 else [f"strategy: {self.name} needs 3 trials."]


@pytest.fixture
def budgeted(monkeypatch: pytest.MonkeyPatch) -> type[Budgeted]:
    monkeypatch.setitem(STRATEGIES.classes, "budgeted", Budgeted)
    monkeypatch.setattr(Budgeted, "name", "budgeted")
    return Budgeted


def test_unknown_strategy_lists_the_valid_names() -> None:
    """make_strategy refuses an unknown name with every registered one."""
    with pytest.raises(ConfigError) as info:
        make_strategy("bayes", SPACE)
    message = str(info.value)
    assert message.startswith("strategy: unknown strategy 'bayes'; expected one of ")
    assert "bayesian, " in message and "grid, " in message


def test_families_resolve_to_their_class() -> None:
    """A family member (optuna:<Sampler>) is looked up by its prefix."""
    assert strategy_class("optuna:TPESampler") is strategy_class("optuna")
    assert STRATEGIES.get("grid") is GridSearch


def test_the_job_file_calls_the_hooks_of_the_registered_class(
    budgeted: type[Budgeted], tmp_path: Path
) -> None:
    """prepare_options completes the options and check_limits reports on max_trials."""
    spec = job_from_document({**JOB, "strategy": "budgeted"}, tmp_path)
    assert spec.strategy_options == {"budget": 8}
    assert problems(tmp_path, strategy="budgeted", limits={"max_trials": 2}) == [
        "strategy: budgeted needs 3 trials."
    ]


def test_by_default_a_strategy_reads_no_design() -> None:
    """The default prepare_options keeps the options and refuses a design: section."""
    options = {"sample": True}
    kept = Strategy.prepare_options(options, name="grid", space=SPACE, design=None, base_dir=".")
    assert kept == options
    with pytest.raises(ConfigError, match=r"^design: only the design strategy reads it"):
        Strategy.prepare_options({}, name="grid", space=SPACE, design=[{}], base_dir=".")


def test_design_reads_its_csv_relative_to_the_job_folder(tmp_path: Path) -> None:
    """design: design.csv becomes the configurations option, read against the space."""
    (tmp_path / "design.csv").write_text("lr,opt\n0.01,adam\n0.02,sgd\n")
    options = DesignSearch.prepare_options(
        {}, name="design", space=SPACE, design="design.csv", base_dir=str(tmp_path)
    )
    assert options == {"configurations": [{"lr": 0.01, "opt": "adam"}, {"lr": 0.02, "opt": "sgd"}]}


def test_design_problems_name_the_design_field(tmp_path: Path) -> None:
    """Bad CSV rows are reported under design:, each with its file and line."""
    (tmp_path / "design.csv").write_text("lr,opt\n0.01,adam\n9,sgd\n")
    with pytest.raises(ConfigError) as info:
        DesignSearch.prepare_options(
            {}, name="design", space=SPACE, design="design.csv", base_dir=str(tmp_path)
        )
    (problem,) = info.value.problems
    assert problem.startswith("design: ") and "line 3" in problem


def test_grid_checks_max_trials_unless_it_samples() -> None:
    """A grid in order larger than max_trials is a problem; a sampled grid is not."""
    grid = GridSearch(SPACE, grid_points=3)  # 3 x 2 = 6 configurations
    assert grid.check_limits(max_trials=6) == []
    assert grid.check_limits(max_trials=5)[0].startswith(
        "strategy: the grid has 6 configurations but limits.max_trials is 5;"
    )
    assert GridSearch(SPACE, grid_points=3, sample=True).check_limits(max_trials=5) == []
