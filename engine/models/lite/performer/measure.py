"""Measuring the avatar from its pixels (for tests and sync checks)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from engine.models.lite.performer.features import MOUTH_INTERIOR
from engine.models.lite.performer.layout import DESIGN, layout_for
from engine.models.lite.performer.spec import load_avatar

COLOR_TOL = 28  # max per-channel difference from MOUTH_INTERIOR (survives h264 / downscaling)


def _interior_pixels(frame: np.ndarray, avatar_id: str) -> int:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError("frame must be a uint8 (S, S, 3) RGB array")
    size = frame.shape[0]
    if frame.shape[1] != size:
        raise ValueError(f"frame must be square, got {frame.shape[:2]}")
    k = size / DESIGN
    box = layout_for(load_avatar(avatar_id)).mouth_box
    y0, y1 = max(0, int(box.y0 * k)), min(size, int((box.y0 + box.h) * k) + 1)
    x0, x1 = max(0, int(box.x0 * k)), min(size, int((box.x0 + box.w) * k) + 1)
    roi = frame[y0:y1, x0:x1].astype(np.int16)
    diff = np.abs(roi - np.array(MOUTH_INTERIOR, np.int16)).max(axis=2)
    return int((diff <= COLOR_TOL).sum())


@lru_cache(maxsize=16)
def _reference_512(avatar_id: str) -> int:
    """Interior pixels of a wide-open "aa" at rest pose in a 512x512 frame."""
    from engine.models.lite.performer.render import PerformCue, Performer
    from engine.models.lite.visemes import MouthPose

    p = Performer(avatar_id, size=512, seed=0)
    f = p.frame(0.0, PerformCue(mode="speaking", mouth=MouthPose.for_viseme("aa")))
    return max(1, _interior_pixels(f, avatar_id))


def _reference(avatar_id: str, size: int) -> float:
    """The same area at another frame size (small or downscaled frames lose some edge pixels)."""
    return max(1.0, _reference_512(avatar_id) * (size / DESIGN) ** 2)


def mouth_open_fraction(frame: np.ndarray, avatar_id: str) -> float:
    """Visible mouth opening measured from pixels: 0 = closed, ~1 = a wide-open "aa".

    Counts pixels of the unique mouth-interior colour around the mouth, relative to those of a
    wide-open "aa" rendered at the same size.
    """
    return _interior_pixels(frame, avatar_id) / _reference(avatar_id, frame.shape[0])
