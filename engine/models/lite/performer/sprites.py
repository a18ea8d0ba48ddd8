"""The avatar's static layers, painted once per (avatar, size) and cached.

Layers are painted in float at 2x supersampling with soft shading (blurred masks), then reduced to
uint8 premultiplied RGBA sprites: background (opaque), hair behind the body (long hair only), body
(neck, shoulders, clothes) and head (ears, face, nose, cheeks, hair in front). The eyes, brows and
mouth move, so they are drawn per frame (features.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from engine.models.lite.performer.layout import (
    DESIGN,
    Box,
    Layout,
    catmull_rom,
    face_outline,
    layout_for,
)
from engine.models.lite.performer.spec import RGB, AvatarSpec

SS = 2  # supersampling of the static layers
SHIFT = 4  # fixed-point bits for cv2 polygon coordinates


def _c(rgb: RGB) -> np.ndarray:
    return np.array(rgb, dtype=np.float32) / 255.0


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))  # type: ignore[return-value]


class Canvas:
    """A float32 premultiplied RGBA layer over a design-space box, at scale `f` px per design px."""

    def __init__(self, box: Box, scale: float) -> None:
        self.box = box
        self.f = scale
        self.w = max(1, round(box.w * scale))
        self.h = max(1, round(box.h * scale))
        self.rgba = np.zeros((self.h, self.w, 4), np.float32)

    def px(self, pts: np.ndarray) -> np.ndarray:
        p = (np.asarray(pts, np.float64) - [self.box.x0, self.box.y0]) * self.f
        return np.round(p * (1 << SHIFT)).astype(np.int32)

    def mask(self, *polys: np.ndarray) -> np.ndarray:
        m = np.zeros((self.h, self.w), np.uint8)
        cv2.fillPoly(m, [self.px(p) for p in polys], 255, cv2.LINE_AA, SHIFT)
        return m.astype(np.float32) / 255.0

    def ellipse_mask(
        self, center: tuple[float, float], axes: tuple[float, float], angle: float = 0
    ) -> np.ndarray:
        pts = np.asarray(cv2.ellipse2Poly((0, 0), (1000, 1000), int(angle), 0, 360, 4), np.float64) / 1000.0
        pts = pts * axes + center
        return self.mask(pts)

    def blur(self, m: np.ndarray, sigma_design: float) -> np.ndarray:
        s = max(0.5, sigma_design * self.f)
        return cv2.GaussianBlur(m, (0, 0), s)

    def paint(self, m: np.ndarray, color: RGB | np.ndarray, opacity: float = 1.0) -> None:
        """Paint colour where mask m (h, w) in [0, 1], over what is there."""
        a = (m * opacity)[..., None]
        col = np.concatenate([_c(color) if isinstance(color, tuple) else color, [1.0]]).astype(np.float32)
        self.rgba *= 1.0 - a
        self.rgba += a * col

    def shade(self, m: np.ndarray, color: RGB, opacity: float) -> None:
        """Tint the existing colour toward `color` where m, keeping coverage (alpha) unchanged."""
        a = (m * opacity)[..., None]
        alpha = self.rgba[..., 3:4]
        self.rgba[..., :3] = self.rgba[..., :3] * (1.0 - a) + _c(color) * alpha * a

    def line(
        self, pts: np.ndarray, color: RGB, width: float, opacity: float = 1.0, blur: float = 0.0
    ) -> None:
        m = np.zeros((self.h, self.w), np.uint8)
        cv2.polylines(m, [self.px(pts)], False, 255, max(1, round(width * self.f)), cv2.LINE_AA, SHIFT)
        mf = m.astype(np.float32) / 255.0
        if blur > 0:
            mf = self.blur(mf, blur)
        self.paint(mf * self.rgba[..., 3] if opacity < 0 else mf, color, abs(opacity))

    def to_sprite(self) -> np.ndarray:
        """uint8 premultiplied RGBA at 1/SS of the painting resolution."""
        small = cv2.resize(self.rgba, (self.w // SS, self.h // SS), interpolation=cv2.INTER_AREA)
        return np.clip(small * 255.0 + 0.5, 0, 255).astype(np.uint8)


@dataclass
class Sprites:
    size: int
    background: np.ndarray  # uint8 (S, S, 3) RGB
    hairback: np.ndarray | None  # uint8 premultiplied RGBA over layout.hairback_box (scaled)
    body: np.ndarray  # over layout.body_box
    head: np.ndarray  # over layout.head_box
    layout: Layout
    cache: dict = field(default_factory=dict)  # derived images (pre-shifted body, background + body)


def _background(spec: AvatarSpec, lay: Layout, size: int) -> np.ndarray:
    k = size / DESIGN
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / k
    t = (yy / DESIGN)[..., None] ** 1.2
    img = _c(spec.background_top) * (1 - t) + _c(spec.background_bottom) * t
    # a soft glow behind the head and two out-of-focus discs for depth
    glow = np.exp(-(((xx - lay.cx) / 210.0) ** 2 + ((yy - lay.cy + 10) / 190.0) ** 2))[..., None]
    img = img * (1 - 0.55 * glow) + _c(spec.background_glow) * 0.55 * glow
    for bx, by, r, op in ((70, 110, 60, 0.16), (450, 300, 80, 0.12), (400, 70, 36, 0.14)):
        d = np.sqrt((xx - bx) ** 2 + (yy - by) ** 2)
        disc = np.clip((r - d) / 10.0, 0, 1)[..., None] * op
        img = img * (1 - disc) + _c(spec.background_glow) * disc
    vign = 1.0 - 0.16 * (((xx - 256) / 300) ** 2 + ((yy - 236) / 320) ** 2)[..., None]
    img = img * vign
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, img.shape).astype(np.float32) / 255.0
    return np.clip((img + noise) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _body(spec: AvatarSpec, lay: Layout, f: float) -> Canvas:
    cv = Canvas(lay.body_box, f)
    cx = lay.cx
    nw = lay.a * (0.26 + 0.3 * spec.jaw)  # neck half-width
    top = lay.cy + 0.45 * lay.b
    neck = np.array(
        [[cx - nw, top], [cx + nw, top], [cx + nw * 1.02, 390], [cx + nw * 1.3, 420], [cx - nw * 1.3, 420],
         [cx - nw * 1.02, 390]]
    )  # fmt: skip
    m_neck = cv.mask(neck)
    cv.paint(m_neck, _mix(spec.skin, spec.skin_shadow, 0.3))
    # the jaw's shadow on the neck, and the neck's rounded sides
    yy = (np.arange(cv.h, dtype=np.float32) / f + cv.box.y0)[:, None]
    under_jaw = np.clip(1.0 - (yy - (lay.cy + 0.9 * lay.b)) / 34.0, 0, 1) ** 1.5 * np.ones(
        (1, cv.w), np.float32
    )
    cv.shade(m_neck * under_jaw, _mix(spec.skin_shadow, (40, 20, 30), 0.15), 0.9)
    cv.shade(m_neck * (1 - cv.blur(m_neck, 7)) * 1.6, spec.skin_shadow, 0.5)
    # the shadow the jaw casts on the neck
    cast = cv.blur(cv.mask(face_outline(spec, lay) + np.array([0, 9])), 4)
    cv.shade(m_neck * cast, _mix(spec.skin_shadow, (60, 30, 40), 0.2), 0.7)
    sh = 22.0 + 0.2 * lay.a  # shoulder drop
    torso = catmull_rom(
        [
            [cx - nw * 1.25, 392], [cx - 95, 404], [cx - 160, 414 + sh * 0.2], [cx - 205, 440],
            [cx - 228, 490], [cx - 236, 560], [cx + 236, 560], [cx + 228, 490], [cx + 205, 440],
            [cx + 160, 414 + sh * 0.2], [cx + 95, 404], [cx + nw * 1.25, 392],
        ],
        closed=True,
        n=10,
    )  # fmt: skip
    m_torso = cv.mask(torso)
    cv.paint(m_torso, spec.clothes)
    xx = (np.arange(cv.w, dtype=np.float32) / f)[None, :]
    side = np.clip((np.abs(xx - cx) - 120) / 110.0, 0, 1) ** 1.5 * np.ones((cv.h, 1), np.float32)
    low = np.clip((yy - 430) / 90.0, 0, 1) * np.ones((1, cv.w), np.float32)
    cv.shade(m_torso * np.clip(side + 0.5 * low, 0, 1), spec.clothes_shadow, 0.75)
    # shoulder highlight
    for sgn in (-1, 1):
        hl = cv.blur(cv.ellipse_mask((cx + sgn * 150, 428), (50, 12), sgn * 18), 9)
        cv.shade(hl * m_torso, _mix(spec.clothes, (255, 255, 255), 0.35), 0.5)
    # soft contact shadow where the neck meets the clothes
    cv.shade(m_torso * cv.blur(m_neck, 10) * 1.2, spec.clothes_shadow, 0.4)
    if spec.neckline == "round":
        chest = catmull_rom([[cx - 52, 392], [cx - 42, 426], [cx, 442], [cx + 42, 426], [cx + 52, 392]], n=8)
        m_chest = cv.mask(chest)
        cv.paint(m_chest, _mix(spec.skin, spec.skin_shadow, 0.2))
        cv.shade(m_chest * cv.blur(m_neck, 6), spec.skin_shadow, 0.25)
        cv.line(chest, _mix(spec.clothes, spec.clothes_shadow, 0.55), 6.0)
        cv.line(chest + np.array([0, 3.5]), spec.accent, 1.6, 0.7)
    else:  # crew-neck sweater over a shirt collar
        # the neck continues into an open shirt collar: skin down to the V, a strip of shirt below
        vee = np.array(
            [[cx - nw * 0.95, 384], [cx + nw * 0.95, 384], [cx + nw * 1.3, 393], [cx + 6, 436], [cx - 6, 436],
             [cx - nw * 1.3, 393]]
        )  # fmt: skip
        m_vee = cv.mask(vee)
        cv.paint(m_vee, _mix(spec.skin, spec.skin_shadow, 0.3))
        cv.shade(m_vee * np.clip((yy - 396) / 40.0, 0, 1), spec.skin_shadow, 0.5)
        cv.paint(cv.mask(np.array([[cx - 12, 428], [cx + 12, 428], [cx, 452]])), spec.accent)
        for sgn in (-1, 1):
            collar = np.array(
                [[cx + sgn * 46, 386], [cx + sgn * 2, 434], [cx + sgn * 10, 442], [cx + sgn * 60, 420]]
            )
            m_col = cv.mask(catmull_rom(collar, closed=True, n=4))
            cv.paint(m_col, spec.accent)
            cv.shade(m_col * (1 - cv.blur(m_col, 3)) * 1.5, _mix(spec.accent, (90, 100, 120), 0.5), 0.45)
        band = catmull_rom([[cx - 70, 400], [cx - 40, 440], [cx, 454], [cx + 40, 440], [cx + 70, 400]], n=8)
        cv.line(band, _mix(spec.clothes, spec.clothes_shadow, 0.5), 9.0)
    return cv


def _long_hair_back(spec: AvatarSpec, lay: Layout, f: float) -> Canvas:
    cv = Canvas(lay.hairback_box, f)
    cx, cy, a, b = lay.cx, lay.cy, lay.a, lay.b
    shape = catmull_rom(
        [
            [cx - a - 40, cy + b + 120], [cx - a - 30, cy + 30], [cx - a - 22, cy - 0.6 * b],
            [cx - 0.55 * a, cy - b - 28], [cx + 0.5 * a, cy - b - 30], [cx + a + 24, cy - 0.6 * b],
            [cx + a + 34, cy + 30], [cx + a + 46, cy + b + 118], [cx + a + 20, cy + b + 140],
            [cx + 0.6 * a, cy + b + 128], [cx - 0.55 * a, cy + b + 130], [cx - a - 14, cy + b + 142],
        ],
        closed=True,
        n=10,
    )  # fmt: skip
    m = cv.mask(shape)
    cv.paint(m, spec.hair)
    inner = cv.blur(cv.ellipse_mask((cx, cy + b * 0.9), (a * 0.9, b * 0.9)), 25)
    cv.shade(m * np.clip(inner * 1.6, 0, 1), spec.hair_shadow, 0.85)
    cv.shade(m * (1 - cv.blur(m, 10)) * 1.4, spec.hair_shadow, 0.45)
    for sgn in (-1, 1):
        for j, off in enumerate((12, 26)):
            strand = catmull_rom(
                [[cx + sgn * (a + off - 4), cy - 0.2 * b], [cx + sgn * (a + off + 4), cy + 0.5 * b],
                 [cx + sgn * (a + off + 2 + 6 * j), cy + b + 80]],
                n=12,
            )  # fmt: skip
            cv.line(strand, spec.hair_highlight, 3.0, 0.35, blur=2.0)
    return cv


def _head(spec: AvatarSpec, lay: Layout, f: float) -> Canvas:
    cv = Canvas(lay.head_box, f)
    cx, cy, a, b = lay.cx, lay.cy, lay.a, lay.b
    outline = face_outline(spec, lay)
    if spec.hair_style == "short":
        cap_back = catmull_rom(
            [[cx - a - 6, cy - 0.05 * b], [cx - a - 9, cy - 0.6 * b], [cx - 0.5 * a, cy - b - 16],
             [cx + 0.5 * a, cy - b - 16], [cx + a + 9, cy - 0.6 * b], [cx + a + 6, cy - 0.05 * b]],
            n=10,
        )  # fmt: skip
        m = cv.mask(cap_back)
        cv.paint(m, spec.hair_shadow)
        # ears
        for sgn in (-1, 1):
            ec = (cx + sgn * (a - 1), lay.eye_y + 10)
            m_ear = cv.ellipse_mask(ec, (12.5, 21), sgn * 12)
            cv.paint(m_ear, spec.skin)
            cv.shade(m_ear * (1 - cv.blur(m_ear, 4)) * 1.5, spec.skin_shadow, 0.6)
            inner = cv.ellipse_mask((ec[0] + sgn * 2, ec[1] + 1), (6, 13), sgn * 12)
            cv.shade(cv.blur(inner, 2), spec.skin_shadow, 0.55)
    m_face = cv.mask(outline)
    cv.paint(m_face, spec.skin)
    # shading: a soft rim, light from the upper left, the jaw line
    rim = np.clip((1.0 - cv.blur(m_face, 14)) * 2.2, 0, 1) * m_face
    cv.shade(rim, spec.skin_shadow, 0.55)
    shifted = cv.blur(cv.mask(outline + np.array([-16, -14])), 18)
    cv.shade(m_face * np.clip(1.0 - shifted, 0, 1), spec.skin_shadow, 0.45)
    # cheeks
    for sgn in (-1, 1):
        bl = cv.blur(cv.ellipse_mask((cx + sgn * a * 0.55, lay.eye_y + 0.36 * b), (17, 11)), 9)
        cv.shade(bl * m_face, spec.blush, 0.38)
    # eye sockets and lid creases (the eyes themselves are drawn per frame)
    for sgn in (-1, 1):
        ex = cx + sgn * lay.eye_dx
        sock = cv.blur(cv.ellipse_mask((ex, lay.eye_y - 4), (lay.eye_w * 1.25, lay.eye_h * 1.3)), 6)
        cv.shade(sock * m_face, spec.skin_shadow, 0.22)
    # nose: a soft shadow down one side and the tip's underside
    ny = lay.nose_y
    side = catmull_rom([[cx + 5, lay.eye_y + 4], [cx + 8, ny - 14], [cx + 10, ny - 2]], n=10)
    cv.line(side, spec.skin_shadow, 5.0, 0.35, blur=3.0)
    tip = cv.blur(cv.ellipse_mask((cx + 1, ny + 2), (11, 5)), 3)
    cv.shade(tip * m_face, spec.skin_shadow, 0.45)
    hl = cv.blur(cv.ellipse_mask((cx - 2, ny - 5), (4, 3)), 2)
    cv.shade(hl, (255, 240, 228), 0.35)
    for sgn in (-1, 1):
        nostril = cv2.ellipse2Poly(
            (0, 0), (1000, 1000), 0, 20 if sgn > 0 else 100, 80 if sgn > 0 else 160, 10
        )
        pts = np.asarray(nostril, np.float64) / 1000.0 * [7, 4] + [cx + sgn * 6, ny + 1]
        cv.line(pts, _mix(spec.skin_shadow, (60, 30, 30), 0.25), 2.2, 0.75)
    # under-lip / chin shadow
    chin = cv.blur(cv.ellipse_mask((cx, lay.mouth_y + 20), (14, 5)), 4)
    cv.shade(chin * m_face, spec.skin_shadow, 0.35)
    if spec.hair_style == "long":
        _long_hair_front(cv, spec, lay, m_face)
    else:
        _short_hair_front(cv, spec, lay, m_face)
    return cv


def _hair_front_paint(cv: Canvas, spec: AvatarSpec, m: np.ndarray, m_face: np.ndarray, lay: Layout) -> None:
    # the hair's shadow on the forehead first, then the hair
    drop = np.roll(m, round(6 * cv.f), axis=0)
    cv.shade(cv.blur(drop, 5) * m_face * (1 - m), spec.skin_shadow, 0.55)
    cv.paint(m, spec.hair)
    cv.shade(m * np.clip((1 - cv.blur(m, 9)) * 1.8, 0, 1), spec.hair_shadow, 0.55)
    top = cv.blur(cv.ellipse_mask((lay.cx - 0.25 * lay.a, lay.cy - lay.b - 2), (lay.a * 0.55, 14), -8), 10)
    cv.shade(top * m, spec.hair_highlight, 0.55)


def _long_hair_front(cv: Canvas, spec: AvatarSpec, lay: Layout, m_face: np.ndarray) -> None:
    cx, cy, a, b = lay.cx, lay.cy, lay.a, lay.b
    s = 1.0 if spec.fringe >= 0 else -1.0  # the side the fringe sweeps to
    part = cx - s * 0.34 * a
    outer = [
        [cx - a - 22, cy + 0.78 * b], [cx - a - 24, cy + 0.1 * b], [cx - a - 18, cy - 0.62 * b],
        [cx - 0.55 * a, cy - b - 26], [cx + 0.5 * a, cy - b - 28], [cx + a + 20, cy - 0.62 * b],
        [cx + a + 26, cy + 0.1 * b], [cx + a + 24, cy + 0.8 * b],
    ]  # fmt: skip
    right_lock = [[cx + a - 6, cy + 0.75 * b], [cx + a - 10, cy + 0.1 * b]]
    left_lock = [[cx - a + 10, cy + 0.1 * b], [cx - a + 6, cy + 0.75 * b]]
    fringe_far = [cx + s * (a - 12), cy - 0.28 * b]
    fringe = [
        fringe_far,
        [cx + s * 0.35 * a, cy - 0.52 * b + 6],
        [part + s * 8, cy - 0.78 * b],
        [part, cy - 0.86 * b],
        [part - s * 14, cy - 0.74 * b],
        [cx - s * (a - 14), cy - 0.55 * b],
    ]
    # the inner edge runs right lock -> fringe -> left lock (the fringe points go from x>0 to x<0)
    inner = right_lock + (fringe if s > 0 else fringe[::-1]) + left_lock
    pts = catmull_rom(np.array(outer + inner), closed=True, n=10)
    m = cv.mask(pts)
    _hair_front_paint(cv, spec, m, m_face, lay)
    # a few strands across the fringe
    for j in range(3):
        strand = catmull_rom(
            [
                [part + s * (4 + 6 * j), cy - 0.84 * b + 3 * j],
                [cx + s * (0.2 + 0.12 * j) * a, cy - 0.62 * b + 6 * j],
                [cx + s * (a - 18 - 4 * j), cy - 0.38 * b + 4 * j],
            ],
            n=12,
        )  # fmt: skip
        cv.line(strand, spec.hair_highlight, 2.2, 0.3, blur=1.2)
        cv.line(strand + np.array([0, 7]), spec.hair_shadow, 1.6, 0.35, blur=1.2)


def _short_hair_front(cv: Canvas, spec: AvatarSpec, lay: Layout, m_face: np.ndarray) -> None:
    cx, cy, a, b = lay.cx, lay.cy, lay.a, lay.b
    s = 1.0 if spec.fringe >= 0 else -1.0
    pts = catmull_rom(
        [
            [cx - a - 4, cy - 0.05 * b], [cx - a - 10, cy - 0.55 * b], [cx - 0.7 * a, cy - b - 14],
            [cx - s * 0.15 * a, cy - b - 30], [cx + 0.55 * a, cy - b - 18], [cx + a + 10, cy - 0.55 * b],
            [cx + a + 4, cy - 0.05 * b], [cx + a - 6, cy - 0.05 * b], [cx + a - 10, cy - 0.42 * b],
            [cx + 0.45 * a, cy - 0.66 * b], [cx - s * 0.05 * a, cy - 0.7 * b], [cx - 0.5 * a, cy - 0.64 * b],
            [cx - a + 10, cy - 0.42 * b], [cx - a + 6, cy - 0.05 * b],
        ],
        closed=True,
        n=10,
    )  # fmt: skip
    m = cv.mask(pts)
    _hair_front_paint(cv, spec, m, m_face, lay)
    for j in range(4):
        x0 = cx - s * (0.5 - 0.28 * j) * a
        strand = catmull_rom(
            [[x0, cy - 0.72 * b], [x0 + s * 10, cy - b - 8], [x0 + s * 26, cy - b - 14]], n=10
        )
        cv.line(strand, spec.hair_highlight, 1.6, 0.18, blur=1.2)


def _crop(sprite: np.ndarray, box: Box, k: float) -> tuple[np.ndarray, Box]:
    """The sprite cut to its visible pixels (+1 px), and its box moved to match (fewer pixels to warp)."""
    ys, xs = np.nonzero(sprite[..., 3])
    if ys.size == 0:
        return sprite, box
    y0, y1 = max(0, int(ys.min()) - 1), min(sprite.shape[0], int(ys.max()) + 2)
    x0, x1 = max(0, int(xs.min()) - 1), min(sprite.shape[1], int(xs.max()) + 2)
    cut = np.ascontiguousarray(sprite[y0:y1, x0:x1])
    return cut, Box(box.x0 + x0 / k, box.y0 + y0 / k, (x1 - x0) / k, (y1 - y0) / k)


_SPRITES: dict[tuple[str, int, AvatarSpec], Sprites] = {}


def sprites_for(spec: AvatarSpec, size: int) -> Sprites:
    """The cached static layers of an avatar at a frame size."""
    key = (spec.id, size, spec)
    if key not in _SPRITES:
        lay = layout_for(spec)
        f = size / DESIGN * SS
        k = size / DESIGN
        hair, hair_box = None, lay.hairback_box
        if spec.hair_style == "long":
            hair, hair_box = _crop(_long_hair_back(spec, lay, f).to_sprite(), lay.hairback_box, k)
        # the head canvas keeps its full box: the features are drawn into it each frame
        body, body_box = _crop(_body(spec, lay, f).to_sprite(), lay.body_box, k)
        head, head_box = _crop(_head(spec, lay, f).to_sprite(), lay.head_box, k)
        lay = replace(lay, hairback_box=hair_box, body_box=body_box, head_box=head_box)
        _SPRITES[key] = Sprites(
            size=size,
            background=_background(spec, lay, size),
            hairback=hair,
            body=body,
            head=head,
            layout=lay,
        )
    return _SPRITES[key]
