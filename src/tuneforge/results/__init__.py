"""Results of a job: the best trial, trial tables (pandas), CSV/JSON export and zip archives.

Everything here works on values read from storage by the caller (trials, job records;
``read_curves`` reads its own), so the CLI, the dashboard and ``optimize`` share it: the
sort keys they accept (:func:`resolve_sort_key`), the archive they write
(:func:`archive_job`), the one safe walk of a trial's folder (:func:`walk_trial_folder`)
and the space a stored job searched (:func:`job_space`).
"""

from tuneforge.results.curves import curves_frame, curves_to_json, read_curves
from tuneforge.results.export import (
    archive_job,
    archive_trials,
    export_trials,
    to_csv_text,
    to_json_text,
    trial_folder_name,
)
from tuneforge.results.folders import walk_trial_folder
from tuneforge.results.space import job_space
from tuneforge.results.table import (
    best_trial,
    resolve_column,
    resolve_sort_key,
    sort_frame,
    trials_frame,
)

__all__ = [
    "curves_frame",
    "read_curves",
    "curves_to_json",
    "archive_job",
    "archive_trials",
    "best_trial",
    "export_trials",
    "job_space",
    "resolve_column",
    "resolve_sort_key",
    "sort_frame",
    "to_csv_text",
    "to_json_text",
    "trial_folder_name",
    "trials_frame",
    "walk_trial_folder",
]
