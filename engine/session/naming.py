"""Names and times of session files: a study's label made safe for a file name, and the local
time with its UTC offset (the file name's DATE-TIME is local time; `created` is UTC).

    file_stem("duet", "P03 cond B", t)  -> "duet-2026-12-02-071409-P03-cond-B"
    local_iso(t)                        -> "2026-12-02T07:14:09.123+01:00"
"""

from __future__ import annotations

import datetime as _dt
import re
import unicodedata

MAX_LABEL_CHARS = 80  # a label longer than this is cut (metadata); its file-name part is shorter
MAX_SLUG_CHARS = 40
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def clean_label(text: str) -> str:
    """The label as metadata keeps it: one line, spaces collapsed, at most MAX_LABEL_CHARS."""
    return " ".join(str(text).split())[:MAX_LABEL_CHARS].strip()


def label_slug(text: str) -> str:
    """The label as a file name takes it: ASCII letters, digits, '.', '_' and '-' only (accents
    dropped: "Élodie" -> "Elodie"; anything else, spaces included, becomes one '-'), no leading or
    trailing '-', '.' or '_', at most MAX_SLUG_CHARS; "" when nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", clean_label(text)).encode("ascii", "ignore").decode()
    slug = _UNSAFE.sub("-", ascii_text).strip("-._")
    return slug[:MAX_SLUG_CHARS].rstrip("-._")


def file_stem(prefix: str, label: str = "", when: _dt.datetime | None = None) -> str:
    """PREFIX-YYYY-MM-DD-HHMMSS[-LABEL] in local time (the label made safe by label_slug)."""
    t = (when or _dt.datetime.now()).astimezone()
    slug = label_slug(label)
    return f"{prefix}-{t:%Y-%m-%d-%H%M%S}" + (f"-{slug}" if slug else "")


def local_iso(when: _dt.datetime | None = None) -> str:
    """ISO 8601 local time to the millisecond with its UTC offset ("...T07:14:09.123+01:00")."""
    t = (when or _dt.datetime.now(_dt.UTC)).astimezone()
    return t.isoformat(timespec="milliseconds")
