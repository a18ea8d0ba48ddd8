"""The app icon: an avatar's friendly idle frame in a rounded square (RGBA PNG).

Run `python -m engine.models.lite.performer.icon [OUT.png] [AVATAR]` to regenerate assets/icon.png.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from engine import paths
from engine.models.lite.performer.render import PerformCue, Performer


def make_icon(avatar_id: str = "ada", size: int = 512) -> np.ndarray:
    """uint8 (size, size, 4) RGBA: the avatar smiling at the viewer, corners rounded."""
    p = Performer(avatar_id, size=size, seed=0)
    rgb = p.frame(0.5, PerformCue(mode="listening", gaze=(0.0, 0.0)))
    # zoom a little on the face: a square crop, slightly above the middle
    c = int(size * 0.3)
    top = int(c * 0.3)
    rgb = cv2.resize(
        rgb[top : top + size - c, c // 2 : c // 2 + size - c], (size, size), interpolation=cv2.INTER_AREA
    )
    ss = 4  # supersampled anti-aliased rounded-square mask
    m = np.zeros((size * ss, size * ss), np.uint8)
    r = int(size * ss * 0.2)
    n = size * ss - 1
    cv2.rectangle(m, (r, 0), (n - r, n), 255, -1)
    cv2.rectangle(m, (0, r), (n, n - r), 255, -1)
    for cx, cy in ((r, r), (n - r, r), (r, n - r), (n - r, n - r)):
        cv2.circle(m, (cx, cy), r, 255, -1, cv2.LINE_AA)
    alpha = cv2.resize(m, (size, size), interpolation=cv2.INTER_AREA)
    return np.dstack([rgb, alpha])


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else paths.assets_dir() / "icon.png"
    avatar = args[1] if len(args) > 1 else "ada"
    rgba = make_icon(avatar)
    cv2.imwrite(str(out), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
