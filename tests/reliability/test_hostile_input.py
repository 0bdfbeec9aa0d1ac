"""Hostile input: random and malformed job files, spaces, designs, metric lines and values.

Every parser either returns a correct value or raises ``TuneforgeError`` (a clear one-line
error for the user), never another exception. Parameter values reach the script
literally, templates cannot write outside the trial folder, and job names cannot leave
the output folder. Each property runs 300 examples (5000 with ``--long``); the examples
actually tried are counted in the "reliability figures".
"""

from __future__ import annotations

import copy
import json
import os
import re
import string
import sys
import textwrap
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tuneforge.errors import TrialError, TuneforgeError
from tuneforge.events import StopSignal
from tuneforge.jobfile import job_from_document, load_job_file, parse_yaml
from tuneforge.metrics import MetricDefinition, MetricReader, check_metric_definition
from tuneforge.placeholders import fill, format_value
from tuneforge.runner import RunSpec, TemplateSpec, run_trial
from tuneforge.space import Categorical, Float, Int, SearchSpace, read_parameter_ranges, read_pcs
from tuneforge.strategies.design import read_design_csv
from tuneforge.trial import TrialState

# --- running a property with the suite's example budget -----------------------------------


class Budget:
    """Runs hypothesis properties with 300 examples (5000 with --long) and counts them."""

    def __init__(self, long_mode: bool, figures: Counter[str]) -> None:
        self.long_mode = long_mode
        self.figures = figures

    def examples(self, default: int = 300, long: int = 5000) -> int:
        return long if self.long_mode else default

    def run(
        self, name: str, strategy: st.SearchStrategy[Any], check: Callable[[Any], None], **kw: Any
    ) -> None:
        """Check ``check(example)`` on examples of ``strategy``; count them under ``name``."""

        @settings(
            max_examples=self.examples(kw.pop("default", 300), kw.pop("long", 5000)),
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(strategy)
        def property_(example: Any) -> None:
            self.figures[f"hostile inputs tried: {name}"] += 1
            self.figures["hostile inputs tried (all parsers)"] += 1
            check(example)

        property_()


@pytest.fixture
def budget(long_mode: bool, figures: Counter[str]) -> Budget:
    return Budget(long_mode, figures)


def returns_or_tuneforge_error(call: Callable[[], Any]) -> Any:
    """The call's value, or None when it raised TuneforgeError (with a non-empty message)."""
    try:
        return call()
    except TuneforgeError as exc:
        assert str(exc).strip(), "an error without a message"
        assert "Traceback" not in str(exc)
        return None


# --- values -------------------------------------------------------------------------------

SHELLISH = [
    ";",
    "|",
    "&",
    "&&",
    "$(touch pwned)",
    "`touch pwned`",
    "${x}",
    "${lr}",
    "$${",
    "${",
    "}",
    "'",
    '"',
    "\\",
    "\n",
    "\r",
    "\t",
    " ",
    "*",
    "?",
    "~",
    "../",
    "/etc/passwd",
    "-rf",
    "--flag=",
    "日本",
    "é",
    "✓",
    "\u202e",
    "%s",
    "{0}",
    "!",
    "#",
]
hostile_text = st.lists(
    st.sampled_from(SHELLISH) | st.text(st.characters(exclude_characters="\0"), max_size=8),
    max_size=8,
).map("".join)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(SHELLISH),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=10) | st.sampled_from(SHELLISH), inner, max_size=4)
    ),
    max_leaves=12,
)

# --- job files ----------------------------------------------------------------------------

BASE_JOB: dict[str, Any] = {
    "name": "hostile",
    "description": "a job",
    "command": "python train.py --lr ${lr} --opt ${opt} --m ${m:-0} --epochs ${epochs}",
    "parameters": {
        "lr": {"type": "float", "low": 1.0e-4, "high": 0.1, "log": True},
        "opt": {"type": "categorical", "values": ["sgd", "adam"]},
        "layers": {"type": "int", "low": 1, "high": 4},
        "m": {"type": "float", "low": 0.0, "high": 0.99, "when": {"opt": "sgd"}},
    },
    "static": {"epochs": 3},
    "forbidden": [{"opt": "adam", "layers": 4}],
    "env": {"MODE": "${opt}"},
    "objective": {"metric": "loss", "direction": "minimize"},
    "metrics": [{"name": "loss", "regex": "loss=([0-9.eE+-]+)"}],
    "strategy": "random",
    "strategy_options": {},
    "enqueue": [{"lr": 0.01, "opt": "adam", "layers": 2}],
    "early_stopping": "auto",
    "limits": {"max_trials": 5, "max_parallel": 2, "trial_timeout": "1m", "max_log_bytes": "1MB"},
    "retry": {"max_retries": 1, "exit_codes": [137], "log_regex": "out of memory"},
    "on_interrupt": "rerun",
    "seed": 0,
}
FIELDS = [*BASE_JOB, "templates", "workdir", "design", "parameters_file", "output_dir", "bogus"]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def mutated_jobs(draw: st.DrawFn) -> dict[str, Any]:
    """The base job with 1-4 fields replaced, deleted or added with random values."""
    document = copy.deepcopy(BASE_JOB)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(document)
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "add" or not paths:
            document[draw(st.sampled_from(FIELDS))] = draw(json_values)
            continue
        path = draw(st.sampled_from(paths))
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        if action == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return document


def test_random_job_documents_give_a_job_or_a_clear_error(budget: Budget) -> None:
    """Random mappings and mutated valid jobs: a JobSpec or ConfigError, nothing else."""

    def check(document: Any) -> None:
        spec = returns_or_tuneforge_error(lambda: job_from_document(document, "."))
        if spec is not None:
            assert spec.name == document["name"]
            assert spec.limits.max_trials >= 1

    budget.run(
        "job documents",
        mutated_jobs() | st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8),
        check,
    )


YAML_PIECES = [
    "name:",
    " hostile",
    "command:",
    " [",
    "]",
    "{",
    "}",
    ":",
    "- ",
    "&a ",
    "*a",
    "!!python/object/apply:os.system ['touch pwned']",
    "!!binary",
    "? ",
    "|",
    ">",
    "'",
    '"',
    "\n",
    "  ",
    "\t",
    "#",
    "---",
    "...",
    "%YAML 1.1",
    "<<: *a",
    "${lr}",
    "1e999",
    ".nan",
    "2024-01-01",
    "\ufeff",
]


@st.composite
def mutated_yaml(draw: st.DrawFn) -> str:
    """The base job as YAML text with a few cuts and pastes of YAML syntax and junk."""
    text = yaml.safe_dump(BASE_JOB, sort_keys=False)
    for _ in range(draw(st.integers(1, 5))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 10)))
        insert = draw(st.sampled_from(["", *YAML_PIECES]) | st.text(max_size=4))
        text = text[:start] + insert + text[end:]
    return text


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("workdir", "\0", "workdir"),
        ("output_dir", "runs\0", "output_dir"),
        ("parameters_file", "space\0.pcs", "parameters_file"),
        ("templates", ["train\0.py"], "templates[0].source"),
        ("design", "rows\0.csv", "design"),
        ("command", "python\0 train.py", "command"),
    ],
)
def test_a_nul_character_in_a_path_or_command_is_a_clear_error(
    field: str, value: Any, named: str, tmp_path: Path
) -> None:
    """No file name or command can hold NUL: the field is named, never a ValueError."""
    document = copy.deepcopy(BASE_JOB)
    document[field] = value
    if field == "parameters_file":
        del document["parameters"], document["forbidden"], document["enqueue"]
    if field == "design":
        document["strategy"] = "design"
    with pytest.raises(
        TuneforgeError, match=rf"{re.escape(named)}: .*NUL|{re.escape(named)}: .*\\x00"
    ):
        job_from_document(document, str(tmp_path), source="job.yaml")


def test_random_job_files_give_a_job_or_a_clear_error(budget: Budget, tmp_path: Path) -> None:
    """Mutated YAML, YAML token soup and random bytes: a JobSpec or ConfigError; no code runs."""
    path = tmp_path / "job.yaml"

    def check(content: str | bytes) -> None:
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8", errors="surrogatepass")
        else:
            path.write_bytes(content)
        returns_or_tuneforge_error(lambda: load_job_file(path))
        assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()

    budget.run(
        "job files",
        mutated_yaml()
        | st.lists(st.sampled_from(YAML_PIECES), max_size=30).map("".join)
        | st.binary(max_size=200),
        check,
    )


def test_yaml_bombs_and_deep_nesting_are_refused_quickly(tmp_path: Path) -> None:
    """A billion-laughs alias bomb and 5000-deep nesting are one-line errors within seconds."""
    bomb = "x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)
    )
    (tmp_path / "bomb.yaml").write_text(bomb + "name: bomb\n")
    (tmp_path / "deep.yaml").write_text("name: deep\nstatic: " + "[" * 5000 + "]" * 5000 + "\n")
    nested = {"name": "nested", "static": {"a": 1}}
    inner = nested["static"]
    for _ in range(200):
        inner["a"] = {"a": 1}
        inner = inner["a"]
    for call, expected in [
        (lambda: load_job_file(tmp_path / "bomb.yaml"), "more than 100000 values"),
        (lambda: load_job_file(tmp_path / "deep.yaml"), "nests too deeply"),
        (lambda: job_from_document(nested, "."), "nests more than 64 levels"),
    ]:
        with pytest.raises(TuneforgeError, match=expected):
            call()


def test_yaml_never_builds_python_objects(tmp_path: Path) -> None:
    """Python-specific YAML tags are refused; they never run code."""
    marker = tmp_path / "pwned"
    text = f"name: x\ncommand: !!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(TuneforgeError, match="invalid YAML"):
        parse_yaml(text)
    assert not marker.exists()


# --- search spaces ------------------------------------------------------------------------

PCS_PIECES = [
    "x",
    "lr",
    "opt",
    "[",
    "]",
    "{",
    "}",
    "(",
    ")",
    ",",
    "|",
    "||",
    "&&",
    "==",
    "!=",
    "<",
    ">",
    "in",
    "real",
    "integer",
    "categorical",
    "ordinal",
    "log",
    "l",
    "i",
    "0",
    "1",
    "-1",
    "1e-3",
    "1e999",
    "nan",
    "inf",
    "a",
    "#",
    "\n",
    " ",
    "'",
    "=",
]


def test_random_pcs_gives_a_space_or_a_clear_error(budget: Budget) -> None:
    """Random text and PCS token soup through read_pcs: a space or ConfigError."""

    def check(text: str) -> None:
        space = returns_or_tuneforge_error(lambda: read_pcs(text))
        if space is not None:
            assert isinstance(space, SearchSpace)

    budget.run(
        "PCS files",
        st.text() | st.lists(st.sampled_from(PCS_PIECES), max_size=60).map(" ".join),
        check,
    )


ranges_entry = st.fixed_dictionaries(
    {},
    optional={
        "Name": st.text(max_size=6) | st.sampled_from(SHELLISH),
        "MinValue": st.text(max_size=6) | st.floats() | st.integers(),
        "MaxValue": st.text(max_size=6) | st.floats() | st.integers(),
        "ScalingType": st.sampled_from(["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"])
        | st.text(max_size=6),
        "Values": st.lists(st.text(max_size=4) | st.integers(), max_size=4) | json_values,
    },
)
ranges_docs = st.fixed_dictionaries(
    {},
    optional={
        kind: st.lists(ranges_entry, max_size=3) | json_values
        for kind in (
            "ContinuousParameterRanges",
            "IntegerParameterRanges",
            "CategoricalParameterRanges",
        )
    },
)


def test_random_parameter_ranges_give_a_space_or_a_clear_error(budget: Budget) -> None:
    """Random ParameterRanges JSON (as data and as text): a space or ConfigError."""

    def check(data: Any) -> None:
        space = returns_or_tuneforge_error(lambda: read_parameter_ranges(data))
        if space is not None:
            assert isinstance(space, SearchSpace)

    budget.run(
        "ParameterRanges JSON",
        ranges_docs
        | st.builds(lambda d: {"ParameterRanges": d}, ranges_docs)
        | ranges_docs.map(lambda d: json.dumps(d, allow_nan=True))
        | st.text(),
        check,
    )


DESIGN_SPACE = SearchSpace(
    {
        "lr": Float(1e-4, 0.1, log=True),
        "layers": Int(1, 4),
        "opt": Categorical(["sgd", "adam", True, 3]),
        "m": Float(0.0, 0.99, when={"opt": "sgd"}),
    }
)
CSV_PIECES = ["lr", "layers", "opt", "m", ",", "\n", "\r\n", '"', "0.01", "2", "sgd", "adam"]
CSV_PIECES += ["true", "3", "", " ", "1e999", "nan", "-1", "4.5", "\ufeff", "x", ";", "\0"]


def test_random_csv_designs_give_valid_rows_or_a_clear_error(
    budget: Budget, tmp_path: Path
) -> None:
    """Random CSV text and bytes: rows the space accepts, or ConfigError."""
    path = tmp_path / "design.csv"

    def check(content: str | bytes) -> None:
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8", errors="surrogatepass")
        else:
            path.write_bytes(content)
        rows = returns_or_tuneforge_error(lambda: read_design_csv(path, DESIGN_SPACE))
        for row in rows or []:
            assert DESIGN_SPACE.check(row) == row

    header = st.lists(st.sampled_from(["lr", "layers", "opt", "m"]), min_size=1, max_size=4)
    budget.run(
        "CSV designs",
        st.builds(
            lambda names, body: ",".join(names) + "\n" + body,
            header,
            st.lists(st.sampled_from(CSV_PIECES), max_size=40).map("".join),
        )
        | st.text()
        | st.binary(max_size=100),
        check,
    )


# --- metric lines ---------------------------------------------------------------------------

metric_regexes = st.sampled_from(
    [r"loss=([0-9.eE+-]+)", r"acc:\s*(\S+)", r"(.*)", r"(\d+)/(\d+)", r"^val=(.+)$"]
) | st.text(max_size=12)


def test_random_metric_lines_give_observations_or_nothing(budget: Budget) -> None:
    """Random definitions and lines (text, TAB, SMAC, JSON report): observations, no crash."""

    def check(example: tuple[str, list[str]]) -> None:
        regex, lines = example
        if check_metric_definition("m", regex) is not None:
            return  # refused with a message when the job file is read
        reader = MetricReader([MetricDefinition("m", regex)], "m")
        for line in lines:
            for observation in [*reader.feed_line(line), *reader.feed_report(line)]:
                assert isinstance(observation.value, float) and observation.step >= 0

    line = (
        st.text()
        | st.builds(lambda n, v: f"{n}\t{v}", st.text(max_size=8), st.text(max_size=8))
        | st.builds(
            lambda s: f"Result of this algorithm run: {s}",
            st.lists(st.sampled_from(["SUCCESS", "CRASHED", "1", "nan", ",", " "]), max_size=8).map(
                "".join
            ),
        )
        | json_values.map(lambda v: json.dumps({"step": 1, "metrics": v}, allow_nan=True))
        | json_values.map(lambda v: json.dumps(v, allow_nan=True))
    )
    budget.run("metric lines", st.tuples(metric_regexes, st.lists(line, max_size=5)), check)


# --- values reach the script literally ------------------------------------------------------

ECHO = textwrap.dedent(
    """
    import json, os, sys
    env = {k: v for k, v in os.environ.items() if k.startswith("TUNEFORGE_PARAM_")}
    with open("seen.json", "w", encoding="utf-8", errors="surrogateescape") as f:
        config = open("config.txt", encoding="utf-8", newline="").read()
        json.dump({"argv": sys.argv[1:], "env": env, "config": config}, f)
    print("loss=1")
    """
)


def test_hostile_parameter_values_reach_the_script_literally(
    budget: Budget, tmp_path: Path
) -> None:
    """Shell syntax, quotes, newlines, ${...}, non-ASCII: argv, env and templates get the text.

    Nothing is run by a shell or filled twice: no file named ``pwned`` ever appears.
    """
    script = tmp_path / "echo.py"
    script.write_text(ECHO)
    template = tmp_path / "config.txt.in"
    template.write_text("a=${a}\nb=${b}\n")
    runs = [0]

    def check(values: tuple[str, str]) -> None:
        a, b = values
        runs[0] += 1
        folder = tmp_path / f"trial-{runs[0]}"
        spec = RunSpec(
            job_name="hostile",
            number=runs[0],
            params={"a": a, "b": b},
            static={},
            command=(sys.executable, str(script), "${a}", "--b=${b}", "${a}${b}"),
            trial_dir=str(folder),
            workdir="${trial_dir}",
            templates=(TemplateSpec(str(template), "config.txt"),),
            metrics=(MetricDefinition("loss", r"loss=(\S+)"),),
            objective="loss",
        )
        outcome = run_trial(spec, lambda event: None, StopSignal())
        assert outcome.state is TrialState.COMPLETED, outcome.reason
        seen = json.loads((folder / "seen.json").read_text(encoding="utf-8"))
        assert seen["argv"] == [a, f"--b={b}", a + b]
        assert seen["env"]["TUNEFORGE_PARAM_A"] == a and seen["env"]["TUNEFORGE_PARAM_B"] == b
        assert seen["config"] == f"a={a}\nb={b}\n"
        assert not any(p.name == "pwned" for p in tmp_path.rglob("*"))

    surrogate_free = hostile_text.filter(lambda s: not any(0xD800 <= ord(c) < 0xE000 for c in s))
    budget.run(
        "parameter values run through a trial",
        st.tuples(surrogate_free, surrogate_free),
        check,
        default=15,
        long=300,
    )


def test_filling_never_fills_a_value_twice(budget: Budget) -> None:
    """A value holding ${...} or $${ is inserted as it is, never filled again."""

    def check(values: tuple[str, str]) -> None:
        a, b = values
        assert fill("${a}|${b}|$${a}", {"a": a, "b": b}) == f"{a}|{b}|${{a}}"
        assert fill("${a}", {"a": a}) == format_value(a)

    budget.run("placeholder fills", st.tuples(hostile_text, hostile_text), check)


# --- paths: templates and job names ---------------------------------------------------------

path_text = st.lists(
    st.sampled_from(["..", ".", "/", "a", "b", "~", "\\", "//", "...", "%2e%2e", "\0", " "])
    | st.text(max_size=3),
    max_size=8,
).map("".join)


def test_template_targets_never_leave_the_trial_folder(budget: Budget, tmp_path: Path) -> None:
    """Random targets: accepted ones lie inside the trial folder, written or refused clearly."""
    from tuneforge.runner import _template_target

    trial_dir = str(tmp_path / "runs" / "job" / "trial-0001")

    def check(target: str) -> None:
        try:
            path = _template_target(trial_dir, target)
        except TrialError:
            return
        real_dir = os.path.realpath(trial_dir)
        assert os.path.commonpath([os.path.realpath(path), real_dir]) == real_dir
        assert os.path.realpath(path) != real_dir

    budget.run("template targets", path_text, check)


def test_template_targets_in_job_files_never_leave_the_trial_folder(
    budget: Budget, tmp_path: Path
) -> None:
    """The job file refuses targets with '..' or absolute paths before any trial runs."""
    (tmp_path / "train.py.in").write_text("lr = ${lr}\n")
    document = {
        "name": "tmpl",
        "command": "python train.py",
        "parameters": {"lr": {"type": "float", "low": 0.0, "high": 1.0}},
        "objective": "loss",
    }

    def check(target: str) -> None:
        job = {**document, "templates": [{"source": "train.py.in", "target": target}]}
        spec = returns_or_tuneforge_error(lambda: job_from_document(job, tmp_path))
        if spec is None:
            return
        folder = tmp_path / "trial"
        written = os.path.normpath(folder / spec.templates[0].target)
        assert written.startswith(str(folder) + os.sep)

    budget.run("template targets in job files", path_text, check)


def test_job_names_never_leave_the_output_folder(budget: Budget) -> None:
    """Random names: accepted ones are one plain folder name under runs/."""
    base = {
        "command": "python train.py",
        "parameters": {"lr": {"type": "float", "low": 0.0, "high": 1.0}},
        "objective": "loss",
    }
    runs = Path("runs").resolve()

    def check(name: str) -> None:
        spec = returns_or_tuneforge_error(lambda: job_from_document({**base, "name": name}, "."))
        if spec is None:
            return
        folder = (runs / spec.name).resolve()
        assert folder.parent == runs and folder.name == name
        assert "/" not in name and "\\" not in name and ".." not in name

    names = path_text | st.text(alphabet=string.printable, max_size=20)
    budget.run("job names", names, check)
