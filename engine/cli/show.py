"""`duet-engine show FILE [FILE ...]`: what a session file holds, as text or JSON (describe())."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .errors import PROG, _one_line, _user_errors

# metadata `show` prints on its second line: how the session was run and where it came from
SHOW_META = ("label", "brain", "llm_model", "device", "recorded_by", "start_tick", "continues", "input")


# metadata `show` prints on its third line: the settings that shaped the data
SHOW_SETTINGS = (
    "unit_ticks",
    "output_lag_units",
    "realtime",
    "max_ahead_units",
    "tail_s",
    "max_s",
    "echo_delay_ms",
    "echo_gain",
    "model_options",
    "session_options",
    "weights",
    "revision",
    "persona_sha256",
)


def _print_conversation(path: str) -> None:
    """What was said, as `show` lists it (a sentence said in parts is one line), to stderr
    (stdout stays one JSON object)."""
    from engine.session import describe

    for line in _conversation_lines(describe(path)["conversation"]):
        print(line, file=sys.stderr)


def _conversation_lines(conversation: list[dict[str, Any]], indent: str = "") -> list[str]:
    """`describe()["conversation"]` as text: "[  1.20 s] avatar: ..." (ticks are 40 ms); typed lines
    and operator lines say so ("user (typed)", "avatar (operator)"), a line that did not play to
    its end ends "… [cut off at 4.12 s: barge-in]"."""
    from engine.session.info import CUT_WORDS

    out = []
    for c in conversation:
        if c.get("typed"):
            who = c["side"] + " (typed)"
        elif c.get("operator"):
            who = c["side"] + (" (operator)" if c.get("said", True) else " (operator, not said)")
        else:
            who = c["side"]
        text = c["text"]
        if "cut_tick" in c:
            when = f"{c['cut_tick'] * 0.04:.2f} s" + ("" if c.get("heard", True) else ", before it was heard")
            unheard = f"; not heard: {c['unheard']}" if c.get("unheard") else ""
            text += f" … [cut off at {when}: {CUT_WORDS.get(c['cut'], c['cut'])}{unheard}]"
        out.append(f"{indent}[{c['tick'] * 0.04:6.2f} s] {who:<6}: {text}")
    return out


def cmd_show(a: argparse.Namespace) -> int:
    """One file: as before (--json: one object). Several: each in turn (--json: a list); a file
    that cannot be read is an error line on stderr, the others are still shown, exit 1."""
    from engine.session import describe

    if len(a.session) == 1:
        info = describe(a.session[0])
        if a.json:
            print(json.dumps(info, indent=2))
        else:
            _show_text(info, a.session[0])
        return 0
    infos: list[dict[str, Any]] = []
    failed = 0
    for path in a.session:
        try:
            info = describe(path)
        except _user_errors() as e:
            print(f"{PROG}: error: {_one_line(str(e))}", file=sys.stderr)
            failed += 1
            continue
        if not a.json:
            if infos:
                print()  # a blank line between files
            _show_text(info, path)
        infos.append(info)
    if a.json:
        print(json.dumps(infos, indent=2))
    return 1 if failed else 0


def _show_text(info: dict[str, Any], session: str) -> None:
    meta = info["meta"]
    print(
        f"{info['path']}: {info['duration_s']:.2f} s ({info['ticks']} ticks)"
        + (" [truncated]" if info["truncated"] else "")
    )
    who = ", ".join(f"{k} {meta.get(k, '?')}" for k in ("model", "persona", "avatar", "created"))
    if "created_local" in meta:  # the file name's DATE-TIME is local time
        who += f" (local {meta['created_local']})"
    print(f"  {who}")
    how = ", ".join(f"{k} {meta[k]}" for k in SHOW_META if k in meta)
    if how:
        print(f"  {how}")
    settings = ", ".join(f"{k} {meta[k]}" for k in SHOW_SETTINGS if k in meta)
    if settings:
        print(f"  {settings}")
    for t in info["tracks"]:
        extra = f"{t['rate']} Hz" if "rate" in t else f"{t['size'][0]}x{t['size'][1]}, {t['frames']} frames"
        print(f"  {t['kind']:<13} {t['codec']:<10} {t['duration_s']:7.2f} s  {extra}")
    from engine.session.writer import events_path_for

    if not info["events_missing"]:  # counted by their `type` in NAME.events.jsonl
        counts = ", ".join(f"{k} {v}" for k, v in sorted(info["event_types"].items())) or "none"
        bad = info["bad_event_lines"]
        print(f"  events: {counts}" + (f" ({bad} unreadable line(s) skipped)" if bad else ""))
    else:  # beside the path given, as describe() reads it
        print(f"  events: none ({events_path_for(session).name} is missing beside it)")
    after, said = info["events_after_end"], info["conversation_after_end"]
    if after:
        lines = f"; {said} line(s) said then are left out below" if said else ""
        print(f"  after the file's end ({info['duration_s']:.2f} s): {after} event(s){lines}")
    lag = info["playback_lag_ms"]
    if lag is not None:
        print(f"  playback lag (speaker behind the avatar track): {lag['min']:.0f}-{lag['max']:.0f} ms")
    for e in info["errors"]:
        print(f"  error: {e}")
    talk = info["conversation"]
    mic = list(zip(info["mic_input"], _mic_lines(info["mic_input"], indent="  "), strict=True))
    for c, line in zip(talk, _conversation_lines(talk, indent="  "), strict=True):
        while mic and mic[0][0]["tick"] <= c["tick"]:  # the mic's changes where they came (in order)
            print(mic.pop(0)[1])
        print(line)
    for _, line in mic:
        print(line)


def _mic_lines(changes: list[dict[str, Any]], indent: str = "") -> list[str]:
    """`describe()["mic_input"]` as text, one line a change: "[  3.20 s] mic   : muted" (the
    first says the state: "muted", "push-to-talk, not held", ...; later ones what changed)."""
    out = []
    prev: dict[str, Any] | None = None
    for m in changes:
        if prev is None:
            words = ["muted" if m["muted"] else "on"]
            if m["push_to_talk"]:
                words.append("push-to-talk, " + ("talk held" if m["talk_held"] else "not held"))
        else:
            words = []
            if m["muted"] != prev["muted"]:
                words.append("muted" if m["muted"] else "unmuted")
            if m["push_to_talk"] != prev["push_to_talk"]:
                words.append("push-to-talk " + ("on" if m["push_to_talk"] else "off"))
            elif m["talk_held"] != prev["talk_held"]:
                words.append("talk held" if m["talk_held"] else "talk let go")
        heard = "" if m["heard"] else " (not heard)"
        out.append(
            f"{indent}[{m['tick'] * 0.04:6.2f} s] {'mic':<6}: {', '.join(words) or 'unchanged'}{heard}"
        )
        prev = m
    return out
