"""PlaybackBuffer: the jitter buffer the audio callback renders (no device needed)."""

from __future__ import annotations

import numpy as np

from app.playback import PlaybackBuffer

N = 960  # samples per tick at 24 kHz


def tone(n_ticks: int, amp: float = 0.2) -> np.ndarray:
    return (amp * np.sin(np.arange(n_ticks * N) * 0.05)).astype(np.float32)


def render_all(buf: PlaybackBuffer, n: int, block: int = 480) -> tuple[np.ndarray, list]:
    out = np.empty(n, np.float32)
    segs = []
    for i in range(0, n, block):
        segs += [(i + o, t, k) for o, t, k in buf.render(out[i : i + block])]
    return out, segs


def test_waits_for_prebuffer_then_plays_in_tick_order():
    buf = PlaybackBuffer(prebuffer_ticks=3)
    buf.push(10, tone(2))
    out, segs = render_all(buf, 960)
    assert not out.any() and segs == []  # below the prebuffer: silence, no clock
    buf.push(12, tone(2))
    out, segs = render_all(buf, 4 * N)
    assert np.allclose(out, np.concatenate([tone(2), tone(2)]))
    assert segs[0][1] == 10.0 and segs[-1][1] == 13.5
    assert buf.last_tick == 13 and buf.underruns == 0


def test_underrun_plays_silence_and_is_counted():
    buf = PlaybackBuffer(prebuffer_ticks=1)
    buf.push(0, tone(1))
    out, _ = render_all(buf, 2 * N)
    assert out[:N].any() and not out[N:].any()
    assert buf.underruns == 1
    out, segs = render_all(buf, N)  # nothing queued: still silence, no extra count while stopped
    assert not out.any() and segs == [] and buf.underruns == 1


def test_flush_drops_queued_ticks_from_t_immediately():
    buf = PlaybackBuffer(prebuffer_ticks=1)
    buf.push(0, tone(10))
    render_all(buf, N)  # tick 0 played
    buf.flush(3)
    out, segs = render_all(buf, 3 * N)
    assert [s[1] for s in segs] == [1.0, 1.5, 2.0, 2.5]  # ticks 1, 2 kept; 3.. dropped
    assert not out[2 * N :].any()
    assert buf.flushed_ticks == 7
    buf.push(3, tone(2, amp=0.5))  # new output after the flush point plays normally
    out, segs = render_all(buf, 2 * N)
    assert segs[0][1] == 3.0 and np.abs(out).max() > 0.4


def test_clear_drops_everything():
    buf = PlaybackBuffer(prebuffer_ticks=1)
    buf.push(0, tone(5))
    buf.clear()
    out, segs = render_all(buf, N)
    assert not out.any() and segs == []


def test_voiced_onset_is_reported_once_per_utterance():
    buf = PlaybackBuffer(prebuffer_ticks=1)
    buf.push(0, np.zeros(2 * N, np.float32))
    buf.push(2, tone(3))
    onsets = []
    out = np.empty(480, np.float32)
    for _ in range(10):
        buf.render(out)
        if buf.onset_pending is not None:
            onsets.append((buf.last_tick, buf.onset_pending))
    assert onsets == [(2, 0)]


def test_trim_bounds_latency_by_dropping_silence_only():
    buf = PlaybackBuffer(prebuffer_ticks=1, max_ticks=4)
    buf.push(0, np.zeros(6 * N, np.float32))
    buf.push(6, tone(2))
    _, segs = render_all(buf, N)
    assert buf.trimmed_ticks == 4  # 8 queued, bound 4: four silent ticks gone
    assert segs[0][1] == 4.0
    buf2 = PlaybackBuffer(prebuffer_ticks=1, max_ticks=2)
    buf2.push(0, tone(6))
    render_all(buf2, N)
    assert buf2.trimmed_ticks == 0  # voiced audio is never trimmed
