"""The quality gates CI keeps: lint, formatting, strict typing, doctests and import contracts.

Each test runs one tool on this checkout in a subprocess and fails with the tool's own output.
The tools come with the test extra (``pip install -e ".[test]"``); a missing one fails the
test rather than skipping it, so a gate cannot vanish silently. The subprocesses put this
checkout's ``src`` first on ``PYTHONPATH``, so they check these sources even where tuneforge
is installed from another folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON_SOURCES = ["src", "tests", "benchmarks", "examples"]
# Alembic's env.py reads the migration context at import: it runs only inside a migration.
NOT_DOCTESTED = "*/migrations/env.py"
LINT_IMPORTS = "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"


def run_gate(*args: str) -> None:
    """Run ``python <args>`` from the checkout's root and fail with its output unless it exits 0."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if part
    )
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        command = " ".join(["python", *args])
        raise AssertionError(
            f"`{command}` exited {done.returncode}:\n{done.stdout}\n{done.stderr}".rstrip()
        )


def test_ruff_finds_no_lint() -> None:
    """`ruff check` passes on every Python source of the repository."""
    run_gate("-m", "ruff", "check", *PYTHON_SOURCES)


def test_ruff_format_changes_nothing() -> None:
    """`ruff format --check` would leave every Python source as it is."""
    run_gate("-m", "ruff", "format", "--check", *PYTHON_SOURCES)


def test_mypy_strict_passes() -> None:
    """`mypy` (strict, over src/tuneforge, as pyproject.toml configures it) finds no error."""
    run_gate("-m", "mypy")


def test_doctests_in_src_pass() -> None:
    """Every example in the docstrings of src/tuneforge runs and prints what it shows."""
    run_gate(
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--doctest-modules",
        f"--ignore-glob={NOT_DOCTESTED}",
        "src/tuneforge",
    )


def test_import_contracts_hold() -> None:
    """`lint-imports` keeps every contract of pyproject.toml's [tool.importlinter]."""
    run_gate("-c", LINT_IMPORTS, "--no-cache")
