"""Results of a job: the best trial, trial tables (pandas), CSV/JSON export and zip archives.

Everything here works on ``Trial`` values (read from storage by the caller), never on the
storage itself, so the CLI, the dashboard and ``optimize`` share it.
"""

from tuneforge.results.curves import curves_frame, curves_to_json, read_curves
from tuneforge.results.export import (
    archive_trials,
    export_trials,
    to_csv_text,
    to_json_text,
    trial_folder_name,
)
from tuneforge.results.table import best_trial, resolve_column, sort_frame, trials_frame

__all__ = [
    "curves_frame",
    "read_curves",
    "curves_to_json",
    "archive_trials",
    "best_trial",
    "export_trials",
    "resolve_column",
    "sort_frame",
    "to_csv_text",
    "to_json_text",
    "trial_folder_name",
    "trials_frame",
]
