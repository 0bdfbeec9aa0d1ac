"""Crash recovery: the controller is SIGKILLed at random moments and resumed until done.

Each cycle starts ``tuneforge run JOB --resume`` as a real process (real trial
subprocesses, two at a time, each leaving a ``sleep`` child in its group), kills it with
SIGKILL after a random delay (during start-up, between trials, while trials run or are
being recorded), checks what storage holds, and starts again. The default run kills 3
times, ``--long`` 25 times.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.reliability.conftest import MakeJob, marked_processes, spawn
from tuneforge.jobfile import load_job_file
from tuneforge.storage import JobState, Storage
from tuneforge.trial import Trial, TrialState


def _trials(workspace: Path, job: str) -> list[Trial]:
    storage = Storage(f"sqlite:///{workspace / 'tuneforge.db'}")
    try:
        if job not in {record.name for record in storage.list_jobs()}:
            return []
        return storage.trials(job)
    finally:
        storage.close()


def _check(trials: list[Trial], seen: dict[int, float]) -> None:
    """Numbers are 0..n-1 once each; a completed trial's value never changes."""
    assert [t.number for t in trials] == list(range(len(trials)))
    for trial in trials:
        if trial.state is TrialState.COMPLETED:
            assert trial.value is not None
            assert seen.setdefault(trial.number, trial.value) == trial.value


def _claimed_by(workspace: Path, job: str, pid: int) -> bool:
    storage = Storage(f"sqlite:///{workspace / 'tuneforge.db'}")
    try:
        if job not in {record.name for record in storage.list_jobs()}:
            return False
        lease = storage.get_job(job).controller
        return lease is not None and lease.pid == pid
    finally:
        storage.close()


def _kill_loop(
    workspace: Path, job_file: Path, job: str, kills: int, seed: int
) -> tuple[int, dict[int, float]]:
    """Kill the controller ``kills`` times at random moments; returns kills made, values seen.

    One kill in four lands at a random moment of the start-up (importing, opening the
    storage, creating the job, taking it over); the others at a random moment up to 1.5 s
    after the controller took the job, while its trials run and are recorded.
    """
    rng = random.Random(seed)
    seen: dict[int, float] = {}
    made = 0
    while made < kills:
        process = spawn(workspace, "run", str(job_file), "--resume")
        if rng.random() < 0.25:
            time.sleep(rng.uniform(0.0, 2.5))
        else:
            deadline = time.monotonic() + 30
            while not _claimed_by(workspace, job, process.pid):
                assert process.poll() is None, process.communicate()[0]
                assert time.monotonic() < deadline, "the controller never took the job"
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 1.5))
        if process.poll() is not None:  # the job finished before this kill
            output = process.communicate()[0]
            assert process.returncode == 0, output
            break
        process.send_signal(signal.SIGKILL)
        process.communicate()
        made += 1
        _check(_trials(workspace, job), seen)
    return made, seen


def _run_to_the_end(workspace: Path, job_file: Path) -> str:
    process = spawn(workspace, "run", str(job_file), "--resume")
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 0, output
    return output


@pytest.mark.parametrize("long_kills", [25])
def test_killed_controllers_lose_no_trial(
    make_job: MakeJob, workspace: Path, long_mode: bool, long_kills: int, figures: Counter[str]
) -> None:
    """After SIGKILLs at random moments, every trial number runs to completion exactly once.

    Completed values never change across kills, the configurations are those of an
    uninterrupted run, and no trial process (nor its child) is left running.
    """
    kills = long_kills if long_mode else 3
    max_trials = 3 * kills + 6
    job_file = make_job("soak", limits={"max_trials": max_trials, "max_parallel": 2})
    made, seen = _kill_loop(workspace, job_file, "soak", kills, seed=kills)
    _run_to_the_end(workspace, job_file)

    trials = _trials(workspace, "soak")
    _check(trials, seen)
    assert made == kills
    assert [t.number for t in trials] == list(range(max_trials))
    assert all(t.state is TrialState.COMPLETED for t in trials), [t.state for t in trials]
    for trial in trials:
        assert trial.value == pytest.approx((trial.params["x"] - 0.3) ** 2, abs=1e-6)
    # The rebuilt strategy continued the seeded sequence as if nothing had happened.
    reference = load_job_file(job_file).make_strategy()
    assert [dict(t.params) for t in trials] == [reference.ask() for _ in trials]
    storage = Storage(f"sqlite:///{workspace / 'tuneforge.db'}")
    assert storage.get_job("soak").state is JobState.COMPLETED
    assert storage.get_job("soak").controller is None  # the last controller let go
    events = storage.events("soak")
    storage.close()
    assert marked_processes(workspace / "runs") == []
    figures["controller kills survived"] += made
    figures["kill-loop trials run"] += max_trials
    figures["kill-loop trials lost"] += max_trials - sum(
        t.state is TrialState.COMPLETED for t in trials
    )
    figures["orphaned trial processes ended on resume"] += sum(
        int(e.message.split("ended ", 1)[1].split()[0])
        for e in events
        if e.kind == "note" and e.message.startswith("ended ")
    )


def test_killed_controller_with_on_interrupt_mark_counts_the_cut_trials(
    make_job: MakeJob, workspace: Path, long_mode: bool, figures: Counter[str]
) -> None:
    """With on_interrupt: mark, trials cut short stay INTERRUPTED, counted, never re-run."""
    kills = 4 if long_mode else 1
    max_trials = 4 + 2 * kills
    job_file = make_job(
        "marked",
        on_interrupt="mark",
        parameters={
            "x": {"type": "float", "low": 0.0, "high": 1.0},
            "nap": {"type": "float", "low": 0.3, "high": 0.6},
        },
        limits={"max_trials": max_trials, "max_parallel": 2},
    )
    made = 0
    while made < kills:
        known = {t.number for t in _trials(workspace, "marked")}
        process = spawn(workspace, "run", str(job_file), "--resume")
        deadline = time.monotonic() + 30
        while not any(
            t.state is TrialState.RUNNING and t.number not in known
            for t in _trials(workspace, "marked")
        ):  # a trial this controller started is running
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.communicate()
        made += 1
    _run_to_the_end(workspace, job_file)
    trials = _trials(workspace, "marked")
    assert [t.number for t in trials] == list(range(max_trials))
    states = Counter(t.state for t in trials)
    assert set(states) <= {TrialState.COMPLETED, TrialState.INTERRUPTED}
    assert states[TrialState.INTERRUPTED] >= kills  # at least one running trial per kill
    for trial in trials:
        if trial.state is TrialState.INTERRUPTED:
            assert trial.reason == "the controller ended while the trial ran"
            assert trial.value is None
    assert marked_processes(workspace / "runs") == []
    figures["controller kills survived"] += made
