"""Read SMAC's PCS files, classic and new ("pcs_new"), into a ``SearchSpace``.

One parser accepts both line syntaxes, so a file reads the same whichever tool wrote it::

    lr [0.0001, 0.1] [0.01]l               lr real [0.0001, 0.1] [0.01] log
    units [4, 256] [32]i    (il/li: log)   units integer [4, 256] [32]
    opt {sgd, adam} [sgd]                  opt categorical {sgd, adam} [sgd]
                                           size ordinal {s, m, l} [m]
    momentum | opt in {sgd}                momentum | opt == sgd && units > 8 || size != s
    {opt=adam, units=4}                    {opt in {sgd, adam}, size=l}

Choices made where the format leaves room, following ConfigSpace where it has one:

- Categorical and ordinal values stay strings (``{1, 2}`` holds ``'1'`` and ``'2'``), as in
  ConfigSpace; values in conditions and forbidden clauses are typed like their parameter:
  numbers for ``real``/``integer`` parameters, those strings for the others.
- ``#`` starts a comment, quotes are dropped, and SMAC2's ``Conditionals:``/``Forbidden:``
  headers are skipped. The ``[default]`` is optional (tuneforge then picks one).
- Several condition lines for one child are ANDed; ``&&`` binds tighter than ``||`` and
  parentheses group. ``<``/``>`` on an ordinal parent compare positions in its order.
- ``name in {a, b}`` inside a forbidden clause is accepted although ConfigSpace's reader
  only knows ``name=value``.
- Names are runs of characters other than whitespace and ``{}[](),|&=!<>#``.

Example:
    >>> space = read_pcs(
    ...     "opt {sgd, adam} [sgd]\\nmomentum [0, 0.99] [0.9]\\nmomentum | opt in {sgd}"
    ... )
    >>> space["momentum"].when.describe()
    "opt == 'sgd'"
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tuneforge.errors import ConfigError, SpaceError
from tuneforge.space.conditions import (
    AllOf,
    AnyOf,
    Condition,
    Equals,
    GreaterThan,
    InSet,
    LessThan,
    NotEquals,
    all_of,
)
from tuneforge.space.parameters import Categorical, Float, Int, Parameter, Scalar
from tuneforge.space.search_space import SearchSpace

_NAME = r"[^\s{}\[\](),|&=!<>#]+"
_NAME_RE = re.compile(_NAME)
_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER_RE = re.compile(r"[+-]?\d+")
_TOKEN_RE = re.compile(rf"\s*(\|\||&&|==|!=|<=|>=|[(){{}},<>=]|{_NAME})")
_RANGE_RE = re.compile(
    r"\[\s*([^\[\],]*?)\s*,\s*([^\[\],]*?)\s*\]\s*(?:\[\s*([^\[\],]*?)\s*\])?\s*([A-Za-z]*)"
)
_CHOICES_RE = re.compile(r"\{([^{}]*)\}\s*(?:\[\s*([^\[\]]*?)\s*\])?")
# A new-syntax type word: letters followed by a space, '[', '{' or the end of the line.
_TYPED_RE = re.compile(r"([A-Za-z]+)(?![^\s\[{])\s*(.*)")
_HEADERS = frozenset({"conditionals", "conditions", "forbidden", "forbiddens", "parameters"})
_TYPES = ("real", "integer", "categorical", "ordinal")
_MAX_NESTING = 50  # parentheses deeper than this are a broken file, not a real condition
_MAX_PROBLEMS = 20
_SHOWN_CHARS = 100

_FORMS = {
    "any": "a parameter ('name [low, high] [default]', 'name {a, b} [a]', "
    "'name real [low, high] [default]', ...), a condition ('child | parent in {a, b}') "
    "or a forbidden clause ('{name=value, name=value}')",
    "range": "'name [low, high] [default]' with an optional suffix i (integer), l (log) "
    "or il (both)",
    "choices": "'name {value, value, ...} [default]'",
    "real": "'name real [low, high] [default]' with an optional 'log'",
    "integer": "'name integer [low, high] [default]' with an optional 'log'",
    "categorical": "'name categorical {value, value, ...} [default]'",
    "ordinal": "'name ordinal {lowest, ..., highest} [default]'",
    "condition": "'child | parent in {a, b}' or 'child | parent == a && other > 3 || ...' "
    "(operators ==, !=, <, >, in)",
    "forbidden": "'{name=value, name=value, ...}' (or 'name in {a, b}' between the braces)",
}


class _Bad(Exception):
    """A problem on one line; ``form`` names the expected syntax when the line is malformed."""

    def __init__(self, message: str, form: str | None = None) -> None:
        self.message = message
        self.form = form
        super().__init__(message)


@dataclass(frozen=True)
class _Line:
    source: str
    number: int
    text: str

    def error(self, problem: _Bad) -> str:
        """One line of a ``ConfigError``: source, line number, the line's text and the problem."""
        shown = self.text if len(self.text) <= _SHOWN_CHARS else self.text[:_SHOWN_CHARS] + "..."
        if problem.form is not None:
            expected = _FORMS[problem.form]
            return f"{self.source} line {self.number}: expected {expected}, got '{shown}'."
        message = problem.message
        for kind in ("Float: ", "Int: ", "Categorical: "):
            message = message.removeprefix(kind)
        message = message if message.endswith("?") else message.rstrip(".") + "."
        return f"{self.source} line {self.number} ('{shown}'): {message}"


@dataclass(frozen=True)
class _Declaration:
    """A parameter line, kept apart from its parameter because ``when`` is set at construction."""

    kind: str  # "real", "integer", "categorical" or "ordinal"
    line: _Line
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    number_default: float | None = None
    values: tuple[str, ...] = ()
    value_default: str | None = None

    def build(self, when: Condition | None = None) -> Parameter:
        if self.kind == "real":
            return Float(self.low, self.high, log=self.log, default=self.number_default, when=when)
        if self.kind == "integer":
            default = None if self.number_default is None else int(self.number_default)
            return Int(int(self.low), int(self.high), log=self.log, default=default, when=when)
        return Categorical(
            self.values, ordered=self.kind == "ordinal", default=self.value_default, when=when
        )


@dataclass(frozen=True)
class _Compare:
    parent: str
    op: str  # "==", "!=", "<", ">" or "in"
    values: tuple[str, ...]


@dataclass(frozen=True)
class _Junction:
    kind: str  # "&&" or "||"
    parts: tuple[_Compare | _Junction, ...]


_Expr = _Compare | _Junction


def read_pcs_file(path: str | os.PathLike[str]) -> SearchSpace:
    """Read a PCS file (classic or new syntax); errors name the file and the line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the PCS file ({_reason(exc)}).") from None
    return read_pcs(text, source=str(path))


def read_pcs(text: str, *, source: str = "<pcs>") -> SearchSpace:
    """Build a ``SearchSpace`` from PCS text; every problem becomes a ``ConfigError``.

    All lines are read before any parameter is built, since a condition may come
    before the parameters it names and a parameter's condition is fixed at construction.
    """
    if not isinstance(text, str):
        raise ConfigError(f"{source}: expected PCS text (a str), got {type(text).__name__}.")
    problems: list[str] = []
    declarations: dict[str, _Declaration] = {}
    conditions: list[tuple[str, _Expr, _Line]] = []
    forbidden: list[tuple[tuple[_Compare, ...], _Line]] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        shown = raw.split("#", 1)[0].strip()
        body = shown.replace('"', "").replace("'", "").strip()
        if not body or body.rstrip(":").strip().lower() in _HEADERS:
            continue
        line = _Line(source, number, shown)
        try:
            if "|" in body:
                child, expr = _parse_condition(body)
                conditions.append((child, expr, line))
            elif body.startswith("{"):
                forbidden.append((_parse_forbidden(body), line))
            else:
                name, declaration = _parse_parameter(body, line)
                if name in declarations:
                    first = declarations[name].line.number
                    raise _Bad(f"parameter '{name}' is already declared on line {first}")
                declarations[name] = declaration
        except _Bad as exc:
            problems.append(line.error(exc))
    if problems:
        raise ConfigError(_capped(problems))
    if not declarations:
        raise ConfigError(
            f"{source}: declares no parameters; expected lines such as "
            f"'lr [0.0001, 0.1] [0.01]l' or 'lr real [0.0001, 0.1] [0.01] log'."
        )
    return _build(source, declarations, conditions, forbidden)


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def _capped(problems: list[str]) -> list[str]:
    if len(problems) <= _MAX_PROBLEMS:
        return problems
    return [*problems[:_MAX_PROBLEMS], f"... and {len(problems) - _MAX_PROBLEMS} more problems."]


# -- parameter lines ---------------------------------------------------------------------------
def _parse_parameter(body: str, line: _Line) -> tuple[str, _Declaration]:
    match = _NAME_RE.match(body)
    if match is None:
        raise _Bad("", form="any")
    name, rest = match.group(), body[match.end() :].strip()
    if rest.startswith("["):
        declaration = _parse_range(rest, line, kind=None)
    elif rest.startswith("{"):
        declaration = _parse_choices(rest, line, kind="categorical", form="choices")
    else:
        typed = _TYPED_RE.fullmatch(rest)
        if typed is None:
            raise _Bad("", form="any")
        kind, rest = typed.group(1), typed.group(2)
        if kind not in _TYPES:
            raise _Bad(
                f"unknown parameter type '{kind}' for '{name}'; expected one of "
                f"{', '.join(_TYPES)}, or a classic '[low, high]' or '{{a, b}}' range"
            )
        if kind in ("real", "integer"):
            declaration = _parse_range(rest, line, kind=kind)
        else:
            declaration = _parse_choices(rest, line, kind=kind, form=kind)
    try:
        declaration.build()  # report bad bounds and defaults on their line, before conditions
    except SpaceError as exc:
        raise _Bad(str(exc)) from None
    return name, declaration


def _parse_range(rest: str, line: _Line, *, kind: str | None) -> _Declaration:
    form = kind or "range"
    match = _RANGE_RE.fullmatch(rest)
    if match is None:
        raise _Bad("", form=form)
    low_text, high_text, default_text, suffix = match.groups()
    if kind is None:
        if suffix not in ("", "i", "l", "il", "li"):
            raise _Bad("", form=form)
        kind, log = ("integer" if "i" in suffix else "real"), "l" in suffix
    else:
        if suffix not in ("", "log"):
            raise _Bad("", form=form)
        log = suffix == "log"
    read = _integer if kind == "integer" else _number
    of = " of an integer parameter" if kind == "integer" else ""
    low, high = read(low_text, f"low{of}"), read(high_text, f"high{of}")
    default = None if default_text is None else read(default_text, f"default{of}")
    return _Declaration(kind, line, low=low, high=high, log=log, number_default=default)


def _parse_choices(rest: str, line: _Line, *, kind: str, form: str) -> _Declaration:
    match = _CHOICES_RE.fullmatch(rest)
    if match is None:
        raise _Bad("", form=form)
    values = tuple(value.strip() for value in match.group(1).split(","))
    default = match.group(2)
    for value in (*values, *(() if default is None else (default,))):
        if not _NAME_RE.fullmatch(value):
            raise _Bad("", form=form)
    return _Declaration(kind, line, values=values, value_default=default)


def _number(text: str, what: str) -> float:
    if not _NUMBER_RE.fullmatch(text):
        raise _Bad(f"{what} must be a number, got '{text}'")
    value = float(text)
    if not math.isfinite(value):
        raise _Bad(f"{what} must be a finite number, got '{text}'")
    return value


def _integer(text: str, what: str) -> int:
    value = _number(text, what)  # also bounds the size, so int() below stays cheap
    if not value.is_integer():
        raise _Bad(f"{what} must be a whole number, got '{text}'")
    return int(text) if _INTEGER_RE.fullmatch(text) else int(value)


# -- conditions and forbidden clauses ----------------------------------------------------------
class _Tokens:
    """The tokens of a condition or forbidden clause, read left to right."""

    def __init__(self, text: str, form: str) -> None:
        self.form = form
        self.items: list[str] = []
        position, text = 0, text.rstrip()
        while position < len(text):
            match = _TOKEN_RE.match(text, position)
            if match is None:
                raise _Bad("", form=form)
            self.items.append(match.group(1))
            position = match.end()
        self.position = 0

    def peek(self) -> str | None:
        return self.items[self.position] if self.position < len(self.items) else None

    def take(self, *expected: str) -> str:
        token = self.peek()
        if token is None or (expected and token not in expected):
            raise _Bad("", form=self.form)
        self.position += 1
        return token

    def name(self) -> str:
        token = self.take()
        if not _NAME_RE.fullmatch(token):
            raise _Bad("", form=self.form)
        return token

    def value_set(self) -> tuple[str, ...]:
        self.take("{")
        values = [self.name()]
        while self.take(",", "}") == ",":
            values.append(self.name())
        return tuple(values)


def _parse_condition(body: str) -> tuple[str, _Expr]:
    child, _, rest = body.partition("|")
    child = child.strip()
    if not _NAME_RE.fullmatch(child):
        raise _Bad("", form="condition")
    tokens = _Tokens(rest, "condition")
    expr = _parse_or(tokens, depth=0)
    if tokens.peek() is not None:
        raise _Bad("", form="condition")
    return child, expr


def _parse_or(tokens: _Tokens, depth: int) -> _Expr:
    parts = [_parse_and(tokens, depth)]
    while tokens.peek() == "||":
        tokens.take()
        parts.append(_parse_and(tokens, depth))
    return parts[0] if len(parts) == 1 else _Junction("||", tuple(parts))


def _parse_and(tokens: _Tokens, depth: int) -> _Expr:
    parts = [_parse_atom(tokens, depth)]
    while tokens.peek() == "&&":
        tokens.take()
        parts.append(_parse_atom(tokens, depth))
    return parts[0] if len(parts) == 1 else _Junction("&&", tuple(parts))


def _parse_atom(tokens: _Tokens, depth: int) -> _Expr:
    if tokens.peek() == "(":
        if depth >= _MAX_NESTING:
            raise _Bad(f"parentheses nest deeper than {_MAX_NESTING} levels")
        tokens.take()
        expr = _parse_or(tokens, depth + 1)
        tokens.take(")")
        return expr
    parent = tokens.name()
    op = tokens.take()
    if op in ("<=", ">="):
        raise _Bad(f"'{op}' is not a PCS operator; use ==, !=, <, > or in")
    if op == "in":
        return _Compare(parent, "in", tokens.value_set())
    if op not in ("==", "!=", "<", ">"):
        raise _Bad("", form="condition")
    return _Compare(parent, op, (tokens.name(),))


def _parse_forbidden(body: str) -> tuple[_Compare, ...]:
    tokens = _Tokens(body, "forbidden")
    tokens.take("{")
    clauses: list[_Compare] = []
    while True:
        name = tokens.name()
        op = tokens.take("=", "==", "in")
        if op == "in":
            clauses.append(_Compare(name, "in", tokens.value_set()))
        else:
            clauses.append(_Compare(name, "==", (tokens.name(),)))
        if tokens.take(",", "}") == "}":
            break
    if tokens.peek() is not None:
        raise _Bad("", form="forbidden")
    return tuple(clauses)


# -- building the space ------------------------------------------------------------------------
def _build(
    source: str,
    declarations: dict[str, _Declaration],
    conditions: Iterable[tuple[str, _Expr, _Line]],
    forbidden: Iterable[tuple[tuple[_Compare, ...], _Line]],
) -> SearchSpace:
    plain = {name: declaration.build() for name, declaration in declarations.items()}
    problems: list[str] = []
    when: dict[str, list[Condition]] = {}
    for child, expr, line in conditions:
        try:
            if child not in plain:
                raise _Bad(f"condition on unknown parameter '{child}'{_suggest(child, plain)}")
            condition = _condition(expr, plain)
            if child in condition.names():
                raise _Bad(f"parameter '{child}' cannot depend on itself")
            when.setdefault(child, []).append(condition)
        except _Bad as exc:
            problems.append(line.error(exc))
    clauses: list[Condition] = []
    for compares, line in forbidden:
        try:
            clauses.append(AllOf(tuple(_compare(compare, plain) for compare in compares)))
        except _Bad as exc:
            problems.append(line.error(exc))
    if problems:
        raise ConfigError(_capped(problems))
    parameters = {
        name: declaration.build(all_of(when[name])) if name in when else plain[name]
        for name, declaration in declarations.items()
    }
    try:
        return SearchSpace(parameters, forbidden=clauses)
    except SpaceError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except RecursionError:
        raise ConfigError(
            f"{source}: the conditions chain parameters too deeply to order them."
        ) from None


def _suggest(name: str, known: dict[str, Parameter]) -> str:
    close = difflib.get_close_matches(name, list(known), n=3)
    if close:
        return f"; did you mean {' or '.join(repr(c) for c in close)}?"
    return "; declare it on a parameter line first"


def _condition(expr: _Expr, plain: dict[str, Parameter]) -> Condition:
    if isinstance(expr, _Compare):
        return _compare(expr, plain)
    parts = tuple(_condition(part, plain) for part in expr.parts)
    return AllOf(parts) if expr.kind == "&&" else AnyOf(parts)


def _compare(compare: _Compare, plain: dict[str, Parameter]) -> Condition:
    name = compare.parent
    if name not in plain:
        raise _Bad(f"unknown parameter '{name}'{_suggest(name, plain)}")
    parameter = plain[name]
    values = tuple(_typed(name, parameter, text) for text in compare.values)
    if compare.op == "in":
        return Equals(name, values[0]) if len(values) == 1 else InSet(name, values)
    if compare.op == "==":
        return Equals(name, values[0])
    if compare.op == "!=":
        return NotEquals(name, values[0])
    if isinstance(parameter, Categorical):
        if not parameter.ordered:
            raise _Bad(
                f"'{compare.op}' needs a real, integer or ordinal parent, but '{name}' is "
                f"categorical; use ==, != or in {{...}}"
            )
        # Ordinal order is position in the declared sequence, as in ConfigSpace.
        at = parameter.index(values[0])
        kept = parameter.values[at + 1 :] if compare.op == ">" else parameter.values[:at]
        return InSet(name, tuple(kept))
    number = float(values[0]) if isinstance(parameter, Float) else int(values[0])
    return GreaterThan(name, number) if compare.op == ">" else LessThan(name, number)


def _typed(name: str, parameter: Parameter, text: str) -> Scalar:
    value: Scalar = text
    if isinstance(parameter, Int):
        value = _integer(text, f"'{name}' is an integer parameter, so its value")
    elif isinstance(parameter, Float):
        value = _number(text, f"'{name}' is a real parameter, so its value")
    try:
        return parameter.check(value, f"a value of '{name}'")
    except SpaceError as exc:
        raise _Bad(str(exc)) from None
