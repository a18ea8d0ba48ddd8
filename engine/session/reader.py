"""read_session: a session file (NAME.mkv + NAME.events.jsonl) back into arrays on the tick clock.

Frames are indexed by tick: frames[t] is what was shown at tick t (black before the first frame,
the previous frame held over gaps). A file cut short by a crash reads up to where it ends
(`SessionData.truncated` is then True when the tail was visibly damaged).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np

from engine.media.reader import reason
from engine.protocol import (
    AVATAR_RATE,
    AVATAR_SAMPLES_PER_TICK,
    FPS,
    MIC_RATE,
    MIC_SAMPLES_PER_TICK,
    TICK_S,
    ProtocolError,
    decode,
)

from .writer import SESSION_VERSION, events_path_for

log = logging.getLogger(__name__)

EVENTS_SUFFIX = ".events.jsonl"


class SessionReadError(ValueError):
    """The file is not a readable Duet session. The message names the file."""


class EventLog(list[tuple[int, str, object]]):
    """The events of NAME.events.jsonl, in the order written: (tick, src, decoded message). A plain
    list, with what reading it found: `missing` (there is no events file: no events is not the
    same as none recorded), `truncated` (the last line was cut off mid-write), `bad_event_lines`
    (lines skipped as unreadable: damaged, not UTF-8, an unknown message type)."""

    def __init__(
        self,
        events: list[tuple[int, str, object]] | None = None,
        *,
        missing: bool = False,
        truncated: bool = False,
        bad_event_lines: int = 0,
    ) -> None:
        super().__init__(events or [])
        self.missing = missing
        self.truncated = truncated
        self.bad_event_lines = bad_event_lines


@dataclass
class SessionData:
    user_pcm: np.ndarray  # float32 (n16k,) mic at 16 kHz
    avatar_pcm: np.ndarray  # float32 (n24k,) avatar voice at 24 kHz
    avatar_frames: np.ndarray | None  # uint8 (n_ticks, S, S, 3), index = tick
    user_frames: np.ndarray | None  # uint8 (n_ticks, H, W, 3), index = tick; None: no camera
    events: list[tuple[int, str, object]]  # (tick, src, decoded protocol message)
    meta: dict[str, str]  # container metadata, lower-case keys
    n_ticks: int  # session length in ticks (the longest track)
    path: Path = field(default_factory=Path)
    truncated: bool = False  # the file (or the events log) ended mid-write, e.g. after a crash
    # lines of NAME.events.jsonl skipped as unreadable (damaged, not UTF-8, an unknown message type);
    # the rest of the log is in events
    bad_event_lines: int = 0
    # there is no NAME.events.jsonl beside the file (events is empty because nothing could be read,
    # not because nothing happened); a warning names the file
    events_missing: bool = False


def read_session(path: str | Path, frame_size: int | None = None, video: bool = True) -> SessionData:
    """Read NAME.mkv (+ NAME.events.jsonl if present).

    frame_size: scale avatar frames to frame_size x frame_size and user frames to fit in a
    frame_size square (aspect kept, even sides); None keeps the stored size.
    video=False: audio and events only (avatar_frames and user_frames are None; n_ticks is the
    same): no video is decoded, so a long session reads in a fraction of the time and memory.
    """
    p = Path(path)
    if frame_size is not None and frame_size < 2:
        raise SessionReadError(f"frame_size must be >= 2, got {frame_size}")
    container = open_container(p)
    try:
        meta, streams = _inspect(container, p)
        decoded, truncated = _decode(container, streams, frame_size, video)
        declared = container.duration  # microseconds, written when the file was closed
    finally:
        container.close()
    user_pcm = _assemble_audio(decoded["audio:user"], MIC_RATE)
    avatar_pcm = _assemble_audio(decoded["audio:avatar"], AVATAR_RATE)
    n_ticks = max(
        -(-user_pcm.shape[0] // MIC_SAMPLES_PER_TICK),
        -(-avatar_pcm.shape[0] // AVATAR_SAMPLES_PER_TICK),
        *(max(d, default=-1) + 1 for k, d in decoded.items() if k.startswith("video:")),
    )
    events = _read_events(events_path_for(p))
    return SessionData(
        user_pcm=user_pcm,
        avatar_pcm=avatar_pcm,
        avatar_frames=_assemble_frames(decoded.get("video:avatar"), n_ticks) if video else None,
        user_frames=_assemble_frames(decoded.get("video:user"), n_ticks) if video else None,
        events=list(events),
        meta=meta,
        n_ticks=n_ticks,
        path=p,
        truncated=truncated or events.truncated or ends_early(declared, n_ticks * TICK_S),
        bad_event_lines=events.bad_event_lines,
        events_missing=events.missing,
    )


def check_session_header(path: str | Path) -> None:
    """SessionReadError unless `path` opens as a Duet session file (its metadata and the two audio
    tracks; nothing is decoded): says what it is instead, as read_session would."""
    p = Path(path)
    container = open_container(p)
    try:
        _inspect(container, p)
    finally:
        container.close()


EBML_MAGIC = b"\x1a\x45\xdf\xa3"  # every Matroska file's first 4 bytes
# A session file smaller than this cannot hold its header and a first cluster (a header alone is
# ~1-2 KB; a one-tick session ~5 KB): FFmpeg's "Input/output error" on one is a file cut short.
SMALL_FILE_BYTES = 8192


def open_container(p: Path) -> Any:
    """`p` opened by PyAV (the caller closes it); SessionReadError saying what `p` is when it
    cannot be a session file or FFmpeg cannot open it."""
    check_session_path(p)
    try:
        return av.open(str(p))
    except (OSError, av.FFmpegError) as e:
        raise SessionReadError(unreadable(p, e)) from None


def unreadable(p: Path, e: BaseException) -> str:
    """Why the session file `p` cannot be opened, in words: a file cut short in its first bytes
    makes FFmpeg say "Input/output error", which sounds like a failing disk; on a larger file it
    is one (or a drive pulled out) and is said so. "Invalid data" is a file that is not Matroska,
    or one whose header is damaged: its first bytes tell which when they can."""
    why = reason(e)
    try:
        size = p.stat().st_size
    except OSError:
        size = -1
    small = 0 <= size < SMALL_FILE_BYTES
    cut = (
        f"{p} is not a readable session file: it is truncated or damaged ({size} bytes; "
        "FFmpeg found no complete Matroska header)"
    )
    if "End of file" in why or ("Input/output error" in why and small):
        return cut
    head = f"{p} is not a readable session file"
    if "Input/output error" in why:
        return f"{head}: {why} (a disk or drive problem?)"
    if "Invalid data found" in why:
        if _head(p) != EBML_MAGIC:  # not Matroska, or its very first bytes are damaged
            return f"{head}: it is not Matroska, or its header is damaged (FFmpeg: {why})"
        if small:
            return cut
        return f"{head}: its Matroska header is damaged ({size} bytes; FFmpeg: {why})"
    return f"{head}: {why}"


def _head(p: Path) -> bytes:
    """The file's first 4 bytes (b"" when it cannot be read)."""
    try:
        with p.open("rb") as f:
            return f.read(4)
    except OSError:
        return b""


def check_session_path(p: Path) -> None:
    """SessionReadError unless `p` could be a session file (NAME.mkv): it names what `p` is instead."""
    if not p.exists():
        raise SessionReadError(f"session file not found: {p}")
    if p.is_dir():
        raise SessionReadError(f"{p} is a folder, not a session file (pass a NAME.mkv in it)")
    if p.name.endswith(EVENTS_SUFFIX):
        mkv = p.with_name(p.name[: -len(EVENTS_SUFFIX)] + ".mkv")
        there = "" if mkv.is_file() else ", which is not there"
        raise SessionReadError(
            f"{p} is the events log of a session, not the session file: pass {mkv.name} beside it{there}"
        )
    if not p.is_file():
        raise SessionReadError(f"{p} is not a regular file, not a session file")
    if p.stat().st_size == 0:
        raise SessionReadError(f"{p} is empty (0 bytes), not a session file")


def ends_early(declared_us: int | None, end_s: float) -> bool:
    """The media stops short of the length the file declares (cut off after it was closed), or it
    declares none (never closed: the writer crashed or lost power mid-write)."""
    if declared_us is None:
        return True
    return end_s < declared_us / 1e6 - 2 * TICK_S


def _inspect(container: Any, p: Path) -> tuple[dict[str, str], dict[int, str]]:
    meta = {str(k).lower(): str(v) for k, v in container.metadata.items()}
    version = meta.get("duet_session_version")
    if version is None:
        raise SessionReadError(f"{p} is not a Duet session file (no duet_session_version metadata)")
    if version != str(SESSION_VERSION):
        raise SessionReadError(
            f"{p}: unsupported session version {version} (this Duet reads {SESSION_VERSION})"
        )
    streams: dict[int, str] = {}  # stream index -> "audio:user" | "audio:avatar" | "video:avatar" | ...
    for s in container.streams:
        title = str(s.metadata.get("title", s.metadata.get("TITLE", ""))).lower()
        if s.type in ("audio", "video") and title in ("user", "avatar"):
            streams[s.index] = f"{s.type}:{title}"
    for needed in ("audio:user", "audio:avatar"):
        if needed not in streams.values():
            raise SessionReadError(f"{p}: session file has no {needed.replace(':', ' track ')!r}")
    return meta, streams


def _decode(
    container: Any, streams: dict[int, str], frame_size: int | None, video: bool = True
) -> tuple[dict[str, Any], bool]:
    """{"audio:*": [(start sample, pcm)], "video:*": {tick: rgb (None: not decoded)}}, truncated."""
    out: dict[str, Any] = {k: ([] if k.startswith("audio:") else {}) for k in streams.values()}
    truncated = False
    chosen = [s for s in container.streams if s.index in streams]
    try:
        for packet in container.demux(chosen):
            key = streams[packet.stream.index]
            if not video and key.startswith("video:"):
                if packet.pts is not None and packet.size:  # its tick counts for n_ticks; not decoded
                    out[key][round(float(packet.pts * packet.time_base) * FPS)] = None
                continue
            for frame in packet.decode():
                if key.startswith("audio:"):
                    out[key].append(_audio_block(frame))
                else:
                    tick = round(float(frame.pts * frame.time_base) * FPS)
                    out[key][tick] = _rgb(frame, key, frame_size)
    except (av.FFmpegError, EOFError):  # damaged tail (crash mid-write): keep what decoded
        truncated = True
    return out, truncated


def _audio_block(frame: Any) -> tuple[int, np.ndarray]:
    """(start sample, float32 (n,)) of one decoded pcm_s16le frame."""
    start = round(float(frame.pts * frame.time_base) * frame.sample_rate) if frame.pts is not None else -1
    data = frame.to_ndarray().reshape(-1)
    if data.dtype == np.int16:
        pcm = data.astype(np.float32) / 32768.0
    else:
        pcm = data.astype(np.float32)
    return start, pcm


def _rgb(frame: Any, key: str, frame_size: int | None) -> np.ndarray:
    if frame_size is None:
        return frame.to_ndarray(format="rgb24")
    if key == "video:avatar":
        w = h = frame_size
    else:  # the long side = the largest even size <= frame_size, the short side rounded to even
        side = frame_size - frame_size % 2  # frame_size >= 2, so side >= 2
        scale = side / max(frame.width, frame.height)
        w = min(side, max(2, round(frame.width * scale / 2) * 2))
        h = min(side, max(2, round(frame.height * scale / 2) * 2))
    return frame.reformat(width=w, height=h, format="rgb24").to_ndarray()


def _assemble_audio(blocks: list[tuple[int, np.ndarray]], rate: int) -> np.ndarray:
    pos = 0
    placed = []
    for start, pcm in blocks:
        start = pos if start < 0 else start
        placed.append((start, pcm))
        pos = start + pcm.shape[0]
    n = max((s + p.shape[0] for s, p in placed), default=0)
    out = np.zeros(n, np.float32)
    for s, p in placed:
        out[s : s + p.shape[0]] = p
    return out


def _assemble_frames(frames: dict[int, np.ndarray] | None, n_ticks: int) -> np.ndarray | None:
    if not frames:
        return None
    first = frames[min(frames)]
    out = np.zeros((n_ticks, *first.shape), np.uint8)
    prev: np.ndarray | None = None
    for t in range(n_ticks):
        f = frames.get(t)
        if f is not None and f.shape == first.shape:
            prev = f
        if prev is not None:
            out[t] = prev
    return out


def read_events(path: str | Path) -> EventLog:
    """Only the events of a session (NAME.mkv or NAME.events.jsonl): a list of (tick, src,
    message) with `.truncated` and `.bad_event_lines` (EventLog); a missing file is an error."""
    p = Path(path)
    if not p.name.endswith(EVENTS_SUFFIX):
        p = events_path_for(p)
    if not p.is_file():
        raise SessionReadError(f"events file not found: {p}")
    return _read_events(p)


def _read_events(path: Path) -> EventLog:
    """The events of NAME.events.jsonl; a missing file has none (`missing`, and a warning).

    truncated: the last line has no newline after it and does not parse (the writer was cut off
    mid-line). Bad lines (not UTF-8, not JSON, an unknown message type, ...) anywhere else are
    skipped and counted, the rest is read; a warning names the file and the first few."""
    if not path.is_file():
        log.warning("%s is missing: the session reads without events", path)
        return EventLog(missing=True)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SessionReadError(f"cannot read events file {path}: {e}") from None
    lines = data.split(b"\n")
    events: list[tuple[int, str, object]] = []
    truncated = False
    bad: list[str] = []  # "line N: why"
    for i, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
            tick, src, msg = obj["tick"], obj["src"], obj["msg"]
            if not isinstance(tick, int) or not isinstance(src, str):
                raise ValueError("tick must be an integer and src a string")
            events.append((tick, src, decode(json.dumps(msg))))
        except (ValueError, KeyError, TypeError, RecursionError, ProtocolError) as e:
            if i == len(lines) - 1:  # no newline after it: the writer was cut off mid-line
                truncated = True
            else:
                bad.append(f"line {i + 1}: {_why(e)}")
    if bad:
        more = f"; {len(bad) - 3} more" if len(bad) > 3 else ""
        log.warning(
            "%s: skipped %d unreadable event line(s) (%s%s)", path, len(bad), "; ".join(bad[:3]), more
        )
    return EventLog(events, truncated=truncated, bad_event_lines=len(bad))


def _why(e: Exception) -> str:
    """One short line saying why an event line did not parse."""
    if isinstance(e, UnicodeDecodeError):
        return "not UTF-8"
    if isinstance(e, KeyError):
        return f"no {e} field"
    return f"{e}"[:120] or type(e).__name__
