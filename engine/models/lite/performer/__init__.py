"""The lite avatar performer: procedurally drawn characters (assets/avatars/*.yaml) at 25 fps."""

from engine.models.lite.performer.measure import mouth_open_fraction
from engine.models.lite.performer.render import MODES, PerformCue, Performer
from engine.models.lite.performer.spec import AvatarError, AvatarSpec, list_avatars, load_avatar

__all__ = [
    "MODES",
    "AvatarError",
    "AvatarSpec",
    "PerformCue",
    "Performer",
    "list_avatars",
    "load_avatar",
    "mouth_open_fraction",
]
