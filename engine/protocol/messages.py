"""Control messages (client -> engine) and events (engine -> client).

All are frozen dataclasses of plain values; they travel as versioned JSON (see codec.py), never
pickles. Media does not travel here: it goes through the shared-memory rings (engine.ipc).
Urgent control (Flush, Shutdown) is handled ahead of ordered media by the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .units import Decision, SessionSpec

PROTOCOL_VERSION = 1


# ---------------------------------------------------------------- control: client -> engine
@dataclass(frozen=True)
class OpenSession:
    spec: SessionSpec = field(default_factory=SessionSpec)


@dataclass(frozen=True)
class CloseSession:
    pass


@dataclass(frozen=True)
class Flush:
    """Drop queued output from `from_tick` on (barge-in from the client side, or an operator stop)."""

    from_tick: int
    reason: str = "client"


@dataclass(frozen=True)
class UserText:
    """Text the user typed, or an operator's line (`operator=True`: say it verbatim, Wizard-of-Oz)."""

    text: str
    tick: int = -1
    operator: bool = False


@dataclass(frozen=True)
class PlaybackReport:
    """The client's speaker has played avatar audio up to and including `played_tick`.

    `mic_lag_ticks`: where the two clocks stand against each other at the speaker: when avatar tick
    T reaches the DAC, the microphone is capturing input tick T + mic_lag_ticks (fractional; the
    playback queue, device buffers and any re-buffering after an underrun are all in it). An echo
    canceller aligns what the avatar played with what the mic hears by it. None: not measured.
    `lag_from_tick`: the first avatar tick played at this lag (the queue re-buffers after an
    underrun and sheds silence when it grows, and each time the lag jumps); -1: unknown.
    """

    played_tick: int
    mic_lag_ticks: float | None = None
    lag_from_tick: int = -1


@dataclass(frozen=True)
class Ping:
    seq: int
    sent_ns: int  # time.monotonic_ns() of the sender


@dataclass(frozen=True)
class Shutdown:
    pass


# ---------------------------------------------------------------- events: engine -> client
@dataclass(frozen=True)
class Ready:
    """The engine has loaded its model and is ready for a session."""

    model: str
    unit_ticks: int
    output_lag_units: int
    frame_size: int
    device: str
    trained: bool = True
    description: str = ""


@dataclass(frozen=True)
class Pong:
    seq: int
    sent_ns: int
    engine_tick: int = -1  # last input tick the engine consumed


@dataclass(frozen=True)
class SessionOpened:
    persona: str
    avatar: str


@dataclass(frozen=True)
class DecisionChanged:
    tick: int
    decision: Decision


@dataclass(frozen=True)
class StateChanged:
    """The avatar's visible state: "idle" | "listening" | "thinking" | "speaking"."""

    tick: int
    state: str


@dataclass(frozen=True)
class Transcript:
    """A caption: `side` is "user" or "avatar"; partial transcripts are replaced by later ones.

    The avatar's voice may say a long sentence in parts ("Duet is an app for talking with an
    avatar," / "face to face."), each its own final: see `continues_sentence`."""

    tick: int
    side: str
    text: str
    final: bool


SENTENCE_ENDS = (".", "!", "?", "…", '"', ")")


def continues_sentence(previous: str) -> bool:
    """Does the avatar's next final transcript continue `previous` (its last final, with nothing
    said in between), which stopped mid-sentence?"""
    return bool(previous) and not previous.rstrip().endswith(SENTENCE_ENDS)


@dataclass(frozen=True)
class FlushOut:
    """The engine dropped its output from `from_tick` on: the client must drop queued media too."""

    from_tick: int
    reason: str = "yield"


@dataclass(frozen=True)
class Presence:
    """A face in front of the camera: centre in [0, 1] image coordinates, size as fraction of width."""

    tick: int
    present: bool
    x: float = 0.5
    y: float = 0.5
    size: float = 0.0


@dataclass(frozen=True)
class Timings:
    """Per-stage cost of one model step, milliseconds."""

    tick: int
    stages: dict[str, float]
    step_ms: float
    queue_units: int = 0  # units waiting in the input FIFO after this step


@dataclass(frozen=True)
class Health:
    tick: int
    overruns: dict[str, int]  # ring name -> overrun count so far
    rss_mb: float = 0.0
    fifo_units: int = 0


@dataclass(frozen=True)
class ErrorEvent:
    code: str  # short machine code, e.g. "model_load", "step", "session"
    message: str
    fatal: bool = False


@dataclass(frozen=True)
class Closed:
    reason: str = ""


@dataclass(frozen=True)
class EngineDown:
    """Raised by the client itself (never sent by an engine): the engine process crashed or hung."""

    reason: str  # "crashed" | "hung" | "start_failed"
    detail: str = ""
    exitcode: int | None = None
    log_path: str = ""


@dataclass(frozen=True)
class MicInput:
    """Written by the app itself into its recordings (never sent by or to an engine): what the avatar
    hears of the microphone changed. `muted`: Mute is on; `push_to_talk`: push-to-talk mode is on;
    `talk_held`: the talk key or button is held (push-to-talk only); `heard`: the avatar hears the
    mic now (not muted, and not push-to-talk with nothing held). Its tick is the mic's tick then."""

    muted: bool
    push_to_talk: bool
    talk_held: bool
    heard: bool


CONTROL_TYPES: dict[str, type] = {
    "open_session": OpenSession,
    "close_session": CloseSession,
    "flush": Flush,
    "user_text": UserText,
    "playback_report": PlaybackReport,
    "ping": Ping,
    "shutdown": Shutdown,
}

EVENT_TYPES: dict[str, type] = {
    "ready": Ready,
    "pong": Pong,
    "session_opened": SessionOpened,
    "decision": DecisionChanged,
    "state": StateChanged,
    "transcript": Transcript,
    "flush_out": FlushOut,
    "presence": Presence,
    "timings": Timings,
    "health": Health,
    "error": ErrorEvent,
    "closed": Closed,
    "engine_down": EngineDown,
}

# written into session files by the app, never sent between a client and an engine (decode accepts
# them, as it does every type, unless `allowed` says otherwise: the IPC channel's tables do)
RECORD_TYPES: dict[str, type] = {
    "mic_input": MicInput,
}

Message = (
    OpenSession
    | CloseSession
    | Flush
    | UserText
    | PlaybackReport
    | Ping
    | Shutdown
    | Ready
    | Pong
    | SessionOpened
    | DecisionChanged
    | StateChanged
    | Transcript
    | FlushOut
    | Presence
    | Timings
    | Health
    | ErrorEvent
    | Closed
    | EngineDown
    | MicInput
)
