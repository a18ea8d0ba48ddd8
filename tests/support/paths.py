"""Paths that cannot become folders (unwritable-location tests)."""

from __future__ import annotations

from pathlib import Path


def a_file(tmp_path: Path) -> Path:
    """A regular file: a folder cannot be made in its place, nor anywhere under it."""
    path = tmp_path / "not-a-folder"
    path.write_text("a regular file where a folder is expected")
    return path
