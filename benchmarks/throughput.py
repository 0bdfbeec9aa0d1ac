"""Trial throughput on a Dask cluster, and the controller's overhead per trial.

Two measurements, printed as Markdown tables (benchmarks/throughput.md holds a run):

1. **Throughput.** For N = 1, 2, 4, 8 local Dask workers (``dask scheduler`` and
   ``dask worker --nworkers N --nthreads 1`` on 127.0.0.1), a job of 4*N command trials
   that each sleep ``--trial-seconds`` (``sh -c 'sleep 1; echo loss=1'``) runs through the
   real controller, DaskExecutor and SQLite storage, with ``max_parallel`` N. Parallel
   efficiency = ideal time (4 rounds of one trial) / measured wall time of the job. More
   workers than cores is fine: the trials sleep.
2. **Controller overhead.** ``tuneforge.optimize`` runs ``--overhead-trials`` no-op
   in-process trials one at a time (``n_jobs=1``); the time per trial is what the
   controller, strategy and storage cost, on an SQLite file and on PostgreSQL (a throwaway
   local server, as the tests start it).

Usage (from the repository root; PostgreSQL from Debian's postgresql package)::

    python benchmarks/throughput.py                     # the whole table, about 2 minutes
    python benchmarks/throughput.py --workers 1 2 --overhead-trials 50
"""

from __future__ import annotations

import argparse
import functools
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.cluster.services starts the services

from tests.cluster.services import DaskCluster, PostgresServer  # noqa: E402

from tuneforge import Float, optimize  # noqa: E402
from tuneforge.controller import Controller  # noqa: E402
from tuneforge.executors.base import Work  # noqa: E402
from tuneforge.executors.dask import DaskExecutor  # noqa: E402
from tuneforge.metrics import MetricDefinition  # noqa: E402
from tuneforge.runner import RunSpec, run_trial  # noqa: E402
from tuneforge.space import SearchSpace  # noqa: E402
from tuneforge.storage import Storage  # noqa: E402
from tuneforge.strategies import make_strategy  # noqa: E402


def throughput(
    n_workers: int, trial_seconds: float, rounds: int, storage_url: str | None = None
) -> dict[str, Any]:
    """Run rounds*n_workers sleeping trials on n_workers Dask workers; time the job.

    ``storage_url`` defaults to a new SQLite file.
    """
    n_trials = rounds * n_workers
    folder = Path(tempfile.mkdtemp(prefix="tuneforge-bench-"))
    cluster = DaskCluster(n_workers).start()
    try:
        storage = Storage(storage_url or f"sqlite:///{folder / 'tuneforge.db'}")
        name = f"throughput-{n_workers}"
        storage.create_job(
            name,
            document={"name": name},
            base_dir=str(folder),
            objective="loss",
            direction="minimize",
            strategy="random",
            max_trials=n_trials,
            output_dir=str(folder / "runs"),
        )
        space = SearchSpace({"x": Float(0.0, 1.0)})

        def make_work(number: int, params: Mapping[str, Any]) -> Work:
            spec = RunSpec(
                job_name=name,
                number=number,
                params=dict(params),
                static={},
                command=("sh", "-c", f"sleep {trial_seconds}; echo loss=1"),
                trial_dir=str(folder / "runs" / f"trial-{number:04d}"),
                workdir="",
                metrics=(MetricDefinition("loss", r"loss=([0-9.]+)"),),
                objective="loss",
            )
            return functools.partial(run_trial, spec)

        connecting = time.perf_counter()
        executor = DaskExecutor(cluster.url, name=name)  # connects, imports on the workers
        connect = time.perf_counter() - connecting
        controller = Controller(
            storage=storage,
            job_name=name,
            strategy=make_strategy("random", space, seed=0),
            executor=executor,
            make_work=make_work,
            direction="minimize",
            max_trials=n_trials,
            max_parallel=n_workers,
        )
        transactions = _TransactionCounter()
        started, cpu_started = time.perf_counter(), time.process_time()
        with transactions:
            controller.run()
        wall = time.perf_counter() - started
        # This process is the controller (and the Dask client): its CPU time is the
        # controller's own work, whatever else the machine runs.
        cpu = time.process_time() - cpu_started
        trials = storage.trials(name)
        assert len(trials) == n_trials and all(t.value == 1.0 for t in trials)
        durations = [
            t.finished_at - t.started_at
            for t in trials
            if t.finished_at is not None and t.started_at is not None
        ]
        storage.close()
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
    ideal = rounds * trial_seconds
    return {
        "workers": n_workers,
        "trials": n_trials,
        "wall": wall,
        "ideal": ideal,
        "efficiency": ideal / wall,
        "throughput": n_trials / wall,
        "trial_median": statistics.median(durations),
        "connect": connect,
        "cpu_per_trial": cpu / n_trials,
        "transactions_per_trial": transactions.count / n_trials,
    }


class _TransactionCounter:
    """Counts the storage transactions begun while it is entered (any engine)."""

    def __init__(self) -> None:
        self.count = 0

    def _begun(self, *_args: Any) -> None:
        self.count += 1

    def __enter__(self) -> _TransactionCounter:
        sqlalchemy.event.listen(sqlalchemy.engine.Engine, "begin", self._begun)
        return self

    def __exit__(self, *_exc: object) -> None:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "begin", self._begun)


SPACE = {"x": Float(0.0, 1.0)}


def overhead(url: str, n_trials: int) -> float:
    """Seconds per no-op in-process trial through optimize() on storage ``url``."""
    optimize(lambda p: 0.0, SPACE, strategy="random", max_trials=5, storage=url, seed=0)  # warm-up
    started = time.perf_counter()
    result = optimize(
        lambda p: p["x"], SPACE, strategy="random", max_trials=n_trials, storage=url, seed=1
    )
    elapsed = time.perf_counter() - started
    assert len(result.trials) == n_trials
    return elapsed / n_trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--trial-seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=4, help="trials per worker")
    parser.add_argument("--overhead-trials", type=int, default=200)
    args = parser.parse_args()

    import distributed

    print(
        f"Python {platform.python_version()}, {platform.machine()}, "
        f"{len(__import__('os').sched_getaffinity(0))} cores; distributed "
        f"{distributed.__version__}, SQLAlchemy {sqlalchemy.__version__}\n"
    )
    print(
        f"| storage | Dask workers | trials ({args.trial_seconds:g} s each) | ideal (s) "
        "| measured (s) | parallel efficiency | trials/s | median trial (s) | connect (s) "
        "| controller CPU per trial (ms) | transactions per trial |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    server = PostgresServer().start()
    try:
        runs = [("SQLite", n, None) for n in args.workers]
        runs += [("PostgreSQL", n, "pg") for n in args.workers if n == max(args.workers)]
        for label, n, pg in runs:
            url = server.create_database() if pg else None
            row = throughput(n, args.trial_seconds, args.rounds, url)
            print(
                f"| {label} | {row['workers']} | {row['trials']} | {row['ideal']:.1f} "
                f"| {row['wall']:.2f} | {row['efficiency']:.1%} | {row['throughput']:.2f} "
                f"| {row['trial_median']:.2f} | {row['connect']:.2f} "
                f"| {row['cpu_per_trial'] * 1000:.1f} | {row['transactions_per_trial']:.2f} |",
                flush=True,
            )
    finally:
        server.stop()

    print("\n| storage | no-op trials | controller overhead per trial (ms) |")
    print("|---|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        sqlite = overhead(f"sqlite:///{folder}/overhead.db", args.overhead_trials)
    print(f"| SQLite file (WAL) | {args.overhead_trials} | {sqlite * 1000:.1f} |", flush=True)
    server = PostgresServer().start()
    try:
        postgres = overhead(server.create_database(), args.overhead_trials)
    finally:
        server.stop()
    print(f"| PostgreSQL 15 (local) | {args.overhead_trials} | {postgres * 1000:.1f} |")


if __name__ == "__main__":
    main()
