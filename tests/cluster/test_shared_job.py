"""Several controllers share one job (``tuneforge run --join``) on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tuneforge.controller.coordination import SharedTrials
from tuneforge.jobfile import load_job_file
from tuneforge.space import Float, SearchSpace
from tuneforge.storage import JobState, Storage
from tuneforge.storage.claims import claim_rerun, claim_trial
from tuneforge.strategies import make_strategy
from tuneforge.trial import TrialState

N_CONTROLLERS = 4

#: A trial: sleeps a little (so that controllers overlap) and prints its loss.
TRIAL = "import sys, time; time.sleep(0.05 + float(sys.argv[2]) / 10); print('loss=' + sys.argv[1])"


def write_job(folder: Path, strategy: str, max_trials: int, **fields: Any) -> Path:
    document: dict[str, Any] = {
        "name": "shared",
        "command": [sys.executable, "-c", TRIAL, "${x}", "${y}"],
        "parameters": {
            "x": {"type": "float", "low": 0.0, "high": 1.0},
            "y": {"type": "int", "low": 0, "high": 3},
        },
        "objective": "loss",
        "metrics": [{"name": "loss", "regex": r"loss=([0-9.eE+-]+)"}],
        "strategy": strategy,
        "limits": {"max_trials": max_trials, "max_parallel": 2},
        "seed": 7,
        "output_dir": str(folder / "runs"),
        **fields,
    }
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def run_controllers(job: Path, storage_url: str, n: int = N_CONTROLLERS) -> list[str]:
    """Start ``n`` ``tuneforge run --join`` processes at once; return their outputs."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tuneforge", "run", str(job), "--join"]
            + ["--storage", storage_url],
            cwd=job.parent,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(n)
    ]
    outputs = []
    for process in processes:
        out, _ = process.communicate(timeout=180)
        assert process.returncode == 0, out
        outputs.append(out)
    return outputs


def configurations(storage: Storage) -> list[tuple[float, int]]:
    return [(t.params["x"], t.params["y"]) for t in storage.trials("shared")]


@pytest.mark.parametrize(("backend", "strategy"), [("sqlite", "sobol"), ("postgresql", "grid")])
def test_four_controllers_share_one_job(
    backend: str, strategy: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """4 `run --join` processes: numbers 0..N-1 once each, the strategy's N configurations."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'tuneforge.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database()
    check_shared_job(url, strategy, tmp_path)


def test_optimize_processes_share_one_job(postgres_url: str) -> None:
    """optimize(join=True) in two processes: 24 Sobol trials, each number and point once."""
    script = textwrap.dedent(
        """
        import sys, time
        import tuneforge as tf

        def objective(params):
            time.sleep(0.05)
            return params["x"]

        tf.optimize(objective, {"x": tf.Float(0.0, 1.0)}, strategy="sobol", max_trials=24,
                    n_jobs=2, seed=3, storage=sys.argv[1], job_name="opt", join=True)
        """
    )
    processes = [subprocess.Popen([sys.executable, "-c", script, postgres_url]) for _ in range(2)]
    assert [p.wait(timeout=180) for p in processes] == [0, 0]
    storage = Storage(postgres_url)
    trials = storage.trials("opt")
    assert [t.number for t in trials] == list(range(24))
    assert all(t.state is TrialState.COMPLETED for t in trials)
    assert len({t.params["x"] for t in trials}) == 24
    storage.close()


def check_shared_job(storage_url: str, strategy: str, tmp_path: Path) -> None:
    max_trials = 20 if strategy == "sobol" else 16  # the grid: 4 x-points x 4 y-values
    options = {"strategy_options": {"grid_points": 4}} if strategy == "grid" else {}
    job = write_job(tmp_path, strategy, max_trials, **options)
    outputs = run_controllers(job, storage_url)

    storage = Storage(storage_url)
    trials = storage.trials("shared")
    assert [t.number for t in trials] == list(range(max_trials))
    assert all(t.state is TrialState.COMPLETED for t in trials), [t.reason for t in trials]
    configs = configurations(storage)
    assert len(set(configs)) == max_trials, "a configuration ran twice"
    # Exactly the configurations one controller would have run alone: none lost, none extra.
    alone = load_job_file(job).make_strategy()
    expected = [alone.ask() for _ in range(max_trials)]
    assert sorted(configs) == sorted((c["x"], c["y"]) for c in expected if c is not None)
    assert storage.get_job("shared").state is JobState.COMPLETED
    # Every controller ran some of the trials (they really shared the job).
    started = [out.count(" completed") for out in outputs]
    assert sum(1 for n in started if n > 0) >= 2, outputs
    storage.close()


def test_a_lost_claim_names_the_position_the_others_reached(tmp_path: Path) -> None:
    """claim_trial refuses a taken position and a full job, and says how far the job is."""
    storage = Storage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    storage.create_job(
        "j",
        document={},
        base_dir=".",
        objective="loss",
        direction="minimize",
        strategy="sobol",
        max_trials=3,
        output_dir=None,
    )
    first = claim_trial(storage, "j", {"x": 1}, origin="strategy", position=0, max_trials=3)
    assert (first.number, first.taken, first.full) == (0, 1, False)
    lost = claim_trial(storage, "j", {"x": 1}, origin="strategy", position=0, max_trials=3)
    assert (lost.number, lost.taken, lost.full) == (None, 1, False)
    queued = claim_trial(storage, "j", {"x": 2}, origin="enqueued", position=0, max_trials=3)
    assert queued.number == 1
    claim_trial(storage, "j", {"x": 3}, origin="strategy", position=1, max_trials=3)
    full = claim_trial(storage, "j", {"x": 4}, origin="strategy", position=2, max_trials=3)
    assert full.full and full.number is None
    storage.start_trial("j", 0, trial_dir=None, pid=None, time=time.time())
    storage.finish_trial(
        "j", 0, state=TrialState.INTERRUPTED, value=None, reason="x", log_tail=None, time=1.0
    )
    assert claim_rerun(storage, "j", 0) is True
    assert claim_rerun(storage, "j", 0) is False  # already taken by the first claim
    assert storage.get_trial("j", 0).state is TrialState.PENDING
    storage.close()


def test_a_shared_promotion_names_the_trial_it_continues(tmp_path: Path) -> None:
    """A controller sharing a hyperband job claims promotions with the trial they continue,
    in storage and in what it hands to make_work; an interrupted one keeps it on rerun."""
    storage = Storage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    storage.create_job(
        "hb",
        document={},
        base_dir=".",
        objective="loss",
        direction="minimize",
        strategy="hyperband",
        max_trials=5,
        output_dir=None,
    )
    space = SearchSpace({"x": Float(0.0, 1.0)})
    strategy = make_strategy(
        "hyperband", space, seed=0, options={"resource": "r", "max_resource": 3, "eta": 3}
    )
    shared = SharedTrials(storage, "hb", strategy, [], max_trials=5)
    claimed = []
    for _ in range(5):  # 3 x 1, then the best 2 on 3
        trial = shared.next()
        assert trial is not None
        claimed.append(trial)
        storage.start_trial("hb", trial.number, trial_dir=None, pid=None, time=time.time())
        value = float(trial.params["x"]) + 1 / int(trial.params["r"])
        state = TrialState.COMPLETED if trial.number < 4 else TrialState.INTERRUPTED
        storage.finish_trial(
            "hb", trial.number, state=state, value=value, log_tail=None, reason=None,
            time=time.time(),
        )  # fmt: skip
        shared.sync()
    assert [t.continues is not None for t in claimed] == [False] * 3 + [True] * 2
    for trial in claimed[3:]:
        assert trial.continues is not None
        parent = storage.get_trial("hb", trial.continues)
        assert dict(parent.params) == {**trial.params, "r": 1}
        assert storage.get_trial("hb", trial.number).continues == trial.continues
    # The last promotion was interrupted: the next controller reruns it from the same trial.
    rerun = SharedTrials(storage, "hb", strategy, storage.trials("hb"), max_trials=5).next()
    assert rerun is not None and (rerun.number, rerun.continues) == (4, claimed[4].continues)
    storage.close()
