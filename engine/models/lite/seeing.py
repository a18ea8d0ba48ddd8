"""Seeing: is someone in front of the camera, and where? OpenCV's shipped frontal-face cascade.

Frames are downscaled to 240 px wide grey images and checked every `every_ticks` ticks (~20 ms
each, every 320 ms by default). A visit starts when a face has been seen for `appear_s` (a
passer-by glancing at the booth does not trigger a greeting) and ends when no face was seen for
`leave_s`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.protocol import TICK_S


@dataclass(frozen=True)
class Face:
    x: float  # centre, fraction of image width (0 = left edge of the camera image)
    y: float  # centre, fraction of image height (0 = top)
    size: float  # face width / image width


@dataclass(frozen=True)
class PresenceChange:
    tick: int
    present: bool
    face: Face | None


class FaceWatcher:
    def __init__(
        self, every_ticks: int = 8, appear_s: float = 1.0, leave_s: float = 2.0, width: int = 240
    ) -> None:
        import cv2
        import cv2.data

        self._cv2 = cv2
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise RuntimeError(f"OpenCV face cascade missing or unreadable: {path}")
        self.every_ticks = every_ticks
        self.appear_ticks = max(1, round(appear_s / TICK_S))
        self.leave_ticks = max(1, round(leave_s / TICK_S))
        self.width = width
        self.present = False
        self.face: Face | None = None  # last seen face (smoothed)
        self._first_seen = -1  # tick a face was first seen in the current streak
        self._last_seen = -(10**9)
        self._last_check = -(10**9)

    def detect(self, rgb: np.ndarray) -> Face | None:
        """The largest face in an RGB uint8 (H, W, 3) frame, or None."""
        cv2 = self._cv2
        h, w = rgb.shape[:2]
        scale = self.width / w
        small = cv2.resize(rgb, (self.width, max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        grey = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
        found = self._cascade.detectMultiScale(grey, scaleFactor=1.2, minNeighbors=4, minSize=(24, 24))
        if len(found) == 0:
            return None
        x, y, fw, fh = max(found, key=lambda r: r[2] * r[3])
        sh, sw = grey.shape
        return Face(float((x + fw / 2) / sw), float((y + fh / 2) / sh), float(fw / sw))

    def update(self, frames: np.ndarray, frame_ticks: np.ndarray) -> list[PresenceChange]:
        """Camera frames uint8 (k, H, W, 3) with their ticks -> presence changes (usually none)."""
        changes: list[PresenceChange] = []
        for frame, tick in zip(frames, frame_ticks):
            tick = int(tick)
            if tick - self._last_check < self.every_ticks:
                continue
            self._last_check = tick
            face = self.detect(frame)
            if face is not None:
                if self._first_seen < 0 or tick - self._last_seen > self.leave_ticks:
                    self._first_seen = tick
                self._last_seen = tick
                self.face = face if self.face is None else _smooth(self.face, face)
                if not self.present and tick - self._first_seen >= self.appear_ticks:
                    self.present = True
                    changes.append(PresenceChange(tick, True, self.face))
            elif self.present and tick - self._last_seen > self.leave_ticks:
                self.present = False
                self._first_seen = -1
                changes.append(PresenceChange(tick, False, None))
            elif not self.present and self._first_seen >= 0 and tick - self._last_seen > self.leave_ticks:
                self._first_seen = -1
        return changes

    def gaze(self) -> tuple[float, float]:
        """Where the avatar should look, x/y in [-1, 1], (0, 0) = straight at the camera/user.

        The camera image is not mirrored: a face on the image's left stands at the camera's left,
        which is the viewer's right of the avatar's screen, so x flips; y grows downward in both.
        """
        if not self.present or self.face is None:
            return (0.0, 0.0)
        gx = float(np.clip((0.5 - self.face.x) * 1.6, -1.0, 1.0))
        gy = float(np.clip((self.face.y - 0.45) * 1.2, -1.0, 1.0))
        return (gx, gy)


def _smooth(old: Face, new: Face, a: float = 0.5) -> Face:
    def mix(u: float, v: float) -> float:
        return u + a * (v - u)

    return Face(mix(old.x, new.x), mix(old.y, new.y), mix(old.size, new.size))
