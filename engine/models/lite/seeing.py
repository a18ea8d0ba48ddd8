"""Seeing: is someone in front of the camera, and where? OpenCV's shipped frontal-face cascade.

Frames are checked every `every_ticks` ticks (40 ms each: every 160 ms by default). A check looks
for the face around where it was last seen (a small crop scaled so the face is ~48 px: ~1 ms)
and, when that finds nothing or no face was seen lately, where the frame differs from the room
(the background model below; an unchanged room is not searched), scaled as if the whole frame
were `width` px wide (faces down to 20 px there: an 80 px face in a 1280x720 camera image).
Every `full_every` checks the whole frame is searched anyway (a closer person who walks up).

A visit starts when a face has been seen near-continuously for `appear_s` (gaps of at most
`gap_s` between detections: detector dropouts), so passers-by, even many in a row, never add up
to one. It ends when no face was seen for `empty_s` and the spot where it was looks like the
empty room again (a background model of the room on a tiny grey image, learnt while nobody is
seen), so a visitor who looks away (the back of the head) stays; or, whatever the spot shows,
when no face was seen for `hold_s`. Until the room has been seen empty for ~0.6 s there is no
background, and a visit ends after `leave_s` without a face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.protocol import TICK_S

_TINY_W = 64  # px, width of the background model's grey image
_CHANGED = 18.0  # grey levels (0..255) above the frame's median change: a pixel differs from the room
_EMPTY = 0.35  # the person's box has less than this share of its changes with the face in view: empty
_TRACK_PX = 48.0  # px, face width in the tracking crop


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
    gap_s: float = math.inf  # arrivals: s without any face since the previous visit's last one
    cleared: bool = False  # arrivals: the previous visit ended with its spot seen empty (not a timeout)


class FaceWatcher:
    def __init__(
        self,
        every_ticks: int = 4,
        appear_s: float = 0.8,
        gap_s: float = 0.35,
        leave_s: float = 2.0,
        empty_s: float = 0.5,
        hold_s: float = 10.0,
        width: int = 400,
        full_every: int = 6,
    ) -> None:
        import cv2
        import cv2.data

        self._cv2 = cv2
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise RuntimeError(f"OpenCV face cascade missing or unreadable: {path}")
        self.every_ticks = every_ticks
        ticks = lambda s: max(1, round(s / TICK_S))  # noqa: E731
        self.appear_ticks, self.gap_ticks = ticks(appear_s), ticks(gap_s)
        self.leave_ticks, self.empty_ticks, self.hold_ticks = ticks(leave_s), ticks(empty_s), ticks(hold_s)
        self.width = width
        self.full_every = full_every
        self.present = False
        self.face: Face | None = None  # last seen face (smoothed)
        self._streak = -1  # tick the current near-continuous run of detections began (-1: none)
        self._last_seen = -(10**9)  # tick of the latest detection
        self._last_check = -(10**9)
        self._since_full = 0  # checks since the last whole-frame search
        self._visit_last_seen = -(10**9)  # tick of the previous visit's last face
        self._cleared = False  # how the previous visit ended
        self._bg: np.ndarray | None = None  # float32 (h, _TINY_W) grey room
        self._bg_checks = 0  # checks the background learnt from with nobody seen
        self._empty_checks = 0  # consecutive checks the visitor's spot looked empty
        self._occupied = 0.0  # fraction of the visitor's box unlike the room while the face was seen
        self._grey: np.ndarray | None = None  # this check's frame, grey, at `width`, equalised
        self.full_scans = 0  # whole-frame searches so far (for tests and cost reports)

    @property
    def seeing_someone(self) -> bool:
        """A face is being seen that is not (yet) a visit."""
        return self._streak >= 0 and not self.present

    # ------------------------------------------------------------------ detection
    def detect(self, rgb: np.ndarray) -> Face | None:
        """The largest face in an RGB uint8 (H, W, 3) frame (whole-frame search), or None."""
        self.full_scans += 1
        self._since_full = 0
        return self._in_frame(rgb, (0, 0, rgb.shape[1], rgb.shape[0]), None)

    def _in_frame(self, rgb: np.ndarray, box: tuple[int, int, int, int], max_px: int | None) -> Face | None:
        """Search box (x0, y0, x1, y1 in frame px) of the whole frame scaled to `width` and
        equalised as a whole (a crop equalised alone shifts the cascade's answers)."""
        cv2 = self._cv2
        h, w = rgb.shape[:2]
        scale = min(1.0, self.width / w)
        if self._grey is None:
            small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
            self._grey = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
        x0, y0, x1, y1 = (round(v * scale) for v in box)
        found = self._cascade.detectMultiScale(
            self._grey[y0:y1, x0:x1],
            scaleFactor=1.2,
            minNeighbors=3,
            minSize=(20, 20),
            maxSize=(max_px or 0,) * 2,
        )
        if len(found) == 0:
            return None
        x, y, fw, fh = max(found, key=lambda r: r[2] * r[3])
        sw, sh = self._grey.shape[1] / w, self._grey.shape[0] / h
        return Face(float((x0 + x + fw / 2) / sw / w), float((y0 + y + fh / 2) / sh / h), float(fw / sw / w))

    def _track(self, rgb: np.ndarray, face: Face) -> Face | None:
        """The face near `face`, in a crop scaled so it is ~_TRACK_PX wide (then ~0.8 of that:
        the cascade misses faces between its scale steps), or None."""
        h, w = rgb.shape[:2]
        fw = face.size * w
        cx, cy = face.x * w, face.y * h
        x0, x1 = _align(cx - 1.3 * fw), min(w, int(cx + 1.3 * fw))
        y0, y1 = _align(cy - 1.3 * fw), min(h, int(cy + 1.3 * fw))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        if _TRACK_PX / max(fw, 1.0) >= min(1.0, self.width / w):  # a small face: as detect() sees it
            return self._in_frame(rgb, (x0, y0, x1, y1), round(3 * _TRACK_PX))
        for scale in (_TRACK_PX / fw, 0.8 * _TRACK_PX / fw):
            found = self._search(rgb[y0:y1, x0:x1], scale, 20, 80, (x0, y0), (w, h))
            if found is not None:
                return found
        return None

    def _search(
        self,
        rgb: np.ndarray,
        scale: float,
        min_px: int,
        max_px: int | None,
        at: tuple[int, int],
        full: tuple[int, int],
    ) -> Face | None:
        cv2 = self._cv2
        h, w = rgb.shape[:2]
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        small = cv2.resize(rgb, size, interpolation=interp)
        grey = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
        big = (max_px, max_px) if max_px else (0, 0)
        found = self._cascade.detectMultiScale(
            grey, scaleFactor=1.2, minNeighbors=3, minSize=(min_px, min_px), maxSize=big
        )
        if len(found) == 0:
            return None
        x, y, fw, fh = max(found, key=lambda r: r[2] * r[3])
        s = size[0] / w  # actual scale
        fx, fy = at[0] + (x + fw / 2) / s, at[1] + (y + fh / 2) / s
        return Face(float(fx / full[0]), float(fy / full[1]), float(fw / s / full[0]))

    def _find(self, rgb: np.ndarray, tiny: np.ndarray, tick: int) -> Face | None:
        self._since_full += 1
        recent = self.face is not None and tick - self._last_seen <= self.hold_ticks
        if recent and self._since_full < self.full_every and self.face is not None:
            face = self._track(rgb, self.face)
            if face is not None:
                return face
        if self._since_full >= self.full_every or self._bg_checks * self.every_ticks * TICK_S < 0.6:
            return self.detect(rgb)
        return self._detect_changes(rgb, tiny)

    def _detect_changes(self, rgb: np.ndarray, tiny: np.ndarray) -> Face | None:
        """Search only where the frame differs from the learnt room (nothing: no search)."""
        assert self._bg is not None
        diff = np.abs(tiny - self._bg)
        ys, xs = np.nonzero(diff > float(np.median(diff)) + _CHANGED)
        if len(xs) < 4:
            return None
        th, tw = tiny.shape
        h, w = rgb.shape[:2]
        x0, x1 = _align((xs.min() - 3) * w / tw), min(w, (xs.max() + 4) * w // tw)
        y0, y1 = _align((ys.min() - 3) * h / th), min(h, (ys.max() + 4) * h // th)
        if x1 - x0 < 16 or y1 - y0 < 16:
            return None
        return self._in_frame(rgb, (x0, y0, x1, y1), None)

    # ------------------------------------------------------------------ the room
    def _tiny(self, rgb: np.ndarray) -> np.ndarray:
        cv2 = self._cv2
        h, w = rgb.shape[:2]
        size = (_TINY_W, max(1, round(h * _TINY_W / w)))
        return cv2.cvtColor(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY).astype(
            np.float32
        )

    def _box(self, tiny: np.ndarray) -> tuple[slice, slice]:
        """The visitor's head and shoulders around the last face, in tiny-image pixels."""
        assert self.face is not None
        th, tw = tiny.shape
        f = self.face
        fw = max(f.size * tw, 2.0)
        cx, cy = f.x * tw, f.y * th
        y0, y1 = max(0, int(cy - 0.8 * fw)), min(th, int(cy + 1.8 * fw) + 1)
        x0, x1 = max(0, int(cx - 0.8 * fw)), min(tw, int(cx + 0.8 * fw) + 1)
        return slice(y0, y1), slice(x0, x1)

    def _learn(self, tiny: np.ndarray, seen: bool) -> None:
        if self._bg is None or self._bg.shape != tiny.shape:
            self._bg, self._bg_checks = tiny.copy(), 0
            return
        if self.present and self.face is not None:  # the rest of the room, slowly
            rate = np.full(tiny.shape, 0.05, np.float32)
            rate[self._box(tiny)] = 0.0
            self._bg += rate * (tiny - self._bg)
        elif not seen:
            self._bg += 0.15 * (tiny - self._bg)  # time constant ~1 s at 160 ms checks
            self._bg_checks += 1

    def _changed(self, tiny: np.ndarray) -> float | None:
        """Fraction of the last face's box unlike the room; None: no background learnt yet."""
        if self._bg is None or self._bg_checks * self.every_ticks * TICK_S < 0.6 or self.face is None:
            return None
        diff = np.abs(tiny - self._bg)
        return float((diff[self._box(tiny)] > float(np.median(diff)) + _CHANGED).mean())

    def _spot_empty(self, tiny: np.ndarray) -> bool | None:
        """Does the last face's spot look like the room again? None: can't tell."""
        changed = self._changed(tiny)
        if changed is None or self._occupied < 0.1:  # the visitor looked like the room (or no room)
            return None
        return changed < _EMPTY * self._occupied

    # ------------------------------------------------------------------ presence
    def update(self, frames: np.ndarray, frame_ticks: np.ndarray) -> list[PresenceChange]:
        """Camera frames uint8 (k, H, W, 3) with their ticks -> presence changes (usually none)."""
        changes: list[PresenceChange] = []
        for frame, tick in zip(frames, frame_ticks):
            tick = int(tick)
            if tick - self._last_check < self.every_ticks:
                continue
            self._last_check = tick
            self._grey = None
            tiny = self._tiny(frame)
            face = self._find(frame, tiny, tick)
            if face is not None:
                if self._streak < 0 or tick - self._last_seen > self.gap_ticks:
                    self._streak = tick
                    if not self.present:
                        self.face = None  # someone new: no smoothing from the last one's place
                self._last_seen = tick
                self._empty_checks = 0
                jump = self.face is None or abs(face.x - self.face.x) > max(face.size, self.face.size)
                self.face = face if jump or self.face is None else _smooth(self.face, face)
                changed = self._changed(tiny)
                if changed is not None:  # (someone else in view: their own share)
                    keep = 0.0 if jump or self._streak == tick else 0.8 * self._occupied
                    self._occupied = max(changed, keep)
                if not self.present and tick - self._streak >= self.appear_ticks:
                    self.present = True
                    gap = (self._streak - self._visit_last_seen) * TICK_S
                    changes.append(PresenceChange(tick, True, self.face, gap, self._cleared))
            else:
                if tick - self._last_seen > self.gap_ticks:
                    self._streak = -1
                if self.present:
                    gone = self._gone(tiny, tick)
                    if gone is not None:
                        self.present = False
                        self._visit_last_seen = self._last_seen
                        self._cleared = gone
                        changes.append(PresenceChange(tick, False, None))
            self._learn(tiny, face is not None)
        return changes

    def _gone(self, tiny: np.ndarray, tick: int) -> bool | None:
        """Has the visitor left? True: their spot is empty; False: timed out; None: still here."""
        since = tick - self._last_seen
        empty = self._spot_empty(tiny)
        self._empty_checks = self._empty_checks + 1 if empty else 0
        if empty is None:
            return False if since > self.leave_ticks else None
        if since >= self.empty_ticks and self._empty_checks >= 2:
            return True
        return False if since > self.hold_ticks else None

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


def _align(px: float) -> int:
    """A crop's edge at a multiple of 16 px: the crop scales onto the whole frame's pixel grid."""
    return max(0, int(px) // 16 * 16)


def _smooth(old: Face, new: Face, a: float = 0.5) -> Face:
    def mix(u: float, v: float) -> float:
        return u + a * (v - u)

    return Face(mix(old.x, new.x), mix(old.y, new.y), mix(old.size, new.size))
