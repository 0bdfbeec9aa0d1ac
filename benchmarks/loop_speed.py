"""tuneforge's trial loop next to Optuna's, in the same run: trials per second with SQLite.

Two comparisons, printed as Markdown tables (benchmarks/loop_speed.md holds a run):

1. **In-process.** ``tuneforge.optimize(strategy="random")`` on a trivial objective
   (``(x - 0.5) ** 2``) with an SQLite file, one trial at a time, against Optuna's
   ``RandomSampler`` with an SQLite file (``optuna.create_study(storage=...)``) on the same
   objective; and Optuna again with its SQLite file in WAL mode with ``synchronous=NORMAL``
   (tuneforge's settings), where a commit does not wait for the disk.
2. **Command trials.** A job file whose trials are a real ``printf 'loss=%s\\n' ${x}``
   process with a regex metric, run by the ``tuneforge run`` command (called in this
   process, so the interpreter's start is not counted), against Optuna driving the same
   ``printf`` with ``subprocess.run`` and the same regex; and the bare ``subprocess.run``
   loop with no optimizer at all, which is the process's own life.

trials/s = trials / wall time of the whole call, creating the study or job included; each
row is the median of ``--repeats`` runs (the runs of the contenders interleave, so a
busy moment of the machine hits each alike), each on a fresh database file. "steady" is
the rate between the first and the last finished trial, from the stored end times.

``--profile`` runs tuneforge once each way under instrumentation and prints where its time
goes: storage transactions and SQL statements per trial by storage method (an SQLAlchemy
event listener on every engine), threads started per trial, the blocking calls (sleeps,
selects, queue and condition waits) per trial, and cProfile's top entries for the
controller's thread and the trial threads. A profiled run is slower than a plain one:
read its milliseconds as shares, and the plain run's trials/s as the speed.

Usage (from the repository root; Optuna from the ``optuna`` extra)::

    python benchmarks/loop_speed.py                    # the comparison, 3 minutes when quiet
    python benchmarks/loop_speed.py --repeats 3 --trials 100 --command-trials 100
    python benchmarks/loop_speed.py --profile          # where tuneforge's time goes
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import platform
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

import tuneforge
from tuneforge import Float
from tuneforge.cli import app
from tuneforge.storage import Storage

WARM_UP_TRIALS = 5
REGEX = r"loss=([0-9.eE+-]+)"
PRINTF = ["printf", r"loss=%s\n"]
JOB_FILE = """\
name: {name}
command: printf 'loss=%s\\n' ${{x}}
parameters:
  x: {{type: float, low: 0.0, high: 1.0}}
objective: {{metric: loss, direction: minimize}}
metrics:
  - {{name: loss, regex: '{regex}'}}
strategy: random
limits: {{max_trials: {trials}, max_parallel: 1}}
seed: {seed}
output_dir: {output_dir}
"""


@dataclass(frozen=True)
class Run:
    """One timed run: trials, wall seconds, and the rate between first and last end."""

    trials: int
    wall: float
    steady: float

    @property
    def rate(self) -> float:
        return self.trials / self.wall


def steady_rate(end_times: list[float]) -> float:
    """Trials per second between the first and the last trial's end."""
    ends = sorted(end_times)
    return (len(ends) - 1) / (ends[-1] - ends[0]) if len(ends) > 1 else float("nan")


def objective_value(x: float) -> float:
    return (x - 0.5) ** 2


# -- the contenders ---------------------------------------------------------------------------


def tuneforge_in_process(folder: Path, trials: int, seed: int) -> Run:
    url = f"sqlite:///{folder / 'tuneforge.db'}"
    started = time.perf_counter()
    result = tuneforge.optimize(
        lambda p: objective_value(p["x"]),
        {"x": Float(0.0, 1.0)},
        strategy="random",
        max_trials=trials,
        seed=seed,
        storage=url,
        job_name="in-process",
    )
    wall = time.perf_counter() - started
    assert len(result.trials) == trials, len(result.trials)
    ends = [t.finished_at for t in result.trials if t.finished_at is not None]
    return Run(trials, wall, steady_rate(ends))


def optuna_random(folder: Path, trials: int, seed: int, value: Callable[[float], float]) -> Run:
    """An Optuna study with RandomSampler and an SQLite file, of ``value(x)`` for x in [0, 1]."""
    url = f"sqlite:///{folder / 'optuna.db'}"
    started = time.perf_counter()
    study = optuna.create_study(storage=url, sampler=optuna.samplers.RandomSampler(seed=seed))
    study.optimize(lambda t: value(t.suggest_float("x", 0.0, 1.0)), n_trials=trials)
    wall = time.perf_counter() - started
    return Run(trials, wall, optuna_steady(study))


def optuna_in_process(folder: Path, trials: int, seed: int) -> Run:
    return optuna_random(folder, trials, seed, objective_value)


@contextlib.contextmanager
def sqlite_wal() -> Iterator[None]:
    """SQLite connections opened meanwhile use WAL and ``synchronous=NORMAL``, as tuneforge's do.

    Optuna's SQLite storage keeps SQLite's defaults (a rollback journal, ``synchronous=FULL``),
    so each of its commits waits for the disk; this takes the disk out of the comparison.
    """

    def configure(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    event.listen(Pool, "connect", configure)
    try:
        yield
    finally:
        event.remove(Pool, "connect", configure)


def optuna_in_process_wal(folder: Path, trials: int, seed: int) -> Run:
    with sqlite_wal():
        return optuna_in_process(folder, trials, seed)


def optuna_steady(study: optuna.Study) -> float:
    ends = [t.datetime_complete.timestamp() for t in study.trials if t.datetime_complete]
    assert len(ends) == len(study.trials)
    return steady_rate(ends)


def tuneforge_command(folder: Path, trials: int, seed: int) -> Run:
    """``tuneforge run job.yaml --storage sqlite:///...``, its output thrown away."""
    job = folder / "job.yaml"
    job.write_text(
        JOB_FILE.format(
            name="printf", regex=REGEX, trials=trials, seed=seed, output_dir=folder / "runs"
        )
    )
    url = f"sqlite:///{folder / 'tuneforge.db'}"
    started = time.perf_counter()
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        app(["run", str(job), "--storage", url], standalone_mode=False)
    wall = time.perf_counter() - started
    stored = Storage(url)
    try:
        done = stored.trials("printf")
    finally:
        stored.close()
    assert len(done) == trials and all(t.value is not None for t in done), done[:3]
    return Run(trials, wall, steady_rate([t.finished_at for t in done if t.finished_at]))


def run_printf(x: float) -> float:
    """Run ``printf`` as a trial and read its metric, as an Optuna user would."""
    out = subprocess.run([*PRINTF, repr(x)], capture_output=True, text=True, check=True)
    match = re.search(REGEX, out.stdout)
    assert match is not None, out.stdout
    return float(match.group(1))


def optuna_command(folder: Path, trials: int, seed: int) -> Run:
    return optuna_random(folder, trials, seed, run_printf)


def optuna_command_wal(folder: Path, trials: int, seed: int) -> Run:
    with sqlite_wal():
        return optuna_command(folder, trials, seed)


def bare_command(folder: Path, trials: int, seed: int) -> Run:
    """The same ``printf`` processes with no optimizer and no storage: the floor."""
    ends = []
    started = time.perf_counter()
    for i in range(trials):
        run_printf(i / trials)
        ends.append(time.perf_counter())
    return Run(trials, time.perf_counter() - started, steady_rate(ends))


Contender = Callable[[Path, int, int], Run]


def compare(contenders: dict[str, Contender], trials: int, repeats: int) -> dict[str, list[Run]]:
    """Run each contender ``repeats`` times, interleaved, each in a fresh folder.

    A first, untimed run of a few trials each imports what the contender imports lazily.
    """
    for contender in contenders.values():
        in_folder(contender, WARM_UP_TRIALS, 0)
    runs: dict[str, list[Run]] = {name: [] for name in contenders}
    for repeat in range(repeats):
        for name, contender in contenders.items():
            runs[name].append(in_folder(contender, trials, repeat))
    return runs


def in_folder(contender: Contender, trials: int, seed: int) -> Run:
    """Run ``contender`` in a new temporary folder, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="tuneforge-loop-"))
    try:
        return contender(folder, trials, seed)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def table(runs: dict[str, list[Run]], reference: str) -> str:
    """A Markdown table: median and range of trials/s, steady rate, ms per trial, ratio."""
    ref = statistics.median(r.rate for r in runs[reference])
    lines = [
        "| contender | trials | trials/s (median) | trials/s (range) | steady trials/s "
        f"| ms per trial | vs {reference} |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, done in runs.items():
        rates = [r.rate for r in done]
        rate = statistics.median(rates)
        steady = statistics.median(r.steady for r in done)
        lines.append(
            f"| {name} | {done[0].trials} | {rate:.1f} | {min(rates):.1f}–{max(rates):.1f} "
            f"| {steady:.1f} | {1000 / rate:.2f} | {rate / ref:.2f}x |"
        )
    return "\n".join(lines)


# -- where the time goes -------------------------------------------------------------------


class Counters:
    """Storage transactions (with the time spent in them), SQL statements and threads started.

    A transaction is named by the outermost storage function on the stack (tuneforge's
    ``Storage`` methods, Optuna's ``RDBStorage`` ones) and the function that called it.
    """

    def __init__(self) -> None:
        self.transactions: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self.statements: Counter[str] = Counter()
        self.threads: Counter[str] = Counter()
        self._open: dict[int, tuple[str, float]] = {}

    @staticmethod
    def _storage_call() -> str:
        frame = sys._getframe(2)
        inner, caller = "?", "?"
        while frame is not None:
            path = frame.f_code.co_filename.replace(os.sep, "/")
            if "/tuneforge/storage/" in path or "/optuna/storages/" in path:
                inner, caller = frame.f_code.co_qualname, "?"
            elif inner != "?" and caller == "?":
                caller = frame.f_code.co_qualname
            frame = frame.f_back
        return f"{inner} (from {caller})"

    def _begin(self, connection: Any) -> None:
        call = self._storage_call()
        self.transactions[call] += 1
        self._open[id(connection)] = (call, time.perf_counter())

    def _end(self, connection: Any) -> None:
        opened = self._open.pop(id(connection), None)
        if opened is not None:
            self.seconds[opened[0]] += time.perf_counter() - opened[1]

    def _statement(self, connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements[self._storage_call()] += 1

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        original_start = threading.Thread.start
        counters = self

        def start(thread: threading.Thread) -> None:
            counters.threads[thread_group(thread)] += 1
            original_start(thread)

        threading.Thread.start = start  # type: ignore[method-assign]
        listeners: list[tuple[str, Callable[..., None]]] = [
            ("begin", self._begin),
            ("commit", self._end),
            ("rollback", self._end),
            ("before_cursor_execute", self._statement),
        ]
        for name, listener in listeners:
            event.listen(Engine, name, listener)
        try:
            yield
        finally:
            for name, listener in listeners:
                event.remove(Engine, name, listener)
            threading.Thread.start = original_start  # type: ignore[method-assign]

    def report(self, trials: int) -> str:
        total = sum(self.transactions.values())
        seconds = sum(self.seconds.values())
        out = [
            f"Storage transactions: {total / trials:.2f} per trial, "
            f"{1000 * seconds / trials:.2f} ms per trial inside them (from BEGIN to COMMIT); "
            f"SQL statements: {sum(self.statements.values()) / trials:.2f} per trial.",
            "",
            "| storage call (from) | transactions per trial | ms per trial inside "
            "| statements per trial |",
            "|---|---:|---:|---:|",
        ]
        for call, count in self.transactions.most_common():
            out.append(
                f"| `{call}` | {count / trials:.3f} | {1000 * self.seconds[call] / trials:.2f} "
                f"| {self.statements[call] / trials:.2f} |"
            )
        out += ["", "| threads started | per trial |", "|---|---:|"]
        out += [f"| {name} | {n / trials:.2f} |" for name, n in self.threads.most_common()]
        return "\n".join(out)


def thread_group(thread: threading.Thread) -> str:
    """A thread's name without its number: ``tuneforge-trial-7`` -> ``tuneforge-trial``."""
    return re.sub(r"[-_ ]?\(?\d+\)?$", "", thread.name.split(" (")[0]) or "thread"


class Profiles:
    """cProfile on every thread while active, merged per group of thread names."""

    def __init__(self) -> None:
        self.profiles: dict[str, list[cProfile.Profile]] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        # Thread._bootstrap_inner runs every thread, whatever its class does with run().
        original = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]
        profiles = self

        def bootstrap(thread: threading.Thread) -> None:
            profiler = cProfile.Profile()
            profiler.enable()
            try:
                original(thread)
            finally:
                profiler.disable()
                with profiles._lock:
                    profiles.profiles.setdefault(thread_group(thread), []).append(profiler)

        threading.Thread._bootstrap_inner = bootstrap  # type: ignore[attr-defined]
        main = cProfile.Profile()
        main.enable()
        try:
            yield
        finally:
            main.disable()
            self.profiles.setdefault("main (the controller)", []).append(main)
            threading.Thread._bootstrap_inner = original  # type: ignore[attr-defined]

    def report(self, trials: int) -> str:
        out: list[str] = []
        for group, profilers in sorted(self.profiles.items()):
            stats = pstats.Stats(profilers[0], stream=io.StringIO())
            for more in profilers[1:]:
                stats.add(more)
            rows = stats.stats.items()  # type: ignore[attr-defined]
            out += [f"**Thread {group}** ({len(profilers)} thread(s))", ""]
            out += [blocking_calls(rows, trials), ""]
            out += [tuneforge_entries(rows, trials), ""]
            out += [own_time_entries(rows, trials), ""]
        return "\n".join(out)


Row = tuple[tuple[str, int, str], tuple[int, int, float, float, Any]]

BLOCKING = {
    "<built-in method time.sleep>",
    "<method 'poll' of 'select.epoll' objects>",
    "<method 'acquire' of '_thread.lock' objects>",
    "<built-in method _posixsubprocess.fork_exec>",
    "<built-in method posix.waitid>",
    "<built-in method posix.waitpid>",
    "<built-in method posix.read>",
}


def where(key: tuple[str, int, str]) -> str:
    path, line, name = key
    if path == "~":
        return name
    short = path.split("site-packages/")[-1].split("/src/")[-1].split("/lib/python3.11/")[-1]
    return f"{short}:{line}({name})"


def blocking_calls(rows: Any, trials: int) -> str:
    """The built-in calls that wait (or start a process): calls and ms per trial."""
    lines = ["| waits in (built-in) | calls per trial | ms per trial |", "|---|---:|---:|"]
    for key, (_cc, calls, own, _cumulative, _callers) in sorted(rows, key=lambda r: -r[1][2]):
        if key[0] == "~" and key[2] in BLOCKING and calls:
            lines.append(f"| `{key[2]}` | {calls / trials:.2f} | {1000 * own / trials:.2f} |")
    return "\n".join(lines)


def tuneforge_entries(rows: Any, trials: int, limit: int = 25) -> str:
    """tuneforge's own functions by cumulative time: calls and ms per trial."""
    lines = [
        "| tuneforge function (by cumulative time) | calls per trial | cumulative ms per trial |",
        "|---|---:|---:|",
    ]
    chosen = [r for r in rows if "/tuneforge/" in r[0][0].replace(os.sep, "/")]
    for key, (_cc, calls, _own, cumulative, _callers) in sorted(chosen, key=lambda r: -r[1][3])[
        :limit
    ]:
        lines.append(
            f"| `{where(key)}` | {calls / trials:.2f} | {1000 * cumulative / trials:.2f} |"
        )
    return "\n".join(lines)


def own_time_entries(rows: Any, trials: int, limit: int = 15) -> str:
    """Every function by its own time (cProfile's tottime): where the CPU (or the wait) is."""
    lines = [
        "| any function (by own time) | calls per trial | own ms per trial |",
        "|---|---:|---:|",
    ]
    for key, (_cc, calls, own, _cumulative, _callers) in sorted(rows, key=lambda r: -r[1][2])[
        :limit
    ]:
        lines.append(f"| `{where(key)}` | {calls / trials:.2f} | {1000 * own / trials:.3f} |")
    return "\n".join(lines)


def profile(trials: int) -> None:
    """For each way of running trials: counters on a plain run, then a cProfiled run."""
    ways: list[tuple[str, Contender, Contender]] = [
        ("in-process, SQLite file", tuneforge_in_process, optuna_in_process),
        ("command trials (printf), SQLite file", tuneforge_command, optuna_command),
    ]
    for label, ours, theirs in ways:
        print(f"\n### {label}\n")
        for name, contender in (("tuneforge", ours), ("Optuna", theirs)):
            in_folder(contender, WARM_UP_TRIALS, 0)
            counters = Counters()
            with counters.active():
                run = in_folder(contender, trials, 0)
            print(
                f"**{name}**, counted (no profiler): {trials} trials, {run.rate:.1f} trials/s "
                f"({1000 / run.rate:.2f} ms per trial).\n"
            )
            print(counters.report(trials) + "\n", flush=True)
        profiles = Profiles()
        with profiles.active():
            run = in_folder(ours, trials, 0)
        print(
            f"**tuneforge under cProfile**: {trials} trials, {1000 / run.rate:.2f} ms per trial "
            "(the profiler's own cost included).\n"
        )
        print(profiles.report(trials), flush=True)


def describe_machine() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"Python {platform.python_version()}, {len(os.sched_getaffinity(0))} cores, "
        f"tuneforge {tuneforge.__version__}, Optuna {optuna.__version__}, SQLAlchemy "
        f"{sqlalchemy.__version__}; load average {load}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trials", type=int, default=300, help="in-process trials per run")
    parser.add_argument("--command-trials", type=int, default=200, help="command trials per run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="where tuneforge's time goes")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(describe_machine() + "\n", flush=True)
    if args.profile:
        profile(args.command_trials)
        print("\n" + describe_machine())
        return
    in_process = compare(
        {
            "tuneforge `optimize`, random": tuneforge_in_process,
            "Optuna RandomSampler": optuna_in_process,
            "Optuna RandomSampler, SQLite in WAL mode": optuna_in_process_wal,
        },
        args.trials,
        args.repeats,
    )
    print("### In-process trials, SQLite file\n")
    print(table(in_process, "Optuna RandomSampler") + "\n", flush=True)
    commands = compare(
        {
            "tuneforge `run` (job file)": tuneforge_command,
            "Optuna RandomSampler + subprocess.run": optuna_command,
            "Optuna, SQLite in WAL mode, + subprocess.run": optuna_command_wal,
            "subprocess.run alone (no optimizer)": bare_command,
        },
        args.command_trials,
        args.repeats,
    )
    print("### Command trials (`printf`), SQLite file\n")
    print(table(commands, "Optuna RandomSampler + subprocess.run") + "\n")
    tf_ms = 1000 / statistics.median(r.rate for r in commands["tuneforge `run` (job file)"])
    floor_ms = 1000 / statistics.median(
        r.rate for r in commands["subprocess.run alone (no optimizer)"]
    )
    print(f"tuneforge's own cost per command trial: {tf_ms - floor_ms:.1f} ms beyond the process.")
    print("\n" + describe_machine())


if __name__ == "__main__":
    main()
