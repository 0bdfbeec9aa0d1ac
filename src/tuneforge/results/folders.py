"""The files of a trial's folder, walked safely: the one walk archives and the dashboard share.

A trial's folder is written by the training command, so it may hold symbolic links to
anywhere on the machine. The walk yields a link only when it resolves to a regular file
inside the folder (resolved too), and never walks into a linked folder, so neither a zip
archive nor the dashboard's file list ever reaches a file outside the trial's folder.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "trial.log").write_text("loss=0.1")
    >>> (folder / "outside.txt").symlink_to(folder.parent / "elsewhere.txt")
    >>> [str(relative) for _, relative in walk_trial_folder(folder)]
    ['trial.log']
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath


def walk_trial_folder(trial_dir: str | Path) -> Iterator[tuple[Path, PurePosixPath]]:
    """Each regular file under ``trial_dir`` and its path relative to it, folder by folder.

    Folders and the names in each come in sorted order. Sockets, fifos, links that lead
    outside the folder or nowhere, and files that vanish or cannot be read while walking
    are left out. A missing folder yields nothing.
    """
    root = Path(trial_dir)
    resolved_root = root.resolve()
    for folder, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()  # linked folders are listed here but never walked into
        for filename in sorted(filenames):
            path = Path(folder) / filename
            try:
                if path.is_symlink():
                    target = path.resolve()
                    if not target.is_relative_to(resolved_root) or not target.is_file():
                        continue
                elif not path.is_file():
                    continue
            except (OSError, RuntimeError):  # removed while walking, unreadable, a link loop
                continue
            yield path, PurePosixPath(path.relative_to(root).as_posix())
