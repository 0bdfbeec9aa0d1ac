"""End to end: `tuneforge run` with real trial subprocesses, then the reading commands."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import sys
import zipfile
from pathlib import Path

import pytest

from tests.e2e.conftest import Cli, MakeJob

PY = sys.executable


def test_random_job_runs_every_trial_and_reports_the_best(make_job: MakeJob, cli: Cli) -> None:
    """A random job runs max_trials trials, each with its folder, log, params and metrics."""
    result = cli("run", str(make_job()))
    assert result.exit_code == 0, result.output
    assert "Best: trial" in result.output
    trials = cli.json("trials", "demo", "--format", "json")
    assert [t["number"] for t in trials] == [0, 1, 2, 3]
    assert {t["state"] for t in trials} == {"completed"}
    for t in trials:
        folder = Path(t["trial_dir"])
        params = json.loads((folder / "params.json").read_text())
        assert params["params"]["x"] == pytest.approx(t["params"]["x"])
        assert "loss=" in (folder / "trial.log").read_text()
        assert (folder / "metrics.jsonl").exists()
        assert (folder / "model.txt").read_text() == "weights"
        assert t["value"] == pytest.approx((t["params"]["x"] - 0.3) ** 2, abs=1e-6)
    best = cli.json("best", "demo", "--json")
    assert best["value"] == min(t["value"] for t in trials)


def test_the_same_seed_gives_the_same_configurations(make_job: MakeJob, cli: Cli) -> None:
    """Two jobs with the same seed try the same parameter values."""
    cli("run", str(make_job("first")))
    cli("run", str(make_job("second")))
    first = [t["params"] for t in cli.json("trials", "first", "--format", "json")]
    second = [t["params"] for t in cli.json("trials", "second", "--format", "json")]
    assert first == second


def test_grid_job_runs_every_combination(make_job: MakeJob, cli: Cli) -> None:
    """A grid over a 3-point float and a 2-value categorical runs 6 distinct trials."""
    job = make_job(
        "grid",
        command=[PY, "trial.py", "x=${x}", "opt=${opt}"],
        parameters={
            "x": {"type": "float", "low": 0.0, "high": 1.0},
            "opt": {"type": "categorical", "values": ["a", "b"]},
        },
        strategy="grid",
        strategy_options={"grid_points": 3},
        limits={"max_trials": 6, "max_parallel": 2},
    )
    assert cli("run", str(job)).exit_code == 0
    trials = cli.json("trials", "grid", "--format", "json")
    combos = {(t["params"]["x"], t["params"]["opt"]) for t in trials}
    assert combos == {(x, o) for x in (0.0, 0.5, 1.0) for o in ("a", "b")}


def test_sobol_job_completes(make_job: MakeJob, cli: Cli) -> None:
    """A Sobol design runs its trials and spreads them over the range."""
    assert cli("run", str(make_job("qmc", strategy="sobol"))).exit_code == 0
    xs = sorted(t["params"]["x"] for t in cli.json("trials", "qmc", "--format", "json"))
    assert len(xs) == 4 and xs[0] < 0.5 < xs[-1]


def test_design_job_runs_the_csv_rows_in_order(
    make_job: MakeJob, cli: Cli, workspace: Path
) -> None:
    """A CSV design runs exactly its rows, in order, then the job ends."""
    (workspace / "design.csv").write_text("x\n0.1\n0.9\n0.3\n")
    job = make_job("doe", strategy="design", design="design.csv", limits={"max_trials": 10})
    result = cli("run", str(job))
    assert result.exit_code == 0, result.output
    trials = cli.json("trials", "doe", "--format", "json")
    assert [t["params"]["x"] for t in trials] == [0.1, 0.9, 0.3]


def test_a_failing_trial_is_recorded_and_the_job_goes_on(make_job: MakeJob, cli: Cli) -> None:
    """A trial exiting non-zero is FAILED with its exit code and log tail; others complete."""
    job = make_job(
        "flaky",
        command=[PY, "trial.py", "x=${x}", "exit=${code}"],
        parameters={"x": {"type": "float", "low": 0, "high": 1}},
        static={"code": 0},
        strategy="design",
        design=[{"x": 0.5}],
        enqueue=[{"x": 0.2}],
        limits={"max_trials": 3, "max_parallel": 1},
    )
    assert cli("run", str(job)).exit_code == 0
    failing = make_job(
        "failing",
        command=[PY, "trial.py", "x=${x}", "exit=3"],
        limits={"max_trials": 6, "max_parallel": 1, "max_failures": 2},
    )
    result = cli("run", str(failing))
    assert result.exit_code == 0, result.output
    trials = cli.json("trials", "failing", "--format", "json")
    assert len(trials) == 2
    assert all(t["state"] == "failed" and t["reason"] == "exit code 3" for t in trials)
    jobs = {j["name"]: j for j in cli.json("jobs", "--format", "json")}
    assert jobs["failing"]["state"] == "failed"
    assert "something went wrong" in cli("logs", "failing", "0").output


def test_a_trial_past_its_timeout_is_failed_and_its_children_ended(
    make_job: MakeJob, cli: Cli
) -> None:
    """trial_timeout ends the whole process group: the trial fails, its child is gone."""
    job = make_job(
        "slow",
        command=[PY, "trial.py", "x=${x}", "sleep=60", "child=yes"],
        limits={"max_trials": 1, "max_parallel": 1, "trial_timeout": "1s"},
    )
    assert cli("run", str(job)).exit_code == 0
    (trial,) = cli.json("trials", "slow", "--format", "json")
    assert trial["state"] == "failed"
    assert "timed out" in trial["reason"]
    log = cli("logs", "slow", "0").output
    child_pid = int(log.split("child_pid=")[1].split()[0])
    assert not _alive(child_pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has ended all the same.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_stop_from_another_process_ends_the_running_job(make_job: MakeJob, cli: Cli) -> None:
    """`tuneforge stop JOB` in another process stops the running trials and the job."""
    job = make_job(
        "long",
        command=[PY, "trial.py", "x=${x}", "sleep=60", "child=yes"],
        limits={"max_trials": 4, "max_parallel": 2},
    )
    process = cli.spawn("run", str(job))
    try:
        cli.wait_for(lambda: _states(cli, "long").count("running") == 2)
        cli.wait_for(lambda: "child_pid=" in cli("logs", "long", "0").output)
        child_pid = int(cli("logs", "long", "0").output.split("child_pid=")[1].split()[0])
        stopped = cli("stop", "long")
        assert stopped.exit_code == 0, stopped.output
        output, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, output
    assert _states(cli, "long") == ["stopped", "stopped"]
    assert {j["name"]: j["state"] for j in cli.json("jobs", "--format", "json")}[
        "long"
    ] == "stopped"
    assert not _alive(child_pid)


def test_stop_one_trial_from_another_process(make_job: MakeJob, cli: Cli) -> None:
    """`tuneforge stop JOB --trial N` stops that trial only; the job goes on."""
    slow = make_job(
        "one-slow",
        command=[PY, "trial.py", "x=${x}", "sleep=60"],
        strategy="design",
        design=[{"x": 0.1}, {"x": 0.2}],
        limits={"max_trials": 2, "max_parallel": 1, "trial_timeout": "20s"},
    )
    process = cli.spawn("run", str(slow))
    try:
        cli.wait_for(lambda: _states(cli, "one-slow") == ["running"])
        assert cli("stop", "one-slow", "--trial", "0").exit_code == 0
        cli.wait_for(lambda: _states(cli, "one-slow")[:1] == ["stopped"])
        cli.wait_for(lambda: _states(cli, "one-slow") == ["stopped", "running"])
        assert cli("stop", "one-slow").exit_code == 0
        process.communicate(timeout=30)
    finally:
        process.kill()


def _states(cli: Cli, job: str) -> list[str]:
    result = cli("trials", job, "--format", "json")
    if result.exit_code != 0:
        return []
    return [t["state"] for t in json.loads(result.output)]


def test_ctrl_c_interrupts_and_resume_finishes_the_job(make_job: MakeJob, cli: Cli) -> None:
    """Ctrl-C marks running trials interrupted; --resume re-runs them with the same numbers."""
    job = make_job(
        "resumable",
        command=[PY, "trial.py", "x=${x}", "sleep=${nap}"],
        static={"nap": 30},
        limits={"max_trials": 3, "max_parallel": 1},
    )
    process = cli.spawn("run", str(job))
    try:
        cli.wait_for(lambda: _states(cli, "resumable") == ["running"])
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130, output
    assert "--resume" in output
    assert _states(cli, "resumable") == ["interrupted"]
    first_params = cli.json("trials", "resumable", "--format", "json")[0]["params"]
    job.write_text(job.read_text().replace("nap: 30", "nap: 0"))
    result = cli("run", str(job), "--resume")
    assert result.exit_code == 0, result.output
    trials = cli.json("trials", "resumable", "--format", "json")
    assert [t["number"] for t in trials] == [0, 1, 2]
    assert _states(cli, "resumable") == ["completed"] * 3
    assert trials[0]["params"] == first_params


def test_an_existing_job_name_is_refused_without_resume(make_job: MakeJob, cli: Cli) -> None:
    """Running a job twice is a clear error (exit 2) that suggests --resume."""
    job = make_job()
    assert cli("run", str(job)).exit_code == 0
    again = cli("run", str(job))
    assert again.exit_code == 2
    assert "already exists" in again.output and "--resume" in again.output


def test_parameter_values_are_never_run_by_a_shell(
    make_job: MakeJob, cli: Cli, workspace: Path
) -> None:
    """A categorical value full of shell syntax reaches the script as one literal argument."""
    evil = "a; touch pwned $(touch pwned2) `touch pwned3` ${x} \"q' \n日本"
    job = make_job(
        "inject",
        command=[PY, "trial.py", "x=${x}", "word=${word}"],
        parameters={
            "x": {"type": "float", "low": 0, "high": 1},
            "word": {"type": "categorical", "values": [evil]},
        },
        limits={"max_trials": 1},
    )
    assert cli("run", str(job)).exit_code == 0
    (trial,) = cli.json("trials", "inject", "--format", "json")
    argv = json.loads((Path(trial["trial_dir"]) / "argv.json").read_text())
    assert argv[1] == f"word={evil}"
    assert not any((workspace / name).exists() for name in ("pwned", "pwned2", "pwned3"))


def test_bad_job_file_exits_2_and_writes_nothing(
    make_job: MakeJob, cli: Cli, workspace: Path
) -> None:
    """An invalid job file gets a one-line error per problem, exit 2, and no storage."""
    job = make_job(limits={"max_trials": 0, "max_parallel": 2})
    result = cli("run", str(job))
    assert result.exit_code == 2
    assert "limits.max_trials" in result.output
    assert "Traceback" not in result.output
    assert not (workspace / "tuneforge.db").exists() or not _jobs_in(workspace / "tuneforge.db")
    broken = workspace / "broken.yaml"
    broken.write_text("name: x\ncommand: [python\n")
    result = cli("run", str(broken))
    assert result.exit_code == 2 and "line" in result.output


def _jobs_in(db: Path) -> list[str]:
    with sqlite3.connect(db) as connection:
        try:
            return [row[0] for row in connection.execute("select name from jobs")]
        except sqlite3.OperationalError:
            return []


def test_export_archive_and_logs(make_job: MakeJob, cli: Cli, workspace: Path) -> None:
    """export writes every trial; archive zips trial folders with a trials.csv; logs prints."""
    assert cli("run", str(make_job())).exit_code == 0
    assert cli("export", "demo", "--format", "csv", "-o", "out.csv").exit_code == 0
    rows = list(csv.DictReader((workspace / "out.csv").open()))
    assert len(rows) == 4 and "params.x" in rows[0]
    assert cli("export", "demo", "--format", "json", "-o", "out.json").exit_code == 0
    assert len(json.loads((workspace / "out.json").read_text())) == 4
    assert cli("archive", "demo", "-o", "all.zip").exit_code == 0
    names = zipfile.ZipFile(workspace / "all.zip").namelist()
    assert "trials.csv" in names
    assert {n.split("/")[0] for n in names if n.startswith("trial-")} == {
        f"trial-{i:04d}" for i in range(4)
    }
    assert cli("archive", "demo", "-o", "best.zip", "--best").exit_code == 0
    best = cli.json("best", "demo", "--json")
    best_names = zipfile.ZipFile(workspace / "best.zip").namelist()
    assert f"trial-{best['number']:04d}/model.txt" in best_names
    assert "loss=" in cli("logs", "demo", "1").output
    sorted_trials = cli.json("trials", "demo", "--sort", "value", "--format", "json")
    values = [t["value"] for t in sorted_trials]
    assert values == sorted(values)


def test_reading_commands_give_clear_errors(make_job: MakeJob, cli: Cli) -> None:
    """Unknown jobs, trials, states and formats are one-line errors with what is valid."""
    assert cli("run", str(make_job())).exit_code == 0
    result = cli("trials", "nope")
    assert result.exit_code == 1 and "no job named 'nope'" in result.output
    result = cli("logs", "demo", "99")
    assert result.exit_code == 1 and "no trial 99" in result.output
    result = cli("trials", "demo", "--state", "happy")
    assert result.exit_code == 2 and "completed" in result.output
    result = cli("trials", "demo", "--format", "xml")
    assert result.exit_code == 2 and "table, csv, json" in result.output
    result = cli("stop", "demo")
    assert result.exit_code == 2 and "not running" in result.output
