"""The YAML job file: checked field by field, then across fields, into a frozen :class:`JobSpec`.

The package reads in the direction data flows:

* ``loading``: YAML text (or a parsed document) in, ``JobSpec`` out: ``load_job_file``,
  ``job_from_document``, ``parse_yaml``; the guards against hostile documents;
* ``assembly``: the checks across fields (space, files, placeholders, strategy and its
  hooks, early stopping) that build the spec;
* ``schema``: the pydantic models, and pydantic's errors turned into our one-line form;
* ``validators``: one check per field value (durations, sizes, names, commands ...);
* ``spec``: ``JobSpec``, ``Objective`` and ``Limits``, the values everything after the
  job file reads.

Every problem is one line ``<field.path>: <what is wrong>, got <value>; <what is valid>``,
and all of them are raised together in one ``ConfigError``.

``limits.max_failures`` defaults to ``max(5, max_trials // 4)``; ``max_failures: null``
never stops the job for failures. Reliability settings (see docs/reliability.md):
``retry: {max_retries, exit_codes, log_regex, delay}`` runs a failed trial again when its
failure is one of those; ``on_interrupt: rerun | mark`` says whether trials cut short by a
dead or interrupted controller run again on resume (``rerun``, the default) or stay
INTERRUPTED and count toward ``max_trials`` (``mark``); ``limits.max_log_bytes``
(``100MB`` by default, ``null`` for no limit) is where ``trial.log`` stops growing.

Example:
    >>> spec = load_job_file("examples/digits-mlp/job.yaml")  # doctest: +SKIP
    >>> spec.objective.metric, spec.objective.direction, spec.limits.max_trials  # doctest: +SKIP
    ('validation:accuracy', <Direction.MAXIMIZE: 'maximize'>, 16)
"""

from tuneforge.jobfile.assembly import TEMPLATE_SUFFIXES
from tuneforge.jobfile.loading import (
    MAX_DOCUMENT_DEPTH,
    MAX_DOCUMENT_VALUES,
    job_from_document,
    load_job_file,
    parse_yaml,
)
from tuneforge.jobfile.spec import JobSpec, Limits, Objective
from tuneforge.jobfile.validators import DIRECTIONS, parse_duration, parse_size

__all__ = [
    "DIRECTIONS",
    "MAX_DOCUMENT_DEPTH",
    "MAX_DOCUMENT_VALUES",
    "TEMPLATE_SUFFIXES",
    "JobSpec",
    "Limits",
    "Objective",
    "job_from_document",
    "load_job_file",
    "parse_duration",
    "parse_size",
    "parse_yaml",
]
