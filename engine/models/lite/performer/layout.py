"""Where things are on an avatar, in design pixels of a 512x512 frame, and shape helpers.

All renderers place parts through a Layout so that the static sprites and the per-frame features
agree. Points are float arrays (n, 2) of (x, y), y down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.models.lite.performer.spec import AvatarSpec

DESIGN = 512.0  # design frame size (px); the renderer scales by size / DESIGN


@dataclass(frozen=True)
class Box:
    """A sprite's placement: origin (x0, y0) and size (w, h), design px."""

    x0: float
    y0: float
    w: float
    h: float


@dataclass(frozen=True)
class Layout:
    cx: float  # head centre
    cy: float
    a: float  # face half-width
    b: float  # face half-height
    eye_y: float
    eye_dx: float
    eye_w: float  # eye half-width
    eye_h: float  # eye half-height (open)
    brow_y: float
    nose_y: float
    mouth_y: float
    pivot: tuple[float, float]  # head rotates about the top of the neck
    head_box: Box
    hairback_box: Box
    body_box: Box
    mouth_box: Box  # where the mouth can be, head motion included (for measuring)


def layout_for(spec: AvatarSpec) -> Layout:
    cx, cy = 256.0, 226.0
    a, b = spec.face_width, spec.face_height
    es = spec.eye_size
    eye_y = cy + 0.08 * b
    mouth_y = cy + 0.64 * b
    return Layout(
        cx=cx,
        cy=cy,
        a=a,
        b=b,
        eye_y=eye_y,
        eye_dx=spec.eye_spacing * a,
        eye_w=17.5 * es,
        eye_h=11.5 * es,
        brow_y=eye_y - 22.0 * es - 3.0,
        nose_y=cy + 0.40 * b,
        mouth_y=mouth_y,
        pivot=(cx, cy + 0.9 * b),
        head_box=Box(cx - a - 64, cy - b - 64, 2 * a + 128, 2 * b + 100),
        # the long hair behind ends at y=436: below it the body covers it anyway
        hairback_box=Box(cx - a - 84, cy - b - 48, 2 * a + 168, 436.0 - (cy - b - 48)),
        body_box=Box(0.0, cy + 0.45 * b, DESIGN, DESIGN - (cy + 0.45 * b)),
        mouth_box=Box(cx - 70, mouth_y - 50, 140, 100),
    )


def catmull_rom(points: np.ndarray | list, closed: bool = False, n: int = 8) -> np.ndarray:
    """A smooth curve through the points: float (m, 2)."""
    p = np.asarray(points, dtype=np.float64)
    if closed:
        p = np.vstack([p[-1], p, p[0], p[1]])
    else:
        p = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])
    t = np.linspace(0.0, 1.0, n, endpoint=False)[:, None]
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(
            0.5
            * (
                2 * p1
                + (-p0 + p2) * t
                + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3
            )
        )
    if not closed:
        out.append(p[-2][None, :])
    return np.vstack(out)


def face_outline(spec: AvatarSpec, lay: Layout, n: int = 10) -> np.ndarray:
    """Closed face outline (m, 2): round forehead, cheekbones, a jaw narrowing to the chin.

    jaw (0..1) sets how wide the jaw stays toward the chin; chin (0..1) how broad/round its tip is.
    """
    a, b, j, c = lay.a, lay.b, spec.jaw, spec.chin
    right = [
        (0.55 * a, -0.95 * b),
        (0.9 * a, -0.6 * b),
        (1.0 * a, -0.12 * b),
        (0.97 * a, 0.22 * b),
        ((0.76 + 0.16 * j) * a, 0.5 * b),
        ((0.4 + 0.45 * j) * a, 0.8 * b),
        ((0.16 + 0.24 * j + 0.06 * c) * a, (0.965 + 0.015 * c) * b),
    ]
    pts = [(0.0, -b), *right, (0.0, b), *[(-x, y) for x, y in reversed(right)]]
    return catmull_rom(np.array(pts) + np.array([lay.cx, lay.cy]), closed=True, n=n)


def tapered_stroke(spine: np.ndarray, w0: float, w1: float) -> np.ndarray:
    """Polygon (2m, 2) around a polyline spine, width w0 at its start to w1 at its end (sharp tips)."""
    sp = np.asarray(spine, dtype=np.float64)
    d = np.gradient(sp, axis=0)
    nrm = np.stack([-d[:, 1], d[:, 0]], axis=1)
    nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-9)
    u = np.linspace(0.0, 1.0, len(sp))
    w = (w0 + (w1 - w0) * u) * np.sin(np.pi * np.clip(0.12 + 0.88 * u, 0, 1)) ** 0.35 / 2.0
    return np.vstack([sp + nrm * w[:, None], (sp - nrm * w[:, None])[::-1]])
