"""SQLAlchemy 2 declarative models: the tables behind :class:`~tuneforge.storage.Storage`.

The same models run on SQLite and PostgreSQL, so they use portable types only: states are
stored as their string values (``VARCHAR``, no native enum, no CHECK constraint, so adding a
state later needs no migration), times as unix float seconds, parameter values as JSON text
(so ``1``, ``"1"``, ``1.0`` and ``True`` keep their types), and the job document and
the job's resolved search space as JSON.

A metric value that is NaN is stored as NULL (SQLite has no NaN: it turns NaN into NULL on
its own), and read back as NaN; infinities are stored as they are.

A change to a table needs an Alembic revision in :mod:`tuneforge.storage.migrations`
that brings an older database to the same shape (a test compares the two); a new
database is created from these models directly.
"""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tuneforge.trial import TrialState


class JobState(enum.Enum):
    """Where a job is in its life; every state but ``RUNNING`` is terminal until a resume."""

    RUNNING = "running"
    COMPLETED = "completed"
    STOPPED = "stopped"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    def is_terminal(self) -> bool:
        return self is not JobState.RUNNING


def _state_column(enum_class: type[enum.Enum]) -> Enum:
    """A portable VARCHAR column holding an enum's *values* ("running"), not its names."""
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=16,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    """Root of the tuneforge models; ``Base.metadata`` creates every table."""


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    state: Mapped[JobState] = mapped_column(_state_column(JobState))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The resolved search space as plain JSON data; NULL for jobs stored before it was kept.
    space: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    base_dir: Mapped[str] = mapped_column(Text)
    objective: Mapped[str] = mapped_column(Text)
    direction: Mapped[str] = mapped_column(String(16))
    strategy: Mapped[str] = mapped_column(Text)
    max_trials: Mapped[int | None] = mapped_column(Integer)
    output_dir: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # The lease of the controller running the job (all NULL when none holds it): a random
    # id, and where it runs, so that another controller can tell a live one from a dead one.
    controller_id: Mapped[str | None] = mapped_column(String(64))
    controller_host: Mapped[str | None] = mapped_column(String(255))
    controller_pid: Mapped[int | None] = mapped_column(Integer)
    controller_start: Mapped[str | None] = mapped_column(String(64))  # its process start time
    heartbeat_at: Mapped[float | None] = mapped_column(Float)
    # Seconds controllers have spent running the job, summed over resumes (for time_limit).
    active_seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default=text("0"))


class TrialRow(Base):
    __tablename__ = "trials"
    # The unique pair is what makes concurrent writers unable to share a number.
    __table_args__ = (UniqueConstraint("job_id", "number", name="uq_trials_job_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[TrialState] = mapped_column(_state_column(TrialState))
    value: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)
    log_tail: Mapped[str | None] = mapped_column(Text)
    trial_dir: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    origin: Mapped[str] = mapped_column(String(64), default="strategy")
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    # The id of the controller that runs (or last ran) the trial: its lease id, or its row
    # in job_controllers when the job is shared, so a dead one's trials can be found.
    owner: Mapped[str | None] = mapped_column(String(64))
    # The number of the earlier trial of the job whose saved state this one continues.
    continues: Mapped[int | None] = mapped_column(Integer)


class ControllerRow(Base):
    """A controller sharing a job (``--join``): who it is and when it last showed life."""

    __tablename__ = "job_controllers"
    __table_args__ = (Index("ix_job_controllers_job", "job_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    start: Mapped[str | None] = mapped_column(String(64))  # its process start time
    heartbeat_at: Mapped[float] = mapped_column(Float)


class TrialParamRow(Base):
    __tablename__ = "trial_params"

    trial_id: Mapped[int] = mapped_column(
        ForeignKey("trials.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    # JSON text written by json.dumps: its type survives (int, float, str, bool, None);
    # non-finite floats use Python's NaN/Infinity tokens, which json.loads reads back.
    value: Mapped[str] = mapped_column(Text)


class MetricValueRow(Base):
    __tablename__ = "metric_values"
    __table_args__ = (Index("ix_metric_values_trial", "trial_id", "metric", "step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"))
    metric: Mapped[str] = mapped_column(String(255))
    step: Mapped[int] = mapped_column(Integer)
    value: Mapped[float | None] = mapped_column(Float)  # NULL means NaN
    time: Mapped[float] = mapped_column(Float)


class EventRow(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_job", "job_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    trial_id: Mapped[int | None] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"))
    time: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)


class MetaRow(Base):
    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
