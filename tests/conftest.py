"""Options shared by the whole test suite: ``--long`` turns on the soak runs.

``python -m pytest`` runs the quick suite. ``python -m pytest --long`` also runs the tests
marked ``long`` (or ``slow``), and lets tests that scale (kill loops, property-based
inputs) use their long settings through the ``long_mode`` fixture.
"""

from __future__ import annotations

import pytest

_SOAK_MARKERS = ("long", "slow")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long",
        action="store_true",
        default=False,
        help="also run the long soak tests (marked long or slow) and scale tests up",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "long: soak runs, only with --long")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--long"):
        return
    skip = pytest.mark.skip(reason="a soak run: give --long to run it")
    for item in items:
        if any(item.get_closest_marker(name) for name in _SOAK_MARKERS):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def long_mode(request: pytest.FixtureRequest) -> bool:
    """Whether the suite runs with ``--long`` (tests scale their effort up)."""
    return bool(request.config.getoption("--long"))
