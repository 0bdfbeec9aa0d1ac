"""End to end on the digits example: `early_stopping: auto` and `strategy: hyperband` on the
real training script, and a stop that ends the trial's whole process group."""

from __future__ import annotations

import os
import re
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.conftest import Cli, MakeJob

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits-mlp"


def digits_job(make_job: MakeJob, name: str, example: str = "job.yaml", **fields: Any) -> Path:
    """An example's job file, run from the example folder, with ``fields`` overriding it."""
    document = yaml.safe_load((EXAMPLE / example).read_text())
    command = document["command"]
    assert command.startswith("python train.py ")
    document.update(
        name=name,
        command=f"{sys.executable} {command.removeprefix('python ')}",
        workdir=str(EXAMPLE),
        **fields,
    )
    return make_job(**document)


def test_auto_early_stopping_on_digits_stops_some_trials_and_finds_a_good_one(
    make_job: MakeJob, cli: Cli
) -> None:
    """The median rule ends lagging digits trials early; the best trial is still good."""
    job = digits_job(
        make_job,
        "digits-auto",
        static={"epochs": 40},
        early_stopping="auto",
        limits={"max_trials": 10, "max_parallel": 2, "trial_timeout": "60s"},
    )
    result = cli("run", str(job))
    assert result.exit_code == 0, result.output
    trials = cli.json("trials", "digits-auto", "--format", "json")
    stopped = [t for t in trials if t["state"] == "stopped_early"]
    assert len(trials) == 10 and stopped, [t["state"] for t in trials]
    assert all("median rule at step" in t["reason"] for t in stopped)
    curves = cli.json("trials", "digits-auto", "--curves", "--format", "json")
    steps = Counter(c["number"] for c in curves if c["metric"] == "validation:accuracy")
    # Their curves are kept and end early (a stop decided near the last epoch may come late).
    assert all(0 < steps[t["number"]] <= 40 for t in stopped)
    assert any(steps[t["number"]] < 40 for t in stopped)
    assert all(steps[t["number"]] == 40 for t in trials if t["state"] == "completed")
    best = cli.json("best", "digits-auto", "--json")
    assert best["value"] >= 0.95


def test_hyperband_on_digits_sets_the_epochs_of_every_trial(make_job: MakeJob, cli: Cli) -> None:
    """`${epochs}` is the trial's resource: a bracket runs 3 x 9 epochs, then the best on 27."""
    job = digits_job(
        make_job,
        "digits-hyperband",
        static={"epochs": 27},
        strategy="hyperband",
        strategy_options={"resource": "epochs", "min_resource": 9},
        enqueue_default=False,
        limits={"max_trials": 4, "max_parallel": 1, "trial_timeout": "60s"},
    )
    result = cli("run", str(job))
    assert result.exit_code == 0, result.output
    trials = cli.json("trials", "digits-hyperband", "--format", "json")
    assert Counter(t["params"]["epochs"] for t in trials) == Counter({9: 3, 27: 1})
    for trial in trials:
        log = cli("logs", "digits-hyperband", str(trial["number"])).output
        last_epoch = re.findall(r"epoch=(\d+) ", log)[-1]
        assert int(last_epoch) == trial["params"]["epochs"]
    [full] = [t for t in trials if t["params"]["epochs"] == 27]
    on_nine = [t for t in trials if t["params"]["epochs"] == 9]
    best_nine = max(on_nine, key=lambda t: t["value"])
    assert {k: v for k, v in full["params"].items() if k != "epochs"} == {
        k: v for k, v in best_nine["params"].items() if k != "epochs"
    }


def test_hyperband_promotions_continue_from_the_checkpoint_of_the_rung_below(
    make_job: MakeJob, cli: Cli
) -> None:
    """`checkpoints: true` and the example's checkpoint: the best two of three 9-epoch
    runs go on to 27 epochs from their saved models, training epochs 10..27 only."""
    job = digits_job(
        make_job,
        "digits-checkpoints",
        static={"epochs": 27},
        strategy="hyperband",
        strategy_options={"resource": "epochs", "min_resource": 9, "checkpoints": True},
        enqueue_default=False,
        limits={"max_trials": 5, "max_parallel": 1, "trial_timeout": "60s"},
    )
    result = cli("run", str(job))
    assert result.exit_code == 0, result.output
    trials = {t["number"]: t for t in cli.json("trials", "digits-checkpoints", "--format", "json")}
    promoted = [t for t in trials.values() if t["continues"] is not None]
    assert sorted(t["params"]["epochs"] for t in promoted) == [27, 27]
    for trial in promoted:
        parent = trials[trial["continues"]]
        assert parent["params"] == {**trial["params"], "epochs": 9}
        log = cli("logs", "digits-checkpoints", str(trial["number"])).output
        assert f"resumed from {parent['trial_dir']} after 9 epochs" in log
        assert [int(e) for e in re.findall(r"epoch=(\d+) ", log)] == list(range(10, 28))
    on_nine = sorted(
        (t for t in trials.values() if t["params"]["epochs"] == 9), key=lambda t: -t["value"]
    )
    assert {t["continues"] for t in promoted} == {t["number"] for t in on_nine[:2]}
    header = cli("trials", "digits-checkpoints").output.split("┡")[0]
    assert "continues" in header


def test_the_hyperband_example_continues_its_promotions(make_job: MakeJob, cli: Cli) -> None:
    """examples/digits-mlp/hyperband.yaml, first bracket (12 x 3 -> 4 x 9 -> 2 x 27): every
    promotion resumes from its run on fewer epochs and trains only the epochs it adds."""
    job = digits_job(
        make_job,
        "digits-hyperband-example",
        "hyperband.yaml",
        limits={"max_trials": 18, "max_parallel": 1, "trial_timeout": "60s"},
    )
    result = cli("run", str(job))
    assert result.exit_code == 0, result.output
    trials = cli.json("trials", "digits-hyperband-example", "--format", "json")
    assert Counter(t["params"]["epochs"] for t in trials) == Counter({3: 12, 9: 4, 27: 2})
    by_number = {t["number"]: t for t in trials}
    assert sum(t["continues"] is not None for t in trials) == 6
    for trial in trials:
        log = cli("logs", "digits-hyperband-example", str(trial["number"])).output
        epochs = [int(e) for e in re.findall(r"epoch=(\d+) ", log)]
        if trial["continues"] is None:
            assert trial["params"]["epochs"] == 3 and epochs == [1, 2, 3]
        else:
            done = by_number[trial["continues"]]["params"]["epochs"]
            assert epochs == list(range(done + 1, trial["params"]["epochs"] + 1))


CHILD_SCRIPT = textwrap.dedent(
    """
    import subprocess, sys, time
    x = float(sys.argv[1])
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)"])
    print(f"child_pid={child.pid}", flush=True)
    for step in range(40):
        print(f"loss={x / (step + 1):.6f}", flush=True)
        time.sleep(0.05)
    child.kill()
    """
)


def test_stopping_early_ends_the_whole_process_group(
    make_job: MakeJob, cli: Cli, workspace: Path
) -> None:
    """A trial stopped early is ended with its children: its child process is gone."""
    (workspace / "child.py").write_text(CHILD_SCRIPT)
    job = make_job(
        "group",
        command=[sys.executable, "child.py", "${x}"],
        parameters={"x": {"type": "float", "low": 0, "high": 10}},
        strategy="design",
        design=[{"x": 1.0}, {"x": 9.0}],
        early_stopping={"rule": "asha", "min_resource": 1, "reduction_factor": 2},
        limits={"max_trials": 2, "max_parallel": 1},
    )
    result = cli("run", str(job))
    assert result.exit_code == 0, result.output
    trials = cli.json("trials", "group", "--format", "json")
    assert [t["state"] for t in trials] == ["completed", "stopped_early"]
    log = cli("logs", "group", "1").output
    child = int(re.search(r"child_pid=(\d+)", log).group(1))  # type: ignore[union-attr]
    assert "loss=" in log and log.count("loss=") < 40
    cli.wait_for(lambda: not _alive(child), timeout=10)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie waits for its parent (init here) to reap it: it is gone for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return False
