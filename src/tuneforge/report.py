"""``tuneforge.report``: send metrics from inside a training script to the runner.

The runner sets ``TUNEFORGE_REPORT`` to a file in the trial folder and tails it; each call
appends one JSON line ``{"step": 3, "metrics": {"val_acc": 0.91}, "time": 1700000000.0}``.
Scripts in other languages can append the same lines themselves.

This module imports the standard library only: training scripts import it, and must not
pay for numpy, pandas or the rest of tuneforge to do so.

Example:
    >>> report(step=0, val_acc=0.91, loss=0.3)  # without TUNEFORGE_REPORT: checked, not written
"""

from __future__ import annotations

import json
import numbers
import os
import time

ENV_VAR = "TUNEFORGE_REPORT"


def report(step: int | None = None, **metrics: float) -> None:
    """Record metric values for the running trial.

    Args:
        step: the epoch or iteration (an int >= 0); ``None`` numbers each metric's values
            0, 1, 2... in the order they arrive.
        **metrics: metric name to number, e.g. ``val_acc=0.91``; names that are not
            identifiers fit too: ``report(**{"validation:accuracy": 0.91})``.

    Without ``TUNEFORGE_REPORT`` set, the values are checked and dropped, so the same
    script still runs on its own, outside tuneforge.

    Raises:
        TypeError: no metric was given, a value is not a number (bools are refused), or
            ``step`` is not an int.
        ValueError: ``step`` is negative.
    """
    if not metrics:
        raise TypeError("report() needs at least one metric, e.g. report(val_acc=0.91).")
    values: dict[str, float] = {}
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(
                f"report(): metric {name!r} must be a number, got {type(value).__name__} {value!r}."
            )
        values[name] = float(value)
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, numbers.Integral):
            raise TypeError(
                f"report(): step must be an int >= 0 or None, got {type(step).__name__} {step!r}."
            )
        step = int(step)
        if step < 0:
            raise ValueError(f"report(): step must be an int >= 0 or None, got {step}.")
    path = os.environ.get(ENV_VAR)
    if not path:
        return
    line = json.dumps({"step": step, "metrics": values, "time": time.time()}) + "\n"
    _append(path, line.encode("utf-8"))


def _append(path: str, data: bytes) -> None:
    # One O_APPEND write per line: the runner tailing the file sees whole lines at once, and
    # several processes of one trial (data-loader workers) cannot interleave their lines.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
