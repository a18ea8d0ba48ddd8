"""describe(): a quick summary of a session file without decoding its media (for `duet-engine show`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import av

from engine.media.reader import reason
from engine.protocol import (
    TICK_MS,
    TICK_S,
    ErrorEvent,
    PlaybackReport,
    Transcript,
    UserText,
    continues_sentence,
)

from .reader import SessionReadError, _inspect, _read_events, check_session_path, ends_early
from .writer import events_path_for

# A final user transcript with the text of a typed line (UserText, not an operator's) at most this
# many ticks before or after it is the model's echo of that line (lite captions typed text, stamped
# with the start of the 4-tick unit it applied it in; the runner feeds up to a few units ahead, the
# app's text reaches the engine a moment later, and a busy engine in a real-time run applied one
# 1.4 s late): 75 ticks = 3 s. Speech recognition giving exactly the typed words is rare enough that
# a spoken repeat inside that window is the one case this would hide.
ECHO_WINDOW_TICKS = 75


def describe(path: str | Path) -> dict[str, Any]:
    """{"path", "meta", "ticks", "duration_s", "tracks": [...], "events": {type: count},
    "conversation": [{"tick", "side", "text"(, "typed": true)}], "truncated", "bad_event_lines",
    "errors": ["code: message"],
    "playback_lag_ms": {"min", "p50", "max"} | None} — packets are scanned, not decoded."""
    p = Path(path)
    check_session_path(p)
    try:
        container = av.open(str(p))
    except (OSError, av.FFmpegError) as e:
        raise SessionReadError(f"{p} is not a readable session file: {reason(e)}") from None
    truncated = False
    try:
        meta, streams = _inspect(container, p)
        ends: dict[int, float] = dict.fromkeys(streams, 0.0)  # stream index -> end seconds
        packets: Counter[int] = Counter()
        chosen = [s for s in container.streams if s.index in streams]
        try:
            for pkt in container.demux(chosen):
                if pkt.pts is None or pkt.size == 0:
                    continue
                end = float((pkt.pts + (pkt.duration or 0)) * pkt.time_base)
                ends[pkt.stream.index] = max(ends[pkt.stream.index], end)
                packets[pkt.stream.index] += 1
        except (av.FFmpegError, EOFError):
            truncated = True
        tracks = []
        for s in chosen:
            cc = s.codec_context
            row: dict[str, Any] = {
                "kind": streams[s.index],
                "codec": cc.name,
                "duration_s": round(ends[s.index], 3),
            }
            if isinstance(s, av.audio.stream.AudioStream):
                row["rate"] = s.codec_context.sample_rate
            elif isinstance(s, av.video.stream.VideoStream):
                row["size"] = [s.codec_context.width, s.codec_context.height]
                row["frames"] = packets[s.index]
            tracks.append(row)
        declared = container.duration  # microseconds, written when the file was closed
    finally:
        container.close()
    events, ev_truncated, bad_lines = _read_events(events_path_for(p))
    ticks = round(max(ends.values(), default=0.0) / TICK_S)
    truncated = truncated or ends_early(declared, max(ends.values(), default=0.0))
    lags_ms = _lags_ms(events)
    return {
        "path": str(p.resolve()),
        "meta": meta,
        "ticks": ticks,
        "duration_s": round(ticks * TICK_S, 3),
        "tracks": tracks,
        "events": dict(Counter(type(m).__name__ for _, _, m in events)),
        "conversation": _conversation(events),
        "truncated": truncated or ev_truncated,
        # lines of the events log skipped as unreadable (damaged, not UTF-8, an unknown message
        # type): what they said is missing from "events" and "conversation"
        "bad_event_lines": bad_lines,
        # the model's errors, in order (the chat server did not answer, ...; a fatal one last)
        "errors": [f"{m.code}: {m.message}" for _, _, m in events if isinstance(m, ErrorEvent)],
        # the speaker's lag behind the avatar track (app recordings): add it to latencies measured
        # on the file to get what the person heard; None when not recorded (the runner has none)
        "playback_lag_ms": _spread(lags_ms),
    }


def _conversation(events: list[tuple[int, str, object]]) -> list[dict[str, Any]]:
    """What was said, in order: final transcripts ("" = a withdrawn partial) and what the user
    typed ("typed": true; an operator's line is the avatar's transcript when it is said). The model's
    caption of a typed line (see ECHO_WINDOW_TICKS; the runner and the app log the UserText before
    the model can caption it) is not a line of its own: the typed line is listed once, at its tick."""
    out: list[dict[str, Any]] = []
    typed: list[dict[str, Any]] = []  # typed lines whose echo has not come yet
    for t, _, m in events:
        if isinstance(m, Transcript) and m.final and m.text:
            text = m.text.strip()
            if m.side == "user":
                echoed = _echo_of(typed, t, text)
                if echoed is not None:
                    typed.remove(echoed)
                    continue
            prev = out[-1] if out else None
            if m.side == "avatar" and prev and prev["side"] == "avatar" and continues_sentence(prev["text"]):
                prev["text"] += " " + text  # the rest of a sentence the voice said in parts
            else:
                out.append({"tick": t, "side": m.side, "text": m.text})
        elif isinstance(m, UserText) and m.text.strip() and not m.operator:
            out.append({"tick": t, "side": "user", "text": m.text, "typed": True})
            typed.append(out[-1])
    return out


def _echo_of(lines: list[dict[str, Any]], tick: int, text: str) -> dict[str, Any] | None:
    """The first of `lines` with `text` (stripped) within ECHO_WINDOW_TICKS of `tick`."""
    for line in lines:
        if abs(line["tick"] - tick) <= ECHO_WINDOW_TICKS and line["text"].strip() == text:
            return line
    return None


def _lags_ms(events: list[tuple[int, str, object]]) -> list[float]:
    """The playback lags the app wrote (PlaybackReport.mic_lag_ticks), in ms."""
    out = []
    for _, _, m in events:
        if isinstance(m, PlaybackReport) and m.mic_lag_ticks is not None:
            out.append(m.mic_lag_ticks * TICK_MS)
    return out


def _spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    v = sorted(values)
    return {"min": round(v[0], 1), "p50": round(v[len(v) // 2], 1), "max": round(v[-1], 1)}
