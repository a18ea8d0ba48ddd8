"""The Duet protocol: the tick clock, per-unit media, control messages and events.

Plain dataclasses + numpy only: no torch, no Qt, nothing that cannot cross a process or a socket.
"""

from .clock import (
    AVATAR_RATE,
    AVATAR_SAMPLES_PER_TICK,
    FPS,
    MIC_RATE,
    MIC_SAMPLES_PER_TICK,
    TICK_MS,
    TICK_S,
    seconds_to_tick,
    tick_to_seconds,
)
from .codec import MAX_MESSAGE_BYTES, ProtocolError, decode, encode
from .messages import (
    CONTROL_TYPES,
    EVENT_TYPES,
    PROTOCOL_VERSION,
    Closed,
    CloseSession,
    DecisionChanged,
    EngineDown,
    ErrorEvent,
    Flush,
    FlushOut,
    Health,
    OpenSession,
    Ping,
    PlaybackReport,
    Pong,
    Presence,
    Ready,
    SessionOpened,
    Shutdown,
    StateChanged,
    Timings,
    Transcript,
    UserText,
)
from .units import Decision, SessionSpec, UnitIn, UnitOut

__all__ = [
    "AVATAR_RATE", "AVATAR_SAMPLES_PER_TICK", "CONTROL_TYPES", "EVENT_TYPES", "FPS", "MAX_MESSAGE_BYTES",
    "MIC_RATE", "MIC_SAMPLES_PER_TICK", "PROTOCOL_VERSION", "TICK_MS", "TICK_S", "CloseSession", "Closed",
    "Decision", "DecisionChanged", "EngineDown", "ErrorEvent", "Flush", "FlushOut", "Health", "OpenSession", "Ping",
    "PlaybackReport", "Pong", "Presence", "ProtocolError", "Ready", "SessionOpened", "SessionSpec",
    "Shutdown", "StateChanged", "Timings", "Transcript", "UnitIn", "UnitOut", "UserText", "decode",
    "encode", "seconds_to_tick", "tick_to_seconds",
]
