"""Building the lite model's parts from names: options, D's voice and performer, with clear errors."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

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


def frame_size_option(options: dict[str, str]) -> int:
    """The `frame_size` option in pixels (default 512); its range is checked by the registry's
    check for it (engine.registry), the same check the app and the runner run before a start."""
    from engine.registry import check_options

    raw = options.get("frame_size", "")
    check_options("lite", {"frame_size": raw})
    return int(float(raw)) if raw.strip() else 512


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
