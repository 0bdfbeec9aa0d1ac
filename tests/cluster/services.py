"""Real services for the cluster tests: a throwaway PostgreSQL server and a Dask cluster.

Both listen on loopback only and live in a temporary folder that is removed when they
stop. PostgreSQL comes from Debian's ``postgresql`` package (``.ci/services.sh`` installs
it); ``initdb`` refuses to run as root, so as root the server runs as the ``postgres``
user. The Dask cluster is a ``dask scheduler`` and ``dask worker --nworkers N`` started
with the same Python as the tests.

``shared_postgres()`` starts one server per test process on first use and stops it at
exit, so the storage tests and the cluster tests share it. Under ``CI=true`` a missing
service fails the test instead of skipping it.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_PG_USER = "tuneforge"


def unavailable(reason: str) -> None:
    """Skip the test, or fail it under CI, where every service must run."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: run .ci/services.sh first)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def postgres_bin() -> Path | None:
    """The folder of PostgreSQL's server programs (initdb, pg_ctl), or None."""
    given = os.environ.get("TUNEFORGE_PG_BIN")
    if given:
        return Path(given)
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


class PostgresServer:
    """A PostgreSQL server in a temporary folder, on 127.0.0.1, trusting local connections."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.root = Path(tempfile.mkdtemp(prefix="tuneforge-pg-"))
        self.data = self.root / "data"
        self.port = 0
        self._as: list[str] = []

    def start(self) -> PostgresServer:
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (no initdb)")
        if os.geteuid() == 0:  # initdb refuses root: run the server as postgres
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            _PG_USER,
            "--no-sync",
            "--no-locale",
            "-E",
            "UTF8",
        )
        for _ in range(3):  # the port is free when chosen; another program may take it
            self.port = free_port()
            options = (
                f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=200"
            )
            started = subprocess.run(
                [
                    *self._as,
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.root / "server.log"),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    options,
                    "start",
                ],
                capture_output=True,
                text=True,
            )
            if started.returncode == 0:
                return self
        log = (self.root / "server.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"PostgreSQL did not start: {started.stderr}\n{log}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{_PG_USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            f"postgresql://{_PG_USER}@127.0.0.1:{self.port}/postgres", autocommit=True
        ) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.bin is not None and (self.data / "postmaster.pid").exists():
            subprocess.run(
                [*self._as, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate"]
                + ["stop"],
                capture_output=True,
            )
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, *argv: str) -> None:
        done = subprocess.run([*self._as, *argv], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stdout}{done.stderr}")


_shared: PostgresServer | None = None
_shared_error: str | None = None


def shared_postgres() -> PostgresServer:
    """The test process's PostgreSQL server, started on first use; skips (fails in CI) if none."""
    global _shared, _shared_error
    if _shared is None and _shared_error is None:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            _shared_error = "psycopg is not installed: pip install -e '.[test]'"
        else:
            if postgres_bin() is None:
                _shared_error = "PostgreSQL is not installed: apt-get install -y postgresql"
            else:
                server = PostgresServer()
                try:
                    _shared = server.start()
                    atexit.register(server.stop)
                except (RuntimeError, OSError, KeyError) as exc:
                    server.stop()
                    _shared_error = f"could not start PostgreSQL: {exc}"
    if _shared is None:
        unavailable(_shared_error or "PostgreSQL is unavailable")
    assert _shared is not None
    return _shared


def postgres_test_url() -> str:
    """$TUNEFORGE_TEST_POSTGRES_URL if set, else a database on the shared test server."""
    given = os.environ.get("TUNEFORGE_TEST_POSTGRES_URL", "")
    return given or shared_postgres().create_database()


class DaskCluster:
    """``dask scheduler`` and ``dask worker --nworkers N --nthreads 1`` on loopback."""

    def __init__(self, n_workers: int = 2, *, env: dict[str, str] | None = None) -> None:
        self.n_workers = n_workers
        self.root = Path(tempfile.mkdtemp(prefix="tuneforge-dask-"))
        self.scheduler_file = self.root / "scheduler.json"
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            **(env or {}),
        }
        self.processes: list[subprocess.Popen[bytes]] = []
        self.address = ""

    def start(self, timeout: float = 60.0) -> DaskCluster:
        dask = [sys.executable, "-m", "dask"]
        self._spawn(
            [*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
            + ["--scheduler-file", str(self.scheduler_file)],
            "scheduler.log",
        )
        deadline = time.monotonic() + timeout
        while not self.scheduler_file.exists():
            self._check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError("the Dask scheduler did not start")
            time.sleep(0.1)
        time.sleep(0.1)  # the file is written in one go, but give it a moment
        self.address = json.loads(self.scheduler_file.read_text())["address"]
        self._spawn(
            [*dask, "worker", self.address]
            + ["--nworkers", str(self.n_workers), "--nthreads", "1", "--host", "127.0.0.1"]
            + ["--no-dashboard", "--local-directory", str(self.root / "workers")]
            + ["--memory-limit", "0"],
            "workers.log",
        )
        self.wait_for_workers(self.n_workers, timeout=deadline - time.monotonic())
        return self

    @property
    def url(self) -> str:
        """The job file's spelling of the scheduler address (``dask://127.0.0.1:PORT``)."""
        return "dask://" + self.address.split("://", 1)[1]

    def worker_pids(self) -> dict[str, int]:
        """Worker address -> pid of its process, as the scheduler knows them."""
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as client:
            pids: dict[str, int] = client.run(os.getpid)
        return pids

    def wait_for_workers(self, n: int, timeout: float = 60.0) -> None:
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(n, timeout=max(timeout, 1.0))

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        parts = []
        for name in ("scheduler.log", "workers.log"):
            path = self.root / name
            if path.exists():
                parts.append(f"--- {name}\n" + path.read_text(errors="replace")[-3000:])
        return "\n".join(parts)

    def _spawn(self, argv: list[str], log: str) -> None:
        with open(self.root / log, "wb") as out:
            self.processes.append(
                subprocess.Popen(
                    argv,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self.env,
                    cwd=REPO,
                    start_new_session=True,  # so stop() ends workers and their nannies
                )
            )

    def _check_alive(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"a Dask process exited early:\n{self.log()}")


def dask_available() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True
