"""One way from a job to a running controller: checks, builds, then records (tuneforge.launch)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tuneforge.controller import LeasedJob, SharedJob
from tuneforge.errors import ConfigError, JobExistsError, NotFoundError
from tuneforge.jobfile import JobSpec, job_from_document
from tuneforge.launch import launch_job
from tuneforge.storage import JobState, Storage
from tuneforge.trial import TrialState

TRIAL = "import sys; print('loss=' + sys.argv[1])"


def spec_of(tmp_path: Path, name: str = "job", **fields: Any) -> JobSpec:
    document: dict[str, Any] = {
        "name": name,
        "command": [sys.executable, "-c", TRIAL, "${x}"],
        "parameters": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        "objective": "loss",
        "metrics": [{"name": "loss", "regex": r"loss=([0-9.eE+-]+)"}],
        "limits": {"max_trials": 2},
        **fields,
    }
    return job_from_document(document, str(tmp_path))


def test_a_new_job_is_recorded_and_runs_in_its_trial_folders(tmp_path: Path) -> None:
    """A launch records the job with its trial folder (relative to base_dir) and the
    controller it returns runs the job there."""
    storage = Storage("sqlite://")
    launched = launch_job(spec_of(tmp_path), storage, base_dir=tmp_path)
    assert not launched.resumed and isinstance(launched.controller.coordination, LeasedJob)
    assert launched.output_dir == str(tmp_path / "runs" / "job")
    assert launched.record == storage.get_job("job")
    assert launched.record.output_dir == launched.output_dir
    assert launched.controller.run() is JobState.COMPLETED
    trials = storage.trials("job")
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 2
    assert trials[0].trial_dir == str(tmp_path / "runs" / "job" / "trial-0000")


def test_a_job_that_cannot_be_built_leaves_nothing_behind(tmp_path: Path) -> None:
    """A warm start from a job that does not exist fails before the job is recorded."""
    storage = Storage("sqlite://")
    with pytest.raises(NotFoundError):
        launch_job(spec_of(tmp_path, warm_start=["missing"]), storage, base_dir=tmp_path)
    assert storage.list_jobs() == []


def test_a_taken_name_needs_resume_and_a_resume_keeps_the_space(tmp_path: Path) -> None:
    """The same name again is JobExistsError; --resume continues it, unless the space changed."""
    storage = Storage("sqlite://")
    launch_job(spec_of(tmp_path), storage, base_dir=tmp_path).controller.run()
    with pytest.raises(JobExistsError):
        launch_job(spec_of(tmp_path), storage, base_dir=tmp_path)
    resumed = launch_job(spec_of(tmp_path), storage, resume=True, base_dir=tmp_path)
    assert resumed.resumed and resumed.output_dir == str(tmp_path / "runs" / "job")
    wider = spec_of(tmp_path, parameters={"x": {"type": "float", "low": 0.0, "high": 2.0}})
    with pytest.raises(ConfigError, match="search space differs from the stored job 'job'"):
        launch_job(wider, storage, resume=True, base_dir=tmp_path)


def test_join_creates_a_new_job_or_joins_the_stored_one(tmp_path: Path) -> None:
    """--join creates the job when it is new and continues it when it is stored."""
    storage = Storage("sqlite://")
    first = launch_job(spec_of(tmp_path), storage, join=True, base_dir=tmp_path)
    assert not first.resumed and isinstance(first.controller.coordination, SharedJob)
    second = launch_job(spec_of(tmp_path), storage, join=True, base_dir=tmp_path)
    assert second.resumed and second.record.name == "job"
    assert [job.name for job in storage.list_jobs()] == ["job"]


def test_the_server_does_not_import_the_cli() -> None:
    """The dashboard launches jobs without the CLI module (no import cycle between them)."""
    code = "import sys, tuneforge.server.app; assert 'tuneforge.cli' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
