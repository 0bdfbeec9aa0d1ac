"""Reading SMAC PCS files, classic and new syntax, into a SearchSpace."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tuneforge.errors import ConfigError
from tuneforge.space import (
    AllOf,
    AnyOf,
    Categorical,
    Equals,
    Float,
    GreaterThan,
    InSet,
    Int,
    LessThan,
    NotEquals,
    SearchSpace,
    read_pcs,
    read_pcs_file,
)

DATA = Path(__file__).parent / "data" / "pcs"


def read(text: str) -> SearchSpace:
    return read_pcs(text, source="space.pcs")


# -- classic syntax ------------------------------------------------------------------------------
def test_classic_ranges_read_as_float_int_and_log() -> None:
    """'[low, high] [default]' is a float; suffix i makes an int, l a log scale, il/li both."""
    space = read(
        "frac [0, 1] [0.25]\n"
        "lr [0.0001, 0.1] [0.01]l\n"
        "units [4, 256] [32]i\n"
        "depth [1, 64] [8]il\n"
        "width [1, 64] [8]li\n"
    )
    assert space["frac"] == Float(0.0, 1.0, default=0.25)
    assert space["lr"] == Float(0.0001, 0.1, log=True, default=0.01)
    assert space["units"] == Int(4, 256, default=32)
    assert space["depth"] == Int(1, 64, log=True, default=8)
    assert space["width"] == Int(1, 64, log=True, default=8)


def test_classic_categorical_values_stay_strings() -> None:
    """Categorical values are strings even when they look numeric, as in ConfigSpace."""
    space = read("batch {16, 32, 64} [32]\nflag {True, False} [False]")
    assert space["batch"] == Categorical(["16", "32", "64"], default="32")
    assert space["flag"].default == "False"


def test_name_may_touch_its_range() -> None:
    """SMAC files write 'name{a,b}[a]' and 'name[0,1][0]' without spaces; both read."""
    space = read("opt{sgd,adam}[adam]\nsave[0,180][180]i")
    assert space["opt"].default == "adam"
    assert space["save"] == Int(0, 180, default=180)


def test_default_is_optional() -> None:
    """Without '[default]' the parameter gets tuneforge's default (first value, mid-range)."""
    space = read("opt {sgd, adam}\nx [0, 1]\nn integer [1, 9]")
    assert space.default() == {"opt": "sgd", "x": 0.5, "n": 5}


def test_comments_blank_lines_quotes_and_headers_are_skipped() -> None:
    """'#' comments, blank lines, quotes and SMAC2's 'Conditionals:' headers carry no meaning."""
    space = read(
        "# a comment\n\n"
        "opt {'sgd', \"adam\"} [sgd]   # trailing comment\n"
        "momentum [0, 0.99] [0.9]\n"
        "Conditionals:\n"
        "momentum | opt in {sgd}\n"
        "Forbidden:\n"
    )
    assert space["opt"] == Categorical(["sgd", "adam"], default="sgd")
    assert space["momentum"].when == Equals("opt", "sgd")


def test_classic_condition_in_set() -> None:
    """'child | parent in {a, b}' makes the child active only for those parent values."""
    space = read("opt {sgd, adam, rms} [sgd]\nmomentum [0, 1] [0.5]\nmomentum | opt in {sgd, rms}")
    assert space["momentum"].when == InSet("opt", ("sgd", "rms"))
    assert space.is_active("momentum", {"opt": "rms"})
    assert not space.is_active("momentum", {"opt": "adam"})


def test_condition_lines_for_one_child_are_anded() -> None:
    """Several condition lines for the same child must all hold."""
    space = read("a {x, y} [x]\nb {u, v} [u]\nc [0, 1] [0.5]\nc | a in {x}\nc | b in {v}\n")
    assert space["c"].when == AllOf((Equals("a", "x"), Equals("b", "v")))


def test_condition_may_come_before_the_parameters_it_names() -> None:
    """All lines are read before anything is built, so order in the file does not matter."""
    space = read("momentum | opt in {sgd}\nmomentum [0, 1] [0.5]\nopt {sgd, adam} [sgd]")
    assert space.names == ["opt", "momentum"]


def test_condition_values_are_typed_like_the_parent() -> None:
    """An int parent compares ints, a float parent floats, a categorical parent its strings."""
    space = read(
        "n [1, 8] [2]i\nx [0, 1] [0.5]\nc {1, 2} [1]\n"
        "a [0, 1]\nb [0, 1]\nd [0, 1]\n"
        "a | n in {2, 4}\nb | x in {0.5}\nd | c in {2}\n"
    )
    assert space["a"].when == InSet("n", (2, 4))
    assert space["b"].when == Equals("x", 0.5)
    assert space["d"].when == Equals("c", "2")
    assert space.is_active("d", {"c": "2"}) and not space.is_active("d", {"c": 2})


def test_forbidden_clause_is_an_and_of_equals() -> None:
    """'{p1=a, p2=b}' forbids that combination, with values typed like each parameter."""
    space = read("opt {sgd, adam} [sgd]\nunits [4, 8] [4]i\n{opt=adam, units=4}")
    assert space.forbidden == (AllOf((Equals("opt", "adam"), Equals("units", 4))),)
    assert space.check({"opt": "adam", "units": 5})
    with pytest.raises(Exception, match="forbidden"):
        space.check({"opt": "adam", "units": 4})


# -- new syntax ----------------------------------------------------------------------------------
def test_new_real_and_integer_with_optional_log() -> None:
    """'real'/'integer' ranges take 'log' after the default, with or without a space."""
    space = read(
        "lr real [1e-05, 1.0] [0.1]log\n"
        "x real [-10.0, 3.0] [0.0]\n"
        "units integer [8, 1024] [10] log\n"
        "layers integer [1, 10] [2]\n"
    )
    assert space["lr"] == Float(1e-05, 1.0, log=True, default=0.1)
    assert space["x"] == Float(-10.0, 3.0, default=0.0)
    assert space["units"] == Int(8, 1024, log=True, default=10)
    assert space["layers"] == Int(1, 10, default=2)


def test_new_categorical_and_ordinal() -> None:
    """'categorical' gives an unordered Categorical, 'ordinal' an ordered one."""
    space = read("opt categorical {sgd, adam} [adam]\nsize ordinal {low, mid, high} [mid]")
    assert space["opt"] == Categorical(["sgd", "adam"], default="adam")
    assert space["size"] == Categorical(["low", "mid", "high"], ordered=True, default="mid")


def test_new_comparison_operators() -> None:
    """==, !=, in, > and < map onto Equals, NotEquals, InSet, GreaterThan and LessThan."""
    space = read(
        "opt categorical {sgd, adam, rms} [sgd]\n"
        "n integer [1, 10] [2]\nx real [0, 1] [0.5]\n"
        "a real [0, 1] [0.5]\nb real [0, 1] [0.5]\nc real [0, 1] [0.5]\n"
        "d real [0, 1] [0.5]\ne real [0, 1] [0.5]\n"
        "a | opt == sgd\nb | opt != sgd\nc | opt in {sgd, rms}\nd | n > 3\ne | x < 0.25\n"
    )
    assert space["a"].when == Equals("opt", "sgd")
    assert space["b"].when == NotEquals("opt", "sgd")
    assert space["c"].when == InSet("opt", ("sgd", "rms"))
    assert space["d"].when == GreaterThan("n", 3)
    assert space["e"].when == LessThan("x", 0.25)


def test_and_binds_tighter_than_or() -> None:
    """'a || b && c' reads as 'a || (b && c)'."""
    space = read(
        "opt categorical {sgd, adam} [sgd]\nn integer [1, 10] [2]\nx real [0, 1] [0.5]\n"
        "x | opt == sgd || opt == adam && n > 3\n"
    )
    assert space["x"].when == AnyOf(
        (Equals("opt", "sgd"), AllOf((Equals("opt", "adam"), GreaterThan("n", 3))))
    )


def test_parentheses_group_conditions() -> None:
    """Parentheses override the usual precedence."""
    space = read(
        "opt categorical {sgd, adam} [sgd]\nn integer [1, 10] [2]\nx real [0, 1] [0.5]\n"
        "x | (opt == sgd || opt == adam) && n > 3\n"
    )
    assert space["x"].when == AllOf(
        (AnyOf((Equals("opt", "sgd"), Equals("opt", "adam"))), GreaterThan("n", 3))
    )


def test_ordinal_comparisons_follow_the_declared_order() -> None:
    """'>' and '<' on an ordinal parent mean later or earlier in its sequence."""
    space = read(
        "size ordinal {xs, s, m, l} [m]\nbig real [0, 1] [0.5]\nsmall real [0, 1] [0.5]\n"
        "big | size > s\nsmall | size < m\n"
    )
    assert space["big"].when == InSet("size", ("m", "l"))
    assert space["small"].when == InSet("size", ("xs", "s"))


def test_forbidden_clause_with_in() -> None:
    """'{p in {a, b}, q=c}' forbids q=c together with either value of p."""
    space = read("p categorical {a, b, c} [c]\nq categorical {c, d} [d]\n{p in {a, b}, q=c}")
    assert space.forbidden == (AllOf((InSet("p", ("a", "b")), Equals("q", "c"))),)


def test_conditional_space_samples_valid_configurations() -> None:
    """A space mixing every construct samples configurations that its own check accepts."""
    space = read(
        "cat categorical {a, b, c, d} [d]\n"
        "ord ordinal {x, y, z} [z]\n"
        "n integer [1, 10] [3]\n"
        "r real [1.0, 2.0] [1.3]\n"
        "rl real [1.0, 2.0] [1.3] log\n"
        "rl | cat == a || cat != a\n"
        "r | n == 1 || n > 5\n"
        "n | ord > y && cat == a || ord < y && cat in {a, b, c}\n"
        "ord | cat in {a, b, d}\n"
        "{cat=a, ord=x}\n"
    )
    rng = np.random.default_rng(0)
    for _ in range(200):
        config = space.sample(rng)
        assert space.check(config) == config
        assert not (config.get("cat") == "a" and config.get("ord") == "x")


# -- errors --------------------------------------------------------------------------------------
def test_malformed_range_names_line_form_and_text() -> None:
    """A range without its comma names the source, the line, the expected form and the text."""
    with pytest.raises(
        ConfigError,
        match=r"^space\.pcs line 2: expected 'name \[low, high\] \[default\]'.*"
        r"got 'lr \[0\.1 0\.5\]'\.$",
    ):
        read("opt {a, b} [a]\nlr [0.1 0.5]")


def test_malformed_new_syntax_names_its_form() -> None:
    """A new-syntax line that does not parse shows the new form it should follow."""
    with pytest.raises(
        ConfigError, match=r"line 1: expected 'name real \[low, high\] \[default\]'"
    ):
        read("lr real [0.1, 0.5] [0.2] logarithmic")


def test_unknown_type_lists_the_valid_ones() -> None:
    """An unknown type word lists real, integer, categorical and ordinal."""
    with pytest.raises(ConfigError, match="unknown parameter type 'float'.*real, integer"):
        read("lr float [0.1, 0.5] [0.2]")


def test_default_outside_range_is_an_error_on_its_line() -> None:
    """A default outside [low, high] is reported with the line it is on."""
    with pytest.raises(ConfigError, match=r"line 1 \('lr \[0, 1\] \[2\]'\): default must lie in"):
        read("lr [0, 1] [2]")


def test_low_not_below_high_is_an_error() -> None:
    """low >= high is reported as such."""
    with pytest.raises(ConfigError, match="line 1.*'low < high' must hold"):
        read("n integer [5, 5] [5]")


def test_log_scale_needs_positive_low() -> None:
    """A log scale with low <= 0 is refused."""
    with pytest.raises(ConfigError, match="line 1.*log scale needs low > 0"):
        read("lr [0, 1] [0.5]l")


def test_integer_bounds_must_be_whole() -> None:
    """An integer range with a fractional bound is refused."""
    with pytest.raises(ConfigError, match="low of an integer parameter must be a whole number"):
        read("n [1.5, 4] [2]i")


def test_duplicate_parameter_names_the_first_line() -> None:
    """Declaring a name twice points at both lines."""
    with pytest.raises(ConfigError, match="line 3 .*'x' is already declared on line 1"):
        read("x [0, 1] [0.5]\ny [0, 1] [0.5]\nx {a, b} [a]")


def test_condition_on_unknown_parent_suggests_a_name() -> None:
    """A condition naming an unknown parent says so and suggests a close name."""
    with pytest.raises(ConfigError, match="line 3 .*unknown parameter 'optimiser'.*'optimizer'"):
        read("optimizer {sgd, adam} [sgd]\nm [0, 1] [0.5]\nm | optimiser == sgd")


def test_condition_for_unknown_child_is_an_error() -> None:
    """A condition whose child is not declared is an error."""
    with pytest.raises(ConfigError, match="condition on unknown parameter 'momentum'"):
        read("opt {sgd, adam} [sgd]\nmomentum | opt == sgd")


def test_condition_value_must_be_a_value_of_the_parent() -> None:
    """Comparing a categorical parent with a value it cannot take is an error."""
    with pytest.raises(ConfigError, match=r"a value of 'opt' must be one of \['sgd', 'adam'\]"):
        read("opt {sgd, adam} [sgd]\nm [0, 1] [0.5]\nm | opt == rmsprop")


def test_integer_parent_compares_whole_numbers() -> None:
    """An integer parent compared with a fraction is an error."""
    with pytest.raises(ConfigError, match="'n' is an integer parameter, so its value must be"):
        read("n integer [1, 10] [2]\nx real [0, 1] [0.5]\nx | n > 2.5")


def test_order_comparison_needs_an_ordered_parent() -> None:
    """'>' on an unordered categorical parent is refused with the operators that work."""
    with pytest.raises(ConfigError, match="'>' needs a real, integer or ordinal parent"):
        read("opt categorical {a, b} [a]\nx real [0, 1] [0.5]\nx | opt > a")


def test_unsupported_operator_is_named() -> None:
    """'<=' is not part of PCS and the message lists the operators that are."""
    with pytest.raises(ConfigError, match="'<=' is not a PCS operator; use ==, !=, <, > or in"):
        read("n integer [1, 10] [2]\nx real [0, 1] [0.5]\nx | n <= 3")


def test_self_condition_is_refused() -> None:
    """A parameter cannot be conditioned on itself."""
    with pytest.raises(ConfigError, match="'x' cannot depend on itself"):
        read("x {a, b} [a]\nx | x == a")


def test_condition_cycle_is_refused() -> None:
    """Conditions that form a cycle are reported with the cycle."""
    with pytest.raises(ConfigError, match=r"space\.pcs: conditions form a cycle"):
        read("a {x, y} [x]\nb {x, y} [x]\na | b == x\nb | a == x")


def test_forbidden_clause_on_unknown_parameter() -> None:
    """A forbidden clause naming an unknown parameter is an error on its line."""
    with pytest.raises(
        ConfigError, match=r"line 2 \('\{opt=sgd, lr=1\}'\): unknown parameter 'lr'"
    ):
        read("opt {sgd, adam} [sgd]\n{opt=sgd, lr=1}")


def test_forbidden_expression_syntax_is_refused_with_the_form() -> None:
    """SMAC's arithmetic forbidden clauses are not supported; the message shows what is."""
    with pytest.raises(ConfigError, match=r"line 3: expected '\{name=value, name=value, \.\.\.\}'"):
        read("a [0, 1] [0.5]\nb [0, 1] [0.5]\n{a > b}")


def test_every_bad_line_is_reported_at_once() -> None:
    """Problems on several lines are all listed, one problem per line of the message."""
    with pytest.raises(ConfigError) as caught:
        read("a [0, 1] [2]\nb [0 1]\nc {x, y} [z]")
    problems = caught.value.problems
    assert [p.split(" ")[:3] for p in problems] == [
        ["space.pcs", "line", n] for n in ("1", "2:", "3")
    ]


def test_deep_parentheses_are_refused() -> None:
    """Absurdly nested parentheses give a ConfigError, not a RecursionError."""
    nested = "(" * 500 + "n > 3" + ")" * 500
    with pytest.raises(ConfigError, match="parentheses nest deeper than"):
        read(f"n integer [1, 10] [2]\nx real [0, 1] [0.5]\nx | {nested}")


def test_long_condition_chain_declared_child_first_is_a_config_error() -> None:
    """Thousands of chained conditions declared children first fail cleanly, not with a
    RecursionError; declared parents first they read fine."""
    chain = [f"p{i} {{a, b}} [a]\np{i} | p{i - 1} == a" for i in range(1, 3000)]
    assert len(read("\n".join(["p0 {a, b} [a]", *chain]))) == 3000
    with pytest.raises(ConfigError, match="conditions chain parameters too deeply"):
        read("\n".join([*reversed(chain), "p0 {a, b} [a]"]))


def test_empty_text_declares_no_parameters() -> None:
    """A file with only comments is an error that shows what a parameter line looks like."""
    with pytest.raises(ConfigError, match="declares no parameters; expected lines such as"):
        read("# nothing here\n")


def test_text_must_be_a_string() -> None:
    """Bytes are refused with a ConfigError rather than a TypeError."""
    with pytest.raises(ConfigError, match="expected PCS text"):
        read_pcs(b"x [0, 1] [0.5]")  # type: ignore[arg-type]


def test_unreadable_file_names_the_path(tmp_path: Path) -> None:
    """A missing file is a ConfigError naming it."""
    missing = tmp_path / "nope.pcs"
    with pytest.raises(ConfigError, match=r"nope\.pcs: cannot read the PCS file"):
        read_pcs_file(missing)


# -- real files ----------------------------------------------------------------------------------
REAL_FILES = [
    # file, syntax, parameters, conditional parameters, forbidden clauses (as ConfigSpace counts)
    ("spear-params.pcs", "classic", 26, 9, 0),
    ("clasp-3.1.4.pcs", "classic", 98, 63, 2),
    ("auto-sklearn-metalearning-params.pcs", "classic", 69, 65, 14),
    ("paramnet_2017_06_22.pcs", "new", 31, 24, 0),
    ("vampire-condition-or.pcs", "new", 3, 2, 0),
    ("autopytorch-configspace.pcs", "new", 45, 31, 0),
]


@pytest.mark.parametrize(
    ("name", "syntax", "n_parameters", "n_conditional", "n_forbidden"), REAL_FILES
)
def test_real_pcs_file_loads_whole(
    name: str, syntax: str, n_parameters: int, n_conditional: int, n_forbidden: int
) -> None:
    """Each real file loads with all its parameters, conditions and forbidden clauses."""
    path = DATA / name
    assert path.read_text().startswith("# Source: github.com/")
    space = read_pcs_file(path)
    assert len(space) == n_parameters
    assert sum(p.when is not None for p in space.parameters.values()) == n_conditional
    assert len(space.forbidden) == n_forbidden
    assert space.check(space.default()) == space.default()


@pytest.mark.parametrize("name", [row[0] for row in REAL_FILES])
def test_real_pcs_file_samples_are_valid(name: str) -> None:
    """200 sampled configurations of each real file pass the space's own check."""
    space = read_pcs_file(DATA / name)
    rng = np.random.default_rng(7)
    for _ in range(200):
        config = space.sample(rng)
        assert space.check(config) == config


def test_clasp_anded_conditions_and_forbidden_clauses() -> None:
    """clasp's two condition lines for one child are ANDed; its forbiddens read as written."""
    space = read_pcs_file(DATA / "clasp-3.1.4.pcs")
    assert space["@1:2:Luby:restarts"].when == AllOf(
        (Equals("@1:0:restarts", "L"), Equals("@1:S:Luby:aryrestarts", "2"))
    )
    assert space["@1:3:del-cfl"].when == InSet("@1:0:del-cfl", ("x", "+"))
    assert AllOf((Equals("@1:S:deletion", "no"), Equals("@1:S:del-grow", "yes"))) in space.forbidden


def test_vampire_disjunctive_condition() -> None:
    """vampire's '!=' ... '||' ... '==' condition becomes AnyOf(NotEquals, Equals)."""
    space = read_pcs_file(DATA / "vampire-condition-or.pcs")
    assert space["age_weight_ratio:log_ratio"].when == AnyOf(
        (NotEquals("saturation_algorithm", "inst_gen"), Equals("inst_gen_with_resolution", "on"))
    )


def test_paramnet_integer_parent_comparisons() -> None:
    """paramnet's 'num_units_9 | num_layers > 8' compares the integer parent with an int."""
    space = read_pcs_file(DATA / "paramnet_2017_06_22.pcs")
    assert space["num_units_9"].when == GreaterThan("num_layers", 8)
    assert space["batch_size"] == Int(8, 256, log=True, default=16)


# -- any text ------------------------------------------------------------------------------------
def _space_or_config_error(text: str) -> None:
    try:
        space = read_pcs(text)
    except ConfigError as exc:
        assert str(exc)
    else:
        assert isinstance(space, SearchSpace)


@given(st.text())
def test_any_text_gives_a_space_or_a_config_error(text: str) -> None:
    """Arbitrary text never raises anything but ConfigError."""
    _space_or_config_error(text)


PCS_PIECES = [
    "x",
    "y",
    "opt",
    "n",
    "[",
    "]",
    "{",
    "}",
    "(",
    ")",
    ",",
    "|",
    "||",
    "&&",
    "==",
    "!=",
    "<",
    ">",
    "<=",
    "=",
    "in",
    "real",
    "integer",
    "categorical",
    "ordinal",
    "log",
    "l",
    "i",
    "il",
    "0",
    "1",
    "-1",
    "0.5",
    "1e-3",
    "1e999",
    "10",
    "a",
    "b",
    "#",
    "\n",
    " ",
    "'",
    ":",
]


@given(st.lists(st.sampled_from(PCS_PIECES), max_size=60))
def test_pcs_like_token_soup_gives_a_space_or_a_config_error(pieces: list[str]) -> None:
    """Text built from PCS tokens reaches deep into the parser and still only raises ConfigError."""
    _space_or_config_error(" ".join(pieces))


VALID = (
    "opt categorical {sgd, adam} [sgd]\n"
    "n integer [1, 10] [2] log\n"
    "x real [0, 1] [0.5]\n"
    "size ordinal {s, m, l} [m]\n"
    "lr [0.001, 0.1] [0.01]l\n"
    "x | opt == sgd && n > 2 || size < l\n"
    "lr | opt in {adam}\n"
    "{opt=adam, n=3}\n"
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_valid_file_gives_a_space_or_a_config_error(data: st.DataObject) -> None:
    """A valid file with characters cut out or pasted in still only raises ConfigError."""
    text = VALID
    for _ in range(data.draw(st.integers(1, 4))):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 6)))
        insert = data.draw(st.sampled_from(["", *PCS_PIECES]) | st.text(max_size=3))
        text = text[:start] + insert + text[end:]
    _space_or_config_error(text)
