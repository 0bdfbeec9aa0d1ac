"""Fixtures that start real services: PostgreSQL and a Dask scheduler with two workers.

Each is started once per test session, on loopback, and stopped at the end. Without the
programs the tests skip with the reason; under ``CI=true`` they fail instead, since CI
installs them (``.ci/services.sh``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster.services import (
    DaskCluster,
    PostgresServer,
    dask_available,
    shared_postgres,
    unavailable,
)


@pytest.fixture(scope="session")
def postgres() -> PostgresServer:
    """The session's PostgreSQL server (shared with tests/storage)."""
    return shared_postgres()


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    """A new, empty database on the session's server, as a storage URL."""
    return postgres.create_database()


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[DaskCluster]:
    """A ``dask scheduler`` and two single-thread ``dask worker`` processes on 127.0.0.1."""
    if not dask_available():
        unavailable("dask[distributed] is not installed: pip install -e '.[test]'")
    cluster = DaskCluster(n_workers=2)
    try:
        cluster.start()
    except (RuntimeError, OSError, TimeoutError) as exc:
        cluster.stop()
        unavailable(f"could not start a Dask cluster: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster(dask_cluster: DaskCluster) -> Iterator[DaskCluster]:
    """The session's cluster, with both workers back after the test (a test may kill one)."""
    yield dask_cluster
    dask_cluster.wait_for_workers(dask_cluster.n_workers, timeout=60)
