"""Writing results out: trial tables as CSV or JSON, and trial folders as a zip archive.

CSV is the frame as it is, one column per parameter and metric, for spreadsheets;
timestamps are ISO 8601 in UTC and missing values are empty cells.

JSON is a list of records, one per trial, with ``params`` and ``metrics`` as nested
objects (what a program reading JSON wants)::

    [{"number": 0, "state": "completed", "value": 0.25,
      "params": {"lr": 0.01, "optimizer": "adam"}, "metrics": {"loss": 0.25},
      "started_at": "2024-05-01T12:00:00.000+00:00", ...}]

A parameter a trial did not have (a conditional one) and a metric it did not report are
left out of its objects. JSON has no NaN or infinity: other NaN values are written as
``null``, and so are infinite ones (a NaN metric cannot be told apart from an unreported
one in the frame, so it is left out too).

Files are written to a temporary file beside the target and renamed into place, so a
failure never leaves a half-written export or archive.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import IO, Any

import pandas as pd

from tuneforge.errors import ConfigError, NotFoundError
from tuneforge.results.folders import walk_trial_folder
from tuneforge.results.table import METRIC_PREFIX, PARAM_PREFIX, best_trial, trials_frame
from tuneforge.storage import JobRecord
from tuneforge.trial import Trial

FORMATS = ("csv", "json")


def trial_folder_name(number: int) -> str:
    """The folder a trial's files get in an archive: ``trial-0007``."""
    return f"trial-{number:04d}"


def to_csv_text(frame: pd.DataFrame) -> str:
    """The frame as CSV text: ISO timestamps, empty cells for missing values."""
    return str(_with_iso_times(frame).to_csv(index=False, lineterminator="\n"))


def to_json_text(frame: pd.DataFrame) -> str:
    """The frame as a JSON list of records with nested ``params`` and ``metrics``."""
    records = [_record(row) for row in frame.to_dict(orient="records")]
    return json.dumps(records, indent=2, allow_nan=False) + "\n"


def export_trials(frame: pd.DataFrame, path: str | Path, format: str | None = None) -> None:
    """Write the frame to ``path`` as CSV or JSON (by default from the file's suffix)."""
    path = Path(path)
    if format is None:
        format = path.suffix.lower().lstrip(".")
        if format not in FORMATS:
            raise ConfigError(
                f"cannot tell the export format from {str(path)!r}; name a .csv or .json "
                "file, or give the format (csv or json)."
            )
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r}; expected csv or json.")
    text = to_csv_text(frame) if format == "csv" else to_json_text(frame)
    with _atomic_file(path, "w") as (stream, _):
        stream.write(text)


def archive_trials(
    trials: Sequence[Trial],
    zip_path: str | Path,
    *,
    extra_files: Mapping[str, bytes] | None = None,
) -> int:
    """Zip the folder of every trial (as ``trial-0007/...``) and return the files written.

    Trials without a folder, or whose folder is gone, are skipped. Symbolic links are
    followed only to files inside the trial's own folder, so an archive never picks up
    files from elsewhere on the machine. ``extra_files`` (name -> content, such as
    ``trials.csv`` or ``job.json``) go at the top of the archive and count too.
    """
    zip_path = Path(zip_path)
    extras = dict(extra_files or {})
    for name in extras:
        _check_member_name(name)
    written = 0
    with _atomic_file(zip_path, "wb") as (stream, temporary):
        skip = {zip_path.absolute(), temporary}
        with zipfile.ZipFile(
            stream, "w", compression=zipfile.ZIP_DEFLATED, strict_timestamps=False
        ) as archive:
            for name, content in extras.items():
                archive.writestr(name, content)
                written += 1
            for trial in trials:
                if not trial.trial_dir or not Path(trial.trial_dir).is_dir():
                    continue
                prefix = PurePosixPath(trial_folder_name(trial.number))
                for source, relative in walk_trial_folder(trial.trial_dir):
                    if source.absolute() not in skip:
                        archive.write(source, str(prefix / relative))
                        written += 1
    return written


def archive_job(
    record: JobRecord, trials: Sequence[Trial], zip_path: str | Path, *, best_only: bool = False
) -> tuple[int, list[Trial]]:
    """Zip a job's trial folders with its ``trials.csv`` and ``job.json``.

    ``best_only`` keeps the best completed trial alone (``NotFoundError`` if there is
    none). Returns the files written and the trials whose folders were archived.
    """
    chosen = list(trials)
    if best_only:
        best = best_trial(chosen, record.direction)
        if best is None:
            raise NotFoundError(f"job {record.name!r} has no completed trial to archive.")
        chosen = [best]
    extra = {
        "trials.csv": to_csv_text(trials_frame(chosen)).encode(),
        "job.json": json.dumps(record.document, indent=2, default=str).encode(),
    }
    return archive_trials(chosen, zip_path, extra_files=extra), chosen


def _check_member_name(name: str) -> None:
    member = PurePosixPath(name)
    if not name or member.is_absolute() or ".." in member.parts or "\\" in name:
        raise ConfigError(
            f"archive member name {name!r} must be a relative path without '..', "
            "such as 'trials.csv' or 'job.json'."
        )


@contextlib.contextmanager
def _atomic_file(path: Path, mode: str) -> Iterator[tuple[IO[Any], Path]]:
    """Write to a temporary file beside ``path`` and rename it into place on success.

    Yields the open file and the temporary file's absolute path.
    """
    folder = path.absolute().parent
    if not folder.is_dir():
        raise ConfigError(
            f"cannot write {str(path)!r}: the folder {folder} does not exist; "
            "create it first, or choose another path."
        )
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".part")
    try:
        encoding = None if "b" in mode else "utf-8"
        newline = None if "b" in mode else ""
        with os.fdopen(handle, mode, encoding=encoding, newline=newline) as stream:
            yield stream, Path(temporary)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _with_iso_times(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].map(_iso, na_action="ignore").astype("object")
    return out


def _iso(stamp: pd.Timestamp) -> str:
    return str(stamp.isoformat(timespec="milliseconds"))


def _record(row: Mapping[Any, Any]) -> dict[str, Any]:
    """One frame row as a JSON-ready record, nesting the prefixed columns."""
    record: dict[str, Any] = {}
    for column, value in row.items():
        name = str(column)
        for prefix, group, keep in (
            (PARAM_PREFIX, "params", _present),
            (METRIC_PREFIX, "metrics", _reported),
        ):
            if name.startswith(prefix):
                nested = record.setdefault(group, {})
                if keep(value):
                    nested[name[len(prefix) :]] = _json_value(value)
                break
        else:
            record[name] = _json_value(value)
    if "params" in record and "metrics" in record:
        return record
    # Every record has both objects, even when no trial had a parameter or a metric.
    ordered: dict[str, Any] = {}
    for name, value in record.items():
        ordered[name] = value
        if name == "value":
            ordered.setdefault("params", record.get("params", {}))
            ordered.setdefault("metrics", record.get("metrics", {}))
    ordered.setdefault("params", {})
    ordered.setdefault("metrics", {})
    return ordered


def _present(value: Any) -> bool:
    return not _is_na(value)


def _reported(value: Any) -> bool:
    return not (_is_na(value) or (isinstance(value, float) and math.isnan(value)))


def _is_na(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _json_value(value: Any) -> Any:
    """Plain Python for json.dumps: numpy scalars unwrapped, NA and non-finite as None."""
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else _iso(value)
    if _is_na(value):
        return None
    item: Callable[[], Any] | None = getattr(value, "item", None)
    if item is not None and type(value).__module__ == "numpy":
        value = item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
