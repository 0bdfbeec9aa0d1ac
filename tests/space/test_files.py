"""load_space_file: one entry point that picks the reader from the file's extension or content."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuneforge.errors import ConfigError
from tuneforge.space import Categorical, Equals, Float, Int, load_space_file

DATA = Path(__file__).parent / "data" / "pcs"

RANGES = {
    "ContinuousParameterRanges": [
        {"Name": "lr", "MinValue": "0.001", "MaxValue": "0.1", "ScalingType": "Logarithmic"}
    ],
    "CategoricalParameterRanges": [{"Name": "opt", "Values": ["sgd", "adam"]}],
}

YAML_SPACE = """\
parameters:
  optimizer: {type: categorical, values: [sgd, adam]}
  lr: {type: float, low: 0.0001, high: 0.1, log: true}
  momentum: {type: float, low: 0.0, high: 0.99, when: {optimizer: sgd}}
  layers: {type: int, low: 1, high: 4}
static:
  epochs: 10
forbidden:
  - {optimizer: adam, layers: 4}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_pcs_extension_reads_pcs() -> None:
    """A .pcs file is read as PCS, classic or new."""
    assert len(load_space_file(DATA / "spear-params.pcs")) == 26
    assert len(load_space_file(DATA / "paramnet_2017_06_22.pcs")) == 31


def test_json_extension_reads_parameter_ranges(tmp_path: Path) -> None:
    """A .json file is read as a tuning job's ParameterRanges."""
    path = write(tmp_path, "ranges.json", json.dumps(RANGES))
    space = load_space_file(path)
    assert space["lr"] == Float(0.001, 0.1, log=True)
    assert space["opt"] == Categorical(["sgd", "adam"])


@pytest.mark.parametrize("name", ["space.yaml", "space.yml", "SPACE.YAML"])
def test_yaml_extension_reads_parameters_static_and_forbidden(tmp_path: Path, name: str) -> None:
    """A .yaml/.yml file with 'parameters:' reads them with 'static:' and 'forbidden:'."""
    space = load_space_file(write(tmp_path, name, YAML_SPACE))
    assert space.names == ["optimizer", "lr", "momentum", "layers"]
    assert space["layers"] == Int(1, 4)
    assert space["momentum"].when == Equals("optimizer", "sgd")
    assert space.static == {"epochs": 10}
    assert len(space.forbidden) == 1


def test_yaml_job_file_keys_besides_the_space_are_ignored(tmp_path: Path) -> None:
    """A whole job file's other keys (command, strategy...) are left to the job-file reader."""
    text = "name: demo\ncommand: python train.py --lr ${lr}\nstrategy: random\n" + YAML_SPACE
    assert len(load_space_file(write(tmp_path, "job.yaml", text))) == 4


def test_yaml_without_parameters_is_an_error(tmp_path: Path) -> None:
    """A YAML file without a top-level 'parameters:' says what it expected and what it found."""
    path = write(tmp_path, "space.yaml", "params:\n  lr: {type: float, low: 0, high: 1}\n")
    with pytest.raises(
        ConfigError,
        match=r"space\.yaml: expected a YAML mapping with a top-level "
        r"'parameters:' key .*got keys \['params'\]",
    ):
        load_space_file(path)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    """Invalid YAML is reported with the file and the line."""
    path = write(tmp_path, "space.yaml", "parameters:\n  lr: {type: float\n")
    with pytest.raises(ConfigError, match=r"space\.yaml line \d+: not valid YAML"):
        load_space_file(path)


def test_yaml_parameter_errors_name_the_file_and_field(tmp_path: Path) -> None:
    """Problems in the parameters keep their field path and gain the file name."""
    path = write(tmp_path, "space.yaml", "parameters:\n  lr: {type: float, low: 1, high: 0}\n")
    with pytest.raises(
        ConfigError, match=r"space\.yaml: parameters\.lr\.low: 'low < high' must hold"
    ):
        load_space_file(path)


def test_yaml_static_must_be_a_mapping(tmp_path: Path) -> None:
    """'static:' must map names to values."""
    path = write(tmp_path, "space.yaml", "parameters:\n  x: [a, b]\nstatic: [1, 2]\n")
    with pytest.raises(ConfigError, match=r"space\.yaml: static: expected a mapping"):
        load_space_file(path)


def test_yaml_forbidden_must_be_a_list(tmp_path: Path) -> None:
    """'forbidden:' must be a list of mappings."""
    path = write(tmp_path, "space.yaml", "parameters:\n  x: [a, b]\nforbidden: {x: a}\n")
    with pytest.raises(ConfigError, match=r"space\.yaml: forbidden: expected a list"):
        load_space_file(path)


def test_errors_from_the_chosen_reader_name_the_file(tmp_path: Path) -> None:
    """The path is the source of every reader's messages."""
    pcs = write(tmp_path, "bad.pcs", "lr [0.1 0.5]\n")
    with pytest.raises(ConfigError, match=r"bad\.pcs line 1: expected 'name \[low, high\]"):
        load_space_file(pcs)
    ranges = write(tmp_path, "bad.json", '{"IntegerParameterRanges": [{"Name": "n"}]}')
    with pytest.raises(
        ConfigError, match=r"bad\.json: IntegerParameterRanges\[0\]\.MinValue: missing"
    ):
        load_space_file(ranges)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (json.dumps(RANGES), ["lr", "opt"]),
        (YAML_SPACE, ["optimizer", "lr", "momentum", "layers"]),
        ("{opt=adam, n=3}\nopt {sgd, adam} [sgd]\nn [1, 4] [2]i\n", ["opt", "n"]),
        ("lr real [0.001, 0.1] [0.01] log\n", ["lr"]),
    ],
    ids=["json", "yaml", "pcs-starting-with-forbidden", "pcs-new"],
)
def test_unknown_extension_is_read_by_content(tmp_path: Path, text: str, names: list[str]) -> None:
    """Without a known extension, JSON objects, YAML with 'parameters:' and PCS are told apart."""
    assert load_space_file(write(tmp_path, "space.txt", text)).names == names


def test_unknown_extension_that_is_not_pcs_says_how_to_choose(tmp_path: Path) -> None:
    """Content that no reader accepts gets the PCS errors plus a hint about extensions."""
    path = write(tmp_path, "space.cfg", "lr = 0.1\n")
    with pytest.raises(
        ConfigError,
        match=r"read as PCS because the extension '\.cfg' does not "
        r"name a format; use \.pcs, \.pcs_new, \.json, \.yaml, \.yml",
    ):
        load_space_file(path)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    """A file that does not exist is a ConfigError naming it."""
    with pytest.raises(ConfigError, match=r"nope\.pcs: cannot read the search space file"):
        load_space_file(tmp_path / "nope.pcs")


def test_directory_is_not_a_space_file(tmp_path: Path) -> None:
    """A directory is refused with a ConfigError, not an OSError."""
    with pytest.raises(ConfigError, match="cannot read the search space file"):
        load_space_file(tmp_path)


def test_binary_file_is_refused(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 give a ConfigError naming the file."""
    path = tmp_path / "space.pcs"
    path.write_bytes(b"\xff\xfe\x00lr [0, 1]")
    with pytest.raises(ConfigError, match=r"space\.pcs: cannot read the search space file"):
        load_space_file(path)


def test_accepts_a_string_path() -> None:
    """A plain string path works like a Path."""
    assert len(load_space_file(str(DATA / "vampire-condition-or.pcs"))) == 3
