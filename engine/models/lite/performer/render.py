"""Performer: one avatar's frames at 25 fps from (t, cue).

Per frame: copy the cached background, composite the hair behind (long hair), the body (moved by
breathing) and the head (moved by sway, nods, gaze), with the eyes, brows and mouth drawn into the
head canvas first so that they move with it. Sub-pixel motion comes from cv2.warpAffine (bilinear)
on premultiplied RGBA sprites. Budget: a 512x512 frame in well under 10 ms on one core.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import cv2
import numpy as np

from engine.models.lite.performer.features import Pen, draw_brow, draw_eye, draw_mouth
from engine.models.lite.performer.layout import DESIGN, Box
from engine.models.lite.performer.motion import Liveliness, nod_offset
from engine.models.lite.performer.spec import load_avatar
from engine.models.lite.performer.sprites import sprites_for
from engine.models.lite.visemes import MouthPose

MODES = ("idle", "listening", "thinking", "speaking")


@dataclass
class PerformCue:
    """What the avatar should do now.

    gaze: (x, y) in [-1, 1] in the avatar image's own axes: +x toward the image's right edge, +y
    toward its bottom; (0, 0) looks straight out of the screen at the user. nod: start a nod now.
    """

    mode: str = "idle"
    mouth: MouthPose = field(default_factory=MouthPose.closed)
    gaze: tuple[float, float] = (0.0, 0.0)
    nod: bool = False
    user_present: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"PerformCue.mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not isinstance(self.mouth, MouthPose):
            raise TypeError(f"PerformCue.mouth must be a MouthPose, got {type(self.mouth).__name__}")
        g = tuple(self.gaze)
        if len(g) != 2 or not all(isinstance(v, numbers.Real) and math.isfinite(v) for v in g):
            raise ValueError(f"PerformCue.gaze must be two finite numbers, got {self.gaze!r}")
        self.gaze = (float(np.clip(g[0], -1, 1)), float(np.clip(g[1], -1, 1)))


# expression per mode: smile, brow raise (design px), eye openness, listening tilt (deg)
_EXPR = {
    "idle": (0.45, 0.0, 1.0, 0.0),
    "listening": (0.55, 1.8, 1.0, 2.2),
    "thinking": (0.12, 2.5, 1.0, -1.6),
    "speaking": (0.35, 0.6, 1.0, 0.0),
}


def _warp_composite(dst: np.ndarray, sprite: np.ndarray, m: np.ndarray) -> None:
    """Composite premultiplied RGBA `sprite` onto RGB `dst` through the 2x3 affine `m` (sprite -> dst)."""
    h, w = sprite.shape[:2]
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64) @ m.T
    x0 = max(0, math.floor(corners[:, 0].min()) - 1)
    y0 = max(0, math.floor(corners[:, 1].min()) - 1)
    x1 = min(dst.shape[1], math.ceil(corners[:, 0].max()) + 1)
    y1 = min(dst.shape[0], math.ceil(corners[:, 1].max()) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    mm = m.copy()
    mm[:, 2] -= (x0, y0)
    warped = cv2.warpAffine(
        sprite, mm, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    roi = dst[y0:y1, x0:x1]
    # contiguous channel planes keep cv2 on its fast paths: dst = dst * (1 - a) + premultiplied rgb
    inv = cv2.merge([255 - warped[..., 3]] * 3)
    rgb = cv2.cvtColor(warped, cv2.COLOR_RGBA2RGB)
    roi[:] = cv2.add(cv2.multiply(roi, inv, scale=1.0 / 255.0), rgb)


def _box_px(box: Box, k: float) -> tuple[float, float]:
    return box.x0 * k, box.y0 * k


class Performer:
    """Frames of one avatar. Deterministic for a seed and a sequence of (t, cue) calls."""

    def __init__(self, avatar_id: str, size: int = 512, seed: int = 0) -> None:
        if not isinstance(size, int) or not 64 <= size <= 2048:
            raise ValueError(f"Performer size must be an int in [64, 2048], got {size!r}")
        self.avatar_id = avatar_id
        self.spec = load_avatar(avatar_id)
        self.size = size
        self.seed = int(seed)
        self.k = size / DESIGN
        self.sprites = sprites_for(self.spec, size)
        self.layout = self.sprites.layout
        self.live = Liveliness(self.seed)
        self._reset_state()

    def _reset_state(self) -> None:
        self._t: float | None = None
        self._w = dict.fromkeys(MODES, 0.0)
        self._w["idle"] = 1.0
        self._gaze = np.zeros(2)
        self._nod_start = -1e9
        self._think_side = 1.0
        self._think_count = 0
        self._prev_mode = "idle"
        self._open_avg = 0.0

    # --- state that follows the cues over time
    def _advance(self, t: float, cue: PerformCue) -> float:
        if self._t is None or t < self._t or t - self._t > 5.0:
            dt = 0.0 if self._t is None or t < self._t else 5.0
            if self._t is not None and t < self._t:
                self._reset_state()
        else:
            dt = t - self._t
        self._t = t
        if cue.mode == "thinking" and self._prev_mode != "thinking":
            self._think_count += 1
            self._think_side = 1.0 if (self._think_count + self.seed) % 2 else -1.0
        self._prev_mode = cue.mode
        first = dt == 0.0 and all(v in (0.0, 1.0) for v in self._w.values()) and self._w["idle"] == 1.0
        a = 1.0 if first else 1.0 - math.exp(-dt / 0.22)
        for m in MODES:
            self._w[m] += ((1.0 if m == cue.mode else 0.0) - self._w[m]) * a
        if cue.nod and t - self._nod_start > 0.8:
            self._nod_start = t
        # gaze target: thinking looks up and aside; idle without a user wanders
        target = np.array(cue.gaze, np.float64)
        target = (
            target * (1 - self._w["thinking"])
            + np.array([0.6 * self._think_side, -0.9]) * self._w["thinking"]
        )
        away = 0.9 if not cue.user_present else (0.5 if cue.mode == "idle" else 0.0)
        target = target + self.live.glance(t, away) + self.live.saccade(t)
        ga = 1.0 if first else 1.0 - math.exp(-dt / 0.035)  # eyes jump quickly (saccadic)
        self._gaze += (np.clip(target, -1, 1) - self._gaze) * ga
        oa = 1.0 if first else 1.0 - math.exp(-dt / 0.3)
        self._open_avg += (cue.mouth.open - self._open_avg) * oa
        return dt

    def frame(self, t_s: float, cue: PerformCue) -> np.ndarray:
        """uint8 (S, S, 3) RGB frame at time t_s (seconds) for the cue."""
        if isinstance(t_s, bool) or not isinstance(t_s, numbers.Real) or not math.isfinite(t_s):
            raise ValueError(f"t_s must be a finite number of seconds, got {t_s!r}")
        if not isinstance(cue, PerformCue):
            raise TypeError(f"cue must be a PerformCue, got {type(cue).__name__}")
        t = float(t_s)
        self._advance(t, cue)
        w = self._w
        smile, brow, eye_open, tilt = (sum(_EXPR[m][i] * w[m] for m in MODES) for i in range(4))
        lay, k, spr = self.layout, self.k, self.sprites
        live = self.live

        # --- head pose
        roll, dx, dy = live.sway(t)
        breath = live.breath(t)
        speak = w["speaking"]
        roll += tilt + speak * 0.8 * live.speech_bob(t)
        dx += 2.5 * self._gaze[0]
        dy += 1.5 * self._gaze[1] - 1.2 * breath - speak * 2.0 * self._open_avg
        nod = nod_offset(t - self._nod_start)
        dy += 9.0 * nod
        sy = 1.0 - 0.02 * nod

        # --- canvas: head sprite + features in head space
        head = spr.head.copy()
        pen = Pen(head, lay.head_box, k)
        blink = live.blink(t)
        openness = eye_open * (1.0 - blink) * (1.0 - 0.08 * max(0.0, smile - 0.45))
        gaze = (float(self._gaze[0]), float(self._gaze[1]))
        feat_dy = 1.5 * nod  # parallax: features dip a little more than the outline in a nod
        think = w["thinking"]
        for side in (-1, 1):
            ex = lay.cx + side * lay.eye_dx
            draw_eye(pen, self.spec, ex, lay.eye_y + feat_dy, lay.eye_w, lay.eye_h, openness, gaze, side)
            asym = 2.2 * think * (1.0 if side == self._think_side else -0.4)
            raise_ = brow + asym + 2.0 * speak * self._open_avg - 2.0 * blink
            draw_brow(pen, self.spec, ex, lay.brow_y + feat_dy, lay.eye_w, raise_, side)
        mouth = cue.mouth
        if think > 0.01:  # a small thoughtful purse of the lips, drawn a little to the side
            mouth = mouth.lerp(MouthPose(open=mouth.open, wide=0.0, round=0.25), 0.5 * think)
        mx = lay.cx + 2.5 * think * self._think_side
        draw_mouth(pen, self.spec, mx, lay.mouth_y + feat_dy, mouth, smile)

        # --- compose
        px, py = lay.pivot[0] * k, lay.pivot[1] * k
        c, s = math.cos(math.radians(roll)), math.sin(math.radians(roll))
        # design-frame -> frame: rotate about the pivot, squash for the nod, then move
        rot = np.array([[c, -s * sy, 0.0], [s, c * sy, 0.0]])
        rot[:, 2] = [px + dx * k, py + dy * k]
        pivot_shift = np.array([[1, 0, -px], [0, 1, -py], [0, 0, 1]], np.float64)
        head_m = rot @ pivot_shift
        breath_q = round(-1.6 * k * breath * 4)  # body offset in quarter pixels
        if spr.hairback is None:
            out = self._base_with_body(breath_q)
        else:
            out = spr.background.copy()
            hb = lay.hairback_box
            _warp_composite(out, spr.hairback, head_m @ _translate(*_box_px(hb, k)))
            body, oy = self._body_shifted(breath_q)
            _composite_at(out, body, round(lay.body_box.x0 * k), oy)
        _warp_composite(out, head, head_m @ _translate(*_box_px(lay.head_box, k)))
        return out

    def _body_shifted(self, q: int) -> tuple[np.ndarray, int]:
        """The body sprite moved down by q/4 px: (sprite pre-shifted by the fraction, integer y)."""
        spr = self.sprites
        whole, frac = divmod(q, 4)
        key = ("body", frac)
        if key not in spr.cache:
            h, w = spr.body.shape[:2]
            m = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, frac / 4.0]])
            spr.cache[key] = cv2.warpAffine(spr.body, m, (w, h + 1), flags=cv2.INTER_LINEAR, borderValue=0)
        return spr.cache[key], round(self.layout.body_box.y0 * self.k) + whole

    def _base_with_body(self, q: int) -> np.ndarray:
        """A copy of background + body (moved down by q/4 px), cached per offset."""
        spr = self.sprites
        key = ("base", q)
        if key not in spr.cache:
            base = spr.background.copy()
            body, oy = self._body_shifted(q)
            _composite_at(base, body, round(self.layout.body_box.x0 * self.k), oy)
            spr.cache[key] = base
        return spr.cache[key].copy()


def _composite_at(dst: np.ndarray, sprite: np.ndarray, x: int, y: int) -> None:
    """Composite premultiplied RGBA `sprite` onto RGB `dst` with its top-left at integer (x, y)."""
    h, w = sprite.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(dst.shape[1], x + w), min(dst.shape[0], y + h)
    if x1 <= x0 or y1 <= y0:
        return
    src = sprite[y0 - y : y1 - y, x0 - x : x1 - x]
    roi = dst[y0:y1, x0:x1]
    inv = cv2.merge([255 - src[..., 3]] * 3)
    roi[:] = cv2.add(cv2.multiply(roi, inv, scale=1.0 / 255.0), cv2.cvtColor(src, cv2.COLOR_RGBA2RGB))


def _translate(x: float, y: float) -> np.ndarray:
    return np.array([[1, 0, x], [0, 1, y], [0, 0, 1]], np.float64)
