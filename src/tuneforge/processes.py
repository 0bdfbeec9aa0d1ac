"""Find and end trial processes by the marker every trial carries, safely against pid reuse.

Every trial's command starts with ``TUNEFORGE_JOB_NAME`` and ``TUNEFORGE_TRIAL_DIR`` in its
environment, and its children inherit them. A process's starting environment stays
readable in ``/proc/<pid>/environ`` whatever the process does later, so these variables
mark a job's trial processes wherever they are: still in the process group the runner
started (whose id storage records as the trial's ``pid``), left behind by a controller that
was killed, or escaped into a session of their own.

Ending a process is done through a pidfd (Linux 5.3+) opened on the process and checked
against the start time read when it was found, so a pid reused by an unrelated process in
the meantime is never signalled; without pidfds the start time is checked again right
before ``kill``. A process group is never signalled as a whole here: its members are listed
and ended one by one, and a recorded group only counts as the trial's when one of its
members still carries the trial's marker.

Looking costs a read of ``/proc/<pid>/stat`` for every process on the machine, so two
facts keep it short when it runs after every trial. A trial's processes all start at or
after its first process (start times only grow down a process tree), so ``since`` skips the
environment of every older process. And the kernel counts the tasks it has ever created
(:func:`fork_count`): when the count read before a trial's process was started has grown
by exactly that one process once it has exited, the trial started nothing, so there is
nothing to look for (:func:`started_nothing`).

Everything here reads ``/proc``; where there is none (macOS), nothing is found and nothing
is ended.

Example:
    >>> found = find_trial_processes("demo", under="/tmp/runs/demo")  # doctest: +SKIP
    >>> end_processes(found, grace=3.0)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "JOB_VARIABLE",
    "process_identity",
    "TRIAL_DIR_VARIABLE",
    "TrialFinder",
    "TrialProcess",
    "end_processes",
    "find_trial_processes",
    "fork_count",
    "has_proc",
    "list_processes",
    "process_start",
    "started_nothing",
]

JOB_VARIABLE = "TUNEFORGE_JOB_NAME"
TRIAL_DIR_VARIABLE = "TUNEFORGE_TRIAL_DIR"
_PROC = "/proc"
_ROUNDS = 3  # find-and-end passes, for processes forked while the previous pass ran
_READ_SIZE = 64 * 1024
_FORKS = re.compile(rb"^processes (\d+)$", re.MULTILINE)  # the line of /proc/stat


@dataclass(frozen=True)
class TrialProcess:
    """A live process as found in ``/proc``, with the trial marker of its environment."""

    pid: int
    pgid: int
    start: int  # start time in clock ticks since boot: with the pid, names one process
    job_name: str | None
    trial_dir: str | None


def list_processes(*, since: int | None = None) -> list[TrialProcess]:
    """Every live process this user can see, except this one (zombies are left out).

    With ``since`` (a start time, see :func:`process_start`), only the processes that
    started at or after it: the others' environments are not read.
    """
    if not os.path.isdir(_PROC):
        return []
    found = []
    own = os.getpid()
    for entry in os.listdir(_PROC):
        if not entry.isdigit() or int(entry) == own:
            continue
        process = _read(int(entry), since)
        if process is not None:
            found.append(process)
    return found


def find_trial_processes(
    job_name: str,
    *,
    trial_dirs: Collection[str] = (),
    under: str | None = None,
    groups: Collection[int] = (),
    since: int | None = None,
) -> list[TrialProcess]:
    """The live processes of ``job_name``'s trials.

    A process is the job's when its environment names the job and a trial folder among
    ``trial_dirs`` or inside ``under``; or when it belongs to one of the process ``groups``
    (the trials' recorded pids) and another member of that group is the job's by marker,
    which catches children that cleared their environment. ``since``, the start time of
    the trials' first process (:func:`process_start`), leaves out every process that
    started before it, which cannot be one of theirs.
    """
    folders = {os.path.normpath(folder) for folder in trial_dirs}
    if not folders and under is None:
        return []
    processes = list_processes(since=since)
    marked = [p for p in processes if _marked(p, job_name, folders, under)]
    verified = {p.pgid for p in marked if p.pgid in groups}
    chosen = {p.pid: p for p in marked}
    for process in processes:
        if process.pgid in verified:
            chosen.setdefault(process.pid, process)
    return sorted(chosen.values(), key=lambda p: p.pid)


def end_processes(
    targets: Sequence[TrialProcess],
    *,
    grace: float = 3.0,
    rescan: Callable[[], list[TrialProcess]] | None = None,
) -> list[TrialProcess]:
    """SIGTERM ``targets``, wait up to ``grace`` seconds, SIGKILL what is left; return the ended.

    ``rescan`` (a callable returning the current targets) is called again after each pass,
    so that processes forked meanwhile are ended too.
    """
    ended: dict[tuple[int, int], TrialProcess] = {}
    current = list(targets)
    for _ in range(_ROUNDS):
        handles = [h for h in (_Handle.open(p) for p in current) if h is not None]
        if not handles:
            break
        try:
            for handle in handles:
                handle.signal(signal.SIGTERM)
            deadline = time.monotonic() + grace
            while any(h.alive() for h in handles) and time.monotonic() < deadline:
                time.sleep(0.02)
            for handle in handles:
                if handle.alive():
                    handle.signal(signal.SIGKILL)
            deadline = time.monotonic() + 2.0
            while any(h.alive() for h in handles) and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            for handle in handles:
                ended[(handle.process.pid, handle.process.start)] = handle.process
                handle.close()
        if rescan is None:
            break
        current = [p for p in rescan() if (p.pid, p.start) not in ended]
    return list(ended.values())


class TrialFinder:
    """A ``find_trial_processes`` call kept for :func:`end_processes`' rescans."""

    def __init__(
        self,
        job_name: str,
        *,
        trial_dirs: Iterable[str] = (),
        under: str | None = None,
        groups: Iterable[int] = (),
    ) -> None:
        self.job_name = job_name
        self.trial_dirs = frozenset(trial_dirs)
        self.under = under
        self.groups = frozenset(groups)

    def __call__(self) -> list[TrialProcess]:
        return find_trial_processes(
            self.job_name, trial_dirs=self.trial_dirs, under=self.under, groups=self.groups
        )


def process_identity(pid: int) -> str | None:
    """What tells process ``pid`` apart from a later one with the same pid: boot and start time.

    ``None`` where there is no ``/proc`` or no such process.
    """
    stat = _stat(pid)
    if stat is None or stat[0] in ("Z", "X"):
        return None
    try:
        with open(f"{_PROC}/sys/kernel/random/boot_id", encoding="ascii") as file:
            boot = file.read().strip()
    except OSError:
        boot = "?"
    return f"{boot}:{stat[2]}"


def process_start(pid: int) -> int | None:
    """Process ``pid``'s start time in clock ticks since boot (a zombie's too); ``None`` if unknown.

    Every process it starts, and theirs, starts at or after it: the ``since`` of
    :func:`find_trial_processes`.
    """
    stat = _stat(pid)
    return None if stat is None else stat[2]


def fork_count() -> int | None:
    """How many processes and threads this machine has created since boot; ``None`` if unknown.

    Read from the ``processes`` line of ``/proc/stat``, which counts every ``fork`` and
    ``clone`` on the machine, whoever made it.
    """
    data = _read_file(f"{_PROC}/stat")
    found = None if data is None else _FORKS.search(data)
    return int(found.group(1)) if found is not None else None


def started_nothing(forks_before: int | None) -> bool:
    """Whether one process alone was created since :func:`fork_count` said ``forks_before``.

    Read ``forks_before`` just before starting a process and call this once it has exited:
    True proves that it started no process (its own creation is the one counted), so
    nothing of it can be left. Any other task created on the machine meanwhile, or a
    count that is unknown or does not move, gives False, and the caller looks.
    """
    if forks_before is None:
        return False
    return fork_count() == forks_before + 1


def has_proc() -> bool:
    """Whether processes can be inspected here (``/proc`` exists)."""
    return os.path.isdir(f"{_PROC}/self")


# --- reading /proc ----------------------------------------------------------------------------


def _read(pid: int, since: int | None = None) -> TrialProcess | None:
    stat = _stat(pid)
    if stat is None:
        return None
    state, pgid, start = stat
    if state in ("Z", "X"):  # ended, waiting for its parent: nothing left to end
        return None
    if since is not None and start < since:
        return None
    environ = _environ(pid)
    return TrialProcess(
        pid=pid,
        pgid=pgid,
        start=start,
        job_name=environ.get(JOB_VARIABLE),
        trial_dir=environ.get(TRIAL_DIR_VARIABLE),
    )


def _stat(pid: int) -> tuple[str, int, int] | None:
    """State, process group and start time from ``/proc/<pid>/stat``."""
    data = _read_file(f"{_PROC}/{pid}/stat", whole=False)
    if data is None:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = data.rpartition(b")")[2].split()
    try:
        return fields[0].decode("ascii", "replace"), int(fields[2]), int(fields[19])
    except (IndexError, ValueError):
        return None


def _environ(pid: int) -> dict[str, str]:
    """The tuneforge variables of a process's starting environment ({} if unreadable)."""
    data = _read_file(f"{_PROC}/{pid}/environ")
    if data is None or b"TUNEFORGE_" not in data:  # None: another user's process, or gone
        return {}
    found = {}
    for item in data.split(b"\0"):
        if item.startswith(b"TUNEFORGE_"):
            name, _, value = item.partition(b"=")
            found[name.decode("utf-8", "replace")] = os.fsdecode(value)
    return found


def _read_file(path: str, *, whole: bool = True) -> bytes | None:
    """A ``/proc`` file's content, or ``None`` if it cannot be read.

    Plain ``os`` calls: this runs for every process on the machine, and a buffered file
    object costs more system calls each time. ``whole=False`` reads once, enough for a
    one-line file such as ``stat``.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks = [os.read(fd, _READ_SIZE)]
        while whole and chunks[-1]:
            chunks.append(os.read(fd, _READ_SIZE))
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _marked(
    process: TrialProcess, job_name: str, trial_dirs: Collection[str], under: str | None
) -> bool:
    if process.job_name != job_name or not process.trial_dir:
        return False
    folder = os.path.normpath(process.trial_dir)
    if folder in trial_dirs:
        return True
    if under is not None:
        root = os.path.normpath(under)
        return folder.startswith(root.rstrip(os.sep) + os.sep)
    return False


# --- signalling one process safely ---------------------------------------------------------


class _Handle:
    """One process to end: a pidfd when the system has them, checked against the start time."""

    def __init__(self, process: TrialProcess, pidfd: int | None) -> None:
        self.process = process
        self.pidfd = pidfd

    @classmethod
    def open(cls, process: TrialProcess) -> _Handle | None:
        pidfd = None
        if hasattr(os, "pidfd_open"):
            try:
                pidfd = os.pidfd_open(process.pid)
            except OSError:  # gone already, or pidfds unsupported by this kernel
                pidfd = None
        # With the pidfd open, this check proves it refers to the process that was found.
        if not _same(process):
            if pidfd is not None:
                os.close(pidfd)
            return None
        return cls(process, pidfd)

    def signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self.pidfd is not None:
                signal.pidfd_send_signal(self.pidfd, sig)
            elif _same(self.process):
                os.kill(self.process.pid, sig)

    def alive(self) -> bool:
        if self.pidfd is not None:
            # A pidfd becomes readable when its process has ended.
            readable, _, _ = select.select([self.pidfd], [], [], 0)
            if readable:
                return False
        return _same(self.process)

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


def _same(process: TrialProcess) -> bool:
    """Whether ``process`` still runs (not a zombie) under its pid, with its start time."""
    stat = _stat(process.pid)
    return stat is not None and stat[0] not in ("Z", "X") and stat[2] == process.start
