"""Retries: failures the job marks retryable run again, keep their number, and are recorded."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.reliability.conftest import MakeJob
from tuneforge.cli import app
from tuneforge.errors import ConfigError
from tuneforge.events import MetricObserved, StopSignal, TrialEvent, TrialOutcome, TrialStarted
from tuneforge.jobfile import job_from_document
from tuneforge.metrics import MetricDefinition
from tuneforge.retry import RetryPolicy, TrialRetried
from tuneforge.runner import RunSpec, run_trial
from tuneforge.storage import Storage
from tuneforge.trial import TrialState

#: Fails (printing "CUDA OOM", exit 3) until attempt ``good``, then reports val_acc.
FLAKY = """
import os, sys
attempt = int(os.environ["TUNEFORGE_ATTEMPT"])
print(f"val_acc=0.{attempt}", flush=True)
if attempt < int(sys.argv[1]):
    print("RuntimeError: CUDA OOM while allocating", flush=True)
    sys.exit(int(sys.argv[2]))
print("val_acc=0.9")
"""

MakeSpec = Callable[..., RunSpec]


@pytest.fixture
def make_spec(tmp_path: Path) -> MakeSpec:
    """A RunSpec running a Python script given as source in a fresh trial folder."""

    def make(script: str, *args: str, **overrides: Any) -> RunSpec:
        path = tmp_path / "train.py"
        path.write_text(textwrap.dedent(script))
        fields: dict[str, Any] = {
            "job_name": "job",
            "number": 3,
            "params": {},
            "static": {},
            "command": (sys.executable, str(path), *args),
            "trial_dir": str(tmp_path / "trial"),
            "workdir": "",
            "metrics": (MetricDefinition("val_acc", r"val_acc=(\S+)"),),
            "objective": "val_acc",
            "stop_grace": 0.5,
        }
        fields.update(overrides)
        return RunSpec(**fields)

    return make


def run(spec: RunSpec) -> tuple[TrialOutcome, list[TrialEvent]]:
    events: list[TrialEvent] = []
    return run_trial(spec, events.append, StopSignal()), events


def test_a_log_match_is_retried_until_an_attempt_succeeds(make_spec: MakeSpec) -> None:
    """Two attempts fail with a matching log line; the third completes with its own value."""
    spec = make_spec(FLAKY, "3", "3", retry=RetryPolicy(max_retries=2, log_regex="CUDA OOM"))
    outcome, events = run(spec)
    assert outcome.state is TrialState.COMPLETED and outcome.value == 0.9
    starts = [e for e in events if isinstance(e, TrialStarted)]
    assert [type(e) for e in starts] == [TrialStarted, TrialRetried, TrialRetried]
    retried = [e for e in starts if isinstance(e, TrialRetried)]
    assert [e.attempt for e in retried] == [2, 3]
    assert "attempt 1 of 3 failed (exit code 3)" in retried[0].reason
    assert "the log matched retry.log_regex: 'RuntimeError: CUDA OOM" in retried[0].reason
    assert len({e.pid for e in starts}) == 3
    log = (Path(spec.trial_dir) / "trial.log").read_text()
    lines = log.splitlines()
    assert lines.count("RuntimeError: CUDA OOM while allocating") == 2 and "val_acc=0.9" in lines
    assert "[tuneforge] attempt 2 of 3 failed" in log
    # metrics.jsonl holds the last attempt's observations only.
    metrics = (Path(spec.trial_dir) / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) == 2 and '"value": 0.3' in metrics[0]


def test_an_exit_code_not_listed_is_not_retried(make_spec: MakeSpec) -> None:
    """A failure whose exit code is not in exit_codes (and no log match) runs once."""
    spec = make_spec(FLAKY, "3", "3", retry=RetryPolicy(max_retries=5, exit_codes=(137,)))
    outcome, events = run(spec)
    assert outcome.state is TrialState.FAILED and outcome.reason == "exit code 3"
    assert not any(isinstance(e, TrialRetried) for e in events)


def test_retries_run_out_and_the_reason_says_so(make_spec: MakeSpec) -> None:
    """When every attempt fails retryably, the trial fails after max_retries + 1 attempts."""
    spec = make_spec(FLAKY, "9", "7", retry=RetryPolicy(max_retries=1, exit_codes=(7,)))
    outcome, events = run(spec)
    assert outcome.state is TrialState.FAILED
    assert outcome.reason == ("exit code 7 (attempt 2 of 2; exit code 7 is in retry.exit_codes)")
    assert sum(isinstance(e, TrialRetried) for e in events) == 1


def test_death_by_signal_matches_128_plus_the_signal(make_spec: MakeSpec) -> None:
    """A process killed by SIGKILL (the OOM killer) matches exit code 137."""
    script = """
        import os, signal
        if os.environ["TUNEFORGE_ATTEMPT"] == "1":
            os.kill(os.getpid(), signal.SIGKILL)
        print("val_acc=0.5")
    """
    outcome, events = run(make_spec(script, retry=RetryPolicy(max_retries=1, exit_codes=(137,))))
    assert outcome.state is TrialState.COMPLETED
    (retried,) = [e for e in events if isinstance(e, TrialRetried)]
    assert "killed by signal SIGKILL (exit code 137 is in retry.exit_codes)" in retried.reason


def test_a_timeout_is_never_retried(make_spec: MakeSpec) -> None:
    """A trial that timed out fails at once even if its log matched the retry pattern."""
    script = """
        import time
        print("CUDA OOM", flush=True)
        time.sleep(30)
    """
    outcome, events = run(
        make_spec(script, timeout=0.5, retry=RetryPolicy(max_retries=3, log_regex="OOM"))
    )
    assert outcome.state is TrialState.FAILED and outcome.reason == "timed out after 0.5s"
    assert not any(isinstance(e, TrialRetried) for e in events)


def test_a_stop_during_the_retry_delay_ends_the_trial(make_spec: MakeSpec) -> None:
    """A stop requested while waiting to retry ends the trial in the state asked for."""
    stop = StopSignal()

    def emit(event: TrialEvent) -> None:
        if isinstance(event, MetricObserved):
            stop.request("stopped on request")

    spec = make_spec(FLAKY, "3", "3", retry=RetryPolicy(max_retries=2, log_regex="OOM", delay=30))
    outcome = run_trial(spec, emit, stop)
    assert (outcome.state, outcome.reason) == (TrialState.STOPPED, "stopped on request")


def test_a_retried_trial_keeps_its_number_and_counts_once(
    make_job: MakeJob, workspace: Path
) -> None:
    """Through the CLI: attempts are recorded, numbers stay 0..n-1, max_failures sees one."""
    (workspace / "flaky.py").write_text(
        textwrap.dedent(
            """
            import os, sys
            attempt = int(os.environ["TUNEFORGE_ATTEMPT"])
            print(f"loss={attempt}", flush=True)
            if attempt < 3:
                print("CUDA out of memory", flush=True)
                sys.exit(1)
            """
        )
    )
    job = make_job(
        "retrying",
        command=[sys.executable, "flaky.py", "${x}", "${nap}"],
        retry={"max_retries": 2, "log_regex": "out of memory|CUDA OOM"},
        limits={"max_trials": 3, "max_parallel": 2, "max_failures": 1},
    )
    result = CliRunner().invoke(app, ["run", str(job)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    storage = Storage(f"sqlite:///{workspace / 'tuneforge.db'}")
    trials = storage.trials("retrying")
    assert [t.number for t in trials] == [0, 1, 2]
    assert all(t.state is TrialState.COMPLETED and t.attempt == 3 for t in trials)
    assert all(t.value == 3.0 for t in trials)
    # Only the last attempt's metric values are kept.
    assert [o.value for o in storage.metric_series("retrying", 0, "loss")] == [3.0]
    retried = [e for e in storage.events("retrying") if e.kind == "trial_retried"]
    assert len(retried) == 6
    assert any(e.message.startswith("trial 0 attempt 3 running (pid ") for e in retried)
    assert all("out of memory" in e.message for e in retried)


@pytest.mark.parametrize(
    ("retry", "problem"),
    [
        ({"max_retries": 2}, "retry: names no failure to retry"),
        ({"exit_codes": [0]}, "retry.exit_codes: expected exit codes from 1 to 255"),
        ({"log_regex": "(oom"}, "retry.log_regex: invalid regular expression '(oom'"),
        ({"log_regex": "oom", "max_retries": -1}, "retry.max_retries: must be an int >= 0"),
        ({"log_regex": "oom", "tries": 2}, "retry.tries: unknown field"),
        ("often", "retry: expected a mapping such as {max_retries: 2"),
    ],
)
def test_bad_retry_settings_are_one_clear_line(retry: Any, problem: str) -> None:
    """Each malformed retry setting is reported with its field and what is valid."""
    document = {
        "name": "j",
        "command": "python train.py ${x}",
        "parameters": {"x": {"type": "float", "low": 0, "high": 1}},
        "objective": "loss",
        "retry": retry,
    }
    with pytest.raises(ConfigError) as caught:
        job_from_document(document, ".")
    assert any(line.startswith(problem) for line in caught.value.problems), caught.value.problems


def test_retry_and_reliability_settings_reach_the_job_spec() -> None:
    """retry, on_interrupt and limits.max_log_bytes are read, with their defaults."""
    document: dict[str, Any] = {
        "name": "j",
        "command": "python train.py ${x}",
        "parameters": {"x": {"type": "float", "low": 0, "high": 1}},
        "objective": "loss",
    }
    plain = job_from_document(document, ".")
    assert plain.retry is None and plain.on_interrupt == "rerun"
    assert plain.limits.max_log_bytes == 100 * 1024 * 1024
    spec = job_from_document(
        {
            **document,
            "retry": {"exit_codes": [137], "log_regex": "OOM", "delay": "2s"},
            "on_interrupt": "mark",
            "limits": {"max_log_bytes": "1.5MB"},
        },
        ".",
    )
    assert spec.retry == RetryPolicy(max_retries=1, exit_codes=(137,), log_regex="OOM", delay=2.0)
    assert spec.on_interrupt == "mark" and spec.limits.max_log_bytes == 1572864
    assert (
        job_from_document({**document, "limits": {"max_log_bytes": None}}, ".").limits.max_log_bytes
        is None
    )
    with pytest.raises(ConfigError, match="on_interrupt: expected 'rerun'"):
        job_from_document({**document, "on_interrupt": "retry"}, ".")
    with pytest.raises(ConfigError, match="limits.max_log_bytes: must be a positive size"):
        job_from_document({**document, "limits": {"max_log_bytes": "lots"}}, ".")
