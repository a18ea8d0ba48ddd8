"""A session reopened (persona/avatar/model switch, engine restart) starts a new tick clock, and
an avatar's yield must drop only what it cancelled. Fakes for the engine; real shared-memory rings.

- the camera feeds the new session from its first tick (it used to wait for the old session's
  last tick), and the self-view shows frames that are not pushed;
- the previous session's samples still leaving the speaker are not the new session's ticks: no
  PlaybackReport (nor frame pick) from them;
- a ring flush mark read before its FlushOut event: the yielding step's own output (written after
  the mark) is kept, the older output from the mark's tick on is dropped — per ring.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage
from PySide6.QtMultimedia import QVideoFrame

from app.camera import CameraCapture
from app.core import DuetCore
from app.playback import Mark, Player
from engine.ipc import MediaRings
from engine.protocol import (
    AVATAR_SAMPLES_PER_TICK,
    MIC_SAMPLES_PER_TICK,
    FlushOut,
    PlaybackReport,
    Ready,
    SessionOpened,
    SessionSpec,
)
from engine.session.writer import SessionWriter

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

pytestmark = pytest.mark.gui

S = 16  # avatar frame side (px)


class RingClient:
    """EngineClient's reading side on real rings; the test writes them as the engine does."""

    def __init__(self) -> None:
        self.engine = MediaRings.create(S)  # the engine's (writer's) view
        self.rings = MediaRings.attach(self.engine.names())  # the client's (reader's) view
        self.events: list[object] = []
        self.sent: list[object] = []
        self.frames_in: list[int] = []  # camera ticks pushed

    # ---- what the engine does
    def write(self, ticks: range, value: float) -> None:
        """One step's output: audio and frames for `ticks` (value marks which step made them)."""
        pcm = np.full(len(ticks) * AVATAR_SAMPLES_PER_TICK, value, np.float32)
        self.engine.avatar_audio.write(ticks.start, pcm)
        for t in ticks:
            self.engine.avatar_frames.write(t, np.full((S, S, 3), int(value * 100), np.uint8))

    def mark(self, from_tick: int) -> None:
        self.engine.avatar_audio.mark_flush(from_tick)
        self.engine.avatar_frames.mark_flush(from_tick)

    # ---- EngineClient
    def poll_events(self) -> list[object]:
        out, self.events = self.events, []
        return out

    def read_audio(self) -> list[tuple[int, np.ndarray]]:
        return self.rings.avatar_audio.read()

    def read_frames(self) -> list[tuple[int, np.ndarray]]:
        return self.rings.avatar_frames.read()

    def read_flushes(self) -> tuple[list[int], list[int]]:
        return self.rings.avatar_audio.take_flushes(), self.rings.avatar_frames.take_flushes()

    def send(self, msg: object) -> bool:
        self.sent.append(msg)
        return True

    def open_session(self, spec: SessionSpec | None = None) -> bool:
        return True

    def push_mic(self, tick: int, pcm: np.ndarray) -> bool:
        return True

    def push_frame(self, tick: int, rgb: np.ndarray) -> bool:
        self.frames_in.append(tick)
        return True

    def flush(self, from_tick: int, reason: str = "client") -> None:
        self.rings.avatar_audio.local_flush(from_tick)
        self.rings.avatar_frames.local_flush(from_tick)

    def stop(self, timeout_s: float = 3.0) -> None:
        pass

    def cancel_start(self) -> None:
        pass

    def close(self) -> None:
        self.rings.close()
        self.engine.close()


@pytest.fixture
def core(qapp: QApplication, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[DuetCore, RingClient]]:
    # a speaker that plays (no device is opened here): the avatar's audio is queued for it
    monkeypatch.setattr(Player, "running", property(lambda self: True))
    client = RingClient()
    core = DuetCore("lite", SessionSpec(), client_factory=lambda m, s: client)
    core.client = client
    core.ready_info = Ready(model="lite", unit_ticks=4, output_lag_units=1, frame_size=S, device="cpu")
    core._open_session()
    client.events.append(SessionOpened("guide", "ada"))
    poll(core, client)
    yield core, client
    core.shutdown()
    client.close()


def poll(core: DuetCore, client: RingClient) -> None:
    core._n = 1  # no PlaybackReport in these polls
    core._poll_engine(client)


def queued(core: DuetCore) -> tuple[list[int], list[int], list[int], list[int]]:
    """Ticks held: (speaker queue, frame queue, recording's audio, recording's frames)."""
    buf = core.player.buffer
    buf._drain_inbox()  # what the audio callback does first
    rec = core.recording
    return (
        [b[0] for b in buf._blocks],
        [t for t, _ in core.scheduler._frames],
        [t for a, b, _ in rec._recent_audio for t in range(a, b)],
        [a for a, _, _ in rec._recent_frames],
    )


# ---------------------------------------------------------------------------- camera
def make_frame() -> QVideoFrame:
    img = QImage(64, 48, QImage.Format.Format_RGB888)
    img.fill(QColor(10, 20, 30))
    return QVideoFrame(img)


def test_camera_pushes_again_once_a_new_session_counts_from_zero(qapp: QApplication) -> None:
    pushed: list[int] = []
    clock = {"tick": 0}
    cam = CameraCapture(lambda t, rgb: pushed.append(t), lambda: clock["tick"])
    frame = make_frame()
    for t in range(45_000, 45_003):  # 30 minutes into the first session
        clock["tick"] = t
        cam.handle_frame(frame)
    assert pushed == [45_000, 45_001, 45_002]
    pushed.clear()
    for t in [0, 0, 1, 2, 2, 3]:  # the next session: its ticks from 0 (a 30 fps camera: repeats)
        clock["tick"] = t
        cam.handle_frame(frame)
    assert pushed == [0, 1, 2, 3]


def test_self_view_shows_frames_that_are_not_pushed(qapp: QApplication) -> None:
    clock = {"tick": -1}  # no session (the engine is starting or restarting)
    pushed: list[int] = []
    cam = CameraCapture(lambda t, rgb: pushed.append(t), lambda: clock["tick"])
    previews: list[QImage] = []
    cam.image_ready.connect(previews.append)
    frame = make_frame()
    cam.handle_frame(frame)
    clock["tick"] = 5
    cam.handle_frame(frame)
    cam.handle_frame(frame)  # the same tick again: not pushed, shown all the same

    def failing(t: int, rgb: np.ndarray) -> None:
        raise RuntimeError("engine restarting")

    cam.sink = failing
    clock["tick"] = 6
    cam.handle_frame(frame)
    assert pushed == [5] and len(previews) == 4 and previews[-1].width() <= 192


def test_camera_feeds_the_reopened_session_through_the_core(core: tuple[DuetCore, RingClient]) -> None:
    duet, client = core
    cam = CameraCapture(duet.push_frame, duet.session_tick)
    frame = make_frame()
    block = np.zeros(MIC_SAMPLES_PER_TICK, np.float32)
    duet.assembler.reset(45_000)  # a long first session
    for _ in range(3):
        duet.assembler.feed(block, time.monotonic())
        cam.handle_frame(frame)
    assert client.frames_in == [45_001, 45_002, 45_003]
    client.frames_in.clear()
    duet.update_session(persona="guide")  # a persona switch: the same engine, a new session
    cam.handle_frame(frame)  # before the mic's next block applies the reset: already tick 0
    for _ in range(3):
        duet.assembler.feed(block, time.monotonic())
        cam.handle_frame(frame)
    assert client.frames_in == [0, 1, 2, 3]


# ---------------------------------------------------------------------------- speaker clock
class _Time:  # PortAudio's time info: these samples reach the DAC 10 ms after the callback
    outputBufferDacTime = 0.01
    currentTime = 0.0


class _Now(_Time):  # ... at once
    outputBufferDacTime = 0.0


def test_speaker_ticks_of_the_previous_session_are_not_reported(core: tuple[DuetCore, RingClient]) -> None:
    duet, client = core
    # the old session played up to tick 5000; its last samples reach the DAC for 200 ms more
    duet.player.buffer.push(5000, np.full(6 * AVATAR_SAMPLES_PER_TICK, 0.1, np.float32))
    duet.player._callback(np.zeros((4800, 1), np.float32), 4800, _Now(), None)
    assert duet.player.played_tick() == 5000
    duet.update_session(persona="guide")  # CloseSession + open: a new tick clock
    assert duet.player.tick_at() is None and duet.player.played_tick() == -1
    client.events.append(SessionOpened("guide", "ada"))
    poll(duet, client)
    duet._n = 9  # the next poll is a report poll
    duet._poll_engine(client)
    assert [m for m in client.sent if isinstance(m, PlaybackReport)] == []
    assert duet._last_report == -1


def test_a_callback_running_across_the_clear_keeps_the_old_clock_out() -> None:
    player = Player()
    out = np.zeros((480, 1), np.float32)
    player.buffer.push(5000, np.full(6 * AVATAR_SAMPLES_PER_TICK, 0.1, np.float32))
    player._callback(out, 480, _Time(), None)  # playing the old session
    assert player.tick_at(time.monotonic() + 0.015) is not None
    player.buffer.clear()  # a new session; the callback has not drained it yet ...
    player.marks.append(Mark(time.monotonic(), 5000.5, 480, player.buffer.render_gen))  # ... and adds one
    assert player.tick_at(time.monotonic() + 0.005) is None
    player.buffer.push(0, np.full(6 * AVATAR_SAMPLES_PER_TICK, 0.1, np.float32))
    player._callback(out, 480, _Time(), None)  # the new session's tick 0 at the DAC
    pos = player.tick_at(time.monotonic() + 0.015)
    assert pos is not None and 0.0 <= pos < 1.0


# ---------------------------------------------------------------------------- flush marks
def test_media_read_before_its_flush_out_arrives_is_kept(core: tuple[DuetCore, RingClient]) -> None:
    duet, client = core
    client.write(range(8, 20), 0.1)  # speech queued before the yield (three steps)
    poll(duet, client)
    # the yielding step: marks the rings from 12, writes its own output 20..23, THEN its FlushOut
    client.mark(12)
    client.write(range(20, 24), 0.2)
    poll(duet, client)  # reads the media (and crosses the mark); the event is not queued yet
    kept = list(range(8, 12)) + list(range(20, 24))
    assert queued(duet) == (kept, kept, kept, kept)
    client.events.append(FlushOut(from_tick=12, reason="barge_in"))
    poll(duet, client)
    assert queued(duet) == (kept, kept, kept, kept)  # the yielding step's own output stays
    assert duet.scheduler.stats.flushed == 8


def test_a_flush_out_with_its_mark_in_the_same_poll_drops_the_older_output(
    core: tuple[DuetCore, RingClient],
) -> None:
    duet, client = core
    client.write(range(8, 20), 0.1)
    poll(duet, client)
    client.mark(12)
    client.write(range(20, 24), 0.2)
    client.events.append(FlushOut(from_tick=12, reason="yield"))  # event and mark in one poll
    poll(duet, client)
    kept = list(range(8, 12)) + list(range(20, 24))
    assert queued(duet) == (kept, kept, kept, kept)
    client.events.append(FlushOut(from_tick=30, reason="yield"))  # no mark (a client without rings)
    poll(duet, client)
    assert queued(duet)[1] == kept  # nothing from 30 on: nothing to drop, and nothing else gone
    duet.handle_event(FlushOut(from_tick=21))
    cut = [*range(8, 12), 20]
    assert queued(duet) == (cut, cut, kept, cut)  # (the recording keeps a block that straddles the cut)


def test_each_ring_drops_by_its_own_mark(core: tuple[DuetCore, RingClient]) -> None:
    """The engine marks audio, then frames: a read may see the frame mark one poll before the
    audio mark. Frames read after their own mark are current even when the audio mark comes later."""
    duet, _ = core
    intake = duet.intake  # app.intake.AvatarIntake
    frame = np.zeros((S, S, 3), np.uint8)
    pcm = np.zeros(AVATAR_SAMPLES_PER_TICK, np.float32)
    intake.take([(t, pcm) for t in range(8, 20)], [(t, frame) for t in range(8, 20)])
    intake.crossed(([], [12]))  # poll N: the frame ring's mark only
    intake.take([], [(t, frame) for t in range(20, 24)])
    intake.crossed(([12], []))  # poll N + 1: the audio ring's
    intake.take([(t, pcm) for t in range(20, 24)], [])
    intake.flush_out(12)
    kept = list(range(8, 12)) + list(range(20, 24))
    assert queued(duet) == (kept, kept, kept, kept)


def test_each_ring_drops_by_its_own_mark_through_the_poll(core: tuple[DuetCore, RingClient]) -> None:
    """The same through DuetCore's poll (events, read_audio, read_frames, read_flushes) on real
    rings: the yielding step marks and writes both rings between the poll's audio read and its
    frame read, so that poll crosses only the frame mark, the next one the audio mark."""
    duet, client = core
    client.write(range(8, 20), 0.1)  # speech queued before the yield
    poll(duet, client)
    read_audio = client.read_audio

    def audio_then_the_step() -> list[tuple[int, np.ndarray]]:
        got = read_audio()
        client.read_audio = read_audio  # type: ignore[method-assign]
        client.mark(12)  # the yielding step: its marks, then its own output 20..23
        client.write(range(20, 24), 0.2)
        return got

    client.read_audio = audio_then_the_step  # type: ignore[method-assign]
    poll(duet, client)  # audio read before the step, frames after it: the frame mark only
    assert client.rings.avatar_audio.ring.pending() > 0  # the step's audio is not read yet
    poll(duet, client)  # the audio mark and the step's audio
    client.events.append(FlushOut(from_tick=12, reason="barge_in"))
    poll(duet, client)
    kept = list(range(8, 12)) + list(range(20, 24))
    assert queued(duet) == (kept, kept, kept, kept)
    assert duet.scheduler._frames[-1][1][0, 0, 0] == 20  # the step's own frames


def test_interrupt_drops_at_once_and_the_engines_mark_keeps_later_output(
    core: tuple[DuetCore, RingClient],
) -> None:
    duet, client = core
    client.write(range(0, 12), 0.1)
    poll(duet, client)
    duet.player.buffer.last_tick = 11  # the speaker has played up to 11 (its callback's count)
    duet.interrupt()  # the app's stop: from the tick after it
    client.write(range(12, 16), 0.1)  # a step in flight when the app stopped it: stale
    client.mark(12)  # the engine acknowledges: mark, FlushOut; then a new step's output
    client.write(range(12, 16), 0.3)
    poll(duet, client)
    client.events.append(FlushOut(from_tick=12, reason="client"))
    poll(duet, client)
    ticks = list(range(0, 16))
    assert queued(duet) == (ticks, ticks, ticks, ticks)
    assert duet.scheduler._frames[-1][1][0, 0, 0] == 30  # the new step's frames


def test_the_session_writer_drops_one_kind() -> None:
    """The recording drops audio and frames by their own marks (SessionWriter.drop_avatar_from)."""
    w = SessionWriter.__new__(SessionWriter)  # its drop needs only these fields (no file)
    w._lock = threading.Lock()
    w.avatar_audio = SimpleNamespace(  # type: ignore[assignment]
        spt=AVATAR_SAMPLES_PER_TICK,
        written=0,
        end=8 * AVATAR_SAMPLES_PER_TICK,
        segments=[(0, np.zeros(8 * AVATAR_SAMPLES_PER_TICK, np.float32))],
    )
    w.avatar_video = SimpleNamespace(pending=dict.fromkeys(range(8)))  # type: ignore[assignment]
    w.drop_avatar_from(4, audio=False)
    assert w.avatar_audio.end == 8 * AVATAR_SAMPLES_PER_TICK
    assert sorted(w.avatar_video.pending) == [0, 1, 2, 3]
    w.drop_avatar_from(2, frames=False)
    assert w.avatar_audio.end == 2 * AVATAR_SAMPLES_PER_TICK
    assert sorted(w.avatar_video.pending) == [0, 1, 2, 3]
