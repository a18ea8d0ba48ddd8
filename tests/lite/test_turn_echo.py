"""Turn detection hysteresis and echo suppression, on synthetic signals (fast)."""

from __future__ import annotations

import numpy as np

from engine.models.lite.echo import EchoSuppressor
from engine.models.lite.turn import CHUNK_S, TurnConfig, TurnDetector, TurnEvent


def _feed(det: TurnDetector, probs: list[float]) -> list[tuple[TurnEvent, int]]:
    """(event, chunk index) of each update."""
    out = []
    for i, p in enumerate(probs):
        u = det.update(i * CHUNK_S, p)
        if u is not None:
            out.append((u.event, round(u.t_s / CHUNK_S)))
    return out


def test_turn_onset_pause_end() -> None:
    det = TurnDetector(TurnConfig(eot_ms=300, pause_ms=160, onset_chunks=2))
    probs = [0.0] * 3 + [0.9] * 20 + [0.1] * 6 + [0.8] * 10 + [0.0] * 12
    events = _feed(det, probs)
    assert events[0] == (TurnEvent.ONSET, 3)
    assert (TurnEvent.PAUSE, 23) in events  # the 6-chunk pause (192 ms) nods but does not end the turn
    assert events[-1] == (TurnEvent.END, 39)
    assert [e for e, _ in events].count(TurnEvent.END) == 1


def test_hysteresis_and_short_bursts() -> None:
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


def test_echo_path_found_and_removed() -> None:
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


def test_user_over_echo_passes_gate() -> None:
    ref = _voice_like(24000 * 4, 1)
    ref16 = np.interp(np.arange(16000 * 4) * 1.5, np.arange(len(ref)), ref).astype(np.float32)
    delay = int(0.08 * 16000)
    mic = np.zeros_like(ref16)
    mic[delay:] = 0.5 * ref16[:-delay]
    user = _voice_like(16000, 7)[:16000] * 0.8
    mic[48000:64000] += user  # the user talks over the avatar during the last second
    echo = EchoSuppressor()
    echo.add_reference(0, ref[: 4 * 960])
    gated: list[bool] = []
    for tick in range(0, 100, 4):
        echo.add_reference(tick + 4, ref[(tick + 4) * 960 : (tick + 8) * 960])
        heard_user = any(gated)  # like the model: no learning from the echo once the user's turn began
        residual, bound = echo.process(tick, mic[tick * 640 : (tick + 4) * 640], learn=not heard_user)
        rms = np.sqrt(np.mean(residual.reshape(5, 512) ** 2, axis=1))
        gated.extend((rms > bound).tolist())
    gated_arr = np.array(gated)
    assert not gated_arr[:90].any()  # echo only
    assert gated_arr[95:].mean() > 0.8  # the user is heard through the echo


def test_confident_chunk_starts_a_turn_at_once() -> None:
    det = TurnDetector(TurnConfig())
    assert _feed(det, [0.0, 0.95]) == [(TurnEvent.ONSET, 1)]


def _speech_like(n: int, seed: int) -> np.ndarray:
    """Aperiodic 24 kHz test signal: coloured noise in bursts of 0.1-0.5 s with gaps (like words)."""
    rng = np.random.default_rng(seed)
    x = np.convolve(rng.normal(size=n), np.hanning(24), mode="same")
    env = np.zeros(n)
    pos = 0
    while pos < n:
        word, gap = int(rng.uniform(0.1, 0.5) * 24000), int(rng.uniform(0.05, 0.3) * 24000)
        env[pos : pos + word] = rng.uniform(0.5, 1.0)
        pos += word + gap
    return (0.05 * env * x).astype(np.float32)


def _echo_run(lag_s: float, acoustic_s: float, report: float | None) -> tuple[EchoSuppressor, int]:
    """Avatar audio heard `lag_s` (the client's playback queue) + `acoustic_s` later; the client
    reports `report` ticks of lag (None: no report). Returns the suppressor and the chunks of pure
    echo that got through the gate."""
    seconds = 6
    ref = _speech_like(24000 * seconds, 2)
    ref16 = np.interp(np.arange(16000 * seconds) * 1.5, np.arange(len(ref)), ref).astype(np.float32)
    delay = int((lag_s + acoustic_s) * 16000)
    mic = np.zeros_like(ref16)
    mic[delay:] = 0.9 * ref16[:-delay]
    echo = EchoSuppressor()
    echo.add_reference(0, ref[: 4 * 960])
    passed = 0
    for tick in range(0, seconds * 25 - 4, 4):
        echo.note_played(tick - 2, report)
        echo.add_reference(tick + 4, ref[(tick + 4) * 960 : (tick + 8) * 960])
        residual, bound = echo.process(tick, mic[tick * 640 : (tick + 4) * 640])
        if tick * 0.04 > lag_s + acoustic_s + 1.0:  # once the echo has been heard for a second
            rms = np.sqrt(np.mean(residual.reshape(5, 512) ** 2, axis=1))
            passed += int(np.sum(rms > bound))
    return echo, passed


def test_reported_playback_lag_aligns_a_long_echo_path() -> None:
    """A live client's queue puts ~1.2 s between output tick T and the mic tick that hears it: far
    beyond the search window. With the client's lag report the path is found and removed."""
    echo, passed = _echo_run(1.2, 0.05, report=1.2 / 0.04)
    assert passed == 0
    assert echo.confidence > 0.9
    assert abs(echo.shift + echo.delay - int(1.25 * 16000)) <= 2  # the whole path, to a sample
    blind, _ = _echo_run(1.2, 0.05, report=None)
    assert blind.delay < 0  # without the report the path is never found


def test_lag_report_jitter_does_not_move_the_reference() -> None:
    echo = EchoSuppressor()
    echo.note_played(-1, 10.0)
    shift = echo.shift
    for lag in (10.1, 9.9, 10.2, 9.85):
        echo.note_played(-1, lag)
        assert echo.shift == shift
    echo.note_played(-1, 16.0)  # the queue re-buffered: 240 ms later
    assert echo.shift - shift == 6 * 640
    echo.note_played(-1, None)  # no report this unit: keep what we know
    assert echo.shift - shift == 6 * 640


def test_a_lag_change_mid_reply_moves_only_the_ticks_played_after_it() -> None:
    """The client's queue re-buffers 1.6 s into a reply (240 ms later from then on): ticks already
    played keep their place on the mic's timeline, so the echo path stays put and nothing leaks."""
    seconds, lag1, lag2, switch = 6, 10, 16, 40  # lags in ticks; output tick where the lag changes
    ref = _speech_like(24000 * seconds, 3)
    acoustic = int(0.03 * 16000)
    mic = np.zeros(16000 * (seconds + 1), np.float32)
    for t in range(seconds * 25):  # each output tick lands where the client played it
        at = (t + (lag1 if t < switch else lag2)) * 640 + acoustic
        block = np.interp(np.arange(640) * 1.5, np.arange(960), ref[t * 960 : (t + 1) * 960])
        mic[at : at + 640] += 0.9 * block[: max(0, min(640, len(mic) - at))]
    echo = EchoSuppressor()
    passed, delays = [], []
    echo.add_reference(0, ref[: 4 * 960])
    for tick in range(0, seconds * 25 - 4, 4):
        lag = lag1 if tick - lag2 < switch else lag2  # the report: what plays now, and its lag
        echo.note_played(tick - lag, float(lag), 0 if lag == lag1 else switch)
        echo.add_reference(tick + 4, ref[(tick + 4) * 960 : (tick + 8) * 960])
        residual, bound = echo.process(tick, mic[tick * 640 : (tick + 4) * 640])
        if tick >= 40:  # the path has been heard for a second
            rms = np.sqrt(np.mean(residual.reshape(5, 512) ** 2, axis=1))
            passed.append(int(np.sum(rms > bound)))
            delays.append(echo.shift + echo.delay)
    assert sum(passed) == 0
    assert delays[0] == (lag1 - 1) * 640 + 640 + acoustic  # found to the sample...
    assert delays[-1] == (lag2 - 1) * 640 + 640 + acoustic  # ...and after the change


def test_echo_between_samples_is_found_and_subtracted_deeply() -> None:
    """A real path resamples properly and lands between 16 kHz samples: the delay is estimated to
    a fraction of a sample and the band-limited reference takes the echo down by > 30 dB."""
    from engine.models.lite.voice import resample

    seconds, delay = 4, 1920.3  # 120.02 ms at 16 kHz
    ref = _speech_like(24000 * seconds, 4)
    spec = np.fft.rfft(ref)  # delay by the fraction exactly (at 24 kHz: 1.5 x the 16 kHz fraction)
    f = np.fft.rfftfreq(len(ref))
    shifted = np.fft.irfft(spec * np.exp(-2j * np.pi * f * 1.5 * (delay % 1)), len(ref)).astype(np.float32)
    heard = resample(shifted, 24000, 16000)
    mic = np.zeros_like(heard)
    mic[int(delay) :] = 0.7 * heard[: -int(delay)]
    echo = EchoSuppressor()
    echo.add_reference(0, ref[: 4 * 960])
    left, total = 0.0, 0.0
    for tick in range(0, seconds * 25 - 4, 4):
        echo.add_reference(tick + 4, ref[(tick + 4) * 960 : (tick + 8) * 960])
        chunk = mic[tick * 640 : (tick + 4) * 640]
        residual, _ = echo.process(tick, chunk)
        if tick >= 40:
            left += float(np.sum(residual**2))
            total += float(np.sum(chunk**2))
    assert echo.delay == int(delay) and abs(echo.frac - (delay % 1)) < 0.1
    assert 10 * np.log10(left / total) < -30


def test_a_path_that_jumps_a_few_ms_is_followed_within_a_unit() -> None:
    """A sound server re-syncing drops 4 ms of the loopback mid-reply: the canceller follows the
    path at once (no waiting for its 0.6 s window) and no echo chunk gets through the gate."""
    seconds, d1, d2 = 6, 1200, 1264  # samples at 16 kHz: the path jumps from 75 ms to 79 ms at 3 s
    ref = _speech_like(24000 * seconds, 5)
    from engine.models.lite.voice import resample

    heard = resample(ref, 24000, 16000)
    mic = np.zeros_like(heard)
    jump = 3 * 16000
    mic[d1:jump] = 1.3 * heard[: jump - d1]
    mic[jump:] = 1.3 * heard[jump - d2 : len(heard) - d2]
    echo = EchoSuppressor()
    echo.add_reference(0, ref[: 4 * 960])
    passed, delays = [], []
    for tick in range(0, seconds * 25 - 4, 4):
        echo.add_reference(tick + 4, ref[(tick + 4) * 960 : (tick + 8) * 960])
        residual, bound = echo.process(tick, mic[tick * 640 : (tick + 4) * 640])
        if tick >= 40:  # the path has been found
            rms = np.sqrt(np.mean(residual.reshape(5, 512) ** 2, axis=1))
            passed += (np.nonzero(rms > bound)[0] + tick // 4 * 5).tolist()
            delays.append(echo.delay)
    # only the chunk that holds the jump itself may pass (one chunk alone never starts a turn)
    assert len(passed) <= 1 and all(abs(i * 512 - jump) < 512 for i in passed), passed
    assert delays[0] == d1 and delays[-1] == d2
    assert delays.index(d2) <= (jump // 640 - 40) // 4 + 1  # in the unit of the jump, or the next
