"""Turn a trial's output into metric observations.

A training command reports metrics in whatever way is easiest for it, so the reader
accepts four sources and never fails on any line, because a trial's output is arbitrary
text and a stray line must not bring down the job:

1. regex definitions from the job file (``val_acc=([0-9.]+)``; the first group is the value);
2. ``name<TAB>value`` lines;
3. SMAC's ``Result of this algorithm run: SAT, <runtime>, <runlength>, <quality>, <seed>``
   (quality is the objective, runtime becomes ``smac:runtime``);
4. JSON lines written by :func:`tuneforge.report` (``{"step": 3, "metrics": {...}, "time": t}``).

Each metric is a series: without an explicit step, observations get steps 0, 1, 2...

Example:
    >>> reader = MetricReader([MetricDefinition("acc", r"acc=([0-9.]+)")], objective="acc")
    >>> [(o.metric, o.value, o.step) for o in reader.feed_line("epoch 1 acc=0.5")]
    [('acc', 0.5, 0)]
    >>> [(o.metric, o.value) for o in reader.feed_line("loss\\t0.25")]
    [('loss', 0.25)]
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from tuneforge.errors import ConfigError
from tuneforge.trial import Observation

#: SMAC statuses of a run that produced a usable result.
SMAC_SUCCESS_STATUSES = frozenset({"SAT", "SUCCESS"})
#: SMAC statuses that make the trial FAILED (UNSAT included, as this project specifies).
SMAC_FAILED_STATUSES = frozenset({"UNSAT", "CRASHED", "TIMEOUT", "ABORT", "MEMOUT"})
#: The metric SMAC's runtime field is recorded as.
SMAC_RUNTIME_METRIC = "smac:runtime"

# Searched anywhere in the line, so a logger's prefix (time, level) does not hide it.
_SMAC_LINE = re.compile(
    r"\b(?:final\s+)?result\s+(?:of\s+this\s+algorithm\s+run|for\s+smac|for\s+paramils)"
    r"\s*:\s*(.*)$",
    re.IGNORECASE,
)
_TAB_NAME = re.compile(r"^\S+$")


@dataclass(frozen=True)
class MetricDefinition:
    """A metric read from log lines by a regex whose first capture group is the value."""

    name: str
    regex: str

    @cached_property
    def compiled(self) -> re.Pattern[str]:
        return re.compile(self.regex)


def check_metric_definition(name: str, regex: str) -> str | None:
    """Why a metric definition is unusable, or ``None`` when it is fine.

    Job-file loaders call this to report every bad definition at once, before any trial runs.
    """
    if not isinstance(name, str) or not name.strip():
        return f"metric name must be a non-empty string, got {name!r}."
    if not isinstance(regex, str):
        return f"regex must be a string, got {regex!r}."
    try:
        pattern = re.compile(regex)
    except re.error as exc:
        return f"regex {regex!r} does not compile: {exc}"
    if pattern.groups < 1:
        return (
            f"regex {regex!r} has no capture group; put the value in parentheses, "
            f"e.g. 'val_acc=([0-9.eE+-]+)'."
        )
    return None


def _to_float(text: str) -> float | None:
    """A float from text, or ``None``; underscores are refused so ``1_000`` is not a number."""
    if "_" in text:
        return None
    try:
        return float(text)
    except (ValueError, OverflowError):
        return None


def _number(value: Any) -> float | None:
    """A JSON value as a float, or ``None`` for anything that is not a number (bool included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer too large for a float
        return None


class MetricReader:
    """Reads one trial's lines into observations, keeping each metric's step counter.

    ``n_ignored`` counts values that claimed to be a metric (a definition matched, a SMAC
    result line, a report line) but could not be read; ordinary log lines are not counted.
    ``smac_status`` is the status of the last SMAC result line seen, for the runner to fail
    the trial on (see :data:`SMAC_FAILED_STATUSES`).
    """

    def __init__(
        self,
        definitions: Sequence[MetricDefinition],
        objective: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        problems = [
            f"metric {d.name!r}: {problem}"
            for d in definitions
            if (problem := check_metric_definition(d.name, d.regex)) is not None
        ]
        if problems:
            raise ConfigError(problems)
        self.definitions = tuple(definitions)
        self.objective = objective
        self.smac_status: str | None = None
        self.n_ignored = 0
        self._clock = clock
        self._next_step: dict[str, int] = {}
        self._last: dict[str, float] = {}

    @property
    def smac_failed(self) -> bool:
        return self.smac_status in SMAC_FAILED_STATUSES

    def feed_line(self, line: str) -> list[Observation]:
        """Observations in one stdout/stderr line (regex definitions, TAB lines, SMAC lines)."""
        line = line.rstrip("\r\n")
        now = self._clock()
        found: list[Observation] = []
        for definition in self.definitions:
            match = definition.compiled.search(line)
            if match is None:
                continue
            text = match.group(1)
            value = _to_float(text.strip()) if text is not None else None
            if value is None:
                self.n_ignored += 1
            else:
                found.append(self._observe(definition.name, value, None, now))
        found.extend(self._tab_line(line, now))
        found.extend(self._smac_line(line, now))
        return found

    def feed_report(self, line: str) -> list[Observation]:
        """Observations in one JSON line written by :func:`tuneforge.report`."""
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("metrics"), dict):
            if line.strip():
                self.n_ignored += 1
            return []
        step = record.get("step")
        if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
            self.n_ignored += 1
            return []
        when = _number(record.get("time"))
        if when is None or not math.isfinite(when):
            when = self._clock()
        found = []
        for name, raw in record["metrics"].items():
            value = _number(raw)
            if not name or value is None:
                self.n_ignored += 1
                continue
            found.append(self._observe(name, value, step, when))
        return found

    def last_values(self) -> dict[str, float]:
        """The last value of every metric seen so far."""
        return dict(self._last)

    def _observe(self, metric: str, value: float, step: int | None, when: float) -> Observation:
        # An explicit step moves the counter on, so a later step-less value follows it.
        next_step = self._next_step.get(metric, 0)
        if step is None:
            step = next_step
        self._next_step[metric] = max(next_step, step + 1)
        self._last[metric] = value
        return Observation(metric=metric, value=value, step=step, time=when)

    def _tab_line(self, line: str, now: float) -> list[Observation]:
        if line.count("\t") != 1:
            return []
        name, text = line.split("\t")
        if not _TAB_NAME.match(name):
            return []
        value = _to_float(text.strip())
        if value is None:
            return []  # ordinary tab-separated output, not a metric
        return [self._observe(name, value, None, now)]

    def _smac_line(self, line: str, now: float) -> list[Observation]:
        match = _SMAC_LINE.search(line)
        if match is None:
            return []
        fields = [f.strip() for f in match.group(1).split(",")]
        status = fields[0].upper()
        if status not in SMAC_SUCCESS_STATUSES | SMAC_FAILED_STATUSES or len(fields) < 4:
            self.n_ignored += 1
            return []
        self.smac_status = status
        runtime, quality = _to_float(fields[1]), _to_float(fields[3])
        found = []
        if runtime is None:
            self.n_ignored += 1
        else:
            found.append(self._observe(SMAC_RUNTIME_METRIC, runtime, None, now))
        # A failed run's quality is a placeholder (often a huge penalty), not a result.
        if status in SMAC_SUCCESS_STATUSES:
            if quality is None:
                self.n_ignored += 1
            else:
                found.append(self._observe(self.objective, quality, None, now))
        return found
