"""Media files for tests, written with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def make_mp4(
    path: Path, seconds: float = 1.0, fps: int = 30, size: tuple[int, int] = (1280, 720), step: int = 8
) -> None:
    """H.264 video whose frame i has gray level step*i, plus a 300 Hz tone (AAC, 48 kHz, mono)."""
    w, h = size
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        a = c.add_stream("aac", rate=48000, layout="mono")
        for i in range(int(seconds * fps)):
            vf = av.VideoFrame.from_ndarray(np.full((h, w, 3), step * i % 256, np.uint8), format="rgb24")
            vf.pts, vf.time_base = i, Fraction(1, fps)
            for p in v.encode(vf):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
        x = (0.3 * np.sin(2 * np.pi * 300 * np.arange(int(48000 * seconds)) / 48000)).astype(np.float32)
        for i in range(0, x.shape[0], 1024):
            af = av.AudioFrame.from_ndarray(x[None, i : i + 1024].copy(), format="flt", layout="mono")
            af.sample_rate, af.pts = 48000, i
            for p in a.encode(af):
                c.mux(p)
        for p in a.encode(None):
            c.mux(p)
