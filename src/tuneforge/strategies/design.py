"""Design search: run a given list of configurations in order, then stop.

The design-of-experiments workflow: the configurations come from the job file
(``strategy_options: {configurations: [...]}``) or from a CSV file read with
:func:`read_design_csv`. Every row is checked against the space before the first trial
runs, so a typo in row 40 fails the job at once rather than hours later. Repeated rows
are kept: replicates are a normal part of a design.

Example:
    >>> from tuneforge.space import SearchSpace, Float, Categorical
    >>> space = SearchSpace({"lr": Float(1e-5, 0.1, log=True), "opt": Categorical(["sgd", "adam"])})
    >>> design = DesignSearch(space, configurations=[{"lr": 0.01, "opt": "adam"}])
    >>> design.ask(), design.ask()
    ({'lr': 0.01, 'opt': 'adam'}, None)
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tuneforge.errors import ConfigError, SpaceError
from tuneforge.space import Categorical, Int, Parameter, Scalar, SearchSpace
from tuneforge.strategies.base import Config, Strategy, Suggestion, register


@register("design")
class DesignSearch(Strategy):
    """Proposes ``configurations`` one by one, in order; exhausted after the last.

    Options:
        configurations: the rows of the design, each a mapping of parameter name to value
            holding the active parameters only.
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int | None = None,
        configurations: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__(space, seed=seed)
        self._rows = check_design(space, configurations)
        self._next = 0

    @classmethod
    def prepare_options(
        cls,
        options: dict[str, Any],
        *,
        name: str,
        space: SearchSpace | None,
        design: Any,
        base_dir: str,
    ) -> dict[str, Any]:
        """``configurations`` from the job file's ``design:`` (a CSV file or a list of rows)."""
        if design is None:
            if "configurations" not in options:
                raise ConfigError(
                    "design: missing; strategy 'design' needs the configurations to run: a CSV "
                    "file (design: design.csv) or a list (design: [{lr: 0.01}, ...])."
                )
            return options
        if "configurations" in options:
            raise ConfigError(
                "design: given together with strategy_options.configurations; give the "
                "configurations in one place."
            )
        if space is None:
            return options
        if isinstance(design, str):
            return {**options, "configurations": _read_design_file(design, space, base_dir)}
        return {**options, "configurations": check_design(space, design, row="design[{}]")}

    @property
    def n_configurations(self) -> int:
        return len(self._rows)

    def ask(self) -> Suggestion | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return Suggestion(self._rows[self._next - 1])


def check_design(
    space: SearchSpace, configurations: Any, *, row: str = "design row {}"
) -> list[Config]:
    """Every row in canonical form, or a ``ConfigError`` listing each bad row by index.

    ``row`` names a row in messages, its index filling the ``{}``.
    """
    if configurations is None or (isinstance(configurations, Sequence) and not configurations):
        raise ConfigError(
            "design: no configurations to run; give strategy_options.configurations (a list of "
            "mappings of parameter name to value) or read a CSV file with read_design_csv."
        )
    if isinstance(configurations, str | bytes) or not isinstance(configurations, Sequence):
        raise ConfigError(
            f"strategy_options.configurations: expected a list of mappings of parameter name "
            f"to value, got {configurations!r}."
        )
    rows: list[Config] = []
    problems: list[str] = []
    for i, given in enumerate(configurations):
        if not isinstance(given, Mapping):
            problems.append(
                f"{row.format(i)}: expected a mapping of parameter name to value, got {given!r}."
            )
            continue
        try:
            rows.append(space.check(given))
        except SpaceError as exc:
            problems.append(f"{row.format(i)}: {exc}")
    if problems:
        raise ConfigError(problems)
    return rows


def _read_design_file(relative: str, space: SearchSpace, base_dir: str) -> list[Config]:
    """``read_design_csv`` on a path relative to the job file's folder, errors under ``design:``."""
    if "\0" in relative:
        raise ConfigError(f"design: expected a file name without NUL characters, got {relative!r}.")
    path = (Path(base_dir) / os.path.expanduser(relative)).resolve()
    if not path.is_file():
        raise ConfigError(
            f"design: file not found, got {relative!r}; relative paths are read from the "
            f"job file's folder ({base_dir})."
        )
    try:
        return read_design_csv(path, space)
    except (ConfigError, SpaceError) as exc:
        lines = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
        raise ConfigError(
            [line if line.startswith("design") else f"design: {line}" for line in lines]
        ) from None


def read_design_csv(path: str | Path, space: SearchSpace) -> list[Config]:
    """Read a design from a CSV file whose header names parameters of ``space``.

    Each following line is one configuration. An empty cell leaves its parameter out
    (inactive in that row); a column the header does not name is inactive in every row.
    Cells are stripped of surrounding spaces and read as the parameter's type: a number
    for a float, an integer (``3`` or ``3.0``) for an int, and for a categorical the value
    whose string form matches: a string value exactly, else ``true``/``false`` for a
    boolean (any case), else a number equal to the cell (so ``1`` matches ``1``). Blank
    lines are skipped.

    Raises ``ConfigError`` naming the file, line, column and value of every bad cell, and
    the line of every row the space rejects (inactive value given, forbidden...).
    """
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as handle:
            lines = list(_numbered_rows(csv.reader(handle)))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the design file: {exc.strerror or exc}.") from None
    except csv.Error as exc:
        raise ConfigError(f"{path}: not a valid CSV file: {exc}.") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: the design file is not UTF-8 text ({exc.reason}).") from None
    if not lines:
        raise ConfigError(
            f"{path}: the design file is empty; expected a header line naming parameters "
            f"({', '.join(space.names)})."
        )
    header = [name.strip() for name in lines[0][1]]
    _check_header(path, header, space)
    problems: list[str] = []
    rows: list[Config] = []
    for number, cells in lines[1:]:
        if len(cells) != len(header):
            problems.append(
                f"{path}, line {number}: expected {len(header)} cells ({', '.join(header)}), "
                f"got {len(cells)}."
            )
            continue
        row: Config = {}
        readable = True
        for name, cell in zip(header, cells, strict=True):
            text = cell.strip()
            if not text:
                continue
            try:
                row[name] = _read_cell(space[name], text)
            except (ValueError, SpaceError) as exc:
                problems.append(f"{path}, line {number}, column '{name}': {exc}")
                readable = False
        if readable:
            try:
                rows.append(space.check(row))
            except SpaceError as exc:
                problems.append(f"{path}, line {number}: {exc}")
    if problems:
        raise ConfigError(problems)
    return rows


def _numbered_rows(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """``(line number, cells)`` for every non-blank record; a quoted cell may span lines."""
    for cells in reader:
        if any(cell.strip() for cell in cells):
            yield reader.line_num, cells


def _check_header(path: str | Path, header: list[str], space: SearchSpace) -> None:
    problems = []
    empty = [i + 1 for i, name in enumerate(header) if not name]
    if empty:
        problems.append(f"{path}, line 1: column(s) {empty} have no name; name every column.")
    unknown = [name for name in header if name and name not in space]
    if unknown:
        problems.append(
            f"{path}, line 1: unknown column(s) {unknown}; known parameters: {space.names}."
        )
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    if repeated:
        problems.append(f"{path}, line 1: column(s) {repeated} appear more than once.")
    if problems:
        raise ConfigError(problems)


def _read_cell(parameter: Parameter, text: str) -> Scalar:
    """The value a cell stands for; ``ValueError``/``SpaceError`` say why it is not valid."""
    if isinstance(parameter, Categorical):
        return _match_category(parameter, text)
    if isinstance(parameter, Int):
        try:
            return parameter.check(int(text))
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            raise ValueError(
                f"expected an integer in [{parameter.low}, {parameter.high}], got {text!r}."
            ) from None
        return parameter.check(number)
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}.") from None
    return parameter.check(number)


def _match_category(parameter: Categorical, text: str) -> Scalar:
    for value in parameter.values:
        if isinstance(value, str) and value == text:
            return value
    if text.lower() in ("true", "false"):
        for value in parameter.values:
            if isinstance(value, bool) and value == (text.lower() == "true"):
                return value
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        for value in parameter.values:
            if not isinstance(value, bool | str) and value == number:
                return value
    raise ValueError(f"expected one of {list(parameter.values)!r}, got {text!r}.")
