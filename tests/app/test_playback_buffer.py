"""PlaybackBuffer: the jitter buffer the audio callback renders (no device needed)."""

from __future__ import annotations

import numpy as np

from app.playback import PlaybackBuffer

N = 960  # samples per tick at 24 kHz


def tone(n_ticks: int, amp: float = 0.2) -> np.ndarray:
    return (amp * np.sin(np.arange(n_ticks * N) * 0.05)).astype(np.float32)


def render_all(
    buf: PlaybackBuffer, n: int, block: int = 480
) -> tuple[np.ndarray, list[tuple[int, float, int]]]:
    out = np.empty(n, np.float32)
    segs = []
    for i in range(0, n, block):
        segs += [(i + o, t, k) for o, t, k in buf.render(out[i : i + block])]
    return out, segs


def test_waits_for_prebuffer_then_plays_in_tick_order() -> None:
    buf = PlaybackBuffer(prebuffer_ticks=3)
    buf.push(10, tone(2))
    out, segs = render_all(buf, 960)
    assert not out.any() and segs == []  # below the prebuffer: silence, no clock
    buf.push(12, tone(2))
    out, segs = render_all(buf, 4 * N)
    assert np.allclose(out, np.concatenate([tone(2), tone(2)]))
    assert segs[0][1] == 10.0 and segs[-1][1] == 13.5
    assert buf.last_tick == 13 and buf.underruns == 0


def test_underrun_plays_silence_and_is_counted() -> None:
    buf = PlaybackBuffer(prebuffer_ticks=1)
    buf.push(0, tone(1))
    out, _ = render_all(buf, 2 * N)
    assert out[:N].any() and not out[N:].any()
    assert buf.underruns == 1
    out, segs = render_all(buf, N)  # nothing queued: still silence, no extra count while stopped
    assert not out.any() and segs == [] and buf.underruns == 1


def test_flush_drops_queued_ticks_from_t_immediately() -> None:
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


def test_clear_drops_everything() -> None:
    buf = PlaybackBuffer(prebuffer_ticks=1)
    buf.push(0, tone(5))
    buf.clear()
    out, segs = render_all(buf, N)
    assert not out.any() and segs == []


def test_voiced_onset_is_reported_once_per_utterance() -> None:
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


def test_trim_bounds_latency_by_dropping_silence_only() -> None:
    buf = PlaybackBuffer(prebuffer_ticks=1, max_ticks=4)
    buf.push(0, np.zeros(8 * N, np.float32))  # a stall left 8 silent ticks queued
    render_all(buf, N // 2)
    assert buf.trimmed_ticks == 4  # bound 4: four silent ticks gone
    buf.push(8, tone(2))
    _, segs = render_all(buf, 6 * N)
    assert [t for _, t, _ in segs if t == int(t)][:2] == [5.0, 6.0]  # ticks 1-4 were shed
    buf2 = PlaybackBuffer(prebuffer_ticks=1, max_ticks=2)
    buf2.push(0, tone(6))
    render_all(buf2, N)
    assert buf2.trimmed_ticks == 0  # voiced audio is never trimmed


def test_a_queued_reply_keeps_its_pauses() -> None:
    """Never trimmed inside a reply: its pauses keep their length (and the speaker's lag holds)."""
    buf = PlaybackBuffer(prebuffer_ticks=1, max_ticks=4)
    buf.push(0, np.concatenate([tone(2), np.zeros(4 * N, np.float32), tone(2)]))
    out, _ = render_all(buf, 8 * N)
    assert buf.trimmed_ticks == 0 and np.allclose(out[6 * N :], tone(2))


def test_segments_start_after_an_underrun_and_after_shed_silence() -> None:
    buf = PlaybackBuffer(prebuffer_ticks=2, max_ticks=4)
    assert buf.segments == (-1, -1)
    buf.push(0, tone(3))
    render_all(buf, 4 * N)  # plays 0-2, then runs dry
    assert buf.segments == (-1, 0) and buf.underruns == 1
    buf.push(5, tone(2))  # re-buffered: a new stretch from tick 5
    render_all(buf, N)
    assert buf.segments == (0, 5)
    assert buf.segment_of(5.5) == 5 and buf.segment_of(2.0) == 0
    buf.push(7, np.zeros(8 * N, np.float32))
    render_all(buf, 2 * N)  # 9 silent ticks queued, bound 4: shed from the head
    prev, cur = buf.segments
    assert prev == 5 and cur > 7 and buf.trimmed_ticks > 0
    buf.clear()
    render_all(buf, N)
    assert buf.segments == (-1, -1)
