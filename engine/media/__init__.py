"""Input media on the tick clock: files (wav/flac/mp3/ogg/mp4/mkv) or lavfi sources -> mic + camera."""

from .reader import FAKE_CAMERA, LAVFI_PREFIX, MAX_H, MAX_W, MediaError, MediaInput, TickInput, fit_size

__all__ = [
    "FAKE_CAMERA",
    "LAVFI_PREFIX",
    "MAX_H",
    "MAX_W",
    "MediaError",
    "MediaInput",
    "TickInput",
    "fit_size",
]
