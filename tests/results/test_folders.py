"""The one walk of a trial folder that archives and the dashboard's file list share."""

from __future__ import annotations

from pathlib import Path

from tuneforge.results import walk_trial_folder


def relatives(folder: Path) -> list[str]:
    return [str(relative) for _, relative in walk_trial_folder(folder)]


def test_files_come_folder_by_folder_in_sorted_order(tmp_path: Path) -> None:
    """Regular files, names sorted, subfolders walked after the folder's own files."""
    for name in ("b.txt", "a.txt", "sub/z.txt", "sub/deeper/y.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    assert relatives(tmp_path) == ["a.txt", "b.txt", "sub/z.txt", "sub/deeper/y.txt"]


def test_links_are_kept_only_to_files_inside_the_folder(tmp_path: Path) -> None:
    """Links out of the folder, to folders, or to nothing are left out; links inside are kept."""
    folder, outside = tmp_path / "trial", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (folder / "log.txt").write_text("log")
    (folder / "alias.txt").symlink_to(folder / "log.txt")
    (folder / "leak.txt").symlink_to(outside / "secret.txt")
    (folder / "linked-dir").symlink_to(outside, target_is_directory=True)
    (folder / "dangling.txt").symlink_to(tmp_path / "nothing")
    (folder / "loop").symlink_to(folder / "loop")
    assert relatives(folder) == ["alias.txt", "log.txt"]


def test_a_missing_folder_has_no_files(tmp_path: Path) -> None:
    """A trial folder that is gone yields nothing rather than an error."""
    assert relatives(tmp_path / "gone") == []
