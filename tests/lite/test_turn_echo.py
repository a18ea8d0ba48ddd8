"""Turn detection hysteresis and echo suppression, on synthetic signals (fast)."""

from __future__ import annotations

import numpy as np

from engine.models.lite.echo import EchoSuppressor
from engine.models.lite.turn import CHUNK_S, TurnConfig, TurnDetector, TurnEvent


def _feed(det: TurnDetector, probs: list[float]) -> list[tuple[TurnEvent, float]]:
    out = []
    for i, p in enumerate(probs):
        u = det.update(i * CHUNK_S, p)
        if u is not None:
            out.append((u.event, round(u.t_s / CHUNK_S)))
    return out


def test_turn_onset_pause_end():
    det = TurnDetector(TurnConfig(eot_ms=300, pause_ms=160, onset_chunks=2))
    probs = [0.0] * 3 + [0.9] * 20 + [0.1] * 6 + [0.8] * 10 + [0.0] * 12
    events = _feed(det, probs)
    assert events[0] == (TurnEvent.ONSET, 3)
    assert (TurnEvent.PAUSE, 23) in events  # the 6-chunk pause (192 ms) nods but does not end the turn
    assert events[-1] == (TurnEvent.END, 39)
    assert [e for e, _ in events].count(TurnEvent.END) == 1


def test_hysteresis_and_short_bursts():
    det = TurnDetector(TurnConfig(eot_ms=300, min_turn_ms=160))
    # one chunk over the threshold is not an onset
    assert _feed(det, [0.0, 0.7, 0.0, 0.0]) == []
    det = TurnDetector(TurnConfig(eot_ms=300, min_turn_ms=160))
    events = _feed(det, [0.9, 0.9, 0.9] + [0.0] * 12)  # 96 ms: a click, not a turn
    assert [e for e, _ in events] == [TurnEvent.ONSET, TurnEvent.PAUSE, TurnEvent.DISCARD]
    det = TurnDetector(TurnConfig(eot_ms=300))
    # 0.4 keeps an ongoing turn alive (off threshold 0.35) but never starts one
    events = _feed(det, [0.9] * 8 + [0.4] * 20 + [0.0] * 12)
    assert [e for e, _ in events] == [TurnEvent.ONSET, TurnEvent.PAUSE, TurnEvent.END]
    assert _feed(TurnDetector(), [0.4] * 20) == []


def _voice_like(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 24000
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    x = env * (np.sin(2 * np.pi * 180 * t) + 0.5 * np.sin(2 * np.pi * 360 * t)) + 0.3 * rng.normal(size=n)
    return (0.2 * x).astype(np.float32)


def test_echo_path_found_and_removed():
    ref = _voice_like(24000 * 4, 0)  # 4 s of avatar audio at 24 kHz, output ticks 0..99
    ref16 = np.interp(np.arange(16000 * 4) * 1.5, np.arange(len(ref)), ref).astype(np.float32)
    delay, gain = int(0.12 * 16000), 0.4
    mic = np.zeros_like(ref16)
    mic[delay:] = gain * ref16[:-delay]
    echo = EchoSuppressor()
    echo.add_reference(0, ref[: 4 * 960])
    passed = 0
    for tick in range(0, 96, 4):
        echo.add_reference(tick + 4, ref[(tick + 4) * 960 : (tick + 8) * 960])
        residual, bound = echo.process(tick, mic[tick * 640 : (tick + 4) * 640])
        rms = np.sqrt(np.mean(residual.reshape(5, 512) ** 2, axis=1))
        passed += int(np.sum(rms > bound))
    assert passed == 0  # no chunk of pure echo gets through the gate
    assert abs(echo.delay - delay) <= 1 and abs(echo.gain - gain) < 0.05


def test_user_over_echo_passes_gate():
    ref = _voice_like(24000 * 4, 1)
    ref16 = np.interp(np.arange(16000 * 4) * 1.5, np.arange(len(ref)), ref).astype(np.float32)
    delay = int(0.08 * 16000)
    mic = np.zeros_like(ref16)
    mic[delay:] = 0.5 * ref16[:-delay]
    user = _voice_like(16000, 7)[:16000] * 0.8
    mic[48000:64000] += user  # the user talks over the avatar during the last second
    echo = EchoSuppressor()
    echo.add_reference(0, ref[: 4 * 960])
    gated = []
    for tick in range(0, 100, 4):
        echo.add_reference(tick + 4, ref[(tick + 4) * 960 : (tick + 8) * 960])
        residual, bound = echo.process(tick, mic[tick * 640 : (tick + 4) * 640])
        rms = np.sqrt(np.mean(residual.reshape(5, 512) ** 2, axis=1))
        gated.extend((rms > bound).tolist())
    gated_arr = np.array(gated)
    assert not gated_arr[:90].any()  # echo only
    assert gated_arr[95:].mean() > 0.8  # the user is heard through the echo


def test_confident_chunk_starts_a_turn_at_once():
    det = TurnDetector(TurnConfig())
    assert _feed(det, [0.0, 0.95]) == [(TurnEvent.ONSET, 1)]
