"""The job file's ``executor:`` line: where trials run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tuneforge.errors import ConfigError
from tuneforge.jobfile import job_from_document

BASE: dict[str, Any] = {
    "name": "job",
    "command": "python train.py --x ${x}",
    "parameters": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
    "objective": "loss",
}


@pytest.mark.parametrize(
    ("given", "expected"),
    [(None, None), ("local", None), ("dask://sched:8786", "dask://sched:8786")]
    + [("tcp://10.0.0.5:8786", "tcp://10.0.0.5:8786")],
)
def test_executor_is_local_or_a_dask_scheduler(
    given: str | None, expected: str | None, tmp_path: Path
) -> None:
    """'local' (or nothing) runs here; a dask:// or tcp:// address names a scheduler."""
    document = {**BASE, "executor": given} if given is not None else dict(BASE)
    assert job_from_document(document, tmp_path).executor == expected


def test_an_unknown_executor_is_one_line_naming_the_valid_forms(tmp_path: Path) -> None:
    """Any other value is refused with the field, the value and an example."""
    with pytest.raises(ConfigError) as raised:
        job_from_document({**BASE, "executor": "spark://host:7077"}, tmp_path)
    assert raised.value.problems == [
        "executor: expected 'local' or a Dask scheduler address, got 'spark://host:7077'; "
        "e.g. 'dask://scheduler-host:8786'."
    ]
