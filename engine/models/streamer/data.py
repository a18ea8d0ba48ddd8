"""Session recordings -> training examples (inputs + next-unit targets) on the unit grid.

A session (engine.session.SessionData, or any object with the same fields) becomes one Example:
input unit u (ticks [u*N, (u+1)*N)) is paired with the avatar output of unit u + 1 (the model's
output lag is one unit). The avatar output of unit u is fed back as the `prev_*` inputs, exactly
as StreamerModel feeds back its own output at run time (unit 0 gets silence / LISTEN / PAD).

Labels from the events log: DecisionChanged events give the decision in force at each tick (the
label of an output unit is the decision at its last tick); final avatar Transcript events give
the avatar text bytes, spilled over the text slots of the units from their tick on; UserText
control events give the user text slots.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from engine.models.lite.persona import avatar_of
from engine.protocol import (
    AVATAR_SAMPLES_PER_TICK,
    MIC_SAMPLES_PER_TICK,
    Decision,
    DecisionChanged,
    Transcript,
    UserText,
)

from . import tokenizer
from .config import StreamerConfig
from .heads import DECISION_INDEX
from .inputs import UnitBatch, as_float, frames_u8, sink_inputs


class SessionLike(Protocol):
    user_pcm: np.ndarray
    avatar_pcm: np.ndarray
    avatar_frames: np.ndarray | None
    user_frames: np.ndarray | None
    events: list[tuple[int, str, object]]
    meta: dict[str, str]
    n_ticks: int


@dataclass
class Targets:
    decision: Tensor  # (B, U) long
    text: Tensor  # (B, U, text_out_slots) long
    pcm: Tensor  # (B, U, ticks * 960) float
    frames: Tensor  # (B, U, ticks, 3, S, S) float in [0, 1]
    has_frames: Tensor  # (B,) bool: the session had avatar frames

    def select(self, lo: int, hi: int) -> Targets:
        return Targets(
            self.decision[:, lo:hi],
            self.text[:, lo:hi],
            self.pcm[:, lo:hi],
            self.frames[:, lo:hi],
            self.has_frames,
        )


@dataclass
class Example:
    sink_text: Tensor  # (1, sink_text_tokens) long
    identity: Tensor  # (1, 3, Sv, Sv)
    inputs: UnitBatch  # (1, U, ...); video / prev_frame kept as uint8 pixels (sample_batch converts)
    targets: Targets  # (1, U, ...); frames kept as uint8 pixels
    name: str = ""

    @property
    def n_units(self) -> int:
        return self.inputs.shape[1]


class DataError(ValueError):
    pass


class TooShort(DataError):
    """A session shorter than two model units (nothing to predict from it)."""


def decision_per_tick(events: list[tuple[int, str, object]], n_ticks: int) -> list[Decision]:
    """The decision in force at each tick (LISTEN until the first DecisionChanged)."""
    changes = sorted(
        ((int(t), msg.decision) for t, _, msg in events if isinstance(msg, DecisionChanged)),
        key=lambda x: x[0],
    )
    out, current, i = [], Decision.LISTEN, 0
    for tick in range(n_ticks):
        while i < len(changes) and changes[i][0] <= tick:
            current = changes[i][1]
            i += 1
        out.append(current)
    return out


def _slots(items: list[tuple[int, list[int]]], n_units: int, unit_ticks: int, slots: int) -> list[list[int]]:
    """Spread id runs starting at given ticks over per-unit slots (overflow moves to later units)."""
    per_unit: list[list[int]] = []
    pending: list[int] = []
    items = sorted(items, key=lambda x: x[0])
    j = 0
    for u in range(n_units):
        while j < len(items) and items[j][0] < (u + 1) * unit_ticks:
            pending.extend(items[j][1])
            j += 1
        head, pending = pending[:slots], pending[slots:]
        per_unit.append(tokenizer.pad_to(head, slots))
    return per_unit


def session_to_example(data: SessionLike, cfg: StreamerConfig, name: str = "") -> Example:
    n = cfg.unit_ticks
    n_units = int(data.n_ticks) // n
    if n_units < 2:
        raise TooShort(f"{name or 'session'}: too short ({data.n_ticks} ticks; need >= {2 * n})")
    u_in = n_units - 1  # input units 0..n_units-2 predict output units 1..n_units-1

    def units_of(pcm: np.ndarray, per_tick: int) -> np.ndarray:
        total = n_units * n * per_tick
        flat = np.zeros(total, np.float32)
        src = np.asarray(pcm, np.float32).reshape(-1)[:total]
        flat[: src.shape[0]] = src
        return flat.reshape(n_units, n * per_tick)

    mic = torch.from_numpy(units_of(data.user_pcm, MIC_SAMPLES_PER_TICK))
    avatar = torch.from_numpy(units_of(data.avatar_pcm, AVATAR_SAMPLES_PER_TICK))

    # camera: the last frame of each input unit (the reader holds frames over gaps)
    if data.user_frames is not None and len(data.user_frames) > 0:
        last = [min((u + 1) * n - 1, len(data.user_frames) - 1) for u in range(u_in)]
        video = frames_u8(np.asarray(data.user_frames), last, cfg.video_in_size)
        has_video = torch.ones(u_in, dtype=torch.bool)
    else:
        video = torch.zeros(u_in, 3, cfg.video_in_size, cfg.video_in_size, dtype=torch.uint8)
        has_video = torch.zeros(u_in, dtype=torch.bool)

    s = cfg.video_out_size
    if data.avatar_frames is not None and len(data.avatar_frames) > 0:
        af = np.asarray(data.avatar_frames)
        idx = np.minimum(np.arange(n_units * n), len(af) - 1).tolist()
        av_frames = frames_u8(af, idx, s).reshape(n_units, n, 3, s, s)
        has_frames = True
    else:
        av_frames = torch.zeros(n_units, n, 3, s, s, dtype=torch.uint8)
        has_frames = False

    ticks = decision_per_tick(data.events, n_units * n)
    labels = torch.tensor([DECISION_INDEX[ticks[(v + 1) * n - 1]] for v in range(n_units)], dtype=torch.long)

    said = [
        (int(t), tokenizer.encode(msg.text))
        for t, _, msg in data.events
        if isinstance(msg, Transcript) and msg.side == "avatar" and msg.final and msg.text
    ]
    typed = [
        (
            int(t) if t >= 0 else 0,
            ([tokenizer.OPERATOR] if msg.operator else []) + tokenizer.encode(msg.text) + [tokenizer.EOS],
        )
        for t, _, msg in data.events
        if isinstance(msg, UserText) and msg.text
    ]
    text_out = torch.tensor(_slots(said, n_units, n, cfg.text_out_slots), dtype=torch.long).reshape(
        n_units, -1
    )
    text_in = torch.tensor(_slots(typed, n_units, n, cfg.text_in_slots), dtype=torch.long).reshape(
        n_units, -1
    )

    def prev(x: Tensor, fill: float | int) -> Tensor:
        out = torch.full_like(x[:u_in], fill)
        out[1:] = x[1:u_in]
        return out

    inputs = UnitBatch(
        mic=mic[:u_in][None],
        video=video[None],
        has_video=has_video[None],
        text_in=text_in[:u_in][None],
        prev_decision=prev(labels, DECISION_INDEX[Decision.LISTEN])[None],
        prev_text=prev(text_out, tokenizer.PAD)[None],
        prev_pcm=prev(avatar, 0.0)[None],
        prev_frame=prev(av_frames[:, -1], 0.0)[None],
    )
    targets = Targets(
        decision=labels[1:][None],
        text=text_out[1:][None],
        pcm=avatar[1:][None],
        frames=av_frames[1:][None],
        has_frames=torch.tensor([has_frames]),
    )
    meta = getattr(data, "meta", {}) or {}
    persona = meta.get("persona") or "guide"
    sink_text, identity = sink_inputs(cfg, persona, avatar_of(persona, meta.get("avatar") or ""))
    return Example(sink_text, identity, inputs, targets, name)


EVENTS_SUFFIX = ".events.jsonl"

# why a session file was skipped -> the words of the summary when nothing was left to train on
SKIP_WORDS = {
    "unreadable": "not a readable session file",
    "events_file": "an events file, not the .mkv",
    "no_events": "no events file beside it",
    "bad_events": "damaged or empty events file",
    "short": "too short",
}


def _is_mkv(p: Path) -> bool:
    return p.suffix.lower() == ".mkv"  # X.MKV from a case-insensitive file system too


def find_sessions(paths: list[str], note: Callable[[str], None] | None = None) -> list[Path]:
    """Session .mkv files from files and folders (folders searched recursively, .mkv in any case).
    A file reached twice (named twice, or a file and its folder) is counted once, said through
    `note`."""
    found: list[Path] = []
    seen: dict[Path, Path] = {}  # resolved -> as first found
    twice: list[tuple[Path, Path]] = []
    for p in map(Path, paths):
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if _is_mkv(f) and f.is_file())
        elif p.is_file():
            files = [p]
        else:
            raise DataError(f"{p}: no such session file or folder")
        for f in files:
            key = f.resolve()
            if key in seen:
                twice.append((f, seen[key]))
                continue
            seen[key] = f
            found.append(f)
    if twice and note is not None:
        f, first = twice[0]
        same = f"{f} is {first}" if f != first else f"{f} was named more than once"
        more = f" (and {len(twice) - 1} more)" if len(twice) > 1 else ""
        note(f"{same}{more}: each session is used once")
    if not found:
        raise DataError(f"no session files (*.mkv) under {', '.join(paths)}")
    return found


def load_examples(
    paths: list[str],
    cfg: StreamerConfig,
    warn: Callable[[str], None] | None = None,
    note: Callable[[str], None] | None = None,
) -> list[Example]:
    """The sessions under `paths` as examples. A file that cannot teach anything right is skipped,
    said through `warn`: not a readable Duet session (empty, damaged, another program's .mkv), an
    events file named instead of its .mkv, shorter than two units, or its events file is missing,
    empty or damaged (decisions or captions missing: the labels would be wrong). DataError when
    nothing is left, counting what was skipped and why. `note`: files named twice (counted once)."""
    from engine.session import SessionReadError, events_path_for, read_session
    from engine.session.reader import check_session_header

    examples: list[Example] = []
    skipped: list[tuple[str, str]] = []  # (SKIP_WORDS key, warning line)
    for path in find_sessions(paths, note=note):
        if path.name.lower().endswith(EVENTS_SUFFIX):
            skipped.append(
                ("events_file", f"{path}: skipped: an events file; pass the .mkv, not its events file")
            )
            continue
        events = events_path_for(path)
        if not events.is_file():
            try:  # an empty, damaged or foreign .mkv is that first: its events are not the point
                check_session_header(path)
            except SessionReadError as e:
                skipped.append(("unreadable", f"{e}: skipped"))
                continue
            skipped.append(
                (
                    "no_events",
                    f"{path}: skipped: {events.name} is missing beside it (its decisions, captions)",
                )
            )
            continue
        try:
            data: Any = read_session(path, frame_size=cfg.video_out_size)
            example = session_to_example(data, cfg, name=str(path))
        except SessionReadError as e:
            skipped.append(("unreadable", f"{e}: skipped"))
            continue
        except TooShort as e:
            skipped.append(("short", f"{e}: skipped"))
            continue
        if data.bad_event_lines or not data.events:  # decisions may be missing: wrong labels
            bad = data.bad_event_lines
            why = f"{bad} unreadable line(s) in" if bad else "no events in"
            skipped.append(("bad_events", f"{path}: skipped: {why} {events.name} (the decisions)"))
            continue
        examples.append(example)
    for _, line in skipped:
        if warn is not None:
            warn(line)
    if not examples:
        why = ""
        if skipped:
            counts: dict[str, int] = {}
            for key, _ in skipped:
                counts[key] = counts.get(key, 0) + 1
            reasons = ", ".join(f"{n} {SKIP_WORDS[k]}" for k, n in counts.items())
            why = f": {len(skipped)} file(s) skipped ({reasons})"
        raise DataError(f"no session to train on under {', '.join(paths)}{why}")
    return examples


def sample_batch(
    examples: list[Example], batch: int, seq_units: int, gen: torch.Generator
) -> tuple[Tensor, Tensor, UnitBatch, Targets]:
    """Random crops of `seq_units` consecutive units. The first pick sets the batch's crop length
    (its own length if shorter); the rest come from sessions at least that long, so a short session
    shortens only the batches it starts."""
    first = int(torch.randint(len(examples), (1,), generator=gen))
    length = min(seq_units, examples[first].n_units)
    fits = [i for i, e in enumerate(examples) if e.n_units >= length]  # holds `first`
    rest = torch.randint(len(fits), (batch - 1,), generator=gen).tolist()
    picks = [first, *(fits[j] for j in rest)]
    sinks, ids, ins, tgs = [], [], [], []
    for i in picks:
        ex = examples[i]
        lo = int(torch.randint(ex.n_units - length + 1, (1,), generator=gen))
        sinks.append(ex.sink_text)
        ids.append(ex.identity)
        ins.append(ex.inputs.select(lo, lo + length))
        tgs.append(ex.targets.select(lo, lo + length))
    targets = Targets(
        *(
            torch.cat([getattr(t, f) for t in tgs])
            for f in ("decision", "text", "pcm", "frames", "has_frames")
        )
    )
    targets.frames = as_float(targets.frames)
    inputs = UnitBatch.stack(ins)
    inputs.video, inputs.prev_frame = as_float(inputs.video), as_float(inputs.prev_frame)
    return torch.cat(sinks), torch.cat(ids), inputs, targets
