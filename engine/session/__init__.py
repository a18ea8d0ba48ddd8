"""Session files: both sides of a conversation on one clock (NAME.mkv) + events (NAME.events.jsonl).

No torch: the app records with SessionWriter too. Format: docs/CONTRACTS.md.
"""

from .info import describe
from .naming import clean_label, file_stem, label_slug, local_iso
from .reader import EventLog, SessionData, SessionReadError, read_events, read_session
from .writer import (
    EVENT_SOURCES,
    SESSION_VERSION,
    SessionWriteError,
    SessionWriter,
    events_path_for,
    session_meta,
)

__all__ = [
    "EVENT_SOURCES",
    "SESSION_VERSION",
    "EventLog",
    "SessionData",
    "SessionReadError",
    "SessionWriteError",
    "SessionWriter",
    "clean_label",
    "describe",
    "events_path_for",
    "file_stem",
    "label_slug",
    "local_iso",
    "read_events",
    "read_session",
    "session_meta",
]
