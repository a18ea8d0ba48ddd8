"""Echo suppression where the sound server moves the echo under it (seen on PipeWire's loopback):
the playback lag moves inside one stretch of playback, a lag report glitches, the path slides and
distorts the echo for ~0.1 s. None of it may pass the gate as the user; the user still does."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine.models.lite.echo import EchoSuppressor
from engine.models.lite.voice import resample

SECONDS = 6
LAG = 9.0  # ticks: the client's playback lag, as on the loopback
ACOUSTIC = 560  # samples at 16 kHz (35 ms) on top of the reported lag


def _voice(n: int, pitch: float, seed: int) -> np.ndarray:
    """24 kHz voiced speech stand-in: a pitch gliding +-10 % with 8 harmonics, in 0.2-0.6 s words."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 24000
    f0 = pitch * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t + seed))
    phase = 2 * np.pi * np.cumsum(f0) / 24000
    x = sum(np.sin(k * phase) / k for k in range(1, 9)) + 0.05 * rng.normal(size=n)
    env = np.zeros(n)
    pos = 0
    while pos < n:
        word, gap = int(rng.uniform(0.2, 0.6) * 24000), int(rng.uniform(0.05, 0.15) * 24000)
        word = min(word, n - pos)
        env[pos : pos + word] = np.hanning(word) ** 0.3 * rng.uniform(0.6, 1.0)
        pos += word + gap
    return (0.15 * env * x).astype(np.float32)


def _run(
    mic: np.ndarray, ref: np.ndarray, report: Callable[[int], tuple[float, int]]
) -> tuple[EchoSuppressor, list[int], np.ndarray]:
    """Step the suppressor over `mic` (16 kHz) with avatar output `ref` (24 kHz, from tick 0);
    `report(tick)` is the client's (lag, from_tick) for the unit at `tick`. Returns it, the chunks
    (index from 0) that passed the gate once the path was found (from 1.6 s), and their rms."""
    echo = EchoSuppressor()
    echo.add_reference(0, ref[: 4 * 960])
    passed: list[int] = []
    rms_all = []
    for tick in range(0, SECONDS * 25 - 4, 4):
        lag, since = report(tick)
        echo.note_played(tick - int(lag), lag, since)
        echo.add_reference(tick + 4, ref[(tick + 4) * 960 : (tick + 8) * 960])
        # like the model: no learning from the echo once a user's turn may have begun
        residual, bound = echo.process(tick, mic[tick * 640 : (tick + 4) * 640], learn=not passed)
        rms = np.sqrt(np.mean(residual.reshape(5, 512) ** 2, axis=1))
        rms_all.extend(rms.tolist())
        if tick >= 40:
            passed += (np.nonzero(rms > bound)[0] + tick // 4 * 5).tolist()
    return echo, passed, np.array(rms_all)


def _heard(ref: np.ndarray, delay: Callable[[np.ndarray], np.ndarray], gain: float = 1.3) -> np.ndarray:
    """The mic: the avatar `ref` (24 kHz) heard at 16 kHz `delay(k)` samples after mic sample k's
    own time (fractional delays interpolated)."""
    ref16 = resample(ref, 24000, 16000)
    k = np.arange(len(ref16), dtype=np.float64)
    return (gain * np.interp(k - delay(k), k, ref16, left=0.0, right=0.0)).astype(np.float32)


def _steady(tick: int) -> tuple[float, int]:
    return LAG, 0


def test_a_lag_move_inside_a_stretch_is_followed_where_the_client_reports_it() -> None:
    """13 ms of the loopback are dropped mid-reply (beyond what one chunk searches), the playback
    stretch goes on, and the next report says the lag is 13 ms shorter: the echo is found there,
    what is not yet heard moves, and no chunk of echo passes as the user."""
    ref = _voice(24000 * SECONDS, 180, 1)
    base, move, at = (LAG - 1) * 640 + 640 + ACOUSTIC, -213, 3 * 16000 + 100
    mic = _heard(ref, lambda k: base + move * (k >= at))

    def report(tick: int) -> tuple[float, int]:
        return (LAG + move / 640 if tick * 640 >= at else LAG), 0

    echo, passed, _ = _run(mic, ref, report)
    assert passed == [], passed
    assert echo.shift + echo.delay == base + move  # the path in use is the moved one


def test_a_glitched_lag_report_does_not_move_the_echo() -> None:
    """The report says the lag fell by 2 ticks (and by 7 ms, twice) while nothing moved: the echo
    stays where it is heard and does not pass the gate."""
    ref = _voice(24000 * SECONDS, 180, 2)
    mic = _heard(ref, lambda k: (LAG - 1) * 640 + 640 + ACOUSTIC + 0 * k)

    def report(tick: int) -> tuple[float, int]:
        if 80 <= tick < 92:
            return LAG - 2, 0
        return (LAG - 0.27 if tick in (100, 120) else LAG), 0

    echo, passed, _ = _run(mic, ref, report)
    assert passed == [], passed
    assert echo.shift == round((LAG - 1) * 640)


def test_a_lag_move_during_a_pause_is_found_when_the_avatar_talks_again() -> None:
    """In a pause (the stretch goes on) the lag falls by 4 ticks: the echo of the next words comes
    160 ms earlier than laid out, before the reference would even be looked at; the report is
    followed as soon as the echo shows there."""
    ref = _voice(24000 * SECONDS, 180, 3)
    ref[int(2.6 * 24000) : int(3.4 * 24000)] = 0.0  # the pause
    base, move, at = (LAG - 1) * 640 + 640 + ACOUSTIC, -4 * 640, int(3.0 * 16000)
    mic = _heard(ref, lambda k: base + move * (k >= at))

    def report(tick: int) -> tuple[float, int]:
        return (LAG - 4 if tick * 640 >= at else LAG), 0

    echo, passed, _ = _run(mic, ref, report)
    assert passed == [], passed
    assert echo.shift == round((LAG - 5) * 640)


def _slide(base: float, at: int, by: float, over: int) -> Callable[[np.ndarray], np.ndarray]:
    """A path that slides by `by` samples over `over` samples from mic sample `at` (a resampler
    catching up), then stays."""
    return lambda k: base + by * np.clip((k - at) / over, 0.0, 1.0)


def test_echo_distorted_while_the_path_slides_is_not_taken_for_the_user() -> None:
    """The path slides 1.4 ms in 0.1 s: within a chunk the echo no longer lines up with any one
    offset and subtraction leaves much of it, louder than the level gate allows; its spectrum is
    still the avatar's, so it does not pass. A user talking through such a slide does."""
    ref = _voice(24000 * SECONDS, 180, 4)
    base, at = (LAG - 1) * 640 + 640 + ACOUSTIC, 3 * 16000
    mic = _heard(ref, _slide(base, at, 22, 1600))
    _, passed, rms = _run(mic, ref, _steady)
    chunks = slice(at // 512, (at + 1600) // 512 + 1)
    steady = np.median(rms[70:90])  # what subtraction leaves of the echo while nothing moves
    assert rms[chunks].max() > 8 * steady  # the slide is hard on subtraction...
    assert passed == [], passed  # ...but its residual is not the user

    user = resample(_voice(24000 * 2, 125, 5), 24000, 16000)  # another voice, talking through it
    start = at - 8000
    with_user = mic.copy()
    with_user[start : start + len(user)] += 0.6 * user
    _, passed, _ = _run(with_user, ref, _steady)
    user_rms = np.sqrt(np.mean(user[: len(user) // 512 * 512].reshape(-1, 512) ** 2, axis=1))
    talking = {start // 512 + 1 + i for i in np.nonzero(user_rms > 0.5 * user_rms.max())[0]}
    assert len(talking & set(passed)) > 0.7 * len(talking), (sorted(talking), passed)


def test_a_reported_move_waits_for_evidence_while_nothing_is_heard() -> None:
    """The speakers go quiet for 2 s while the avatar talks on (a device switch), and meanwhile the
    lag moves 100 ms earlier, out of reach of the path search. Silence is no evidence against the
    report: when the echo comes back where the client says, it is found there."""
    ref = _voice(24000 * SECONDS, 180, 6)
    base, move = (LAG - 1) * 640 + 640 + ACOUSTIC, -int(2.5 * 640)
    off, on = 2 * 16000, 4 * 16000
    mic = _heard(ref, lambda k: base + move * (k >= off))
    mic[off:on] = 0.0

    def report(tick: int) -> tuple[float, int]:
        return (LAG + move / 640 if tick * 640 >= off + 3200 else LAG), 0

    echo, passed, _ = _run(mic, ref, report)
    assert passed == [], passed
    assert echo.shift + echo.delay == base + move
