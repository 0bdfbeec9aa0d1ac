"""`tuneforge space FILE`: check a search space before spending compute on it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import Cli

PCS_DIR = Path(__file__).parents[1] / "space" / "data" / "pcs"


def test_space_of_a_job_file_lists_parameters_and_valid_samples(cli: Cli) -> None:
    """The digits job's space prints its parameters; samples leave out inactive momentum."""
    job = Path(__file__).parents[2] / "examples" / "digits-mlp" / "job.yaml"
    data = cli.json("space", str(job), "--sample", "20", "--seed", "1", "--json")
    assert set(data["parameters"]) == {
        "lr",
        "batch_size",
        "optimizer",
        "momentum",
        "alpha",
        "hidden",
    }
    assert data["static"] == {"epochs": 200}
    assert len(data["samples"]) == 20
    for sample in data["samples"]:
        assert ("momentum" in sample) == (sample["optimizer"] == "sgd")
        assert 1e-4 <= sample["lr"] <= 0.3
    table = cli("space", str(job), "--sample", "2")
    assert table.exit_code == 0 and "momentum" in table.output and "sample 1:" in table.output


def test_space_of_a_real_pcs_file(cli: Cli) -> None:
    """A real SMAC PCS file loads whole and its samples are printed."""
    data = cli.json("space", str(PCS_DIR / "spear-params.pcs"), "--sample", "3", "--json")
    assert len(data["parameters"]) == 26 and len(data["samples"]) == 3


def test_space_of_parameter_ranges_json(cli: Cli, workspace: Path) -> None:
    """A cloud tuning job's ParameterRanges JSON reads as a space."""
    ranges = {
        "ContinuousParameterRanges": [
            {"Name": "lr", "MinValue": "0.0001", "MaxValue": "0.1", "ScalingType": "Logarithmic"}
        ],
        "IntegerParameterRanges": [{"Name": "layers", "MinValue": "1", "MaxValue": "4"}],
        "CategoricalParameterRanges": [{"Name": "opt", "Values": ["sgd", "adam"]}],
    }
    (workspace / "ranges.json").write_text(json.dumps({"ParameterRanges": ranges}))
    data = cli.json("space", "ranges.json", "--json")
    assert data["parameters"]["lr"]["log"] is True
    assert data["parameters"]["layers"] == {
        "type": "int",
        "low": 1,
        "high": 4,
        "log": False,
        "default": 3,
    }


def test_a_bad_space_file_is_a_clear_error(cli: Cli, workspace: Path) -> None:
    """A malformed PCS line is reported with its line number; exit code 2."""
    (workspace / "bad.pcs").write_text("lr [0.1, 0.5] [0.2]\nlayers [4 2] [3]i\n")
    result = cli("space", "bad.pcs")
    assert result.exit_code == 2
    assert "line 2" in result.output and "Traceback" not in result.output
