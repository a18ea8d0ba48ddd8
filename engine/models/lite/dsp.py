"""Band-limited interpolation kernels shared by the voice (resampling) and the echo canceller
(fractional-delay references)."""

from __future__ import annotations

import numpy as np


def kaiser_sinc_table(half_taps: int, cutoff: float, phases: int, beta: float = 8.6) -> np.ndarray:
    """float32 (phases + 1, 2 * half_taps): kernel weights for fractional offsets 0..1.

    Row p holds h(p / phases - k) for k = -half_taps + 1 .. half_taps (input sample offsets).
    cutoff is the passband edge relative to the input Nyquist (< 1 when downsampling).
    """
    frac = np.arange(phases + 1)[:, None] / phases
    k = np.arange(-half_taps + 1, half_taps + 1)[None, :]
    d = frac - k  # distance from the output position to each input sample, in input samples
    win = np.kaiser(2 * half_taps + 1, beta)
    # evaluate the Kaiser window continuously by interpolation over its support [-half, half]
    wpos = np.clip(d / half_taps, -1.0, 1.0)
    w = np.interp(wpos, np.linspace(-1.0, 1.0, win.size), win)
    h = cutoff * np.sinc(cutoff * d) * w
    h /= h.sum(axis=1, keepdims=True)  # unity DC gain for every phase
    return h.astype(np.float32)
