"""The sessions folder's disk budget: a reserve of free space recording never eats into, and an
opt-in retention that deletes the oldest Duet session files (pure functions; RecordingController
in app/recording.py decides when they run).

Reserve (`duet --reserve-gb GB`, DUET_SESSIONS_RESERVE_GB; default 1 GB, 0 = none): no file starts,
and one being written is ended cleanly, while the sessions folder's disk has less than that free;
the disk never fills up (logs and settings on it keep working). Recording that was wanted resumes
in a new file once the reserve plus RESUME_MARGIN_BYTES is free (the margin keeps it from stopping
again a minute later).

Retention (`duet --keep-gb GB`, DUET_SESSIONS_KEEP_GB; off unless given): the Duet session files in
the folder (duet-DATE-TIME[-LABEL].mkv whose NAME.events.jsonl lies beside it: what the app writes)
are kept under GB in all, the oldest (by modification time) deleted first, each pair whole. Nothing
else is touched: not other files, not symbolic links, not a file being written (it counts towards
the total but is never deleted; one that alone grows past the keep is warned about once), and not
the newest finished session (the one before the file being written: what led up to a crash or a
pause stays until the next file is finished).

Sizes are bytes; GB on the command line and in messages are 10^9 bytes, MB 10^6 (as `df -H`).
"""

from __future__ import annotations

import errno
import logging
import math
import os
import re
import shutil
import stat
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.session import events_path_for

log = logging.getLogger(__name__)

GB = 1_000_000_000  # bytes in the GB of flags, variables and messages
DEFAULT_RESERVE_BYTES = 1 * GB  # left free on the sessions folder's disk unless told otherwise
RESUME_MARGIN_BYTES = GB // 2  # resume only with this much above the reserve (~55 min of recording)
RESERVE_ENV = "DUET_SESSIONS_RESERVE_GB"
KEEP_ENV = "DUET_SESSIONS_KEEP_GB"
# what RecordingController names its files (engine.session.file_stem("duet", label), unique_path's -N)
DUET_FILE = re.compile(r"duet-\d{4}-\d{2}-\d{2}-\d{6}(?:-[A-Za-z0-9._-]+)?\.mkv")
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


@dataclass(frozen=True)
class Budget:
    reserve_bytes: int = DEFAULT_RESERVE_BYTES  # >= 0; 0: record until the disk is full
    keep_bytes: int | None = None  # > 0: Duet sessions kept under this many bytes; None: keep all


def parse_gb(text: str, *, zero_ok: bool) -> int:
    """'1.5' -> 1_500_000_000 bytes. ValueError (says why) for a non-number, a negative one, or 0
    when not `zero_ok`."""
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a number of GB") from None
    n = value * GB
    # (a value that rounds to 0 bytes is 0: "--keep-gb 1e-10" would delete every finished recording)
    if not math.isfinite(n) or n < 0 or (round(n) == 0 and not zero_ok):
        raise ValueError(f"{text!r}: give a number of GB {'of 0 or more' if zero_ok else 'above 0'}")
    return round(n)


def budget_from_env(env: Mapping[str, str] = os.environ) -> Budget:
    """The budget DUET_SESSIONS_RESERVE_GB / DUET_SESSIONS_KEEP_GB ask for (unset or empty: the
    defaults). A bad value is logged and ignored: the default reserve, and no deleting."""
    reserve, keep = DEFAULT_RESERVE_BYTES, None
    if text := env.get(RESERVE_ENV, "").strip():
        try:
            reserve = parse_gb(text, zero_ok=True)
        except ValueError as e:
            log.warning("%s: %s; the reserve stays %s", RESERVE_ENV, e, size_text(reserve))
    if text := env.get(KEEP_ENV, "").strip():
        try:
            keep = parse_gb(text, zero_ok=False)
        except ValueError as e:
            log.warning("%s: %s; no session file will be deleted", KEEP_ENV, e)
    return Budget(reserve, keep)


def size_text(n: float) -> str:
    """Bytes as text that reads right at any scale: "16 MB", "2.5 MB", "1.23 GB", "40 GB", "512 bytes"
    (decimal units; at most 3 significant digits, trailing zeros dropped)."""
    n = max(0, round(n))
    if n < 1000:
        return f"{n} bytes"
    for unit, scale in (("kB", 10**3), ("MB", 10**6), ("GB", GB), ("TB", 10**12)):
        value = n / scale
        places = 2 if value < 10 else 1 if value < 100 else 0
        if unit in ("kB", "MB"):
            places = min(places, 1)
        text = f"{value:.{places}f}"
        if float(text) < 1000 or unit == "TB":
            if "." in text:
                text = text.rstrip("0").rstrip(".")
            return f"{text} {unit}"
    raise AssertionError("unreachable")


def keep_text(keep_bytes: int) -> str:
    """The --keep-gb value as given ("0.05 GB"), with what that is when under 1 GB ("0.05 GB = 50 MB")."""
    given = f"{keep_bytes / GB:g} GB"
    return given if keep_bytes >= GB else f"{given} = {size_text(keep_bytes)}"


def gb_under(free: int, limit: int) -> tuple[str, str]:
    """`free` and a `limit` it is under (or over), as GB with as many decimals (up to 3) as it
    takes for them not to look equal, else in bytes: 0.96 GB free under 1 GB is "0.96 GB" and
    "1.00 GB", not "1.0 GB" twice."""
    for places in (1, 2, 3):
        a, b = f"{free / GB:.{places}f} GB", f"{limit / GB:.{places}f} GB"
        if a != b:
            return a, b
    return f"{free:,} bytes", f"{limit:,} bytes"


def free_bytes(folder: Path) -> int | None:
    """Free space (bytes) on the disk of `folder`; None when it cannot be told (gone, no access)."""
    try:
        return int(shutil.disk_usage(folder).free)
    except OSError:
        return None


def is_disk_full(e: BaseException | None) -> bool:
    """The error is a full disk (or a full quota): the kind that frees up again."""
    if e is None:
        return False
    return getattr(e, "errno", None) in DISK_FULL_ERRNOS or "No space left on device" in str(e)


@dataclass(frozen=True)
class SessionFile:
    """One Duet recording in the sessions folder: NAME.mkv and NAME.events.jsonl."""

    mkv: Path
    events: Path
    size: int  # bytes of both
    mtime: float  # the .mkv's modification time (s since the epoch)


def duet_sessions(folder: Path) -> list[SessionFile]:
    """The Duet session pairs directly in `folder`, oldest first (by the .mkv's modification time,
    then name). Only regular files (no symbolic links) named as the app names them, with the
    events file beside; [] when the folder cannot be read."""
    out = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        if not DUET_FILE.fullmatch(entry.name):
            continue
        mkv = Path(entry.path)
        events = events_path_for(mkv)
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            st = entry.stat(follow_symlinks=False)
            est = events.lstat()
        except OSError:  # no events file beside it (or it just went): not a pair the app wrote
            continue
        if not stat.S_ISREG(est.st_mode):  # a link or a folder in its place
            continue
        out.append(SessionFile(mkv, events, st.st_size + est.st_size, st.st_mtime))
    out.sort(key=lambda s: (s.mtime, s.mkv.name))
    return out


def is_protected(mkv: Path, stems: Collection[str]) -> bool:
    """The file belongs to a recording still being written: its stem is one of `stems`, or one
    with unique_path's -N (or a label) after it."""
    return any(mkv.stem == s or mkv.stem.startswith(s + "-") for s in stems)


def prune(
    folder: Path,
    keep_bytes: int,
    protect: Collection[str],
    failed: set[Path],
    warned: set[Path] | None = None,
) -> list[SessionFile]:
    """Delete the oldest Duet session pairs in `folder` until all of them together take at most
    `keep_bytes`. Never a pair in `protect` (stems of files being written: they count towards
    the total), nor the newest of the others (the last finished file: what led up to a crash or a
    pause), nor one in `failed` (could not be deleted before: said once). A file being written that
    alone takes more than `keep_bytes` is warned about once (its .mkv is added to `warned`). Logs
    each deletion; returns the pairs deleted."""
    sessions = duet_sessions(folder)
    total = sum(s.size for s in sessions)
    live = [s for s in sessions if is_protected(s.mkv, protect)]
    finished = [s for s in sessions if not is_protected(s.mkv, protect)]
    if warned is not None:
        for s in live:
            if s.size > keep_bytes and s.mkv not in warned:
                warned.add(s.mkv)
                log.warning(
                    "retention: %s, the file being written, alone takes %s, more than the %s kept "
                    "(--keep-gb / %s); the file being written is never deleted",
                    s.mkv,
                    size_text(s.size),
                    keep_text(keep_bytes),
                    KEEP_ENV,
                )
    deleted: list[SessionFile] = []
    for s in finished[:-1]:  # (the newest finished file stays)
        if total <= keep_bytes:
            break
        if s.mkv in failed:
            continue
        try:
            s.mkv.unlink()
        except FileNotFoundError:
            total -= s.size  # deleted by someone else meanwhile
            continue
        except OSError as e:
            failed.add(s.mkv)
            log.warning("retention: cannot delete %s: %s (left alone from now on)", s.mkv, e.strerror or e)
            continue
        try:
            s.events.unlink(missing_ok=True)
        except OSError as e:
            log.warning("retention: cannot delete %s: %s", s.events, e.strerror or e)
        total -= s.size
        deleted.append(s)
        log.info(
            "retention: deleted %s and its .events.jsonl (%s, the oldest Duet session); Duet sessions "
            "now take %s of the %s kept (--keep-gb / %s)",
            s.mkv,
            size_text(s.size),
            size_text(total),
            keep_text(keep_bytes),
            KEEP_ENV,
        )
    return deleted


# ---------------------------------------------------------------------- what the window says
def reserve_note(folder: Path, free: int, budget: Budget) -> str:
    """Recording pauses (or does not start): the disk is down to its reserve."""
    have, reserve = gb_under(free, budget.reserve_bytes)
    return (
        f"Recording paused: only {have} free in {folder}, under the {reserve} kept free (--reserve-gb, "
        f"{RESERVE_ENV}). {_resume_hint(budget)}"
    )


def full_note(error: BaseException, budget: Budget) -> str:
    """Recording pauses: a write failed on a full disk (what was written is kept, readable)."""
    return f"Recording paused: {error}. What was written is kept. {_resume_hint(budget)}"


def resumed_note(free: int) -> str:
    return f"Recording resumed in a new file: {size_text(free)} free again."


def _resume_hint(budget: Budget) -> str:
    again = size_text(budget.reserve_bytes + RESUME_MARGIN_BYTES)
    keep = "" if budget.keep_bytes is not None else ", or keep fewer sessions with --keep-gb"
    return (
        f"It resumes by itself in a new file once {again} are free (Stop recording cancels that): "
        f"free some space, move DUET_SESSIONS_DIR{keep}."
    )
