"""Design search: the contract, checking rows, and reading designs from CSV files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tuneforge.errors import ConfigError
from tuneforge.space import AllOf, Categorical, Equals, Float, GreaterThan, Int, SearchSpace
from tuneforge.strategies import make_strategy
from tuneforge.strategies.design import DesignSearch, read_design_csv
from tuneforge.testing.strategies import StrategyContract, StrategyFactory, ask_many


class TestDesignContract(StrategyContract):
    deterministic = True

    @pytest.fixture
    def make_strategy(self) -> StrategyFactory:
        def build(space: SearchSpace, seed: int | None) -> DesignSearch:
            rng = np.random.default_rng(0)
            rows = [space.sample(rng) for _ in range(12)]
            return DesignSearch(space, seed=seed, configurations=rows)

        return build


SPACE = SearchSpace(
    {
        "lr": Float(1e-5, 0.1, log=True),
        "batch": Int(8, 128),
        "optimizer": Categorical(["sgd", "adam"]),
        "momentum": Float(0.0, 0.99, when={"optimizer": "sgd"}),
        "shuffle": Categorical([True, False]),
        "units": Categorical([1, 2, 4]),
    },
    forbidden=[AllOf((Equals("optimizer", "adam"), GreaterThan("batch", 100)))],
)

ROW = {"lr": 0.01, "batch": 32, "optimizer": "adam", "shuffle": True, "units": 2}


def write(tmp_path: Path, text: str, name: str = "design.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- the strategy ---------------------------------------------------------------------------
def test_runs_the_rows_in_order_then_stops() -> None:
    """Each row is proposed once, in the given order, then ask returns None."""
    rows = [dict(ROW, batch=b) for b in (8, 64, 16)]
    design = DesignSearch(SPACE, configurations=rows)
    assert design.n_configurations == 3
    assert ask_many(design, 5) == [*rows, None, None]


def test_repeated_rows_are_kept() -> None:
    """A row given twice (a replicate) runs twice."""
    design = DesignSearch(SPACE, configurations=[ROW, ROW])
    assert ask_many(design, 3) == [ROW, ROW, None]


def test_rows_come_back_in_canonical_form() -> None:
    """Values are normalised as space.check does: an int for a float becomes a float."""
    design = DesignSearch(SPACE, configurations=[dict(ROW, lr=0.01, batch=32.0)])
    config = design.ask()
    assert config == ROW
    assert config is not None and type(config["batch"]) is int


def test_bad_row_names_its_index_and_the_problem() -> None:
    """An out-of-range value is reported as 'design row <i>: <what is wrong>'."""
    rows = [ROW, ROW, ROW, dict(ROW, lr=2.0)]
    with pytest.raises(ConfigError) as info:
        DesignSearch(SPACE, configurations=rows)
    assert str(info.value) == "design row 3: parameter 'lr' must lie in [1e-05, 0.1], got 2.0."


def test_every_bad_row_is_reported_at_once() -> None:
    """All bad rows are listed, one problem per line."""
    rows = [
        dict(ROW, optimizer="rmsprop"),
        ROW,
        dict(ROW, momentum=0.5),
        {k: v for k, v in ROW.items() if k != "batch"},
        dict(ROW, batch=120),
        dict(ROW, colour="red"),
        ["not", "a", "mapping"],
    ]
    with pytest.raises(ConfigError) as info:
        DesignSearch(SPACE, configurations=rows)  # type: ignore[arg-type]
    assert info.value.problems == [
        "design row 0: parameter 'optimizer' must be one of ['sgd', 'adam'], got 'rmsprop'.",
        "design row 2: parameter 'momentum' is inactive here (optimizer == 'sgd') but was "
        "given 0.5; leave it out.",
        "design row 3: parameter 'batch' is active but has no value.",
        "design row 4: configuration {'lr': 0.01, 'batch': 120, 'optimizer': 'adam', "
        "'shuffle': True, 'units': 2} is forbidden by 'optimizer == 'adam' && batch > 100'.",
        "design row 5: unknown parameter(s) ['colour']; known: ['lr', 'batch', 'optimizer', "
        "'momentum', 'shuffle', 'units'].",
        "design row 6: expected a mapping of parameter name to value, got ['not', 'a', 'mapping'].",
    ]


@pytest.mark.parametrize("rows", [None, []])
def test_no_configurations_is_a_config_error(rows: list[dict[str, object]] | None) -> None:
    """A design with nothing to run is refused, saying how to give configurations."""
    with pytest.raises(ConfigError, match="design: no configurations to run; give strategy_"):
        DesignSearch(SPACE, configurations=rows)


@pytest.mark.parametrize("rows", ["lr=0.1", {"lr": 0.1}, 3])
def test_configurations_must_be_a_list(rows: object) -> None:
    """configurations must be a list of mappings."""
    with pytest.raises(ConfigError, match="strategy_options.configurations: expected a list"):
        DesignSearch(SPACE, configurations=rows)  # type: ignore[arg-type]


def test_built_by_name_with_configurations() -> None:
    """make_strategy('design', options={'configurations': [...]}) builds the design."""
    design = make_strategy("design", SPACE, options={"configurations": [ROW]})
    assert design.n_configurations == 1
    assert design.ask() == ROW


# -- CSV files ------------------------------------------------------------------------------
def test_reads_each_cell_as_its_parameter_type(tmp_path: Path) -> None:
    """Floats, ints and categoricals (strings, booleans, numbers) get their Python types."""
    path = write(
        tmp_path,
        "lr,batch,optimizer,momentum,shuffle,units\n"
        "0.01,32,sgd,0.9,true,4\n"
        "1e-3,64.0,adam,,FALSE,1\n",
    )
    rows = read_design_csv(path, SPACE)
    assert rows == [
        {"lr": 0.01, "batch": 32, "optimizer": "sgd", "momentum": 0.9, "shuffle": True, "units": 4},
        {"lr": 0.001, "batch": 64, "optimizer": "adam", "shuffle": False, "units": 1},
    ]
    assert type(rows[1]["batch"]) is int and rows[1]["shuffle"] is False
    assert type(rows[0]["units"]) is int


def test_empty_cell_leaves_the_parameter_out(tmp_path: Path) -> None:
    """An empty cell means the parameter is inactive in that row."""
    path = write(tmp_path, "optimizer,momentum,lr,batch,shuffle,units\nadam,,0.01,8,true,2\n")
    assert "momentum" not in read_design_csv(path, SPACE)[0]


def test_categorical_cells_match_values_by_their_string_form(tmp_path: Path) -> None:
    """'1' and '1.0' match 1, 'True' matches True, and a string value wins over a number."""
    space = SearchSpace(
        {"n": Categorical([1, 2.5]), "b": Categorical([True, False]), "s": Categorical(["1", 1])}
    )
    path = write(tmp_path, "n,b,s\n1,True,1\n1.0,false,1\n2.5,TRUE,1\n")
    rows = read_design_csv(path, space)
    assert rows == [
        {"n": 1, "b": True, "s": "1"},
        {"n": 1, "b": False, "s": "1"},
        {"n": 2.5, "b": True, "s": "1"},
    ]
    assert type(rows[0]["n"]) is int and type(rows[0]["s"]) is str


def test_spaces_quotes_bom_and_blank_lines(tmp_path: Path) -> None:
    """Cells are stripped, quoted cells may hold commas, a BOM and blank lines are ignored."""
    space = SearchSpace({"name": Categorical(["a,b", "c"]), "x": Float(0.0, 1.0)})
    path = tmp_path / "design.csv"
    path.write_bytes('\ufeffname, x\n"a,b", 0.5\n\n  c ,1\n,,\n'.encode())
    assert read_design_csv(path, space) == [{"name": "a,b", "x": 0.5}, {"name": "c", "x": 1.0}]


def test_header_only_gives_no_rows(tmp_path: Path) -> None:
    """A file with a header and no rows is an empty design."""
    assert read_design_csv(write(tmp_path, "lr,batch\n"), SPACE) == []


def test_unknown_column_lists_the_known_parameters(tmp_path: Path) -> None:
    """A column that names no parameter is an error listing the known names."""
    path = write(tmp_path, "lr,colour\n0.1,red\n")
    with pytest.raises(ConfigError) as info:
        read_design_csv(path, SPACE)
    assert str(info.value) == (
        f"{path}, line 1: unknown column(s) ['colour']; known parameters: ['lr', 'batch', "
        f"'optimizer', 'momentum', 'shuffle', 'units']."
    )


def test_repeated_and_unnamed_columns_are_errors(tmp_path: Path) -> None:
    """A header naming a column twice or leaving one unnamed is refused."""
    path = write(tmp_path, "lr,,lr\n0.1,2,0.1\n")
    with pytest.raises(ConfigError) as info:
        read_design_csv(path, SPACE)
    assert info.value.problems == [
        f"{path}, line 1: column(s) [2] have no name; name every column.",
        f"{path}, line 1: column(s) ['lr'] appear more than once.",
    ]


def test_bad_cell_names_file_line_column_and_value(tmp_path: Path) -> None:
    """Each bad cell is reported with the file, its line, its column and its value."""
    path = write(
        tmp_path,
        "lr,batch,optimizer,momentum,shuffle,units\n"
        "0.01,32,sgd,0.9,true,4\n"
        "fast,32.5,adam,,maybe,3\n"
        "2.0,1000,sgd,0.5,true,1\n",
    )
    with pytest.raises(ConfigError) as info:
        read_design_csv(path, SPACE)
    assert info.value.problems == [
        f"{path}, line 3, column 'lr': expected a number, got 'fast'.",
        f"{path}, line 3, column 'batch': value must be an integer in [8, 128], got 32.5.",
        f"{path}, line 3, column 'shuffle': expected one of [True, False], got 'maybe'.",
        f"{path}, line 3, column 'units': expected one of [1, 2, 4], got '3'.",
        f"{path}, line 4, column 'lr': value must lie in [1e-05, 0.1], got 2.0.",
        f"{path}, line 4, column 'batch': value must lie in [8, 128], got 1000.",
    ]


def test_int_cell_that_is_not_a_number(tmp_path: Path) -> None:
    """A non-numeric int cell says an integer was expected, with the range."""
    space = SearchSpace({"batch": Int(8, 128)})
    expected = r"line 2, column 'batch': expected an integer in \[8, 128\], got 'big'"
    with pytest.raises(ConfigError, match=expected):
        read_design_csv(write(tmp_path, "batch\nbig\n"), space)


def test_row_the_space_rejects_names_its_line(tmp_path: Path) -> None:
    """A row with a missing active parameter or a forbidden combination names its line."""
    path = write(
        tmp_path,
        "lr,batch,optimizer,momentum,shuffle,units\n0.01,32,sgd,,true,4\n0.01,120,adam,,true,4\n",
    )
    with pytest.raises(ConfigError) as info:
        read_design_csv(path, SPACE)
    assert info.value.problems[0] == (
        f"{path}, line 2: parameter 'momentum' is active but has no value."
    )
    assert info.value.problems[1].startswith(f"{path}, line 3: configuration ")
    assert "is forbidden by 'optimizer == 'adam' && batch > 100'" in info.value.problems[1]


def test_row_with_the_wrong_number_of_cells(tmp_path: Path) -> None:
    """A row with more or fewer cells than the header is an error naming the line."""
    path = write(tmp_path, "lr,batch\n0.01,32,7\n")
    with pytest.raises(ConfigError, match=r"line 2: expected 2 cells \(lr, batch\), got 3"):
        read_design_csv(path, SearchSpace({"lr": Float(0.0, 1.0), "batch": Int(8, 128)}))


def test_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    """Line numbers are the file's own, blank lines included."""
    path = write(tmp_path, "n\n1\n\n\nx\n")
    with pytest.raises(ConfigError, match=r"line 5, column 'n'"):
        read_design_csv(path, SearchSpace({"n": Int(1, 3)}))


def test_empty_and_missing_files(tmp_path: Path) -> None:
    """An empty file asks for a header; a missing file names the path."""
    empty = write(tmp_path, "")
    with pytest.raises(ConfigError, match="the design file is empty; expected a header line"):
        read_design_csv(empty, SPACE)
    missing = tmp_path / "nope.csv"
    with pytest.raises(ConfigError, match=f"{missing}: cannot read the design file"):
        read_design_csv(missing, SPACE)


def test_csv_design_runs_through_the_strategy(tmp_path: Path) -> None:
    """Rows read from a CSV file feed DesignSearch unchanged."""
    path = write(tmp_path, "optimizer,lr,batch,shuffle,units\nadam,0.001,16,false,2\n")
    rows = read_design_csv(str(path), SPACE)
    design = DesignSearch(SPACE, configurations=rows)
    assert ask_many(design, 2) == [
        {"lr": 0.001, "batch": 16, "optimizer": "adam", "shuffle": False, "units": 2},
        None,
    ]
