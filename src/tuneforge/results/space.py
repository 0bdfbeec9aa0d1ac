"""The search space a stored job searched, as a :class:`~tuneforge.space.SpaceRecord`.

A job records its resolved space when it is created (``JobRecord.space``). A job stored
before that was kept has only its document; :func:`job_space` rebuilds the record from
it, the one place that still reads a space out of a document, so old databases keep
working: a job file's ``parameters:`` (or ``parameters_file:``, read again from the
job's folder) and ``optimize``'s ``space``.

Example:
    >>> from tuneforge.storage import Storage
    >>> storage = Storage("sqlite://")
    >>> job = storage.create_job("old", document={"parameters": {
    ...     "lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True}}}, base_dir=".",
    ...     objective="loss", direction="minimize", strategy="random", max_trials=2,
    ...     output_dir=None)
    >>> job.space is None, job_space(job).log_parameters
    (True, ['lr'])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tuneforge.errors import ConfigError, SpaceError
from tuneforge.jobfile import job_from_document
from tuneforge.space import SpaceRecord, space_from_mapping
from tuneforge.storage import JobRecord

__all__ = ["job_space"]


def job_space(record: JobRecord) -> SpaceRecord:
    """The job's space: the stored record, or for a job stored without one, the record
    rebuilt from its document (the empty space if the document no longer gives one)."""
    if record.space is not None:
        return SpaceRecord.from_dict(record.space)
    document = record.document
    static = document.get("static")
    static = dict(static) if isinstance(static, Mapping) else {}
    try:
        return _from_document(record, document, static)
    except (ConfigError, SpaceError):
        return SpaceRecord(static=static)


def _from_document(
    record: JobRecord, document: Mapping[str, Any], static: dict[str, Any]
) -> SpaceRecord:
    if isinstance(document.get("space"), Mapping):  # made by optimize()
        return SpaceRecord.from_dict(document["space"], "document.space")
    if document.get("parameters_file") is not None:
        spec = job_from_document(document, record.base_dir, source=f"stored job '{record.name}'")
        return SpaceRecord.from_space(spec.space)
    parameters = document.get("parameters")
    forbidden = document.get("forbidden")
    space = space_from_mapping(
        parameters if isinstance(parameters, Mapping) else {},
        static=static,
        forbidden=forbidden if isinstance(forbidden, list) else (),
    )
    return SpaceRecord.from_space(space)
