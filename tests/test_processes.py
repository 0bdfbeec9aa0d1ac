"""Tests for tuneforge.processes: what narrows the search for a trial's processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tuneforge.processes import (
    find_trial_processes,
    fork_count,
    process_start,
    started_nothing,
)

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")


@pytest.fixture
def marked(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A sleeping process that carries the marker of job "job", trial folder trial-0001."""
    folder = str(tmp_path / "trial-0001")
    env = {**os.environ, "TUNEFORGE_JOB_NAME": "job", "TUNEFORGE_TRIAL_DIR": folder}
    process = subprocess.Popen(["sleep", "60"], env=env, start_new_session=True)
    try:
        yield process, folder
    finally:
        process.kill()
        process.wait()


def test_a_child_starts_at_or_after_its_parent() -> None:
    """process_start orders a process tree: a child never starts before its parent."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        child_start = process_start(child.pid)
        own_start = process_start(os.getpid())
        assert child_start is not None and own_start is not None
        assert child_start >= own_start
    finally:
        child.wait()
    assert process_start(child.pid) is None  # reaped: nothing is known of it any more


def test_processes_started_before_since_are_left_out(
    marked: tuple[subprocess.Popen[bytes], str],
) -> None:
    """A marked process is found with its own start time as since, not with a later one."""
    process, folder = marked
    start = process_start(process.pid)
    assert start is not None
    found = find_trial_processes("job", trial_dirs=[folder], since=start)
    assert [p.pid for p in found] == [process.pid]
    assert find_trial_processes("job", trial_dirs=[folder], since=start + 1) == []


def test_the_fork_count_grows_with_every_process() -> None:
    """fork_count counts each process created on the machine, ours among them."""
    before = fork_count()
    assert before is not None
    subprocess.run(["true"], check=True)
    after = fork_count()
    assert after is not None and after >= before + 1


def test_a_process_that_starts_another_has_not_started_nothing() -> None:
    """started_nothing is False once the started process has started one of its own."""
    before = fork_count()
    subprocess.run(["sh", "-c", "/bin/true; /bin/true"], check=True)  # the first forks
    assert not started_nothing(before)


def test_an_unknown_fork_count_never_proves_anything() -> None:
    """Without a count from before (no /proc), the caller always looks."""
    assert not started_nothing(None)
