"""describe(): a quick summary of a session file without decoding its media (for `duet-engine show`)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

import av

from engine.protocol import (
    CONTROL_TYPES,
    EVENT_TYPES,
    RECORD_TYPES,
    TICK_MS,
    TICK_S,
    Closed,
    Decision,
    DecisionChanged,
    ErrorEvent,
    FlushOut,
    MicInput,
    PlaybackReport,
    Transcript,
    UserText,
    continues_sentence,
)

from .reader import _inspect, _read_events, ends_early, open_container
from .writer import events_path_for

# A final user transcript with the text of a typed line (UserText, not an operator's) at most this
# many ticks before or after it is the model's echo of that line (lite captions typed text, stamped
# with the start of the 4-tick unit it applied it in; the runner feeds up to a few units ahead, the
# app's text reaches the engine a moment later, and a busy engine in a real-time run applied one
# 1.4 s late): 75 ticks = 3 s. Speech recognition giving exactly the typed words is rare enough that
# a spoken repeat inside that window is the one case this would hide.
ECHO_WINDOW_TICKS = 75


# class name -> the `type` it has in NAME.events.jsonl (DecisionChanged -> "decision")
TYPE_NAMES: dict[str, str] = {
    cls.__name__: name for name, cls in {**CONTROL_TYPES, **EVENT_TYPES, **RECORD_TYPES}.items()
}

# why an avatar line stopped short ("cut"), as describe() gives it -> as `show` says it; a FlushOut's
# own reason (the client's Flush reason, a model's) is given as it is
CUT_WORDS = {
    "barge_in": "barge-in",
    "yield": "the avatar yielded",
    "client": "stopped by the client",
    "operator": "an operator line",
    "stopped": "stopped mid-sentence",
    "file_end": "the file ends",
}


def describe(path: str | Path) -> dict[str, Any]:
    """{"path", "meta", "ticks", "duration_s", "tracks": [...], "events": {class name: count},
    "event_types": {events.jsonl type: count}, "events_missing", "events_after_end",
    "conversation": [{"tick", "side", "text"(, "typed", "operator", "cut_tick", "cut", "heard",
    "unheard")}], "conversation_after_end", "truncated", "bad_event_lines", "errors": ["code: message"],
    "playback_lag_ms": {"min", "p50", "max"} | None, "mic_input": [{"tick", "muted", "push_to_talk",
    "talk_held", "heard"}]} — packets are scanned, not decoded."""
    p = Path(path)
    container = open_container(p)
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
            track = {str(k).lower(): str(v) for k, v in s.metadata.items()}.get("duet_track")
            if track:  # which of the four ("user mic", ...); files before it have only the title
                row["track"] = track
            if isinstance(s, av.audio.stream.AudioStream):
                row["rate"] = s.codec_context.sample_rate
            elif isinstance(s, av.video.stream.VideoStream):
                row["size"] = [s.codec_context.width, s.codec_context.height]
                row["frames"] = packets[s.index]
            tracks.append(row)
        declared = container.duration  # microseconds, written when the file was closed
    finally:
        container.close()
    events = _read_events(events_path_for(p))
    ticks = round(max(ends.values(), default=0.0) / TICK_S)
    voice_end = round(next((ends[i] for i, k in streams.items() if k == "audio:avatar"), 0.0) / TICK_S)
    truncated = truncated or ends_early(declared, max(ends.values(), default=0.0))
    lags_ms = _lags_ms(events)
    conversation = _conversation(events, end_tick=voice_end)
    return {
        "path": str(p.resolve()),
        "meta": meta,
        "ticks": ticks,
        "duration_s": round(ticks * TICK_S, 3),
        "tracks": tracks,
        "events": dict(Counter(type(m).__name__ for _, _, m in events)),
        # the same counts under the names NAME.events.jsonl gives them (its "type"; TYPE_NAMES)
        "event_types": dict(Counter(_type_name(m) for _, _, m in events)),
        # there is no NAME.events.jsonl beside the file: "events" is empty for want of it
        "events_missing": events.missing,
        # events stamped later than the file's last tick: a file cut short (its media stop before
        # its events log does), or an app recording stopped while the avatar spoke (its lines are
        # stamped with output ticks, ahead of the mic tick the file ends on); counted in "events"
        # all the same
        # (from the tick after the last one on, like "conversation"; the Closed that ends a whole
        # file is stamped there and is not counted)
        "events_after_end": sum(
            1 for t, _, m in events if t > ticks or (t == ticks and not isinstance(m, Closed))
        ),
        # what was said from the file's last tick on is not in "conversation" (not in the media)
        "conversation": [c for c in conversation if c["tick"] < ticks],
        "conversation_after_end": sum(1 for c in conversation if c["tick"] >= ticks),
        "truncated": truncated or events.truncated,
        # lines of the events log skipped as unreadable (damaged, not UTF-8, an unknown message
        # type): what they said is missing from "events" and "conversation"
        "bad_event_lines": events.bad_event_lines,
        # the model's errors, in order (the chat server did not answer, ...; a fatal one last)
        "errors": [f"{m.code}: {m.message}" for _, _, m in events if isinstance(m, ErrorEvent)],
        # the speaker's lag behind the avatar track (app recordings): add it to latencies measured
        # on the file to get what the person heard; None when not recorded (the runner has none)
        "playback_lag_ms": _spread(lags_ms),
        # the app's Mute / push-to-talk changes (MicInput, src "client"), in order: a participant
        # silent while "heard" is false was not heard by the avatar (muted, or the talk key up)
        "mic_input": [{"tick": t, **dataclasses.asdict(m)} for t, _, m in events if isinstance(m, MicInput)],
    }


def _type_name(msg: object) -> str:
    name = type(msg).__name__
    return TYPE_NAMES.get(name, name)


def _conversation(events: list[tuple[int, str, object]], end_tick: int | None = None) -> list[dict[str, Any]]:
    """What was said, in time order: final transcripts ("" = a withdrawn partial) and what the user
    typed ("typed": true). The model's caption of a typed line (see ECHO_WINDOW_TICKS; the runner
    and the app log the UserText before the model can caption it) is not a line of its own: the
    typed line is listed once, at its tick (placed where the model took it in, when that was
    earlier). The avatar saying an operator's line (UserText operator=True) is a line of its own,
    "operator": true; one the file never hears it say is listed at the tick it was sent, with
    "said": false.

    An avatar line that did not play to its end has "cut_tick" (the first tick not heard) and "cut"
    (why): a FlushOut's reason ("barge_in", "yield", "client", ...) when output was dropped while it
    was being said; "yield" (a DecisionChanged to yield); "operator" (an operator line took over);
    "stopped" (the voice stopped after a part that does not end its sentence); "file_end" (the
    avatar was still speaking at `end_tick`, the end of its track). "heard": false when the cut
    came before the line's first tick; "unheard": the parts captioned from the cut on."""
    out: list[dict[str, Any]] = []
    typed: list[dict[str, Any]] = []  # typed lines whose echo has not come yet
    operators: list[dict[str, Any]] = []  # operator lines not yet said to the end: {"rest", "line"}
    voice = _Voice(end_tick)
    flushed: set[int] = set()  # from_tick of the FlushOuts seen
    for t, _, m in events:
        if isinstance(m, Transcript) and m.final and m.text.strip():
            text = m.text.strip()
            if m.side == "user":
                echoed = _echo_of(typed, t, text)
                if echoed is not None:
                    typed.remove(echoed)
                    echoed["_order"] = min(echoed["tick"], t)  # the model took it in then
                    continue
                out.append({"tick": t, "side": m.side, "text": m.text})
                continue
            op = _operator_part(operators, text)
            if op is not None:  # the avatar says an operator's line: never glued onto its own words
                line: dict[str, Any] | None = op["line"]
                if line is None:
                    voice.take_over(t, operator=True)
                    line = op["line"] = {
                        "tick": t,
                        "side": m.side,
                        "text": text,
                        "operator": True,
                        "_parts": [],
                    }
                    out.append(line)
                else:
                    line["text"] += " " + text
                line["_parts"].append((t, text))
                line["_unsaid"] = op["rest"]  # words of the operator's line still to come
                if not op["rest"]:
                    operators.remove(op)
                voice.line = line
                continue
            prev = out[-1] if out else None
            if (
                prev is not None
                and prev is voice.line
                and prev["side"] == m.side
                and not prev.get("operator")
                and continues_sentence(prev["text"])
            ):
                prev["text"] += " " + text  # the rest of a sentence the voice said in parts
                prev["_parts"].append((t, text))
                voice.past_end(t, speaking=True)
            else:
                voice.past_end(t, speaking=voice.speaking)
                out.append({"tick": t, "side": m.side, "text": m.text, "_parts": [(t, text)]})
                voice.take_over(t, operator=False)
                voice.line = out[-1]
        elif isinstance(m, UserText) and m.text.strip():
            if m.operator:
                operators.append({"rest": _words(m.text), "line": None, "tick": t, "text": m.text})
                voice.operator_sent()
            else:
                out.append({"tick": t, "side": "user", "text": m.text, "typed": True})
                typed.append(out[-1])
        elif isinstance(m, FlushOut):
            if m.from_tick not in flushed:  # a flush said again cuts nothing new (not the next line)
                flushed.add(m.from_tick)
                voice.cut(m.from_tick, m.reason or "flush")
        elif isinstance(m, DecisionChanged):
            voice.decision(m.tick, m.decision)
    voice.file_ends()
    for op in operators:
        if op["line"] is None:  # sent, never heard said (the file ends first, a model that ignores it)
            out.append(
                {"tick": op["tick"], "side": "avatar", "text": op["text"], "operator": True, "said": False}
            )
    out.sort(key=lambda c: c.get("_order", c["tick"]))
    for c in out:
        c.pop("_order", None)
        c.pop("_parts", None)
        c.pop("_unsaid", None)
    return out


class _Voice:
    """The avatar line being said (`line`) until it ends, and whether (and where) it was cut."""

    def __init__(self, end_tick: int | None) -> None:
        self.end_tick = end_tick
        self.line: dict[str, Any] | None = None
        self.speaking = False  # the decision in force is SPEAK
        self.operator_waiting = False  # an operator line was sent while `line` was being said

    def operator_sent(self) -> None:
        self.operator_waiting = self.line is not None

    def take_over(self, tick: int, operator: bool) -> None:
        """Another line starts at `tick` (`operator`: an operator's, which stops the one being said)."""
        if operator and self.operator_waiting:
            self.cut(tick, "operator")
        self.line, self.operator_waiting = None, False

    def decision(self, tick: int, decision: str) -> None:
        self.speaking = decision == Decision.SPEAK
        if self.line is None or self.speaking:
            return
        if decision == Decision.YIELD:
            self.cut(tick, "yield")
        elif self.operator_waiting:
            self.cut(tick, "operator")
        elif self.line.get("_unsaid") or (
            not self.line.get("operator") and continues_sentence(self.line["text"])
        ):  # an operator's line is the operator's words: it may end without a full stop
            self.cut(tick, "stopped")
        elif self.end_tick is not None and tick > self.end_tick:
            self.cut(self.end_tick, "file_end")
        self.line = None

    def past_end(self, tick: int, speaking: bool) -> None:
        """The voice goes on at `tick` (the rest of the line, or, `speaking`, the next line of a
        reply): the line being said was cut by the file's end when that is past it."""
        if speaking and self.end_tick is not None and tick >= self.end_tick:
            self.cut(self.end_tick, "file_end")

    def file_ends(self) -> None:
        if self.line is not None and self.speaking and self.end_tick is not None:
            self.cut(self.end_tick, "file_end")

    def cut(self, tick: int, why: str) -> None:
        line, self.line, self.operator_waiting = self.line, None, False
        if line is None:
            return
        if self.end_tick is not None and tick > self.end_tick:
            tick, why = self.end_tick, "file_end"  # the file ended before the cut came
        line["cut_tick"], line["cut"] = tick, why
        parts = line.get("_parts", [])
        heard = [text for t, text in parts if t < tick]
        unheard = [text for t, text in parts if t >= tick]
        if tick <= line["tick"]:
            line["heard"] = False
        elif unheard:
            line["text"] = " ".join(heard)
            line["unheard"] = " ".join(unheard)


def _words(text: str) -> str:
    return " ".join(text.split())


def _operator_part(operators: list[dict[str, Any]], text: str) -> dict[str, Any] | None:
    """The first operator line whose words not yet said start with `text` (its rest moves on)."""
    said = _words(text)
    for op in operators:
        rest = op["rest"]
        if rest == said or rest.startswith(said + " "):
            op["rest"] = rest[len(said) :].strip()
            return op
    return None


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
