"""The job file: valid files load into a ``JobSpec``; every invalid field gets one clear line."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tuneforge.errors import ConfigError
from tuneforge.jobfile import JobSpec, job_from_document, load_job_file, parse_duration
from tuneforge.trial import Direction, OnInterrupt

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

BASE: dict[str, Any] = {
    "name": "demo",
    "command": "python train.py --lr ${lr} --opt ${optimizer} --m ${momentum:-0.9} -e ${epochs}",
    "parameters": {
        "lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
        "optimizer": {"type": "categorical", "values": ["sgd", "adam"]},
        "momentum": {"type": "float", "low": 0.0, "high": 0.99, "when": {"optimizer": "sgd"}},
    },
    "static": {"epochs": 3},
    "objective": {"metric": "val_acc", "direction": "maximize"},
    "metrics": [{"name": "val_acc", "regex": "val_acc=([0-9.]+)"}],
}

Write = Callable[..., Path]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """``write(**changes)`` writes BASE with changes (None deletes a field) as job.yaml."""

    def make(text: str | None = None, /, **changes: Any) -> Path:
        path = tmp_path / "job.yaml"
        if text is None:
            document = copy.deepcopy(BASE)
            for key, value in changes.items():
                if value is None:
                    document.pop(key, None)
                else:
                    document[key] = value
            text = yaml.safe_dump(document, sort_keys=False)
        path.write_text(text)
        return path

    return make


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_job_file(path)
    return info.value.problems


def only_problem(path: Path) -> str:
    problems = problems_of(path)
    assert len(problems) == 1, problems
    return problems[0]


# -- valid files ------------------------------------------------------------------------------


@pytest.mark.parametrize("example", ["digits-mlp", "template", "smac-wrapper"])
def test_examples_load(example: str) -> None:
    """Every example's job file loads and its strategy proposes a valid configuration."""
    spec = load_job_file(EXAMPLES / example / "job.yaml")
    config = spec.make_strategy().ask()
    assert config is not None
    assert spec.space.check(config) == config
    assert spec.base_dir == str(EXAMPLES / example)


def test_digits_example_spec() -> None:
    """The digits example: maximize validation accuracy, two metrics, defaults enqueued first."""
    spec = load_job_file(EXAMPLES / "digits-mlp" / "job.yaml")
    assert spec.objective.metric == "validation:accuracy" and spec.objective.maximize
    assert [m.name for m in spec.metrics] == ["validation:accuracy", "test:accuracy"]
    assert spec.space["momentum"].when is not None
    assert spec.enqueue[0] == spec.space.default()
    assert spec.limits.max_parallel == 2 and spec.limits.trial_timeout == 120.0
    assert spec.env == {"OMP_NUM_THREADS": "1"}


def test_template_example_spec() -> None:
    """The template example fills train.py.in as train.py inside the trial folder."""
    spec = load_job_file(EXAMPLES / "template" / "job.yaml")
    assert spec.workdir == "${trial_dir}"
    (template,) = spec.templates
    assert template.target == "train.py"
    assert Path(template.source) == EXAMPLES / "template" / "train.py.in"
    assert spec.strategy == "lhs" and spec.limits.max_trials == 20


def test_smac_example_reads_the_pcs_file() -> None:
    """The smac-wrapper example takes its space from params.pcs."""
    spec = load_job_file(EXAMPLES / "smac-wrapper" / "job.yaml")
    assert spec.space.names == ["x1", "x2"]
    assert spec.strategy == "sobol" and spec.objective.direction == "minimize"


def test_valid_job_defaults(write: Write, tmp_path: Path) -> None:
    """A minimal job gets the documented defaults and an absolute workdir."""
    spec = load_job_file(write())
    assert spec.command[:2] == ("python", "train.py")
    assert spec.workdir == str(tmp_path.resolve())
    assert spec.strategy == "auto" and spec.strategy_options == {}
    assert spec.early_stopping == "off"
    assert spec.limits.max_trials == 20 and spec.limits.max_parallel == 1
    assert spec.limits.max_failures == 5
    assert spec.limits.trial_timeout is None and spec.limits.time_limit is None
    assert spec.space.static == {"epochs": 3}
    assert spec.enqueue == () and spec.seed is None and spec.storage is None


def test_max_failures_default_and_null(write: Write) -> None:
    """max_failures defaults to max(5, max_trials // 4); null means no limit."""
    assert load_job_file(write(limits={"max_trials": 100})).limits.max_failures == 25
    unlimited = load_job_file(write(limits={"max_trials": 100, "max_failures": None}))
    assert unlimited.limits.max_failures is None


def test_command_as_list_and_env_values(write: Write) -> None:
    """A command list is kept as argv (numbers as text); env values become strings."""
    spec = load_job_file(
        write(
            command=["python", "train.py", "--lr", "${lr}", "--epochs", 5],
            env={"OMP_NUM_THREADS": 1, "RATE": 0.5, "MODE": "${optimizer}"},
        )
    )
    assert spec.command == ("python", "train.py", "--lr", "${lr}", "--epochs", "5")
    assert spec.env == {"OMP_NUM_THREADS": "1", "RATE": "0.5", "MODE": "${optimizer}"}


def test_objective_shorthand(write: Write) -> None:
    """`objective: val_acc` means that metric, minimized."""
    spec = load_job_file(write(objective="val_acc"))
    assert (spec.objective.metric, spec.objective.direction) == ("val_acc", "minimize")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90.0),
        (1.5, 1.5),
        ("90s", 90.0),
        ("10m", 600.0),
        ("1h30m", 5400.0),
        ("2h", 7200.0),
        ("1.5h", 5400.0),
        ("45", 45.0),
        (" 1m 30s ", 90.0),
    ],
)
def test_durations(text: Any, seconds: float) -> None:
    """Durations are seconds or text with h/m/s units."""
    assert parse_duration(text) == seconds


def test_limits_read_durations(write: Write) -> None:
    """trial_timeout and time_limit accept duration text."""
    spec = load_job_file(write(limits={"trial_timeout": "10m", "time_limit": "1h30m"}))
    assert spec.limits.trial_timeout == 600.0 and spec.limits.time_limit == 5400.0


def test_early_stopping_off_from_yaml(write: Write) -> None:
    """YAML reads a bare `off` as false; it is accepted as 'off'; auto and asha pass."""
    text = write().read_text()
    assert load_job_file(write(text + "early_stopping: off\n")).early_stopping == "off"
    assert load_job_file(write(text + "early_stopping: asha\n")).early_stopping == "asha"


def test_document_is_json_and_rebuilds_the_job(write: Write, tmp_path: Path) -> None:
    """The stored document (dates kept as text) rebuilds the same job on resume."""
    spec = load_job_file(write(write().read_text() + "description: 2024-01-01\n"))
    assert spec.description == "2024-01-01"
    again = job_from_document(json.loads(json.dumps(spec.document)), spec.base_dir)
    assert again.command == spec.command and again.space.names == spec.space.names
    assert again.space.static == spec.space.static and again.limits == spec.limits


def test_enqueue_default_first(write: Write) -> None:
    """enqueue_default puts the space's default before the listed configurations."""
    spec = load_job_file(write(enqueue_default=True, enqueue=[{"lr": 0.01, "optimizer": "adam"}]))
    assert spec.enqueue == (spec.space.default(), {"lr": 0.01, "optimizer": "adam"})


def test_templates_targets(write: Write, tmp_path: Path) -> None:
    """A template's target drops .in/.tmpl/.template; an explicit target is kept."""
    (tmp_path / "train.py.in").write_text("LR = ${lr}\n")
    (tmp_path / "conf.tmpl").write_text("epochs: ${epochs}\n")
    spec = load_job_file(
        write(templates=["train.py.in", {"source": "conf.tmpl", "target": "cfg/run.yaml"}])
    )
    assert [t.target for t in spec.templates] == ["train.py", "cfg/run.yaml"]
    assert spec.templates[0].source == str((tmp_path / "train.py.in").resolve())


def test_design_inline_and_csv(write: Write, tmp_path: Path) -> None:
    """`design:` fills strategy_options.configurations from a list or a CSV file."""
    rows = [{"lr": 0.01, "optimizer": "adam"}, {"lr": 0.001, "optimizer": "sgd", "momentum": 0.5}]
    spec = load_job_file(write(strategy="design", design=rows))
    assert spec.strategy_options["configurations"] == rows
    assert spec.make_strategy().n_configurations == 2
    (tmp_path / "design.csv").write_text("lr,optimizer,momentum\n0.01,adam,\n0.001,sgd,0.5\n")
    from_csv = load_job_file(write(strategy="design", design="design.csv"))
    assert from_csv.strategy_options["configurations"] == rows


def test_grid_sample_accepts_a_large_grid(write: Write) -> None:
    """A grid larger than max_trials is fine with sample: true."""
    spec = load_job_file(
        write(
            strategy="grid",
            strategy_options={"grid_points": 10, "sample": True},
            limits={"max_trials": 5},
        )
    )
    assert spec.make_strategy().n_configurations is not None


# -- file-level errors --------------------------------------------------------------------------


def test_malformed_yaml_names_line_and_column(write: Write) -> None:
    """Malformed YAML is one line with the file, line and column."""
    problem = only_problem(write("name: demo\ncommand: [python, train.py\nobjective: x\n"))
    assert "job.yaml, line 3, column" in problem and "invalid YAML" in problem


def test_duplicate_yaml_key(write: Write) -> None:
    """A key given twice is refused with its line instead of silently keeping the last."""
    problem = only_problem(write("name: a\nname: b\n"))
    assert "duplicate key 'name'" in problem and "line 2" in problem


def test_empty_file(write: Write) -> None:
    """An empty file says so."""
    with pytest.raises(ConfigError, match="the job file is empty"):
        load_job_file(write("# nothing here\n"))


def test_top_level_not_a_mapping(write: Write) -> None:
    """A top level that is a list is refused."""
    with pytest.raises(ConfigError, match="expected a mapping of fields .* got list"):
        load_job_file(write("- name: demo\n"))


def test_file_not_found(tmp_path: Path) -> None:
    """A missing job file is a ConfigError naming the path."""
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="nope.yaml: job file not found"):
        load_job_file(missing)


# -- field errors ---------------------------------------------------------------------------------


def test_unknown_field_did_you_mean(write: Write) -> None:
    """An unknown field suggests the closest one and lists the valid fields."""
    path = write(write().read_text().replace("name: demo", "nmae: demo"))
    problems = problems_of(path)
    assert problems[0].startswith("nmae: unknown field; did you mean 'name'? valid fields: name, ")
    assert "name: missing" in problems[1]


def test_unknown_nested_field(write: Write) -> None:
    """Unknown fields inside a section name the section's fields."""
    problem = only_problem(write(limits={"max_trails": 5}))
    assert problem.startswith("limits.max_trails: unknown field; did you mean 'max_trials'?")
    assert "max_parallel" in problem


def test_missing_required_fields(write: Write) -> None:
    """name, command and objective are required: one line each."""
    problems = problems_of(write(name=None, command=None, objective=None))
    assert [p.split(":")[0] for p in problems] == ["name", "command", "objective"]
    assert all(": missing; expected " in p for p in problems)


@pytest.mark.parametrize("name", ["../x", "a/b", "a..b", ".hidden", "", "x" * 129, 5])
def test_bad_name(write: Write, name: Any) -> None:
    """A job name that could not be a folder name is refused."""
    with pytest.raises(ConfigError, match=r"^name: invalid job name, got .*letters, digits"):
        load_job_file(write(name=name))


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        ({"max_trials": 0}, "limits.max_trials: must be an int >= 1, got 0."),
        ({"max_trials": 2.5}, "limits.max_trials: must be an int >= 1, got 2.5."),
        ({"max_parallel": 0}, "limits.max_parallel: must be an int >= 1, got 0."),
        ({"max_parallel": True}, "limits.max_parallel: must be an int >= 1, got True."),
        ({"max_failures": 0}, "limits.max_failures: must be an int >= 1 or null, got 0."),
        ({"trial_timeout": "10 minutes"}, "limits.trial_timeout: must be a positive duration"),
        ({"trial_timeout": 0}, "limits.trial_timeout: must be a positive duration, got 0;"),
        ({"time_limit": "-1h"}, "limits.time_limit: must be a positive duration, got '-1h';"),
        ({"time_limit": "1x"}, "limits.time_limit: must be a positive duration, got '1x';"),
    ],
)
def test_each_limit(write: Write, limits: dict[str, Any], expected: str) -> None:
    """Every limit names its path, the value and what is valid."""
    assert only_problem(write(limits=limits)).startswith(expected)


def test_limits_not_a_mapping(write: Write) -> None:
    """limits must be a mapping."""
    assert only_problem(write(limits=[1])).startswith("limits: expected a mapping such as")


def test_bad_direction(write: Write) -> None:
    """The direction is minimize or maximize."""
    problem = only_problem(write(objective={"metric": "val_acc", "direction": "max"}))
    assert problem == "objective.direction: expected 'minimize' or 'maximize', got 'max'."


def test_objective_without_metric(write: Write) -> None:
    """An objective mapping needs its metric."""
    problem = only_problem(write(objective={"direction": "maximize"}))
    assert problem.startswith("objective.metric: missing; expected the name of the metric")


def test_parameter_errors_name_their_paths(write: Write) -> None:
    """Parameter problems name parameters.<name>.<key>, all in one error."""
    problems = problems_of(
        write(
            parameters={
                "lr": {"type": "float", "low": 0, "high": 0.1, "log": True},
                "depth": {"type": "integr", "low": 1, "high": 3},
                "units": {"type": "int", "low": 8},
            },
            command="python train.py",
        )
    )
    assert any(p.startswith("parameters.lr.low: ") and "log" in p for p in problems)
    assert any(p.startswith("parameters.depth.type: expected one of") for p in problems)
    assert any(p.startswith("parameters.units.high: missing") for p in problems)


def test_parameters_and_parameters_file(write: Write, tmp_path: Path) -> None:
    """Giving both parameters and parameters_file is refused."""
    (tmp_path / "space.pcs").write_text("lr [0.0001, 0.1] [0.01]l\n")
    problem = only_problem(write(parameters_file="space.pcs"))
    assert problem.startswith("parameters_file: given together with parameters")


def test_no_parameters(write: Write) -> None:
    """A job needs parameters or parameters_file."""
    problems = problems_of(write(parameters=None, command="python train.py"))
    assert problems == [p for p in problems if p.startswith("parameters: missing")]


def test_parameters_file_not_found(write: Write) -> None:
    """A missing parameters_file names the path and where relative paths start."""
    problems = problems_of(write(parameters=None, parameters_file="nope.pcs"))
    assert problems[0].startswith("parameters_file: file not found, got 'nope.pcs'")


def test_regex_not_compiling(write: Write) -> None:
    """A regex that does not compile is quoted with re.error's message."""
    problem = only_problem(write(metrics=[{"name": "val_acc", "regex": "val_acc=([0-9."}]))
    assert problem.startswith("metrics[0].regex: regex 'val_acc=([0-9.' does not compile: ")
    assert "unterminated" in problem or "missing" in problem


def test_regex_without_group(write: Write) -> None:
    """A regex needs a capture group around the value."""
    problem = only_problem(write(metrics=[{"name": "val_acc", "regex": "val_acc=[0-9.]+"}]))
    assert problem.startswith("metrics[0].regex: regex 'val_acc=[0-9.]+' has no capture group")


def test_duplicate_metric_names(write: Write) -> None:
    """Metric names are unique."""
    metrics = [{"name": "acc", "regex": "a=(.*)"}, {"name": "acc", "regex": "b=(.*)"}]
    problem = only_problem(write(metrics=metrics))
    assert problem.startswith("metrics[1].name: duplicate metric name 'acc' (also metrics[0])")


def test_placeholder_without_parameter_in_command(write: Write) -> None:
    """A command placeholder must name a parameter, a static value or a built-in."""
    problem = only_problem(write(command="python train.py --lr ${lrr}"))
    assert problem.startswith("command: placeholder ${lrr} has no parameter; known: lr, optimizer")
    assert "trial_dir" in problem and problem.endswith("(did you mean 'lr'?)")


def test_placeholder_without_parameter_in_template(write: Write, tmp_path: Path) -> None:
    """A template placeholder error names the template file and its line."""
    (tmp_path / "train.py.in").write_text("LR = ${lr}\nEPOCHS = ${epoch}\n")
    problem = only_problem(write(templates=["train.py.in"]))
    assert problem.startswith("templates[0]: train.py.in line 2: placeholder ${epoch} has no")
    assert "(did you mean 'epochs'?)" in problem


def test_placeholders_in_env_and_workdir(write: Write) -> None:
    """env values and workdir are checked too; builtins such as trial_dir are known."""
    problems = problems_of(write(env={"X": "${nope}"}, workdir="${trial_dir}/${nada}"))
    assert [p.split(":")[0] for p in problems] == ["env.X", "workdir"]


def test_conditional_placeholder_needs_fallback(write: Write) -> None:
    """A conditional parameter in a placeholder must have ${name:-fallback}."""
    problem = only_problem(write(command="python train.py --lr ${lr} --m ${momentum}"))
    assert problem.startswith("command: placeholder ${momentum} names the conditional parameter")
    assert "optimizer == 'sgd'" in problem and "${momentum:-<value>}" in problem


def test_builtin_names_are_reserved(write: Write) -> None:
    """A parameter or static value may not take a built-in placeholder's name."""
    parameters = {**BASE["parameters"], "trial_dir": {"type": "int", "low": 1, "high": 2}}
    problems = problems_of(write(parameters=parameters, static={"epochs": 3, "job_name": "x"}))
    assert any(p.startswith("parameters.trial_dir: 'trial_dir' is a built-in") for p in problems)
    assert any(p.startswith("static.job_name: 'job_name' is a built-in") for p in problems)


def test_static_values_are_scalars(write: Write) -> None:
    """A static value must be a single value."""
    problem = only_problem(write(static={"epochs": [1, 2]}))
    assert problem.startswith("static.epochs: expected a single value (string, number or boolean)")


def test_env_value_must_be_text(write: Write) -> None:
    """An env value that is a list is refused with its path."""
    assert only_problem(write(env={"PATHS": ["a", "b"]})).startswith(
        "env.PATHS: expected a string or a number, got ['a', 'b']"
    )


def test_command_errors(write: Write) -> None:
    """An empty command, an unclosed quote and a non-string item are refused."""
    assert only_problem(write(command="")).startswith("command: the command is empty")
    assert only_problem(write(command="python 'train.py")).startswith(
        "command: cannot split the command like a shell would (No closing quotation)"
    )
    assert only_problem(write(command=["python", {"a": 1}])).startswith(
        "command: item 1 is not a string"
    )


def test_unknown_strategy(write: Write) -> None:
    """An unknown strategy lists the valid ones."""
    problem = only_problem(write(strategy="bayes"))
    assert problem.startswith("strategy: unknown strategy 'bayes'; expected one of ")
    assert "grid" in problem and "random" in problem


def test_unknown_strategy_option(write: Write) -> None:
    """strategy_options are checked against the strategy's constructor."""
    problem = only_problem(write(strategy="grid", strategy_options={"grid_pionts": 3}))
    assert problem.startswith("strategy_options: strategy 'grid' has no option(s) ['grid_pionts']")


def test_grid_larger_than_max_trials(write: Write) -> None:
    """A grid with more configurations than max_trials says how to fix it."""
    problem = only_problem(
        write(strategy="grid", strategy_options={"grid_points": 4}, limits={"max_trials": 10})
    )
    # lr: 4 values x optimizer (adam: 1, sgd: 4 momentum values) = 4 x 5 = 20
    assert problem == (
        "strategy: the grid has 20 configurations but limits.max_trials is 10; raise "
        "limits.max_trials, lower strategy_options.grid_points, or set strategy_options.sample: "
        "true to try a random subset."
    )


def test_design_strategy_without_design(write: Write) -> None:
    """strategy design needs design:."""
    assert only_problem(write(strategy="design")).startswith(
        "design: missing; strategy 'design' needs the configurations"
    )


def test_design_without_design_strategy(write: Write, tmp_path: Path) -> None:
    """design: with another strategy is refused."""
    assert only_problem(write(design=[{"lr": 0.01, "optimizer": "adam"}])).startswith(
        "design: only the design strategy reads it, got strategy 'auto'"
    )


def test_design_file_not_found(write: Write) -> None:
    """A missing design CSV names the path."""
    assert only_problem(write(strategy="design", design="nope.csv")).startswith(
        "design: file not found, got 'nope.csv'"
    )


def test_bad_inline_design_row(write: Write) -> None:
    """Inline design rows are checked against the space, with their index."""
    problem = only_problem(write(strategy="design", design=[{"lr": 5, "optimizer": "adam"}]))
    assert problem.startswith("design[0]: ") and "lr" in problem


def test_bad_enqueue_config(write: Write) -> None:
    """Enqueued configurations are checked with space.check."""
    problems = problems_of(
        write(
            enqueue=[
                {"lr": 0.01, "optimizer": "adam"},
                {"lr": 9.0, "optimizer": "adam"},
                {"lr": 0.01, "optimizer": "adam", "momentum": 0.5},
            ]
        )
    )
    assert [p.split(":")[0] for p in problems] == ["enqueue[1]", "enqueue[2]"]
    assert "9.0" in problems[0] and "inactive" in problems[1]


def test_bad_early_stopping(write: Write) -> None:
    """early_stopping names a known rule."""
    assert only_problem(write(early_stopping="hunch")) == (
        "early_stopping: expected one of asha, auto, median, off (or a mapping with 'rule:' "
        "and its options), got 'hunch'."
    )


def test_bad_template_paths(write: Write, tmp_path: Path) -> None:
    """A missing template source and a target escaping the trial folder are refused."""
    (tmp_path / "t.in").write_text("x\n")
    problem = only_problem(write(templates=[{"source": "t.in", "target": "../t.py"}]))
    assert problem.startswith("templates[0].target: must stay inside the trial folder")
    problem = only_problem(write(templates=["t.in", "missing.in"]))
    assert problem.startswith("templates[1].source: file not found, got 'missing.in'")


def test_workdir_must_exist(write: Write) -> None:
    """A workdir without placeholders must be an existing folder."""
    assert only_problem(write(workdir="nowhere")).startswith(
        "workdir: folder not found, got 'nowhere'"
    )


def test_bad_seed_and_storage(write: Write) -> None:
    """seed is an int >= 0 and storage a database URL."""
    problems = problems_of(write(seed="zero", storage="tuneforge.db"))
    assert (
        problems[0] == "storage: expected a database URL, got 'tuneforge.db'; e.g. "
        "'sqlite:///tuneforge.db' or 'postgresql+psycopg://user@host/db'."
    )
    assert problems[1] == "seed: must be an int >= 0 or null, got 'zero'."


def test_many_problems_in_one_run(write: Write) -> None:
    """Schema, space and cross-field problems are all reported together."""
    problems = problems_of(
        write(
            name="../x",
            command="python train.py --lr ${lrr}",
            parameters={"lr": {"type": "float", "low": 1, "high": 0}},
            limits={"max_parallel": 0},
            objective={"metric": "acc", "direction": "up"},
            strategy="bayes",
        )
    )
    fields = [p.split(":")[0] for p in problems]
    for field in (
        "name",
        "objective.direction",
        "limits.max_parallel",
        "parameters.lr.low",
        "command",
        "strategy",
    ):
        assert field in fields, problems
    assert all("\n" not in p and "pydantic" not in p for p in problems)


def test_job_from_document_rejects_a_list(tmp_path: Path) -> None:
    """job_from_document refuses a document that is not a mapping, naming the source."""
    with pytest.raises(ConfigError, match="^stored job: expected a mapping"):
        job_from_document([1], tmp_path, source="stored job")  # type: ignore[arg-type]


def test_jobspec_is_frozen(write: Write) -> None:
    """JobSpec is a frozen value."""
    spec = load_job_file(write())
    assert isinstance(spec, JobSpec)
    with pytest.raises(AttributeError):
        spec.name = "other"  # type: ignore[misc]


def test_direction_and_on_interrupt_are_enums(write: Write) -> None:
    """The spec holds a Direction and an OnInterrupt, read in any case for the direction."""
    spec = load_job_file(
        write(objective={"metric": "val_acc", "direction": " Maximize "}, on_interrupt="mark")
    )
    assert spec.objective.direction is Direction.MAXIMIZE
    assert spec.on_interrupt is OnInterrupt.MARK
