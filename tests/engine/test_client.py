"""EngineClient against the deterministic test models in a real spawned engine process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.client import EngineClient, EngineStartError
from engine.protocol import (
    Closed,
    CloseSession,
    EngineDown,
    ErrorEvent,
    FlushOut,
    Health,
    Ping,
    Pong,
    SessionOpened,
    SessionSpec,
    Timings,
    Transcript,
    UserText,
)
from tests.support.engines import ClientFactory
from tests.support.models import decode_tick, tone
from tests.support.paths import a_file

from .helpers import Collector, gone, mic


def test_start_ready_ping_and_stop_leave_nothing(client_factory: ClientFactory) -> None:
    client = client_factory()
    ready = client.start(timeout_s=60)
    assert (ready.model, ready.unit_ticks, ready.output_lag_units, ready.frame_size) == (
        "testecho",
        4,
        1,
        128,
    )
    assert ready.device == "cpu" and ready.trained is False
    assert client.start() == ready  # idempotent while running
    assert client.alive and client.pid
    assert client._rings is not None
    rings = client._rings.names()
    c = Collector(client)
    assert client.send(Ping(seq=7, sent_ns=123))
    c.wait(lambda c: any(isinstance(e, Pong) and e.seq == 7 for e in c.events))
    c.wait(lambda c: c.of(Health), timeout_s=10)
    health = c.of(Health)[0]
    assert {"mic", "camera", "avatar_audio", "avatar_frames"} <= set(health.overruns)
    pid = client.pid
    client.stop()
    client.stop()  # idempotent
    assert not client.alive and client.pid is None
    assert gone(pid)
    assert not any(isinstance(e, EngineDown) for e in client.poll_events())  # our own stop is no crash
    if sys.platform.startswith("linux"):
        assert not any(Path("/dev/shm", n).exists() for n in (rings.mic, rings.avatar_frames))


def test_session_returns_audio_and_frames_with_correct_ticks(client_factory: ClientFactory) -> None:
    client = client_factory()
    client.start(timeout_s=60)
    client.open_session(SessionSpec(persona="p1", avatar="a1"))
    c = Collector(client)
    c.wait(lambda c: c.of(SessionOpened))
    assert c.of(SessionOpened)[0] == SessionOpened(persona="p1", avatar="a1")
    # ticks 0-3 speech, 4-7 silence, 8-11 speech; pushed in uneven pieces, with camera frames
    for tick, n, speech in [(0, 2, True), (2, 2, True), (4, 4, False), (8, 1, True), (9, 3, True)]:
        assert client.push_mic(tick, mic(n, speech))
        assert client.push_frame(tick, np.zeros((48, 64, 3), np.uint8))
    c.wait(  # media are written before the step's events: wait for both
        lambda c: (
            len(c.frames) >= 12 and sum(a.size for _, a in c.audio) >= 12 * 960 and len(c.of(Timings)) == 3
        )
    )
    assert client.consumed_tick == 11
    assert [t for t, _ in c.frames] == list(range(4, 16))  # lag: one unit of 4 ticks
    for tick, frame in c.frames:
        assert frame.shape == (128, 128, 3) and decode_tick(frame) == tick
    audio = np.concatenate([a for _, a in c.audio])
    assert c.audio[0][0] == 4 and audio.size == 12 * 960
    expected = np.concatenate([tone(4, 4), np.zeros(4 * 960, np.float32), tone(12, 4)])
    np.testing.assert_allclose(audio, expected, atol=1e-6)
    user = [e for e in c.of(Transcript) if e.side == "user"]
    assert [(e.tick, e.final) for e in user] == [(0, False), (4, True), (8, False)]
    assert [t.tick for t in c.of(Timings)] == [0, 4, 8]
    # typed text: the echo model answers with an avatar transcript on the next step
    client.send(UserText("hello there"))
    c.sync()
    client.push_mic(12, mic(4, False))
    c.wait(lambda c: any(e.side == "avatar" for e in c.of(Transcript)))
    assert [e.text for e in c.of(Transcript) if e.side == "avatar"] == ["echo: hello there"]
    client.send(CloseSession())
    c.wait(lambda c: c.of(Closed))
    assert client.overruns()["mic"] == 0


def test_flush_drops_received_media_from_tick_and_keeps_later_output(client_factory: ClientFactory) -> None:
    client = client_factory()
    client.start(timeout_s=60)
    client.open_session()
    c = Collector(client)
    client.push_mic(0, mic(8, True))
    c.wait(lambda c: client.consumed_tick >= 7, media=False)  # output for ticks 4..11 is queued, unread
    client.flush(6)
    c.wait(lambda c: c.of(FlushOut), media=False)
    assert c.of(FlushOut)[0] == FlushOut(from_tick=6, reason="client")
    c.pump()
    assert [t for t, _ in c.frames] == [4, 5]
    assert [(t, a.size) for t, a in c.audio] == [(4, 2 * 960)]
    client.push_mic(8, mic(4, True))  # output after the flush (ticks 12..15) is kept
    c.wait(lambda c: len(c.frames) >= 6)
    assert [t for t, _ in c.frames] == [4, 5, 12, 13, 14, 15]
    assert [t for t, _ in c.audio] == [4, 12]


def test_flush_during_a_step_cuts_that_steps_output(client_factory: ClientFactory) -> None:
    client = client_factory("testcrash")
    client.start(timeout_s=60)
    client.open_session()
    c = Collector(client)
    client.send(UserText("slow"))
    c.sync()
    client.push_mic(0, mic(4, True))  # the step takes 0.5 s; its output (ticks 4..7) comes after the flush
    time.sleep(0.2)
    client.flush(5)
    c.wait(lambda c: client.consumed_tick >= 3 and c.of(FlushOut))
    client.push_mic(4, mic(4, True))
    c.wait(lambda c: client.consumed_tick >= 7 and len(c.frames) >= 5)
    assert [t for t, _ in c.frames] == [4, 8, 9, 10, 11]
    assert [(t, a.size // 960) for t, a in c.audio] == [(4, 1), (8, 4)]


def test_model_yield_drops_stale_media_but_keeps_the_new_output(client_factory: ClientFactory) -> None:
    client = client_factory("testcrash")
    client.start(timeout_s=60)
    client.open_session()
    c = Collector(client)
    client.push_mic(0, mic(4, True))
    c.wait(lambda c: client.consumed_tick >= 3, media=False)  # output ticks 4..7 queued, unread
    client.send(UserText("yield"))
    c.sync()
    client.push_mic(4, mic(4, True))  # this step yields from tick 6 and outputs ticks 8..11
    c.wait(lambda c: c.of(FlushOut) and client.consumed_tick >= 7, media=False)
    assert c.of(FlushOut)[0] == FlushOut(from_tick=6, reason="yield")
    c.pump()
    assert [t for t, _ in c.frames] == [4, 5, 8, 9, 10, 11]
    assert [(t, a.size // 960) for t, a in c.audio] == [(4, 2), (8, 4)]


def test_missing_mic_ticks_are_zero_filled_and_reported(client_factory: ClientFactory) -> None:
    client = client_factory()
    client.start(timeout_s=60)
    client.open_session()
    c = Collector(client)
    client.push_mic(0, mic(1, True))
    client.push_mic(3, mic(1, False))  # ticks 1 and 2 never arrive
    c.wait(lambda c: len(c.frames) >= 4)
    c.wait(lambda c: any(h.overruns["mic_missing_ticks"] == 2 for h in c.of(Health)), timeout_s=10)
    audio = np.concatenate([a for _, a in c.audio])
    np.testing.assert_allclose(audio[:960], tone(4, 1), atol=1e-6)  # tick 0 had speech
    assert not audio[960:].any()  # zero-filled ticks 1, 2 and silent tick 3


@pytest.mark.linux  # SIGKILL
def test_sigkill_is_reported_as_a_crash_and_restart_works(client_factory: ClientFactory) -> None:
    """(How fast a crash is detected is a speed goal: not timed here.)"""
    client = client_factory("testcrash")
    client.start(timeout_s=60)
    old_pid = client.pid
    assert old_pid is not None
    c = Collector(client)
    c.pump(media=False)
    assert not c.of(EngineDown)  # nothing is reported before the kill
    os.kill(old_pid, signal.SIGKILL)
    c.wait(lambda c: c.of(EngineDown), timeout_s=10, media=False)
    [down] = c.of(EngineDown)
    assert down.reason == "crashed" and down.exitcode == -signal.SIGKILL
    assert "SIGKILL" in down.detail and down.log_path
    assert not client.alive
    ready = client.restart()
    assert ready.model == "testcrash" and client.pid != old_pid and client.alive
    client.open_session()
    client.push_mic(0, mic(4, True))
    c.wait(lambda c: len(c.frames) >= 4)
    assert [t for t, _ in c.frames] == [4, 5, 6, 7]
    # a model that kills its own process is reported the same way
    client.send(UserText("crash"))
    c.wait(lambda c: len(c.of(EngineDown)) >= 2, timeout_s=10, media=False)
    assert c.of(EngineDown)[1].reason == "crashed"


def test_hang_is_reported_as_hung_and_restart_kills_it(client_factory: ClientFactory) -> None:
    """(How fast a hang is detected is a speed goal: not timed here.)"""
    client = client_factory("testcrash")  # default hang_timeout_s = 1.5
    client.start(timeout_s=60)
    client.open_session()
    c = Collector(client)
    client.send(UserText("hang"))
    c.sync()
    assert not c.of(EngineDown)  # the engine answered the ping: not down before the hung step
    client.push_mic(0, mic(4, True))  # the step for this unit blocks forever
    c.wait(lambda c: c.of(EngineDown), timeout_s=10)
    [down] = c.of(EngineDown)
    assert down.reason == "hung" and down.exitcode is None
    assert c.frames == [] and c.audio == []  # the hung step delivered nothing
    hung_pid = client.pid
    assert hung_pid is not None
    client.restart()
    assert gone(hung_pid)
    client.open_session()
    client.push_mic(0, mic(4, False))
    c.wait(lambda c: len(c.frames) >= 4)


def test_model_exception_is_an_error_event_and_the_engine_goes_on(client_factory: ClientFactory) -> None:
    client = client_factory("testcrash")
    client.start(timeout_s=60)
    client.open_session()
    c = Collector(client)
    client.send(UserText("raise"))
    c.sync()
    client.push_mic(0, mic(4, True))
    c.wait(lambda c: c.of(ErrorEvent))
    err = c.of(ErrorEvent)[0]
    assert err.code == "step" and "RuntimeError" in err.message and not err.fatal
    client.push_mic(4, mic(4, True))
    c.wait(lambda c: len(c.frames) >= 4)
    assert [t for t, _ in c.frames] == [8, 9, 10, 11]
    assert client.alive


def test_malformed_control_message_is_reported_not_fatal(client_factory: ClientFactory) -> None:
    client = client_factory()
    client.start(timeout_s=60)
    assert client._channel is not None
    client._channel.send_raw(b'{"v":1,"type":"flush","from_tick":"soon"}')
    client._channel.send_raw(b"\x00garbage")
    c = Collector(client)
    c.wait(lambda c: len(c.of(ErrorEvent)) >= 2)
    assert all(e.code == "protocol" for e in c.of(ErrorEvent))
    assert "from_tick" in c.of(ErrorEvent)[0].message
    assert client.send(Ping(seq=1, sent_ns=0))
    c.wait(lambda c: c.of(Pong))


def test_bad_model_name_gives_clear_start_error(client_factory: ClientFactory) -> None:
    client = client_factory("no-such-model")
    with pytest.raises(EngineStartError) as info:
        client.start(timeout_s=60)
    text = str(info.value)
    assert "unknown model 'no-such-model'" in text and "available:" in text
    assert "engine log" in text
    assert client.pid is None and not client.alive


def test_unwritable_engine_log_is_a_clear_start_error(client_factory: ClientFactory, tmp_path: Path) -> None:
    blocker = a_file(tmp_path)
    client = client_factory(log_path=blocker / "engine.log")
    with pytest.raises(EngineStartError) as info:
        client.start(timeout_s=60)
    log = blocker / "engine.log"
    assert str(info.value) == f"cannot write the engine log {log}: a parent of it is not a folder"
    assert client.pid is None and not client.alive  # nothing was spawned


def test_bad_input_is_rejected_clearly(client_factory: ClientFactory) -> None:
    client = client_factory()
    with pytest.raises(ValueError, match="640"):
        client.push_mic(0, np.zeros(100, np.float32))
    with pytest.raises(ValueError, match="larger than 640x480"):
        client.push_frame(0, np.zeros((720, 1280, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        client.push_frame(0, np.zeros((10, 10), np.uint8))
    assert client.push_mic(0, np.zeros(640, np.float32)) is False  # not started: dropped, never blocks
    assert client.read_audio() == [] and client.read_frames() == []
    with pytest.raises(ValueError, match="positive"):
        EngineClient("testecho", hang_timeout_s=0)


def test_context_manager_starts_and_stops(client_factory: ClientFactory) -> None:
    with EngineClient("testmarker", device="cpu") as client:
        assert client.ready is not None and client.ready.model == "testmarker"
        pid = client.pid
        assert pid is not None
        client.open_session()
        client.push_mic(21, mic(8, False))
        c = Collector(client)
        c.wait(lambda c: len(c.frames) >= 8)
        white = [t for t, f in c.frames if f.min() == 255]
        assert white == [25]
        clicks = [t + i for t, a in c.audio for i in range(a.size // 960) if a[i * 960] > 0.5]
        assert clicks == [25]
    assert gone(pid)


@pytest.mark.linux  # SIGKILL of the client process
def test_engine_exits_when_its_client_process_dies(tmp_path: Path) -> None:
    """No orphans: if the client's process is SIGKILLed, the engine notices and exits."""
    script = tmp_path / "parent.py"
    script.write_text(
        "import os, signal\n"
        "from engine.client import EngineClient\n"
        "if __name__ == '__main__':\n"
        "    c = EngineClient('testecho', device='cpu')\n"
        "    c.start(60)\n"
        "    print(c.pid, flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=90, cwd=root)
    assert out.returncode == -signal.SIGKILL, out.stderr
    engine_pid = int(out.stdout.split()[0])
    deadline = time.monotonic() + 10
    while not gone(engine_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(engine_pid)
