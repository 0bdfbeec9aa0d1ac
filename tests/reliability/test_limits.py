"""Limits that hold under load: log cap, trial timeout, job time limit, max_failures, children."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.reliability.conftest import MakeJob, marked_processes
from tuneforge.cli import app
from tuneforge.storage import JobState, Storage
from tuneforge.trial import TrialState

#: Runs one trial whose command prints N megabytes as fast as it can, with a 1 MB log cap,
#: and prints the outcome, the log's size and this process's peak memory (MB).
FLOOD_RUNNER = textwrap.dedent(
    """
    import json, os, sys
    from tuneforge.events import StopSignal
    from tuneforge.metrics import MetricDefinition
    from tuneforge.runner import RunSpec, run_trial

    def peak_mb():  # VmHWM: this process image's peak (ru_maxrss would count the parent's)
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024

    folder, megabytes = sys.argv[1], int(sys.argv[2])
    flood = (
        "import sys\\n"
        "line = b'x' * 1023 + b'\\\\n'\\n"
        "block = line * 1024\\n"
        f"for _ in range({megabytes}):\\n"
        "    sys.stdout.buffer.write(block)\\n"
        "sys.stdout.buffer.write(b'loss=0.25\\\\n')\\n"
    )
    spec = RunSpec(
        job_name="flood", number=0, params={}, static={},
        command=(sys.executable, "-c", flood), trial_dir=os.path.join(folder, "trial"),
        workdir="", metrics=(MetricDefinition("loss", r"^loss=(\\S+)"),), objective="loss",
        max_log_bytes=1024 * 1024,
    )
    outcome = run_trial(spec, lambda event: None, StopSignal())
    print(json.dumps({
        "state": outcome.state.value, "value": outcome.value, "tail": outcome.log_tail,
        "log_bytes": os.path.getsize(os.path.join(spec.trial_dir, "trial.log")),
        "peak_mb": peak_mb(),
    }))
    """
)


@pytest.mark.parametrize("long_megabytes", [1024])
def test_a_flooding_trial_keeps_its_log_and_memory_bounded(
    tmp_path: Path, long_mode: bool, long_megabytes: int, figures: Counter[str]
) -> None:
    """50 MB (1 GB with --long) of output: trial.log stops near the 1 MB cap, memory stays flat.

    The output past the cap is still read, so the metric printed last is the trial's
    value, and the log ends with a note and the last lines.
    """
    megabytes = long_megabytes if long_mode else 50
    script = tmp_path / "flood_runner.py"
    script.write_text(FLOOD_RUNNER)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(megabytes)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    report = json.loads(result.stdout)
    assert report["state"] == "completed" and report["value"] == 0.25
    assert 1024 * 1024 <= report["log_bytes"] < 1024 * 1024 + 64 * 1024
    assert report["peak_mb"] < 64, report["peak_mb"]  # the runner alone is about 17 MB
    log = (tmp_path / "trial" / "trial.log").read_bytes()
    assert b"[tuneforge] trial.log reached limits.max_log_bytes (1048576 bytes)" in log
    assert log.rstrip().endswith(b"loss=0.25")
    figures["largest log flood survived (MB)"] = max(
        figures["largest log flood survived (MB)"], megabytes
    )
    figures[f"log flood of {megabytes} MB: seconds"] = round(time.monotonic() - started)
    figures[f"log flood of {megabytes} MB: runner peak memory (MB)"] = round(report["peak_mb"])
    figures[f"log flood of {megabytes} MB: trial.log bytes"] = report["log_bytes"]


def test_the_log_cap_is_applied_to_job_trials(make_job: MakeJob, workspace: Path) -> None:
    """limits.max_log_bytes from the job file caps each trial's log."""
    (workspace / "noisy.py").write_text(
        "import sys\nsys.stdout.write(('y' * 99 + '\\n') * 30000)\nprint('loss=1.5')\n"
    )
    job = make_job(
        "noisy",
        command=[sys.executable, "noisy.py", "${x}", "${nap}"],
        limits={"max_trials": 1, "max_log_bytes": "100KB"},
    )
    result = CliRunner().invoke(app, ["run", str(job)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    storage = Storage(f"sqlite:///{workspace / 'tuneforge.db'}")
    (trial,) = storage.trials("noisy")
    assert trial.state is TrialState.COMPLETED and trial.value == 1.5
    size = (Path(trial.trial_dir or "") / "trial.log").stat().st_size
    assert 100 * 1024 <= size < 110 * 1024


BUSY = "import time\nwhile True:\n    pass\n"


def _run_job(job: Path) -> tuple[float, str]:
    started = time.monotonic()
    result = CliRunner().invoke(app, ["run", str(job)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return time.monotonic() - started, result.output


def test_trial_timeouts_hold_with_every_core_busy(
    make_job: MakeJob, workspace: Path, figures: Counter[str]
) -> None:
    """Four CPU-bound trials at a time on two cores each end within a second of their timeout."""
    (workspace / "busy.py").write_text(BUSY)
    job = make_job(
        "hot",
        command=[sys.executable, "busy.py", "${x}", "${nap}"],
        limits={"max_trials": 8, "max_parallel": 4, "trial_timeout": "1s", "max_failures": None},
    )
    elapsed, _ = _run_job(job)
    storage = Storage(f"sqlite:///{workspace / 'tuneforge.db'}")
    trials = storage.trials("hot")
    assert len(trials) == 8
    assert all(t.state is TrialState.FAILED and t.reason == "timed out after 1s" for t in trials)
    durations = [t.duration or 0.0 for t in trials]
    assert max(durations) < 2.5, durations
    assert elapsed < 15
    assert marked_processes(workspace / "runs") == []
    figures["limit checks under load"] += len(trials)


def test_the_job_time_limit_holds_with_every_core_busy(make_job: MakeJob, workspace: Path) -> None:
    """A 2 s time limit ends a job of endless CPU-bound trials within a few seconds."""
    (workspace / "busy.py").write_text(BUSY)
    job = make_job(
        "capped",
        command=[sys.executable, "busy.py", "${x}", "${nap}"],
        limits={"max_trials": 20, "max_parallel": 4, "time_limit": "2s"},
    )
    elapsed, _ = _run_job(job)
    assert elapsed < 8
    storage = Storage(f"sqlite:///{workspace / 'tuneforge.db'}")
    record = storage.get_job("capped")
    assert record.state is JobState.COMPLETED and "time limit of 2s" in (record.reason or "")
    trials = storage.trials("capped")
    assert len(trials) == 4
    assert all(t.state is TrialState.STOPPED for t in trials)
    assert marked_processes(workspace / "runs") == []


def test_max_failures_holds_with_many_trials_failing_at_once(
    make_job: MakeJob, workspace: Path
) -> None:
    """With 4 trials at a time failing at once, no trial starts after the 3rd failure."""
    job = make_job(
        "doomed",
        command=[sys.executable, "trial.py", "x=${x}", "nap=${nap}", "exit=2"],
        limits={"max_trials": 50, "max_parallel": 4, "max_failures": 3},
    )
    _run_job(job)
    storage = Storage(f"sqlite:///{workspace / 'tuneforge.db'}")
    record = storage.get_job("doomed")
    assert record.state is JobState.FAILED
    trials = storage.trials("doomed")
    assert 3 <= len(trials) <= 3 + 4 - 1
    states = Counter(t.state for t in trials)
    assert states[TrialState.FAILED] >= 3
    assert set(states) <= {TrialState.FAILED, TrialState.STOPPED}


def test_children_left_in_and_out_of_the_group_are_ended(
    make_job: MakeJob, workspace: Path
) -> None:
    """A trial's child in its group and one that escaped with setsid are both ended."""
    (workspace / "spawner.py").write_text(
        textwrap.dedent(
            """
            import subprocess
            inside = subprocess.Popen(["sleep", "300"])
            outside = subprocess.Popen(["sleep", "301"], start_new_session=True)
            print(f"inside={inside.pid} outside={outside.pid}", flush=True)
            print("loss=0.5")
            """
        )
    )
    job = make_job(
        "leaky",
        command=[sys.executable, "spawner.py", "${x}", "${nap}"],
        limits={"max_trials": 1},
    )
    _run_job(job)
    storage = Storage(f"sqlite:///{workspace / 'tuneforge.db'}")
    (trial,) = storage.trials("leaky")
    assert trial.state is TrialState.COMPLETED
    log = (Path(trial.trial_dir or "") / "trial.log").read_text()
    pids = [int(part.split("=")[1]) for part in log.split("\n")[0].split()]
    for pid in pids:
        assert not _alive(pid), pid
    assert "[tuneforge] ended 1 process(es) the trial left running" in log


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_resume_never_signals_an_unrelated_process_with_a_recorded_pid(
    make_job: MakeJob, workspace: Path
) -> None:
    """A recorded trial pid now used by an unrelated process (pid reuse) is left alone."""
    job = make_job("reuse", limits={"max_trials": 1})
    assert _run_job(job)
    stranger = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        storage = Storage(f"sqlite:///{workspace / 'tuneforge.db'}")
        number = storage.create_trial("reuse", {"x": 0.5, "nap": 0.1})
        folder = str(workspace / "runs" / "reuse" / f"trial-{number:04d}")
        storage.start_trial("reuse", number, trial_dir=folder, pid=stranger.pid, time=time.time())
        result = CliRunner().invoke(app, ["resume", "reuse"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert stranger.poll() is None  # still running: it does not carry the trial's marker
        assert storage.get_trial("reuse", number).state is TrialState.INTERRUPTED
        assert not any(e.kind == "note" for e in storage.events("reuse"))
    finally:
        stranger.kill()
        stranger.wait()


def test_left_over_trial_processes_that_ignore_sigterm_are_killed(tmp_path: Path) -> None:
    """Processes carrying a trial's marker are found (also outside the group) and ended,
    with SIGKILL after the grace period when they ignore SIGTERM."""
    from tuneforge.processes import end_processes, find_trial_processes

    folder = tmp_path / "runs" / "job" / "trial-0003"
    env = {**os.environ, "TUNEFORGE_JOB_NAME": "job", "TUNEFORGE_TRIAL_DIR": str(folder)}
    stubborn = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)"
    processes = [
        subprocess.Popen([sys.executable, "-c", stubborn], env=env, start_new_session=True),
        subprocess.Popen(["sleep", "60"], env=env, start_new_session=True),
    ]
    other = subprocess.Popen(["sleep", "60"], env={**env, "TUNEFORGE_JOB_NAME": "other"})
    try:
        time.sleep(0.3)  # the stubborn one installs its handler
        found = find_trial_processes("job", under=str(tmp_path / "runs"))
        assert {p.pid for p in found} == {p.pid for p in processes}
        started = time.monotonic()
        ended = end_processes(found, grace=0.5)
        assert {p.pid for p in ended} == {p.pid for p in processes}
        assert time.monotonic() - started < 3
        for process in processes:
            assert process.wait(timeout=5) in (-15, -9)
        assert processes[0].returncode == -9  # it ignored SIGTERM
        assert other.poll() is None  # another job's process is left alone
    finally:
        for process in [*processes, other]:
            process.kill()
            process.wait()
