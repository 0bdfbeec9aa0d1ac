"""The schema: created at the head revision, older databases upgraded, newer ones refused.

Older databases are built here with the DDL the earlier tuneforge versions ran, on SQLite
and on PostgreSQL, then opened with today's ``Storage``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from tuneforge.errors import StorageError
from tuneforge.storage import SCHEMA_VERSION, Storage
from tuneforge.storage.migrations import HEAD_REVISION, LOCATION
from tuneforge.storage.models import Base
from tuneforge.trial import TrialState

BACKENDS = ["sqlite", "postgresql"]

#: The tables of schema version 1 as tuneforge 0.1 created them; ``{serial}`` is the
#: dialect's auto-incrementing integer.
V1_TABLES = """
CREATE TABLE jobs (
    id {serial} NOT NULL, name VARCHAR(255) NOT NULL, state VARCHAR(16) NOT NULL,
    document JSON NOT NULL, base_dir TEXT NOT NULL, objective TEXT NOT NULL,
    direction VARCHAR(16) NOT NULL, strategy TEXT NOT NULL, max_trials INTEGER,
    output_dir TEXT, created_at FLOAT NOT NULL, finished_at FLOAT, reason TEXT,
    stop_requested BOOLEAN NOT NULL, PRIMARY KEY (id), UNIQUE (name)
);
CREATE TABLE meta ("key" VARCHAR(64) NOT NULL, value TEXT NOT NULL, PRIMARY KEY ("key"));
CREATE TABLE trials (
    id {serial} NOT NULL, job_id INTEGER NOT NULL, number INTEGER NOT NULL,
    state VARCHAR(16) NOT NULL, value FLOAT, reason TEXT, log_tail TEXT, trial_dir TEXT,
    pid INTEGER, created_at FLOAT NOT NULL, started_at FLOAT, finished_at FLOAT,
    stop_requested BOOLEAN NOT NULL, origin VARCHAR(64) NOT NULL, PRIMARY KEY (id),
    CONSTRAINT uq_trials_job_number UNIQUE (job_id, number),
    FOREIGN KEY(job_id) REFERENCES jobs (id) ON DELETE CASCADE
);
CREATE TABLE events (
    id {serial} NOT NULL, job_id INTEGER NOT NULL, trial_id INTEGER, time FLOAT NOT NULL,
    kind VARCHAR(64) NOT NULL, message TEXT NOT NULL, PRIMARY KEY (id),
    FOREIGN KEY(job_id) REFERENCES jobs (id) ON DELETE CASCADE,
    FOREIGN KEY(trial_id) REFERENCES trials (id) ON DELETE CASCADE
);
CREATE INDEX ix_events_job ON events (job_id, id);
CREATE TABLE metric_values (
    id {serial} NOT NULL, trial_id INTEGER NOT NULL, metric VARCHAR(255) NOT NULL,
    step INTEGER NOT NULL, value FLOAT, time FLOAT NOT NULL, PRIMARY KEY (id),
    FOREIGN KEY(trial_id) REFERENCES trials (id) ON DELETE CASCADE
);
CREATE INDEX ix_metric_values_trial ON metric_values (trial_id, metric, step);
CREATE TABLE trial_params (
    trial_id INTEGER NOT NULL, name VARCHAR(255) NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (trial_id, name), FOREIGN KEY(trial_id) REFERENCES trials (id) ON DELETE CASCADE
);
INSERT INTO meta ("key", value) VALUES ('schema_version', '1');
"""

#: A finished job with one trial, written with the columns every schema version has.
OLD_JOB = """
INSERT INTO jobs (name, state, document, base_dir, objective, direction, strategy,
    max_trials, output_dir, created_at, stop_requested)
    VALUES ('old', 'completed', '{{"name": "old"}}', '.', 'loss', 'minimize', 'random', 2,
    NULL, 100.0, FALSE);
INSERT INTO trials (job_id, number, state, value, created_at, started_at, finished_at,
    stop_requested, origin)
    VALUES (1, 0, 'completed', 0.25, 100.0, 101.0, 102.0, FALSE, 'strategy');
INSERT INTO trial_params (trial_id, name, value) VALUES (1, 'x', '0.5');
INSERT INTO metric_values (trial_id, metric, step, value, time) VALUES (1, 'loss', 0, 0.25, 102.0);
"""

V1_DDL = V1_TABLES + OLD_JOB

#: What schema version 2 added, as tuneforge 0.1 (before Alembic) applied it.
V2_DDL = """
ALTER TABLE jobs ADD COLUMN controller_id VARCHAR(64);
ALTER TABLE jobs ADD COLUMN controller_host VARCHAR(255);
ALTER TABLE jobs ADD COLUMN controller_pid INTEGER;
ALTER TABLE jobs ADD COLUMN controller_start VARCHAR(64);
ALTER TABLE jobs ADD COLUMN heartbeat_at FLOAT;
ALTER TABLE jobs ADD COLUMN active_seconds FLOAT DEFAULT 0 NOT NULL;
ALTER TABLE trials ADD COLUMN attempt INTEGER DEFAULT 1 NOT NULL;
UPDATE meta SET value = '2' WHERE "key" = 'schema_version';
"""


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def _empty_database(url: str) -> None:
    """Drop every table, tuneforge's and Alembic's alike."""
    engine = _engine(url)
    metadata = sa.MetaData()
    metadata.reflect(engine)
    metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on each backend that files and servers hold."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tuneforge.db'}"
        return
    from tests.cluster.services import postgres_test_url

    url = postgres_test_url()
    _empty_database(url)
    yield url
    _empty_database(url)


def run_sql(url: str, script: str) -> None:
    engine = _engine(url)
    serial = "SERIAL" if engine.dialect.name == "postgresql" else "INTEGER"
    with engine.begin() as connection:
        for statement in script.format(serial=serial).split(";"):
            if statement.strip():
                connection.exec_driver_sql(statement)
    engine.dispose()


def read(url: str, query: str) -> list[tuple[object, ...]]:
    engine = _engine(url)
    with engine.connect() as connection:
        rows = [tuple(row) for row in connection.exec_driver_sql(query)]
    engine.dispose()
    return rows


def schema_differences(url: str) -> list[object]:
    """What Alembic's autogenerate finds between the database and the models."""
    engine = _engine(url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    return list(differences)


def assert_at_head(url: str) -> None:
    assert read(url, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
    assert read(url, "SELECT value FROM meta WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)
    ]
    assert schema_differences(url) == []


def assert_old_job_kept(storage: Storage) -> None:
    trial = storage.get_trial("old", 0)
    assert (trial.state, trial.value, trial.params) == (TrialState.COMPLETED, 0.25, {"x": 0.5})
    assert trial.attempt == 1 and trial.metrics == {"loss": 0.25} and trial.continues is None
    assert storage.get_job("old").active_seconds == 0.0
    assert storage.create_trial("old", {"x": 0.75}) == 1  # and the upgraded tables take writes


def test_a_new_database_is_created_at_the_head_revision(database_url: str) -> None:
    """An empty database gets the models' tables, stamped with the head revision."""
    Storage(database_url).close()
    assert_at_head(database_url)


def test_a_version_1_database_is_upgraded_on_open(database_url: str) -> None:
    """A database tuneforge wrote at schema version 1 opens, keeps its data, reaches head."""
    run_sql(database_url, V1_DDL)
    with Storage(database_url) as storage:
        assert_old_job_kept(storage)
    assert_at_head(database_url)


def test_a_version_2_database_from_before_alembic_is_upgraded(database_url: str) -> None:
    """A version-2 database (no alembic_version table yet) is stamped, then upgraded."""
    run_sql(database_url, V1_DDL + V2_DDL)
    with Storage(database_url) as storage:
        assert_old_job_kept(storage)
    assert_at_head(database_url)


def migrate(url: str, revision: str) -> None:
    """Run the migrations on ``url`` up to ``revision``, as Alembic's command line would."""
    engine = _engine(url)
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", LOCATION)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    engine.dispose()


def test_the_migrations_from_nothing_give_the_models(database_url: str) -> None:
    """Every revision from an empty database up to head builds exactly the models' schema."""
    migrate(database_url, "head")
    assert_at_head(database_url)


def test_a_version_4_database_is_upgraded_and_its_jobs_have_no_space(database_url: str) -> None:
    """A database from before jobs kept their space upgrades; its jobs read back no space."""
    migrate(database_url, "0004")
    run_sql(database_url, OLD_JOB)
    space = {"x": {"type": "float", "low": 0.0, "high": 1.0, "log": False}}
    with Storage(database_url) as storage:
        assert_old_job_kept(storage)
        assert storage.get_job("old").space is None
        storage.create_job(
            "new",
            document={},
            base_dir=".",
            objective="loss",
            direction="minimize",
            strategy="random",
            max_trials=1,
            output_dir=None,
            space=space,
        )
        assert storage.get_job("new").space == space
    assert_at_head(database_url)


def test_the_head_revision_is_the_last_migration() -> None:
    """HEAD_REVISION names the one head of the migration scripts, and SCHEMA_VERSION follows."""
    config = Config()
    config.set_main_option("script_location", LOCATION)
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD_REVISION]
    assert int(HEAD_REVISION) == SCHEMA_VERSION


@pytest.mark.parametrize("revision", ["0999", "a1b2c3d4e5f6"])
def test_an_unknown_revision_is_refused(database_url: str, revision: str) -> None:
    """A database at a revision this tuneforge does not know says to upgrade tuneforge."""
    Storage(database_url).close()
    run_sql(database_url, f"UPDATE alembic_version SET version_num = '{revision}'")
    shown = "999" if revision == "0999" else revision
    with pytest.raises(
        StorageError,
        match=rf"written by a newer tuneforge \(schema version {shown}; this one reads up "
        rf"to version {SCHEMA_VERSION}\); upgrade tuneforge to use it\.",
    ):
        Storage(database_url)


def test_a_failed_upgrade_leaves_the_old_database_as_it_was(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upgrade that fails midway is rolled back whole: the version-1 database still opens."""
    run_sql(database_url, V1_DDL)
    real_upgrade: Callable[..., None] = command.upgrade

    def failing_upgrade(config: Config, revision: str) -> None:
        real_upgrade(config, revision)  # the DDL ran; now the transaction fails
        raise sa.exc.OperationalError("upgrade", {}, Exception("disk I/O error"))

    monkeypatch.setattr(command, "upgrade", failing_upgrade)
    with pytest.raises(StorageError, match="could not open the storage .*disk I/O error"):
        Storage(database_url)
    monkeypatch.undo()
    assert read(database_url, "SELECT value FROM meta WHERE key = 'schema_version'") == [("1",)]
    engine = _engine(database_url)
    assert "attempt" not in {column["name"] for column in sa.inspect(engine).get_columns("trials")}
    engine.dispose()
    with Storage(database_url) as storage:
        assert_old_job_kept(storage)
    assert_at_head(database_url)
