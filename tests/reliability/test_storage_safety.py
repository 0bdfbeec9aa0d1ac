"""Storage under pressure: concurrent users, a held lock, a full disk, a write that fails."""

from __future__ import annotations

import sqlite3
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from tests.reliability.conftest import MakeJob, spawn
from tuneforge.cli import app
from tuneforge.controller import Controller, ControllerSettings, JobLimits
from tuneforge.errors import StorageError
from tuneforge.events import MetricObserved, StopSignal, TrialOutcome, TrialStarted
from tuneforge.executors.base import Emit, Work
from tuneforge.executors.local import LocalExecutor
from tuneforge.space import Float, SearchSpace
from tuneforge.storage import JobState, Storage, StorageSession
from tuneforge.strategies import make_strategy
from tuneforge.trial import Observation, TrialState

#: Reads (and writes notes to) a job for SECONDS: `tuneforge trials/jobs/best` in-process,
#: plus direct storage reads; prints one line per failed call and the number of calls.
READER = textwrap.dedent(
    """
    import sys, time
    from typer.testing import CliRunner
    from tuneforge.cli import app
    from tuneforge.storage import Storage, default_storage_url

    job, seconds, write = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "write"
    runner = CliRunner()
    storage = Storage(default_storage_url())
    calls = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for args in (["trials", job, "--format", "json"], ["jobs", "--format", "json"]):
            result = runner.invoke(app, args)
            calls += 1
            if result.exit_code not in (0, 1) or "locked" in result.output.lower():
                print("FAILED", args, result.exit_code, result.output.replace("\\n", " ")[:300])
            if result.exception and not isinstance(result.exception, SystemExit):
                print("FAILED", args, repr(result.exception))
        try:
            names = {record.name for record in storage.list_jobs()}
            if job in names:
                storage.trials(job)
                storage.events(job)
                if write:
                    storage.note(job, "a note from a concurrent writer")
            calls += 1
        except Exception as exc:  # noqa: BLE001 - report anything
            print("FAILED storage", repr(exc))
    print("CALLS", calls)
    """
)


def test_controllers_readers_and_writers_share_one_sqlite_file(
    make_job: MakeJob, workspace: Path, long_mode: bool, figures: Counter[str]
) -> None:
    """Two controllers, `tuneforge trials` loops and a note writer: no 'database is locked'."""
    (workspace / "reader.py").write_text(READER)
    scale = 5 if long_mode else 1
    n_first, n_second, seconds = 10 * scale, 6 * scale, str(4 * scale)
    first = make_job("first", limits={"max_trials": n_first, "max_parallel": 2})
    second = make_job("second", limits={"max_trials": n_second, "max_parallel": 2})
    controllers = [spawn(workspace, "run", str(first)), spawn(workspace, "run", str(second))]
    readers = [
        _python(workspace, "reader.py", "first", seconds, "read"),
        _python(workspace, "reader.py", "first", seconds, "write"),
    ]
    outputs = [p.communicate(timeout=600)[0] for p in [*controllers, *readers]]
    for process, output in zip([*controllers, *readers], outputs, strict=True):
        assert process.returncode == 0, output
        assert "locked" not in output.lower(), output
        assert "FAILED" not in output, output
        assert "Traceback" not in output, output
    storage = Storage(f"sqlite:///{workspace / 'tuneforge.db'}")
    for job, n in (("first", n_first), ("second", n_second)):
        trials = storage.trials(job)
        assert [t.number for t in trials] == list(range(n))
        assert all(t.state is TrialState.COMPLETED for t in trials)
    calls = sum(int(out.rsplit("CALLS", 1)[1].split()[0]) for out in outputs[2:])
    assert calls > 20
    figures["concurrent storage calls without 'database is locked'"] += calls
    figures["concurrent-storage trials recorded"] += n_first + n_second


def _python(workspace: Path, *args: str) -> Any:
    import os
    import subprocess

    return subprocess.Popen(
        [sys.executable, *args],
        cwd=workspace,
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


SPACE = SearchSpace({"x": Float(0.0, 1.0)})


def _work(number: int, params: Mapping[str, Any], continues: int | None = None) -> Work:
    def work(emit: Emit, stop: StopSignal) -> TrialOutcome:
        emit(TrialStarted(number, time.time()))
        value = (params["x"] - 0.3) ** 2
        for step in range(20):
            emit(MetricObserved(number, Observation("loss", value + 1 / (step + 1), step, 0.0)))
        time.sleep(0.01)
        return TrialOutcome(TrialState.COMPLETED, value=value)

    return work


def _controller(storage: Storage, max_trials: int) -> Controller:
    return Controller(
        storage=storage,
        job_name="job",
        strategy=make_strategy("random", SPACE, seed=0),
        executor=LocalExecutor(),
        make_work=_work,
        direction="minimize",
        limits=JobLimits(max_trials, max_parallel=2),
        settings=ControllerSettings(poll_interval=0.01),
    )


def _new_job(url: str) -> Storage:
    storage = Storage(url)
    storage.create_job(
        "job",
        document={},
        base_dir="",
        objective="loss",
        direction="minimize",
        strategy="random",
        max_trials=None,
        output_dir=None,
    )
    return storage


def test_a_lock_held_by_another_process_makes_the_controller_wait_not_fail(
    tmp_path: Path,
) -> None:
    """A write lock held for 2 s elsewhere delays the job; it never reports 'locked'."""
    path = tmp_path / "tuneforge.db"
    storage = _new_job(f"sqlite:///{path}")
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(2.0, holder.execute, ("COMMIT",))
    release.start()
    started = time.monotonic()
    try:
        assert _controller(storage, 6).run() is JobState.COMPLETED
    finally:
        release.join()
        holder.close()
    assert time.monotonic() - started >= 1.5
    assert [t.state for t in storage.trials("job")] == [TrialState.COMPLETED] * 6


def test_a_full_disk_stops_the_job_cleanly_and_resume_finishes_it(tmp_path: Path) -> None:
    """When the database cannot grow, the job stops with a clear error; nothing is half-written.

    The full disk is SQLite's own page limit (max_page_count), which fails writes exactly as
    a full file system does ("database or disk is full").
    """
    path = tmp_path / "tuneforge.db"
    url = f"sqlite:///{path}"
    storage = _new_job(url)
    with sqlite3.connect(path) as connection:
        pages = connection.execute("PRAGMA page_count").fetchone()[0]

    @sa.event.listens_for(storage._database.engine, "connect")
    def _limit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 3}")

    storage._database.engine.dispose()  # new connections get the limit
    with pytest.raises(StorageError) as caught:
        _controller(storage, 40).run()
    message = str(caught.value)
    assert "the job 'job' stopped because its storage failed" in message
    assert "database or disk is full" in message and "resume the job" in message
    storage.close()

    after = Storage(url)  # "space freed": a storage without the limit
    trials = after.trials("job")
    assert 0 < len(trials) < 40
    for trial in trials:  # each trial is whole: finished with its value, or not finished
        if trial.state is TrialState.COMPLETED:
            assert trial.value == pytest.approx((trial.params["x"] - 0.3) ** 2)
        else:
            assert trial.value is None
    assert _controller(after, 40).run() is JobState.COMPLETED
    final = after.trials("job")
    assert [t.number for t in final] == list(range(40))
    assert all(t.state is TrialState.COMPLETED for t in final)
    for before in trials:
        if before.state is TrialState.COMPLETED:
            assert final[before.number].value == before.value


def test_a_write_failing_mid_transaction_leaves_the_trial_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure while recording a trial's end rolls the whole record back: no half trial."""
    storage = _new_job(f"sqlite:///{tmp_path / 'tuneforge.db'}")
    number = storage.create_trial("job", {"x": 0.5})
    storage.start_trial("job", number, trial_dir=None, pid=None, time=1.0)
    original = StorageSession.record_event

    def failing(self: StorageSession, job: Any, trial: Any, kind: Any, *a: Any, **k: Any) -> None:
        if kind == "trial_finished":
            raise OperationalError("INSERT INTO events", {}, Exception("disk I/O error"))
        original(self, job, trial, kind, *a, **k)

    monkeypatch.setattr(StorageSession, "record_event", failing)
    with pytest.raises(StorageError, match="could not finish a trial .*: disk I/O error"):
        storage.finish_trial(
            "job",
            number,
            state=TrialState.COMPLETED,
            value=0.04,
            reason=None,
            log_tail="loss=0.04",
            time=2.0,
        )
    trial = storage.get_trial("job", number)
    assert trial.state is TrialState.RUNNING
    assert (trial.value, trial.log_tail, trial.finished_at) == (None, None, None)


def test_the_cli_names_the_failed_write_and_how_to_resume(
    make_job: MakeJob, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tuneforge run` with a storage that fails: exit 1, one line, the resume command."""

    def broken(self: Storage, *args: Any, **kwargs: Any) -> None:
        raise StorageError("could not finish a trial in sqlite:///x.db: disk I/O error")

    job = make_job("fragile", limits={"max_trials": 4, "max_parallel": 2})
    with monkeypatch.context() as patch:
        patch.setattr(Storage, "write_trials", broken)
        result = CliRunner().invoke(app, ["run", str(job)], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert "error: the job 'fragile' stopped because its storage failed" in result.output
    assert f"To resume: tuneforge run {job} --resume" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(app, ["run", str(job), "--resume"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    storage = Storage(f"sqlite:///{workspace / 'tuneforge.db'}")
    trials = storage.trials("fragile")
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert all(t.state is TrialState.COMPLETED for t in trials)
