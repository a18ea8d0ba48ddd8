"""Mic tick assembly, mute / push-to-talk, energy VAD, latency pairing, crash policy (no devices)."""

from __future__ import annotations

import numpy as np

from app.engine_faults import CrashPolicy
from app.latency import LatencyTracker
from app.mic import EnergyVad, TickAssembler


def collect() -> tuple[list[tuple[int, np.ndarray]], TickAssembler]:
    got: list[tuple[int, np.ndarray]] = []
    asm = TickAssembler(lambda tick, pcm: got.append((tick, pcm.copy())))
    return got, asm


def test_odd_blocks_become_640_sample_ticks_in_order() -> None:
    got, asm = collect()
    x = np.arange(640 * 5, dtype=np.float32) / 1e4
    for a, b in [(0, 100), (100, 1000), (1000, 1001), (1001, 3200)]:
        asm.feed(x[a:b], t_first=0.0)
    assert [t for t, _ in got] == [0, 1, 2, 3, 4]
    assert np.array_equal(np.concatenate([p for _, p in got]), x)
    assert all(p.shape == (640,) and p.dtype == np.float32 for _, p in got)


def test_mute_and_push_to_talk_send_silence_but_keep_the_clock() -> None:
    got, asm = collect()
    loud = np.full(640, 0.3, np.float32)
    asm.muted = True
    asm.feed(loud, 0.0)
    asm.muted = False
    asm.ptt_mode = True
    asm.feed(loud, 0.04)
    asm.ptt_down = True
    asm.feed(loud, 0.08)
    assert [t for t, _ in got] == [0, 1, 2]
    assert not got[0][1].any() and not got[1][1].any() and got[2][1].all()


def test_the_old_sessions_voice_leaving_the_speaker_is_not_heard() -> None:
    """After a session switch, ticks captured before `silence_until` (the old voice still at the
    speaker, plus its echo) go out as silence; the clock runs on, and later ticks are heard."""
    got, asm = collect()
    loud = np.full(640, 0.3, np.float32)
    asm.silence_until = 1.1
    for k in range(5):  # ticks captured 1.00-1.04, ..., 1.16-1.20 s
        asm.feed(loud, 1.0 + 0.04 * k)
    assert [t for t, _ in got] == [0, 1, 2, 3, 4]
    assert [bool(p.any()) for _, p in got] == [False, False, True, True, True]  # ends 1.04, 1.08 < 1.1


def test_reset_restarts_the_tick_count() -> None:
    got, asm = collect()
    asm.feed(np.zeros(1280, np.float32), 0.0)
    asm.reset(0)
    asm.feed(np.zeros(640, np.float32), 0.1)
    assert [t for t, _ in got] == [0, 1, 0]


def test_capture_clock_position_from_adc_times() -> None:
    """tick_at(t): which input tick the mic captures at monotonic t (for the echo lag report)."""
    _, asm = collect()
    assert asm.tick_at(10.0) is None  # nothing captured yet
    asm.feed(np.zeros(1000, np.float32), t_first=10.0)  # 1.5625 ticks from t = 10.0 s
    assert asm.tick_at(10.04) == 1.0  # input tick 1 started when its first sample was captured
    at = asm.tick_at(10.1)
    assert at is not None and abs(at - 2.5) < 1e-9
    asm.feed(np.zeros(600, np.float32), t_first=10.0625)  # ticks go on from where they were
    at = asm.tick_at(10.08)
    assert at is not None and abs(at - 2.0) < 1e-9
    assert asm.tick_at(11.0) is None  # the mic stalled: unknown, not a guess
    asm.reset(0)
    asm.feed(np.zeros(640, np.float32), t_first=20.0)
    assert asm.tick_at(20.04) == 1.0


def test_sink_errors_never_escape_the_audio_thread() -> None:
    def broken_sink(tick: int, pcm: np.ndarray) -> None:
        raise ZeroDivisionError("division by zero")  # a sink that fails

    asm = TickAssembler(broken_sink)
    asm.feed(np.zeros(1280, np.float32), 0.0)
    assert asm.sink_errors == 2 and asm.tick == 2


def test_energy_vad_reports_start_and_end_with_adc_times() -> None:
    vad = EnergyVad(hang_ticks=3)
    levels = [0.0] * 3 + [0.1] * 10 + [0.0] * 5
    for k, rms in enumerate(levels):
        vad.feed(rms, t_end=(k + 1) * 0.04, tick=k)
    kinds = [(e.kind, e.tick) for e in vad.events]
    assert kinds == [("start", 3), ("end", 12)]
    assert abs(vad.events[1].t - 13 * 0.04) < 1e-9  # end of the last voiced tick


def test_vad_is_gated_while_the_avatar_speaks() -> None:
    vad = EnergyVad()
    for k in range(10):
        vad.feed(0.2, t_end=k * 0.04, tick=k, gated=True)
    assert not vad.events


def test_latency_pairs_user_end_with_next_avatar_onset() -> None:
    lt = LatencyTracker()
    assert lt.avatar_onset(1.0) is None  # greeting: no user turn to answer
    lt.user_speech_end(2.0)
    assert lt.avatar_onset(1.9) is None  # started before the user stopped: not a response
    turn = lt.avatar_onset(2.45)
    assert turn is not None and abs(turn.ms - 450) < 1e-6
    assert lt.avatar_onset(3.0) is None  # one response per user turn


def test_crash_policy_stops_after_three_crashes_in_a_minute() -> None:
    p = CrashPolicy(max_crashes=3, window_s=60)
    assert p.crashed(0.0) and p.crashed(10.0)
    assert not p.crashed(20.0)
    p2 = CrashPolicy(max_crashes=3, window_s=60)
    assert p2.crashed(0.0) and p2.crashed(50.0) and p2.crashed(120.0)  # spread out: keeps retrying


def test_crash_policy_pauses_longer_while_it_keeps_failing() -> None:
    p = CrashPolicy(max_crashes=1, window_s=60)
    assert [p.pause_s() for _ in range(6)] == [30.0, 60.0, 120.0, 240.0, 300.0, 300.0]
    t = 1000.0
    for _ in range(3):  # each retry's engine starts, then crashes 5 s later: the pause stays long
        p.times.clear()
        p.started(t)
        assert not p.crashed(t + 5.0)
        assert p.pause_s() == 300.0
        t += 400.0
    p.times.clear()
    p.started(t)
    assert not p.crashed(t + 600.0)  # after a good long run
    assert p.pause_s() == 30.0  # starts over
