"""Synthetic booth camera: a plain room with people pasted in, one frame per 40 ms tick.

The "person" is the lite performer's own drawn head and shoulders (the 'max' avatar, no third-party
image); looking away is the same silhouette with the face painted over in hair colour (the back of
the head). Frames are made lazily and cached, so a long scene costs little memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import overload

import numpy as np

TICK_S = 0.04
_FACE_FRACTION = 0.42  # the drawn face's width / the sprite's width (as the cascade finds it)


@dataclass(frozen=True)
class Person:
    t0: float  # s, arrives (appears in the image)
    t1: float  # s, gone
    x: float = 0.5  # face centre, fraction of the image width
    face_px: float = 110.0  # face width in image px
    away: bool = False  # the back of the head (no face to find)
    x1: float | None = None  # walks from x to x1 between t0 and t1 (a passer-by)
    y: float = 0.42


@lru_cache(maxsize=4)
def _sprite(away: bool) -> tuple[np.ndarray, np.ndarray]:
    """(rgb float32 (240, 240, 3), mask float32 (240, 240)) of a head and shoulders."""
    import cv2

    import engine.models.lite.performer as perf
    from engine.models.lite.visemes import MouthPose

    p = perf.Performer("max", size=240, seed=1)
    cue = perf.PerformCue(
        mode="idle", mouth=MouthPose.closed(), gaze=(0.0, 0.0), nod=False, user_present=False
    )
    img = p.frame(0.0, cue).astype(np.float32)
    shape = np.zeros((240, 240), np.float32)
    cv2.ellipse(shape, (120, 100), (58, 72), 0, 0, 360, 1.0, -1)  # head and hair
    cv2.ellipse(shape, (120, 262), (118, 82), 0, 180, 360, 1.0, -1)  # shoulders
    shape[150:200, 95:145] = 1.0  # neck
    mask = np.asarray(cv2.GaussianBlur(shape, (5, 5), 1.5), np.float32)
    if away:
        hair = img[45:60, 110:130].reshape(-1, 3).mean(0)
        head = np.zeros((240, 240), np.uint8)
        cv2.ellipse(head, (120, 105), (52, 68), 0, 0, 360, 255, -1)
        noise = np.random.default_rng(3).normal(0, 10, (240, 240, 3))
        img = np.where(head[..., None] > 0, hair + noise, img).astype(np.float32)
    return img, mask


def _room(w: int, h: int) -> np.ndarray:
    x = np.linspace(0, 1, w)[None, :, None]
    img = np.array([200.0, 190, 170]) * (0.85 + 0.15 * x) * np.ones((h, w, 1))
    img[int(h * 0.72) :] = (110, 90, 70)  # floor
    img[int(h * 0.2) : int(h * 0.72), int(w * 0.08) : int(w * 0.2)] = (150, 120, 90)  # a door
    img[int(h * 0.6) : int(h * 0.75), int(w * 0.6) : int(w * 0.95)] = (80, 70, 60)  # a table
    return img.astype(np.float32)


def _paste(img: np.ndarray, p: Person, x: float) -> None:
    import cv2

    sprite, mask = _sprite(p.away)
    h, w = img.shape[:2]
    size = max(2, round(p.face_px / _FACE_FRACTION))
    spr = cv2.resize(sprite, (size, size), interpolation=cv2.INTER_AREA)
    m = cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA)[..., None]
    x0, y0 = round(x * w - size / 2), round(p.y * h - size / 2)
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(w, x0 + size), min(h, y0 + size)
    if xa >= xb or ya >= yb:
        return
    dst = img[ya:yb, xa:xb]
    src, sm = spr[ya - y0 : yb - y0, xa - x0 : xb - x0], m[ya - y0 : yb - y0, xa - x0 : xb - x0]
    img[ya:yb, xa:xb] = dst * (1 - sm) + src * sm


class Scene(Sequence[np.ndarray]):
    """Camera frames uint8 (h, w, 3), one per tick, of `people` in a room for `dur_s` seconds."""

    def __init__(self, people: list[Person], dur_s: float, w: int = 640, h: int = 480) -> None:
        self.people, self.w, self.h = people, w, h
        self.n = round(dur_s / TICK_S)
        self._room = _room(w, h)
        self._noise = [np.random.default_rng(i).normal(0, 3, (h, w, 3)).astype(np.float32) for i in range(3)]
        self._cache: dict[tuple[object, ...], np.ndarray] = {}

    def __len__(self) -> int:
        return self.n

    @overload
    def __getitem__(self, i: int) -> np.ndarray: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[np.ndarray]: ...
    def __getitem__(self, i: int | slice) -> np.ndarray | Sequence[np.ndarray]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n))]
        t = i * TICK_S
        here = []
        for p in self.people:
            if p.t0 <= t < p.t1:
                x = p.x if p.x1 is None else p.x + (p.x1 - p.x) * (t - p.t0) / (p.t1 - p.t0)
                here.append((p, round(x, 4)))
        key = (tuple(here), i % 3)
        if key not in self._cache:
            img = self._room.copy()
            for p, x in here:
                _paste(img, p, x)
            self._cache[key] = np.clip(img + self._noise[i % 3], 0, 255).astype(np.uint8)
        return self._cache[key]


def watch(scene: Scene, watcher: object) -> list[tuple[float, bool]]:
    """Feed `scene` to a FaceWatcher tick by tick: [(time s, present)] of its presence changes."""
    from engine.models.lite.seeing import FaceWatcher

    assert isinstance(watcher, FaceWatcher)
    out = []
    for t in range(len(scene)):
        for ch in watcher.update(scene[t][None], np.array([t])):
            out.append((round(ch.tick * TICK_S, 2), ch.present))
    return out
