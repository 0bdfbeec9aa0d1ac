"""A trial folder's files, read safely: listing, resolving a download path, reading the log.

A download path comes from a URL, so it is untrusted: it may hold ``..``, be absolute, or
name a symbolic link that points elsewhere. :func:`resolve_trial_file` resolves it (links
included) and accepts only a regular file inside the trial's own folder (resolved too);
anything else raises :class:`~tuneforge.errors.FileAccessError` with the HTTP status to
answer: 400 for a path that could never be valid, 404 for one that names nothing servable.
The listing walks the folder with :func:`tuneforge.results.walk_trial_folder`, the walk
archives use too, so both leave out the same links.

Log reads work on bytes (a log may be huge, and a byte offset is what a live tail needs to
continue); a chunk ending inside a UTF-8 character stops before it, so the next chunk
starts with the whole character.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tuneforge.errors import FileAccessError
from tuneforge.results.folders import walk_trial_folder

__all__ = [
    "FileAccessError",
    "LogChunk",
    "LogDecoder",
    "TrialFile",
    "list_trial_files",
    "log_path",
    "log_size",
    "read_log",
    "resolve_trial_file",
]

#: Files listed at most per trial folder; a folder with more is cut (and says so).
MAX_LISTED_FILES = 2000
LOG_FILE = "trial.log"


@dataclass(frozen=True)
class TrialFile:
    path: str  # relative to the trial folder, with forward slashes
    size: int
    modified: float


@dataclass(frozen=True)
class LogChunk:
    """``text`` holds the log's bytes ``offset .. next_offset`` (``size`` is the file's size)."""

    offset: int
    next_offset: int
    size: int
    text: str


def list_trial_files(trial_dir: str | None) -> tuple[list[TrialFile], bool]:
    """The regular files under the trial folder, sorted by path, and whether the list was cut.

    Symbolic links are listed only when they resolve to a file inside the folder; linked
    folders are never walked into.
    """
    if not trial_dir or not Path(trial_dir).is_dir():
        return [], False
    found: list[TrialFile] = []
    for path, relative in walk_trial_folder(trial_dir):
        try:
            stat = path.stat()
        except OSError:  # removed while listing, or unreadable
            continue
        found.append(TrialFile(str(relative), stat.st_size, stat.st_mtime))
        if len(found) >= MAX_LISTED_FILES:
            return sorted(found, key=lambda f: f.path), True
    return sorted(found, key=lambda f: f.path), False


def resolve_trial_file(trial_dir: str | None, relative: str) -> Path:
    """The file ``relative`` names inside ``trial_dir``, after resolving every link."""
    if not trial_dir:
        raise FileAccessError(404, "the trial has no folder yet (it has not started).")
    if not relative or "\x00" in relative or "\\" in relative:
        raise FileAccessError(
            400, f"invalid file path {relative!r}; expected a path such as 'model.txt'."
        )
    pure = PurePosixPath(relative)
    if pure.is_absolute() or ".." in pure.parts:
        raise FileAccessError(
            400,
            f"file path {relative!r} must be relative to the trial folder, without '..'; "
            "list the folder's files with the files endpoint.",
        )
    root = Path(trial_dir).resolve()
    try:
        target = (root / pure).resolve()
    except (OSError, RuntimeError):  # a link loop
        raise FileAccessError(404, f"no file {relative!r} in the trial folder.") from None
    if not target.is_relative_to(root):
        raise FileAccessError(
            404, f"no file {relative!r} in the trial folder (it points outside the folder)."
        )
    if not target.is_file():
        raise FileAccessError(404, f"no file {relative!r} in the trial folder.")
    return target


def log_path(trial_dir: str | None) -> Path | None:
    return Path(trial_dir) / LOG_FILE if trial_dir else None


def log_size(trial_dir: str | None) -> int:
    path = log_path(trial_dir)
    try:
        return path.stat().st_size if path is not None else 0
    except OSError:
        return 0


def read_log(trial_dir: str | None, offset: int, limit: int) -> LogChunk:
    """Up to ``limit`` bytes of the trial's log from ``offset``; a negative offset counts back.

    ``offset=-65536`` reads the last 64 KiB. An offset past the end reads nothing.
    """
    size = log_size(trial_dir)
    path = log_path(trial_dir)
    start = max(0, size + offset) if offset < 0 else min(offset, size)
    if path is None or limit <= 0 or start >= size:
        return LogChunk(start, start, size, "")
    try:
        with path.open("rb") as handle:
            handle.seek(start)
            data = handle.read(limit)
    except OSError:
        return LogChunk(start, start, size, "")
    if start > 0:  # a chunk starting inside a character starts at its next one
        whole = _skip_continuation(data)
        start += len(data) - len(whole)
        data = whole
    complete = _complete_utf8(data)
    return LogChunk(
        start,
        start + len(complete),
        size,
        complete.decode("utf-8", errors="replace"),
    )


class LogDecoder:
    """Turns successive byte chunks into text without splitting a UTF-8 character."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> str:
        data = self._pending + data
        complete = _complete_utf8(data)
        self._pending = data[len(complete) :]
        return complete.decode("utf-8", errors="replace")


def _complete_utf8(data: bytes) -> bytes:
    """``data`` without a trailing, incomplete UTF-8 sequence (at most 3 bytes are held back)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:  # ASCII: everything before it is complete
            return data
        if byte >= 0xC0:  # a lead byte: is its sequence complete?
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return data if back >= need else data[:-back]
    return data  # not UTF-8 at the end; decode with replacement characters


def _skip_continuation(data: bytes) -> bytes:
    """Drop continuation bytes at the start of a chunk cut in the middle of a character."""
    skip = 0
    while skip < min(3, len(data)) and 0x80 <= data[skip] < 0xC0:
        skip += 1
    return data[skip:]
