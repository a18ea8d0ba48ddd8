"""The output file of `duet-engine run`: checked, and reserved (O_EXCL) before the engine starts."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from engine.paths import folder_reason
from engine.session import SessionWriteError
from engine.session.writer import events_path_for


def reserve_output(path: Path, input_spec: str, overwrite: bool) -> list[Path]:
    """An output that cannot or must not be written fails before the engine is started: not .mkv,
    the input itself, an existing session (unless overwrite), an unwritable folder
    (SessionWriteError names the path). Without overwrite the file and its events file are made
    here, empty and exclusively (O_EXCL), so two runs given one name (or picking the same default
    name in the same second) cannot write over each other: the second gets EEXIST. Returns the
    files it made (the caller removes them if the run stops before writing into them)."""
    if path.name.lower() == ".mkv":
        raise ValueError(f"the output needs a name before .mkv, got {path}")
    if path.suffix.lower() != ".mkv":
        raise ValueError(f"session files are Matroska: the output must end in .mkv, got {path}")
    if not input_spec.startswith("lavfi:") and Path(input_spec).resolve() == path.resolve():
        raise ValueError(f"the output is the input file {path}: write the session under another name")
    existing = [p for p in (path, events_path_for(path)) if p.exists()]
    if existing and not overwrite:
        raise SessionWriteError(
            errno.EEXIST,
            f"{existing[0]} already exists: pick another --output, or --overwrite to replace it",
            str(existing[0]),
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        reason = folder_reason(e)
        raise SessionWriteError(
            e.errno or 5, f"cannot write session file {path}: {reason}", str(path)
        ) from None
    if not os.access(path.parent, os.W_OK):
        raise SessionWriteError(13, f"cannot write session file {path}: folder is not writable", str(path))
    if path.is_dir():
        raise SessionWriteError(errno.EISDIR, f"cannot write session file {path}: it is a folder", str(path))
    if overwrite:
        return []
    made: list[Path] = []
    for p in (path, events_path_for(path)):
        try:
            os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except OSError as e:
            unreserve(made)
            if e.errno == errno.EEXIST:
                raise SessionWriteError(
                    errno.EEXIST,
                    f"{p} already exists (another run just took the name?): pick another --output",
                    str(p),
                ) from None
            raise SessionWriteError(
                e.errno or 5, f"cannot write session file {p}: {folder_reason(e)}", str(p)
            ) from None
        made.append(p)
    return made


def unreserve(paths: list[Path]) -> None:
    """Remove files reserve_output made, if nothing was written into them."""
    for p in paths:
        with contextlib.suppress(OSError):
            if p.stat().st_size == 0:
                p.unlink()
