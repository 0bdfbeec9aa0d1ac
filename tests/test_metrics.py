"""Tests for tuneforge.metrics: every metric source, series steps and robustness to garbage."""

from __future__ import annotations

import json
import math
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tuneforge.errors import ConfigError
from tuneforge.metrics import (
    SMAC_FAILED_STATUSES,
    SMAC_RUNTIME_METRIC,
    MetricDefinition,
    MetricReader,
    check_metric_definition,
)
from tuneforge.trial import Observation

ACC = MetricDefinition("val_acc", r"val_acc=([0-9.eE+-]+|nan|inf)")
LOSS = MetricDefinition("loss", r"loss=([0-9.eE+-]+)")


def make_reader(*definitions: MetricDefinition, objective: str = "val_acc") -> MetricReader:
    return MetricReader(definitions or (ACC, LOSS), objective, clock=lambda: 100.0)


def values(observations: list[Observation]) -> list[tuple[str, float, int]]:
    return [(o.metric, o.value, o.step) for o in observations]


# --- definitions --------------------------------------------------------------------------


def test_compiled_pattern_is_the_regex() -> None:
    """`compiled` is the compiled regex source, and a definition survives pickling."""
    assert ACC.compiled.pattern == ACC.regex
    copy = pickle.loads(pickle.dumps(ACC))
    assert copy == ACC and copy.compiled.search("val_acc=0.5")


def test_check_accepts_a_regex_with_a_group() -> None:
    """A compiling regex with a capture group has no problem."""
    assert check_metric_definition("val_acc", r"val_acc=([0-9.]+)") is None


def test_check_reports_a_regex_that_does_not_compile() -> None:
    """An invalid regex is reported with the regex and re's explanation."""
    message = check_metric_definition("val_acc", "val_acc=(")
    assert message == (
        "regex 'val_acc=(' does not compile: missing ), unterminated subpattern at position 8"
    )


def test_check_reports_a_regex_without_a_group() -> None:
    """A regex without a capture group is reported with a fix."""
    message = check_metric_definition("val_acc", r"val_acc=[0-9.]+")
    assert message is not None and "no capture group" in message and "parentheses" in message


def test_check_reports_an_empty_name() -> None:
    """An empty metric name is reported."""
    assert "non-empty" in (check_metric_definition(" ", r"(x)") or "")


def test_reader_rejects_bad_definitions_all_at_once() -> None:
    """MetricReader raises ConfigError naming every bad definition."""
    with pytest.raises(ConfigError, match="metric 'a'.*\n.*metric 'b'"):
        MetricReader([MetricDefinition("a", "("), MetricDefinition("b", "x")], "a")


# --- regex definitions --------------------------------------------------------------------


def test_regex_definition_yields_an_observation() -> None:
    """A line matching a definition yields its first group as the value, at step 0."""
    reader = make_reader()
    (obs,) = reader.feed_line("epoch 1: val_acc=0.91\n")
    assert (obs.metric, obs.value, obs.step, obs.time) == ("val_acc", 0.91, 0, 100.0)


def test_several_definitions_match_one_line() -> None:
    """Every definition that matches a line yields an observation."""
    reader = make_reader()
    assert values(reader.feed_line("loss=0.3 val_acc=0.8")) == [
        ("val_acc", 0.8, 0),
        ("loss", 0.3, 0),
    ]


def test_observations_over_time_form_a_series_per_metric() -> None:
    """Each metric numbers its own observations 0, 1, 2..."""
    reader = make_reader()
    seen = []
    for line in ["val_acc=0.1", "loss=2", "val_acc=0.2", "noise", "val_acc=0.3 loss=1"]:
        seen += values(reader.feed_line(line))
    assert seen == [
        ("val_acc", 0.1, 0),
        ("loss", 2.0, 0),
        ("val_acc", 0.2, 1),
        ("val_acc", 0.3, 2),
        ("loss", 1.0, 1),
    ]
    assert reader.last_values() == {"val_acc": 0.3, "loss": 1.0}


def test_unparsable_capture_is_ignored_and_counted() -> None:
    """A match whose group is not a number yields nothing and counts as ignored."""
    reader = make_reader(MetricDefinition("acc", r"acc=(\S+)"), objective="acc")
    assert reader.feed_line("acc=high") == []
    assert reader.feed_line("acc=1_000") == []
    assert reader.n_ignored == 2
    assert reader.last_values() == {}


def test_ordinary_lines_are_not_counted_as_ignored() -> None:
    """Log lines that are not metrics yield nothing and are not counted."""
    reader = make_reader()
    for line in ["Epoch 1/10", "", "name\tjohn", "a\tb\tc", "Traceback (most recent call last):"]:
        assert reader.feed_line(line) == []
    assert reader.n_ignored == 0


def test_nan_and_inf_are_kept() -> None:
    """Non-finite values are observations; the runner decides what they mean."""
    reader = make_reader()
    reader.feed_line("val_acc=nan")
    assert math.isnan(reader.last_values()["val_acc"])
    reader.feed_line("val_acc=inf")
    assert reader.last_values()["val_acc"] == math.inf


# --- name<TAB>value -----------------------------------------------------------------------


def test_tab_line_yields_an_observation() -> None:
    """`name<TAB>value` yields an observation of that name."""
    reader = make_reader()
    assert values(reader.feed_line("validation:accuracy\t0.75\n")) == [
        ("validation:accuracy", 0.75, 0)
    ]
    assert values(reader.feed_line("validation:accuracy\t 1e-3 \r\n")) == [
        ("validation:accuracy", 0.001, 1)
    ]


@pytest.mark.parametrize(
    "line",
    ["val acc\t0.5", "\t0.5", "acc\t", "acc\tabc", "acc\t0.5\t1", "acc 0.5", "acc\t0.5 extra"],
)
def test_malformed_tab_lines_are_ignored(line: str) -> None:
    """Lines that are not exactly `name<TAB>number` yield nothing."""
    assert make_reader().feed_line(line) == []


# --- SMAC result lines --------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "Result of this algorithm run: SAT, 1.5, -1, 0.25, 42",
        "Result for SMAC: SUCCESS, 1.5, 0, 0.25, 42",
        "Result for ParamILS: SAT, 1.5, -1, 0.25, 42",
        "Result of this algorithm run: SUCCESS, 1.5, -1, 0.25, 42, some extra info",
        "  result of this algorithm run:sat,1.5,-1,0.25",
        "[INFO 12:00:01] Result of this algorithm run: SAT, 1.5, -1, 0.25, 42",
    ],
)
def test_smac_success_line_yields_objective_and_runtime(line: str) -> None:
    """A successful SMAC line's quality is the objective and its runtime `smac:runtime`."""
    reader = make_reader()
    assert values(reader.feed_line(line)) == [(SMAC_RUNTIME_METRIC, 1.5, 0), ("val_acc", 0.25, 0)]
    assert reader.smac_status in {"SAT", "SUCCESS"} and not reader.smac_failed


@pytest.mark.parametrize("status", sorted(SMAC_FAILED_STATUSES))
def test_smac_failing_statuses_mark_the_run_failed(status: str) -> None:
    """UNSAT, CRASHED, TIMEOUT, ABORT and MEMOUT set a failing status; quality is not recorded."""
    reader = make_reader()
    found = reader.feed_line(f"Result of this algorithm run: {status}, 3.0, -1, 1e10, 1")
    assert values(found) == [(SMAC_RUNTIME_METRIC, 3.0, 0)]
    assert reader.smac_status == status and reader.smac_failed


def test_last_smac_status_wins() -> None:
    """smac_status is the status of the last result line seen."""
    reader = make_reader()
    reader.feed_line("Result of this algorithm run: CRASHED, 0, 0, 0, 0")
    reader.feed_line("Result of this algorithm run: SAT, 0, 0, 0.5, 0")
    assert reader.smac_status == "SAT"


@pytest.mark.parametrize(
    "line",
    [
        "Result of this algorithm run: MAYBE, 1, 1, 1, 1",
        "Result of this algorithm run: SAT, 1",
        "Result of this algorithm run:",
    ],
)
def test_malformed_smac_lines_are_ignored(line: str) -> None:
    """An unknown status or too few fields yields nothing, sets no status, and is counted."""
    reader = make_reader()
    assert reader.feed_line(line) == []
    assert reader.smac_status is None and reader.n_ignored == 1


# --- report() JSON lines ------------------------------------------------------------------


def test_report_line_with_step() -> None:
    """A report line yields each metric at its step and time."""
    reader = make_reader()
    line = json.dumps({"step": 3, "metrics": {"val_acc": 0.9, "loss": 1}, "time": 5.0})
    found = reader.feed_report(line)
    assert [(o.metric, o.value, o.step, o.time) for o in found] == [
        ("val_acc", 0.9, 3, 5.0),
        ("loss", 1.0, 3, 5.0),
    ]


def test_report_lines_without_step_count_per_metric() -> None:
    """step None numbers each metric's values, continuing after an explicit step."""
    reader = make_reader()
    seen = []
    for record in [
        {"step": None, "metrics": {"a": 1}},
        {"step": None, "metrics": {"a": 2, "b": 3}},
        {"step": 10, "metrics": {"a": 4}},
        {"metrics": {"a": 5}},
    ]:
        seen += values(reader.feed_report(json.dumps(record)))
    assert seen == [("a", 1.0, 0), ("a", 2.0, 1), ("b", 3.0, 0), ("a", 4.0, 10), ("a", 5.0, 11)]


def test_report_line_without_time_uses_the_clock() -> None:
    """A missing or non-numeric time falls back to the reader's clock."""
    reader = make_reader()
    (obs,) = reader.feed_report('{"metrics": {"a": 1}, "time": "now"}')
    assert obs.time == 100.0


def test_report_nan_is_kept() -> None:
    """NaN written by report() (json's NaN) is an observation."""
    reader = make_reader()
    (obs,) = reader.feed_report('{"step": null, "metrics": {"val_acc": NaN}}')
    assert math.isnan(obs.value)


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        "[1, 2]",
        '{"metrics": [1]}',
        '{"step": -1, "metrics": {"a": 1}}',
        '{"step": true, "metrics": {"a": 1}}',
        '{"step": 1.5, "metrics": {"a": 1}}',
        '{"metrics": {"a": "0.5"}}',
        '{"metrics": {"a": true}}',
        '{"metrics": {"a": null}}',
        '{"metrics": {"a": 1' + "0" * 400 + "}}",
        "[" * 100_000,
    ],
)
def test_garbage_report_lines_are_ignored_and_counted(line: str) -> None:
    """Malformed report lines or values yield nothing and count as ignored."""
    reader = make_reader()
    assert reader.feed_report(line) == []
    assert reader.n_ignored >= 1


def test_bad_values_do_not_hide_good_ones() -> None:
    """A bad value in a report line is skipped; the others are kept."""
    reader = make_reader()
    found = reader.feed_report('{"metrics": {"a": "x", "b": 2, "": 3}}')
    assert values(found) == [("b", 2.0, 0)] and reader.n_ignored == 2


# --- properties ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)


@given(st.text())
def test_feed_line_never_raises(text: str) -> None:
    """Any text fed as a log line yields observations, never an exception."""
    reader = make_reader(ACC, MetricDefinition("x", r"(.*)"))
    for observation in reader.feed_line(text):
        assert isinstance(observation.value, float)


@given(st.text())
def test_feed_report_never_raises_on_text(text: str) -> None:
    """Any text fed as a report line is read or ignored, never an exception."""
    make_reader().feed_report(text)


@given(st.fixed_dictionaries({"step": json_values, "metrics": json_values, "time": json_values}))
def test_feed_report_never_raises_on_json(record: dict[str, Any]) -> None:
    """Any JSON document shaped roughly like a report line is read or ignored."""
    reader = make_reader()
    for observation in reader.feed_report(json.dumps(record)):
        assert observation.step >= 0 and isinstance(observation.value, float)
