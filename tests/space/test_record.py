"""SpaceRecord: a resolved search space as a stored value, read back as it was written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from tests.space.test_search_space import spaces

from tuneforge.errors import SpaceError
from tuneforge.space import (
    Categorical,
    Float,
    Int,
    ParameterRecord,
    ParameterType,
    SearchSpace,
    SpaceRecord,
    read_pcs_file,
    space_from_mapping,
)

PCS_FILES = sorted((Path(__file__).parent / "data" / "pcs").glob("*.pcs"))


def json_round_trip(record: SpaceRecord) -> SpaceRecord:
    return SpaceRecord.from_dict(json.loads(json.dumps(record.to_dict())))


def test_entries_read_like_the_job_file_that_declared_them() -> None:
    """Each entry holds what a job file declares: no default or log: false added."""
    declared = {
        "lr": {"type": "float", "low": 1e-5, "high": 0.1, "log": True},
        "layers": {"type": "int", "low": 1, "high": 4, "default": 2},
        "optimizer": {"type": "categorical", "values": ["sgd", "adam"]},
        "momentum": {
            "type": "float",
            "low": 0.0,
            "high": 0.99,
            "when": {"optimizer": "sgd"},
        },
        "size": {"type": "ordinal", "values": [8, 16, 32]},
    }
    space = space_from_mapping(declared, static={"epochs": 3}, forbidden=[{"layers": 4}])
    record = SpaceRecord.from_space(space)
    entries = record.entries()
    assert entries["lr"] == declared["lr"]
    assert entries["layers"] == declared["layers"]
    assert entries["optimizer"] == declared["optimizer"]
    assert entries["size"] == declared["size"]
    assert entries["momentum"]["when"] == "optimizer == 'sgd'"
    assert record.static == {"epochs": 3}
    assert record.forbidden == ("layers == 4",)
    assert record.log_parameters == ["lr"]
    assert record.names == space.names


def test_a_pcs_space_records_its_parameters_conditions_and_forbidden_clauses() -> None:
    """A PCS file's space, conditions and forbidden clauses included, survives JSON."""
    for path in PCS_FILES:
        space = read_pcs_file(path)
        record = SpaceRecord.from_space(space)
        assert record.names == space.names, path.name
        assert len(record.forbidden) == len(space.forbidden), path.name
        assert json_round_trip(record) == record, path.name


@settings(max_examples=60, deadline=None)
@given(spaces())
def test_any_space_survives_a_json_round_trip(space: SearchSpace) -> None:
    """from_dict(to_dict()) through JSON text gives the same record back."""
    record = SpaceRecord.from_space(space)
    assert json_round_trip(record) == record
    assert record.log_parameters == [
        n for n, p in space.parameters.items() if getattr(p, "log", False)
    ]


def test_from_dict_reads_the_description_a_search_space_gives() -> None:
    """SearchSpace.to_dict (what optimize() stored) reads as the same parameters."""
    space = SearchSpace(
        {"c": Float(0.01, 100.0, log=True), "k": Int(1, 9), "kernel": Categorical(["rbf"])},
        static={"seed": 0},
    )
    record = SpaceRecord.from_dict(space.to_dict())
    assert record.log_parameters == ["c"]
    assert record.parameters[1] == ParameterRecord("k", ParameterType.INT, low=1, high=9, default=5)
    assert record.static == {"seed": 0}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "space: expected a mapping with 'parameters'"),
        ({"parameters": {"x": {"type": "real"}}}, "space.parameters.x.type: expected one of"),
        ({"parameters": {"x": {"type": "float", "low": "0", "high": 1}}}, "x.low: expected a"),
        ({"parameters": {"x": {"type": "int", "low": 0, "high": 1, "values": [1]}}}, "unknown"),
        ({"parameters": {"x": {"type": "categorical", "values": "ab"}}}, "x.values: expected"),
        ({"parameters": {}, "forbidden": "x == 1"}, "space.forbidden: expected a list"),
        ({"parameters": {}, "static": [1]}, "space.static: expected a mapping"),
    ],
)
def test_from_dict_names_the_field_that_is_wrong(data: object, message: str) -> None:
    """A damaged stored record is refused with the field, the value and what is valid."""
    with pytest.raises(SpaceError, match=re.escape(message)):
        SpaceRecord.from_dict(data)
