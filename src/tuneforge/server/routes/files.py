"""Routes of a trial's folder: the list of its files, and a download that never leaves it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from tuneforge.server.context import Context, TrialNumber
from tuneforge.server.files import list_trial_files, resolve_trial_file
from tuneforge.server.schemas import FileOut, FilesOut

#: Files shown in the browser rather than saved: text a person reads.
INLINE_SUFFIXES = (".log", ".txt", ".json", ".jsonl", ".csv", ".yaml")

router = APIRouter()


@router.get(
    "/jobs/{job}/trials/{number}/files",
    response_model=FilesOut,
    summary="The files in the trial's folder",
)
def trial_files(ctx: Context, request: Request, job: str, number: TrialNumber) -> FilesOut:
    trial = ctx.storage.get_trial(job, number)
    files, truncated = list_trial_files(trial.trial_dir)
    base = str(request.url_for("trial_file", job=job, number=number, path="x"))[:-1]
    return FilesOut(
        trial_dir=trial.trial_dir,
        files=[
            FileOut(
                path=f.path, size=f.size, modified=f.modified, url=base + quote(f.path, safe="/")
            )
            for f in files
        ],
        truncated=truncated,
    )


@router.get(
    "/jobs/{job}/trials/{number}/files/{path:path}",
    name="trial_file",
    summary="Download one file of the trial's folder (never one outside it)",
    response_class=FileResponse,
)
def trial_file(ctx: Context, job: str, number: TrialNumber, path: str) -> FileResponse:
    trial = ctx.storage.get_trial(job, number)
    target = resolve_trial_file(trial.trial_dir, path)
    inline = target.suffix.lower() in INLINE_SUFFIXES
    return FileResponse(
        target,
        filename=Path(path).name,
        content_disposition_type="inline" if inline else "attachment",
        media_type="text/plain; charset=utf-8" if inline else None,
    )
