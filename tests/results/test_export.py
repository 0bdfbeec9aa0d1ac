"""CSV and JSON exports of the trials frame, and zip archives of trial folders."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tuneforge.errors import ConfigError, NotFoundError
from tuneforge.results import (
    archive_job,
    archive_trials,
    best_trial,
    export_trials,
    to_csv_text,
    to_json_text,
    trials_frame,
)
from tuneforge.storage import JobRecord, Storage
from tuneforge.trial import Trial, TrialState

START = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def sample_trials() -> list[Trial]:
    return [
        Trial(
            0, {"lr": 0.1, "layers": 2, "opt": "adam", "bn": True}, TrialState.COMPLETED,
            value=0.25, metrics={"loss": 0.25, "grad": math.inf}, started_at=START,
            finished_at=START + 12.5, trial_dir="/out/trial-0000",
        ),
        Trial(
            1, {"lr": 0.2, "opt": "1"}, TrialState.FAILED, value=None,
            metrics={"loss": math.nan}, reason="exit code 1", started_at=START + 1,
        ),
    ]  # fmt: skip


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# -------------------------------------------------------------------------------- CSV


def test_csv_text_is_flat_with_iso_timestamps() -> None:
    """CSV has a column per parameter and metric, ISO UTC times and empty missing cells."""
    rows = csv_rows(to_csv_text(trials_frame(sample_trials())))
    assert list(rows[0]) == [
        "number", "state", "value", "params.lr", "params.layers", "params.opt", "params.bn",
        "metrics.loss", "metrics.grad", "started_at", "finished_at", "duration", "reason",
        "trial_dir", "continues",
    ]  # fmt: skip
    first, second = rows
    assert (first["number"], first["state"], first["value"]) == ("0", "completed", "0.25")
    assert (first["params.layers"], first["params.opt"], first["params.bn"]) == (
        "2",
        "adam",
        "True",
    )
    assert first["started_at"] == "2023-11-14T22:13:20.000+00:00"
    assert first["finished_at"] == "2023-11-14T22:13:32.500+00:00"
    assert first["duration"] == "12.5"
    assert (second["value"], second["params.layers"], second["finished_at"]) == ("", "", "")
    assert (second["params.opt"], second["reason"]) == ("1", "exit code 1")


def test_export_csv_file_matches_the_text(tmp_path: Path) -> None:
    """export_trials writes exactly what to_csv_text returns, format taken from the suffix."""
    frame = trials_frame(sample_trials())
    export_trials(frame, tmp_path / "trials.csv")
    assert (tmp_path / "trials.csv").read_text(encoding="utf-8") == to_csv_text(frame)


# ------------------------------------------------------------------------------- JSON


def test_json_records_nest_params_and_metrics(tmp_path: Path) -> None:
    """JSON is a list of records with nested params/metrics; types survive; NaN is null."""
    path = tmp_path / "out.data"
    export_trials(trials_frame(sample_trials()), path, "json")
    first, second = json.loads(path.read_text(encoding="utf-8"))
    assert first == {
        "number": 0,
        "state": "completed",
        "value": 0.25,
        "params": {"lr": 0.1, "layers": 2, "opt": "adam", "bn": True},
        "metrics": {"loss": 0.25, "grad": None},
        "started_at": "2023-11-14T22:13:20.000+00:00",
        "finished_at": "2023-11-14T22:13:32.500+00:00",
        "duration": 12.5,
        "reason": None,
        "trial_dir": "/out/trial-0000",
        "continues": None,
    }
    assert second["params"] == {"lr": 0.2, "opt": "1"}  # layers absent, "1" stays text
    assert second["metrics"] == {}
    assert second["value"] is None and second["finished_at"] is None
    assert [type(v) for v in first["params"].values()] == [float, int, str, bool]


def test_json_text_of_no_trials_is_an_empty_list() -> None:
    """An empty frame exports as an empty JSON list."""
    assert json.loads(to_json_text(trials_frame([]))) == []


def test_json_records_always_have_params_and_metrics() -> None:
    """Records keep both nested objects even when no trial has a parameter or metric."""
    record = json.loads(to_json_text(trials_frame([Trial(0, {}, TrialState.PENDING)])))[0]
    assert list(record)[:5] == ["number", "state", "value", "params", "metrics"]
    assert record["params"] == {} and record["metrics"] == {}


def test_export_rejects_unknown_formats(tmp_path: Path) -> None:
    """An unknown format, or a suffix that names none, is a ConfigError."""
    frame = trials_frame(sample_trials())
    with pytest.raises(ConfigError, match="unknown export format 'xml'; expected csv or json"):
        export_trials(frame, tmp_path / "t.xml", "xml")
    with pytest.raises(ConfigError, match="cannot tell the export format from"):
        export_trials(frame, tmp_path / "t.txt")
    assert list(tmp_path.iterdir()) == []


def test_export_into_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    """Exporting into a folder that does not exist names the folder."""
    with pytest.raises(ConfigError, match="the folder .*missing does not exist"):
        export_trials(trials_frame(sample_trials()), tmp_path / "missing" / "t.csv")


def test_failed_export_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the final rename fails, the previous file is untouched and no temporary remains."""
    path = tmp_path / "trials.json"
    path.write_text("old", encoding="utf-8")

    def fail(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        export_trials(trials_frame(sample_trials()), path)
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["trials.json"]


# ---------------------------------------------------------------------------- archive


def make_folder(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def trials_with_folders(tmp_path: Path) -> list[Trial]:
    first = make_folder(tmp_path / "t0", {"log.txt": "zero", "out/model.bin": "weights"})
    second = make_folder(tmp_path / "t7", {"log.txt": "seven"})
    return [
        Trial(0, {}, TrialState.COMPLETED, value=2.0, trial_dir=str(first)),
        Trial(3, {}, TrialState.PENDING),  # never ran: no folder
        Trial(5, {}, TrialState.FAILED, trial_dir=str(tmp_path / "deleted")),
        Trial(7, {}, TrialState.COMPLETED, value=1.0, trial_dir=str(second)),
    ]


def zip_contents(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_archive_holds_every_trial_folder(tmp_path: Path) -> None:
    """Each trial's files go under trial-NNNN/; trials without a folder are skipped."""
    zip_path = tmp_path / "job.zip"
    count = archive_trials(
        trials_with_folders(tmp_path), zip_path, extra_files={"trials.csv": b"number\n0\n"}
    )
    assert zip_contents(zip_path) == {
        "trials.csv": b"number\n0\n",
        "trial-0000/log.txt": b"zero",
        "trial-0000/out/model.bin": b"weights",
        "trial-0007/log.txt": b"seven",
    }
    assert count == 4


def test_archive_of_the_best_trial_only(tmp_path: Path) -> None:
    """Archiving just the best trial (as --best does) holds that trial's folder alone."""
    trials = trials_with_folders(tmp_path)
    best = best_trial(trials, "minimize")
    assert best is not None
    zip_path = tmp_path / "best.zip"
    assert archive_trials([best], zip_path) == 1
    assert zip_contents(zip_path) == {"trial-0007/log.txt": b"seven"}


def test_archive_does_not_follow_links_out_of_the_trial_folder(tmp_path: Path) -> None:
    """Links to files outside the folder, and linked folders, are left out; inner links stay."""
    secret = make_folder(tmp_path / "elsewhere", {"secret.txt": "private"})
    folder = make_folder(tmp_path / "t0", {"log.txt": "zero"})
    (folder / "leak.txt").symlink_to(secret / "secret.txt")
    (folder / "linked-dir").symlink_to(secret, target_is_directory=True)
    (folder / "alias.txt").symlink_to(folder / "log.txt")
    (folder / "dangling.txt").symlink_to(tmp_path / "nothing")
    zip_path = tmp_path / "job.zip"
    count = archive_trials([Trial(0, {}, TrialState.COMPLETED, trial_dir=str(folder))], zip_path)
    assert zip_contents(zip_path) == {
        "trial-0000/alias.txt": b"zero",
        "trial-0000/log.txt": b"zero",
    }
    assert count == 2


def test_archive_written_inside_a_trial_folder_skips_itself(tmp_path: Path) -> None:
    """An archive saved into a trial's own folder does not contain itself."""
    folder = make_folder(tmp_path / "t0", {"log.txt": "zero"})
    zip_path = folder / "archive.zip"
    zip_path.write_bytes(b"an older archive")
    archive_trials([Trial(0, {}, TrialState.COMPLETED, trial_dir=str(folder))], zip_path)
    assert list(zip_contents(zip_path)) == ["trial-0000/log.txt"]


def test_failed_archive_leaves_no_half_written_zip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure mid-archive keeps the previous zip as it was and leaves no temporary file."""
    trials = trials_with_folders(tmp_path)
    zip_path = tmp_path / "job.zip"
    zip_path.write_bytes(b"previous archive")
    written = 0
    original = zipfile.ZipFile.write

    def failing_write(self: zipfile.ZipFile, *args: Any, **kwargs: Any) -> None:
        nonlocal written
        if written == 1:
            raise OSError("read error")
        written += 1
        original(self, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "write", failing_write)
    with pytest.raises(OSError, match="read error"):
        archive_trials(trials, zip_path)
    assert zip_path.read_bytes() == b"previous archive"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_archive_into_a_missing_folder_creates_nothing(tmp_path: Path) -> None:
    """A zip path in a folder that does not exist is a ConfigError."""
    with pytest.raises(ConfigError, match="does not exist"):
        archive_trials(trials_with_folders(tmp_path), tmp_path / "missing" / "job.zip")


def test_archive_refuses_extra_files_outside_the_archive_root(tmp_path: Path) -> None:
    """Extra file names must be relative paths without '..'."""
    with pytest.raises(ConfigError, match=r"archive member name '\.\./x' must be a relative path"):
        archive_trials([], tmp_path / "a.zip", extra_files={"../x": b""})
    assert not (tmp_path / "a.zip").exists()


def make_record(direction: str = "minimize") -> JobRecord:
    return Storage("sqlite://").create_job(
        "demo",
        document={"name": "demo", "seed": 3},
        base_dir=".",
        objective="loss",
        direction=direction,
        strategy="random",
        max_trials=4,
        output_dir=None,
    )


def test_job_archive_holds_the_folders_the_table_and_the_job_file(tmp_path: Path) -> None:
    """archive_job: every trial folder, trials.csv of every trial, job.json of the document."""
    trials = trials_with_folders(tmp_path)
    count, chosen = archive_job(make_record(), trials, tmp_path / "job.zip")
    contents = zip_contents(tmp_path / "job.zip")
    assert chosen == trials and count == len(contents) == 5
    assert json.loads(contents["job.json"]) == {"name": "demo", "seed": 3}
    rows = list(csv.DictReader(io.StringIO(contents["trials.csv"].decode())))
    assert [row["number"] for row in rows] == ["0", "3", "5", "7"]


def test_job_archive_of_the_best_trial_follows_the_direction(tmp_path: Path) -> None:
    """best_only keeps the best completed trial of the job's direction, and its row alone."""
    trials = trials_with_folders(tmp_path)
    _, chosen = archive_job(make_record("maximize"), trials, tmp_path / "b.zip", best_only=True)
    assert [t.number for t in chosen] == [0]
    assert {n for n in zip_contents(tmp_path / "b.zip") if n.startswith("trial-")} == {
        "trial-0000/log.txt",
        "trial-0000/out/model.bin",
    }


def test_job_archive_of_the_best_trial_needs_a_completed_one(tmp_path: Path) -> None:
    """Without a completed trial, best_only is a NotFoundError and writes nothing."""
    pending = [Trial(0, {}, TrialState.PENDING)]
    with pytest.raises(NotFoundError, match="job 'demo' has no completed trial to archive"):
        archive_job(make_record(), pending, tmp_path / "b.zip", best_only=True)
    assert not (tmp_path / "b.zip").exists()
