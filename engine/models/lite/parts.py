"""Building the lite model's parts from names: options, D's voice and performer, with clear errors."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from engine.ipc.rings import DEFAULT_MAX_FRAME_SIZE

from .persona import Persona


def opt_float(options: dict[str, str], key: str, default: float) -> float:
    """A non-negative number from a string option ("" or missing -> default)."""
    raw = options.get(key, "")
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"lite model option {key}={raw!r} must be a number") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"lite model option {key}={raw!r} must be a non-negative number")
    return value


# avatar frame side in pixels, inclusive: up to what the engine's frame ring holds (the app and the
# runner make it DEFAULT_MAX_FRAME_SIZE; larger frames would be dropped)
FRAME_SIZES = (64, DEFAULT_MAX_FRAME_SIZE)


def frame_size_option(options: dict[str, str]) -> int:
    """The `frame_size` option: a whole number of pixels in FRAME_SIZES (default 512)."""
    raw = options.get("frame_size", "")
    if raw.strip() == "":
        return 512
    lo, hi = FRAME_SIZES
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value == int(value) and lo <= value <= hi):
        raise ValueError(f"lite model option frame_size={raw!r} must be whole pixels in {lo}..{hi}")
    return int(value)


def make_voice(voice_id: str, persona: Persona, factory: Callable[[str], Any] | None = None) -> Any:
    """engine.models.lite.voice.Voice(voice_id) (or factory(voice_id) when given)."""
    if factory is not None:
        return factory(voice_id)
    from engine.models.lite.voice import Voice, list_voices

    if voice_id not in list_voices():
        where = f" (asked for by persona {persona.path})" if persona.voice == voice_id else ""
        raise ValueError(f"unknown voice {voice_id!r}{where}; available: {', '.join(list_voices())}")
    return Voice(voice_id)


def make_performer(avatar_id: str, size: int, factory: Callable[[str, int], Any] | None = None) -> Any:
    """engine.models.lite.performer.Performer(avatar_id, size) (or factory(avatar_id, size))."""
    if factory is not None:
        return factory(avatar_id, size)
    from engine.models.lite.performer import Performer, list_avatars

    if avatar_id not in list_avatars():
        raise ValueError(f"unknown avatar {avatar_id!r}; available: {', '.join(list_avatars())}")
    return Performer(avatar_id, size=size, seed=0)
