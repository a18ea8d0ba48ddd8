"""The moving parts of the face, drawn each frame into the head canvas (uint8 premultiplied RGBA).

Shapes are analytic curves (lids, lips, teeth, tongue as functions of x), filled as anti-aliased
polygons with sub-pixel coordinates. The mouth's interior is one unique colour (MOUTH_INTERIOR) so
tests and checks can measure the visible opening from pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from engine.models.lite.performer.layout import Box, catmull_rom
from engine.models.lite.performer.spec import RGB, AvatarSpec
from engine.models.lite.visemes import MouthPose

SHIFT = 4
MOUTH_INTERIOR: RGB = (74, 14, 40)  # unique dark wine: nothing else on an avatar has it
TEETH: RGB = (248, 246, 240)
TONGUE: RGB = (214, 104, 112)
SCLERA: RGB = (246, 243, 240)


def _mix(a: RGB, b: RGB, t: float) -> tuple[int, int, int, int]:
    return (*(round(x + (y - x) * t) for x, y in zip(a, b)), 255)  # type: ignore[return-value]


def _rgba(c: RGB) -> tuple[int, int, int, int]:
    return (c[0], c[1], c[2], 255)


@dataclass
class Pen:
    """Draws design-space shapes onto a canvas placed at `box`, `k` px per design px."""

    img: np.ndarray  # uint8 (h, w, 4)
    box: Box
    k: float

    def px(self, pts: np.ndarray) -> np.ndarray:
        p = (np.asarray(pts, np.float64) - [self.box.x0, self.box.y0]) * self.k
        return np.round(p * (1 << SHIFT)).astype(np.int32)

    def fill(self, pts: np.ndarray, color: tuple[int, ...]) -> None:
        cv2.fillPoly(self.img, [self.px(pts)], color, cv2.LINE_AA, SHIFT)

    def line(self, pts: np.ndarray, color: tuple[int, ...], width: float) -> None:
        t = max(1, round(width * self.k))
        cv2.polylines(self.img, [self.px(pts)], False, color, t, cv2.LINE_AA, SHIFT)

    def circle(self, c: tuple[float, float], r: float, color: tuple[int, ...]) -> None:
        cc = self.px(np.array([c]))[0]
        cv2.circle(self.img, (int(cc[0]), int(cc[1])), max(1, round(r * self.k * (1 << SHIFT))), color, -1,
                   cv2.LINE_AA, SHIFT)  # fmt: skip


def _curve_x(hw: float, n: int) -> np.ndarray:
    return np.linspace(-hw, hw, n)


def _hstroke(xs: np.ndarray, ys: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Polygon around a mostly horizontal curve, vertical half-widths w/2 (cheaper than normals)."""
    return np.concatenate([np.stack([xs, ys - w / 2], 1), np.stack([xs, ys + w / 2], 1)[::-1]])


_EYE_N = 17


@lru_cache(maxsize=64)
def _eye_shape(ew: float, eh: float, side: int, lash_w: float) -> tuple[np.ndarray, ...]:
    """Eye curves relative to the eye centre: x, open upper lid, lower lid, lid-line widths (n,)."""
    x = np.linspace(-ew, ew, _EYE_N)
    u = x / ew
    tilt = side * 1.5 * u  # outer corners slightly higher: a friendly look
    upper0 = -eh * (1 - u**2) ** 0.55 - tilt - 1.5 * side * u * (1 - u**2)
    lower = 0.55 * eh * (1 - u**2) ** 0.85 - tilt
    v = (u * side + 1) / 2  # 0 at the inner corner .. 1 at the outer
    widths = (2.0 + (lash_w - 2.0) * v) * np.sin(np.pi * np.clip(0.06 + 0.9 * v, 0, 1)) ** 0.35
    return x, upper0, lower, widths


def draw_eye(
    pen: Pen, spec: AvatarSpec, ex: float, ey: float, ew: float, eh: float, openness: float,
    gaze: tuple[float, float], side: int,
) -> None:  # fmt: skip
    """One eye at (ex, ey); openness 0 (shut) .. 1; gaze (x, y) in [-1, 1]; side -1 left, +1 right."""
    x, upper0, lower, widths = _eye_shape(ew, eh, side, 3.6 if spec.lashes_long else 2.8)
    o = float(np.clip(openness, 0.0, 1.0))
    upper = ey + lower + (upper0 - lower) * o
    lower = ey + lower
    xs = ex + x
    if o > 0.06:
        # the eye opening, drawn in a small patch and clipped to the lids with an anti-aliased mask
        x0 = int(np.floor((ex - ew - 2 - pen.box.x0) * pen.k))
        x1 = int(np.ceil((ex + ew + 2 - pen.box.x0) * pen.k))
        y0 = int(np.floor((ey - eh - 4 - pen.box.y0) * pen.k))
        y1 = int(np.ceil((ey + eh + 4 - pen.box.y0) * pen.k))
        roi = pen.img[y0:y1, x0:x1]
        sub = Pen(np.empty_like(roi), Box(pen.box.x0 + x0 / pen.k, pen.box.y0 + y0 / pen.k, 0, 0), pen.k)
        sub.img[:] = _rgba(SCLERA)
        sub.line(np.stack([xs, upper + 1.6], 1), _mix(SCLERA, (150, 120, 120), 0.35), 3.0)
        ir = eh * 0.88
        ix = ex + float(np.clip(gaze[0], -1, 1)) * ew * 0.42
        iy = ey - eh * 0.12 + float(np.clip(gaze[1], -1, 1)) * eh * 0.5
        sub.circle((ix, iy), ir, _mix(spec.iris, (20, 20, 20), 0.35))
        sub.circle((ix, iy), ir * 0.86, _rgba(spec.iris))
        sub.circle((ix, iy + ir * 0.25), ir * 0.55, _mix(spec.iris, (255, 255, 255), 0.18))
        sub.circle((ix, iy), ir * 0.45, (22, 16, 18, 255))
        sub.circle((ix - ir * 0.32, iy - ir * 0.36), ir * 0.24, (255, 255, 255, 255))
        mask = np.zeros(roi.shape[:2], np.uint8)
        opening = np.concatenate([np.stack([xs, upper], 1), np.stack([xs, lower], 1)[::-1]])
        cv2.fillPoly(mask, [sub.px(opening)], 255, cv2.LINE_AA, SHIFT)
        m4 = cv2.merge([mask] * 4)
        roi[:] = cv2.add(cv2.multiply(sub.img, m4, scale=1 / 255), cv2.multiply(roi, 255 - m4, scale=1 / 255))
    lash = _rgba(spec.lashes)
    # upper lid line (heavier at the outer corner), lower lid hint, crease
    pen.fill(_hstroke(xs, upper, widths), lash)
    if o > 0.3:
        pen.line(np.stack([xs[3:-3], lower[3:-3] + 0.8], 1), _mix(spec.skin, spec.skin_shadow, 0.9), 1.2)
    crease = ey + upper0 - 5.0 - 1.5 * (1 - o)
    sel = slice(3, -2) if side > 0 else slice(2, -3)
    pen.line(np.stack([xs[sel], crease[sel]], 1), _mix(spec.skin, spec.skin_shadow, 0.85), 1.3)
    if spec.lashes_long:
        for j, uu in enumerate((0.55, 0.78, 0.95)):
            i = round((side * uu + 1) / 2 * (_EYE_N - 1))
            px_, py_ = xs[i], upper[i]
            d = _LASH_DIRS[j]
            pen.line(np.array([[px_, py_], [px_ + side * d[0] * 5.5, py_ + d[1] * 5.5]]), lash, 1.4)


_LASH_DIRS = [
    np.array([0.5 + 0.35 * j, -1.0 + 0.15 * j]) / np.hypot(0.5 + 0.35 * j, -1.0 + 0.15 * j) for j in range(3)
]


@lru_cache(maxsize=64)
def _brow_shape(ew: float, side: int, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Brow spine relative to (eye x, brow y): points (m, 2) at raise 0, their change per unit raise,
    and the stroke widths (m,)."""
    ctrl0 = np.array(
        [[-side * ew * 0.95, 2.0], [-side * ew * 0.2, -3.0], [side * ew * 0.7, -3.5], [side * ew * 1.25, 1.5]]
    )
    d_raise = np.array([[0, -0.8], [0, -1.0], [0, -0.9], [0, -0.6]])
    spine0 = catmull_rom(ctrl0, n=6)
    dspine = catmull_rom(ctrl0 + d_raise, n=6) - spine0
    u = np.linspace(0.0, 1.0, len(spine0))
    w = (t * 1.15 + (t * 0.35 - t * 1.15) * u) * np.sin(np.pi * np.clip(0.12 + 0.88 * u, 0, 1)) ** 0.35
    return spine0, dspine, w


def draw_brow(pen: Pen, spec: AvatarSpec, ex: float, y: float, ew: float, raise_: float, side: int) -> None:
    """An eyebrow over the eye at ex; raise_ in design px (positive = up)."""
    spine0, dspine, w = _brow_shape(ew, side, spec.brow_thickness)
    sp = spine0 + dspine * raise_
    pen.fill(_hstroke(ex + sp[:, 0], y + sp[:, 1], w), _rgba(spec.brows))


def draw_mouth(pen: Pen, spec: AvatarSpec, mx: float, my: float, pose: MouthPose, smile: float) -> None:
    """The mouth centred at (mx, my) (design px) in `pose`; smile in [0, 1] lifts the corners."""
    w0 = spec.mouth_width
    hw = w0 * (1.0 + 0.24 * pose.wide - 0.36 * pose.round + 0.08 * smile)
    oh = 30.0 * pose.open * (1.0 - 0.12 * pose.wide) * (w0 / 25.0) ** 0.5  # opening height
    lift = (smile * 8.0 - 1.0) * (1.0 - 0.5 * pose.round)
    n = 25
    x = _curve_x(hw, n)
    u = x / hw
    p = 0.55 + 0.25 * (1.0 - pose.round) - 0.2 * pose.round
    f = np.clip(1 - u**2, 0, 1) ** p
    base = my - lift * u**2 + lift * 0.35  # the line the lips meet on (corners up when smiling)
    y_up_in = base - oh * 0.3 * f
    y_lo_in = base + oh * 0.7 * f
    full = spec.lip_fullness * (1.0 + 0.35 * pose.round)
    tu = 5.5 * full
    tl = 7.5 * full
    bow = 1.0 - 0.28 * np.exp(-((x / (0.16 * hw)) ** 2))  # Cupid's bow
    g = np.clip(1 - u**2, 0, 1) ** 0.6
    y_up_out = y_up_in - tu * g * bow - 0.6
    y_lo_out = y_lo_in + tl * np.clip(1 - u**2, 0, 1) ** 0.75 + 0.4
    xs = mx + x
    lip = spec.lips
    upper = np.concatenate([np.stack([xs, y_up_out], 1), np.stack([xs, y_up_in], 1)[::-1]])
    lower = np.concatenate([np.stack([xs, y_lo_in], 1), np.stack([xs, y_lo_out], 1)[::-1]])
    pen.fill(lower, _rgba(lip))
    pen.fill(upper, _mix(lip, (60, 20, 30), 0.16))
    # lower-lip highlight
    hl_y = y_lo_in + (y_lo_out - y_lo_in) * 0.45
    sel = slice(n // 2 - 4, n // 2 + 5)
    pen.line(np.stack([xs[sel], hl_y[sel]], 1), _mix(lip, (255, 235, 230), 0.3), 1.6 * full)
    if oh * pen.k >= 0.6:
        hwi = hw * 0.97
        inner = np.concatenate([np.stack([xs, y_up_in], 1), np.stack([xs, y_lo_in], 1)[::-1]])
        pen.fill(inner, _rgba(MOUTH_INTERIOR))
        tw = np.abs(x) < hwi * 0.72
        if pose.teeth > 0.02 and tw.sum() >= 2:
            xt = xs[tw]
            top = y_up_in[tw]
            th = (2.0 + oh * 0.28) * pose.teeth
            bot = np.minimum(top + th * np.clip(1 - (x[tw] / (hwi * 0.72)) ** 2, 0.3, 1) ** 0.3, y_lo_in[tw])
            pen.fill(np.concatenate([np.stack([xt, top], 1), np.stack([xt, bot], 1)[::-1]]), _rgba(TEETH))
            if pose.teeth > 0.5 and oh > 3:
                lb_top = np.maximum(y_lo_in[tw] - (oh * 0.12 + 1.0) * (pose.teeth - 0.5) * 2, bot)
                pen.fill(np.concatenate([np.stack([xt, lb_top], 1), np.stack([xt, y_lo_in[tw]], 1)[::-1]]),
                         _mix(TEETH, (150, 140, 140), 0.25))  # fmt: skip
        if pose.tongue > 0.02 and oh > 2.0:
            tgw = np.abs(x) < hw * 0.62
            xt = xs[tgw]
            uu = x[tgw] / (hw * 0.62)
            bot = y_lo_in[tgw]
            top = np.maximum(
                bot - oh * (0.22 + 0.45 * pose.tongue) * np.clip(1 - uu**2, 0, 1) ** 0.5, y_up_in[tgw] + 0.5
            )
            pen.fill(np.concatenate([np.stack([xt, top], 1), np.stack([xt, bot], 1)[::-1]]), _rgba(TONGUE))
    else:
        # closed: the line where the lips meet, soft at the corners
        pen.line(np.stack([xs[1:-1], base[1:-1] + 0.2], 1), _mix(lip, (40, 10, 20), 0.55), 1.5)
    # corners: tiny dimples
    for sgn in (-1, 1):
        cx_ = mx + sgn * hw
        cy_ = base[0 if sgn < 0 else -1]
        pen.line(np.array([[cx_ - sgn * 1.5, cy_ - 0.5], [cx_ + sgn * 1.8, cy_ - 1.6 * smile]]),
                 _mix(spec.skin, spec.skin_shadow, 0.8), 1.2)  # fmt: skip
