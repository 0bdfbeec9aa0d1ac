"""The example scripts run on their own and print the lines their job files read."""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

from tuneforge import placeholders

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(argv: list[str], cwd: Path, **env: str) -> str:
    completed = subprocess.run(
        [sys.executable, *argv],
        cwd=cwd,
        env={**os.environ, "OMP_NUM_THREADS": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_digits_train_prints_epochs_and_saves_the_model(tmp_path: Path) -> None:
    """train.py prints one val_acc line per epoch, then test_acc, and pickles the model."""
    script = EXAMPLES / "digits-mlp" / "train.py"
    out = run(
        [
            str(script),
            "--lr",
            "0.01",
            "--batch-size",
            "32",
            "--optimizer",
            "sgd",
            "--momentum",
            "0.9",
            "--alpha",
            "0.0001",
            "--hidden",
            "32",
            "--epochs",
            "3",
        ],
        cwd=tmp_path,
        TUNEFORGE_TRIAL_DIR=str(tmp_path),
    )
    lines = out.splitlines()
    assert [re.fullmatch(r"epoch=(\d+) val_acc=[0-9.]+", line)[1] for line in lines[:3]] == [
        "1",
        "2",
        "3",
    ]
    test_acc = re.fullmatch(r"test_acc=([0-9.]+)", lines[3])
    assert test_acc is not None and 0.5 < float(test_acc[1]) <= 1.0
    with open(tmp_path / "model.pkl", "rb") as handle:
        model = pickle.load(handle)
    assert model.hidden_layer_sizes == (32,)


def test_digits_train_continues_from_the_checkpoint_it_is_given(tmp_path: Path) -> None:
    """Given $TUNEFORGE_RESUME_DIR, train.py starts from the model saved there and trains
    only the epochs it lacks, ending where training from scratch ends."""
    script = str(EXAMPLES / "digits-mlp" / "train.py")
    args = ["--lr", "0.01", "--batch-size", "64", "--optimizer", "adam", "--hidden", "16"]
    scratch, first, second = (tmp_path / name for name in ("scratch", "first", "second"))
    for folder in (scratch, first, second):
        folder.mkdir()
    full = run([script, *args, "--epochs", "4"], cwd=tmp_path, TUNEFORGE_TRIAL_DIR=str(scratch))
    run([script, *args, "--epochs", "2"], cwd=tmp_path, TUNEFORGE_TRIAL_DIR=str(first))
    resumed = run(
        [script, *args, "--epochs", "4"],
        cwd=tmp_path,
        TUNEFORGE_TRIAL_DIR=str(second),
        TUNEFORGE_RESUME_DIR=str(first),
    )
    assert resumed.splitlines()[0] == f"resumed from {first} after 2 epochs"
    assert re.findall(r"epoch=(\d+)", resumed) == ["3", "4"]
    assert resumed.splitlines()[1:] == full.splitlines()[2:]  # the same epochs 3, 4 and test
    assert (second / "checkpoint.json").read_text() == '{"epochs": 4}'


def test_template_fills_and_runs(tmp_path: Path) -> None:
    """The filled template prints rmse and r2 as name<TAB>value lines."""
    template = (EXAMPLES / "template" / "train.py.in").read_text()
    values = {
        "n_estimators": 30,
        "learning_rate": 0.1,
        "max_depth": 2,
        "subsample": 0.8,
        "loss": "huber",
        "seed": 0,
    }
    (tmp_path / "train.py").write_text(placeholders.fill(template, values))
    out = run(["train.py"], cwd=tmp_path)
    metrics = dict(line.split("\t") for line in out.splitlines())
    assert set(metrics) == {"rmse", "r2"}
    assert 20.0 < float(metrics["rmse"]) < 120.0


def test_smac_wrapper_prints_the_result_line(tmp_path: Path) -> None:
    """The wrapper answers SMAC's call convention with its result line (Branin's minimum here)."""
    script = EXAMPLES / "smac-wrapper" / "branin_wrapper.py"
    out = run(
        [str(script), "branin", "0", "10", "0", "7", "-x1", "3.14159265", "-x2", "2.275"],
        cwd=tmp_path,
    )
    match = re.fullmatch(
        r"Result of this algorithm run: SUCCESS, ([0-9.]+), 0, ([0-9.]+), 7", out.strip()
    )
    assert match is not None, out
    assert abs(float(match[2]) - 0.397887) < 1e-5
