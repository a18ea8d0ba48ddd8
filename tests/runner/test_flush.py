"""The runner's playback model: output is written once played and final; a FlushOut drops the
unplayed output of earlier steps (not the yielding step's own). Driven by a scripted engine side."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.protocol import FlushOut, PlaybackReport, Timings
from engine.runner.run import RunConfig, _Run
from engine.session import SessionWriter, read_session


class ScriptedEngine:
    """What EngineClient hands the runner, scripted: events and media queued by the test."""

    consumed_tick = -1

    def __init__(self) -> None:
        self.events: list[object] = []
        self.audio: list[tuple[int, np.ndarray]] = []
        self.sent: list[object] = []

    def poll_events(self) -> list[object]:
        out, self.events = self.events, []
        return out

    def read_audio(self) -> list[tuple[int, np.ndarray]]:
        out, self.audio = self.audio, []
        return out

    def read_frames(self) -> list[tuple[int, np.ndarray]]:
        return []

    def send(self, msg: object) -> bool:
        self.sent.append(msg)
        return True


def step_output(tick: int, level: float) -> tuple[int, np.ndarray]:
    return tick, np.full(4 * 960, level, np.float32)


def test_flushout_drops_unplayed_output_of_earlier_steps(tmp_path: Path) -> None:
    engine = ScriptedEngine()
    path = tmp_path / "f.mkv"
    writer = SessionWriter(path, avatar_size=16)
    run = _Run(RunConfig(model="testecho", input="", output=str(path)), engine, writer, unit=4, lag=1)  # type: ignore[arg-type]
    for k in range(24):
        writer.add_user_audio(k, np.zeros(640, np.float32))
    # step 0 -> output ticks 4..7, step 4 -> 8..11 (lag 1 unit)
    engine.audio += [step_output(4, 0.5), step_output(8, 0.5)]
    engine.events += [Timings(tick=0, stages={}, step_ms=1.0), Timings(tick=4, stages={}, step_ms=1.0)]
    run.tick = 10  # the input has reached tick 10: output ticks < 10 have been played
    run.pump()
    assert sorted(run.pending_audio) == [10, 11]
    assert engine.sent[-1] == PlaybackReport(played_tick=9)
    # step 8 yields from tick 10 (its events come after its media, then its Timings)
    engine.audio += [step_output(12, 0.0)]
    engine.events += [FlushOut(from_tick=10), Timings(tick=8, stages={}, step_ms=1.0)]
    run.pump()
    assert sorted(run.pending_audio) == [12, 13, 14, 15]  # 10, 11 dropped; the yielding step's own kept
    engine.audio += [step_output(8, 0.9)]  # stale media of an earlier step arriving late: dropped too
    run.pump()
    assert sorted(run.pending_audio) == [12, 13, 14, 15]
    run.tick = 16
    run.commit()
    writer.close()
    d = read_session(path)
    levels = np.abs(d.avatar_pcm[: 16 * 960]).reshape(16, 960).max(axis=1)
    np.testing.assert_allclose(levels, [0] * 4 + [0.5] * 6 + [0] * 6, atol=1e-3)
