"""The headless runner with the deterministic testecho model (unit 4 ticks, lag 1 unit, 128x128
frames encoding their tick, a 440 Hz tone in output ticks whose input tick had mic energy)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from engine.media import MediaError, TickInput
from engine.protocol import SessionOpened, Timings, Transcript, UserText
from engine.registry import UnknownModelError
from engine.runner import RunConfig, RunnerError, run_session
from engine.session import read_session
from tests.support.media import make_mp4
from tests.support.models import decode_tick

LAG = 4  # testecho output lag in ticks


def tick_energy(pcm: np.ndarray, spt: int) -> np.ndarray:
    """Peak |x| per tick."""
    n = pcm.shape[0] // spt
    return np.abs(pcm[: n * spt].reshape(n, spt)).max(axis=1)


def write_wav(path: Path, ticks_on: list[bool], rate: int = 16000) -> None:
    """A 300 Hz tone (amplitude 0.3) in the ticks marked True, silence elsewhere."""
    spt = rate // 25
    x = np.zeros(len(ticks_on) * spt, np.float32)
    for t, on in enumerate(ticks_on):
        if on:
            n = np.arange(t * spt, (t + 1) * spt)
            x[t * spt : (t + 1) * spt] = 0.3 * np.sin(2 * np.pi * 300 * n / rate)
    with av.open(str(path), "w") as c:
        s = c.add_stream("pcm_s16le", rate=rate, layout="mono")
        f = av.AudioFrame.from_ndarray(
            (x * 32767).astype(np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        f.sample_rate, f.pts = rate, 0
        for p in [*s.encode(f), *s.encode(None)]:
            c.mux(p)


def decode_track(path: Path, kind: str, title: str) -> list[tuple[float, object]]:
    """(start seconds, decoded frame) of one track, through plain PyAV."""
    with av.open(str(path)) as c:
        stream = next(s for s in c.streams if s.type == kind and s.metadata.get("title") == title)
        out: list[tuple[float, object]] = []
        for frame in c.decode(stream):
            assert isinstance(frame, (av.AudioFrame, av.VideoFrame)) and frame.pts is not None
            assert frame.time_base is not None
            out.append((float(frame.pts * frame.time_base), frame))
        return out


def test_wav_through_testecho_into_a_session(tmp_path: Path) -> None:
    wav = tmp_path / "turn.wav"
    pattern = [False] * 5 + [True] * 15 + [False] * 20  # 40 ticks: speech in ticks 5..19
    write_wav(wav, pattern)
    out = tmp_path / "s.mkv"
    summary = run_session(RunConfig(model="testecho", input=str(wav), output=str(out), tail_s=0.3))
    # 40 input ticks + 8 of tail -> 48, + one unit of output lag = 52 ticks
    assert summary["input_ticks"] == 48 and summary["ticks"] == 52
    assert summary["path"] == str(out.resolve()) and summary["events"] > 0
    assert summary["overruns"]["mic"] == 0

    # plain PyAV decodes both sides, each track as long as the session
    user = decode_track(out, "audio", "user")
    avatar = decode_track(out, "audio", "avatar")
    assert sum(f.samples for _, f in user) == 52 * 640  # type: ignore[attr-defined]
    assert sum(f.samples for _, f in avatar) == 52 * 960  # type: ignore[attr-defined]
    video = decode_track(out, "video", "avatar")
    ticks = [round(t * 25) for t, _ in video]
    assert ticks == list(range(LAG, 52))  # the first output unit is tick 4
    for t, (_, frame) in zip(ticks, video):
        rgb = frame.to_ndarray(format="rgb24")  # type: ignore[attr-defined]
        assert rgb.shape == (128, 128, 3)
        assert abs(decode_tick(rgb) - t) <= 3  # yuv420p rounding of the tick-coded colour

    d = read_session(out)
    assert d.n_ticks == 52 and d.user_frames is None
    assert d.meta["model"] == "testecho" and d.meta["input"] == "turn.wav"
    user_on = tick_energy(d.user_pcm, 640) > 0.1
    avatar_on = tick_energy(d.avatar_pcm, 960) > 0.1
    assert list(user_on[:40]) == pattern and not user_on[40:].any()
    assert list(avatar_on) == [False] * LAG + list(user_on[:48])  # the avatar answers one unit later
    kinds = {type(m) for _, _, m in d.events}
    assert {SessionOpened, Timings, Transcript} <= kinds
    finals = [m for _, _, m in d.events if isinstance(m, Transcript) and m.final]
    assert finals and finals[0].text == "speech 15 ticks"


def test_mp4_camera_is_recorded_as_the_user_video(tmp_path: Path) -> None:
    mp4 = tmp_path / "clip.mp4"
    make_mp4(mp4, seconds=0.8, fps=25, size=(320, 240), step=10)
    out = tmp_path / "v.mkv"
    summary = run_session(RunConfig(model="testecho", input=str(mp4), output=str(out)))
    d = read_session(out)
    assert d.n_ticks == summary["ticks"] >= 20 + LAG
    assert d.user_frames is not None and d.user_frames.shape == (d.n_ticks, 240, 320, 3)
    levels = d.user_frames[:20].reshape(20, -1).mean(axis=1)
    np.testing.assert_allclose(levels, [10 * i for i in range(20)], atol=4)
    assert d.avatar_frames is not None and d.avatar_frames.shape == (d.n_ticks, 128, 128, 3)
    assert summary["overruns"]["camera"] == 0


def test_echo_feeds_the_avatar_back_into_the_mic(tmp_path: Path) -> None:
    """A 4-tick burst -> the avatar answers in ticks 4..7 -> 200 ms later (5 ticks) the mic hears it
    in ticks 9..12 -> the avatar answers its own echo in ticks 13..16, and so on."""
    wav = tmp_path / "burst.wav"
    write_wav(wav, [True] * 4 + [False] * 16)
    out = tmp_path / "e.mkv"
    cfg = RunConfig(model="testecho", input=str(wav), output=str(out), echo_delay_ms=200, echo_gain=0.5)
    run_session(cfg)
    d = read_session(out)
    user_on = tick_energy(d.user_pcm, 640) > 0.05
    avatar_on = tick_energy(d.avatar_pcm, 960) > 0.05
    assert list(np.flatnonzero(avatar_on[:20])) == [4, 5, 6, 7, 13, 14, 15, 16]
    assert list(np.flatnonzero(user_on[:20])) == [0, 1, 2, 3, 9, 10, 11, 12, 18, 19]
    echo = d.user_pcm[10 * 640 : 12 * 640]
    assert 0.1 < np.abs(echo).max() < 0.2  # 0.5 x the 0.3 tone
    spectrum = np.abs(np.fft.rfft(echo))
    assert abs(np.argmax(spectrum) * 16000 / echo.shape[0] - 440) < 15  # the avatar's 440 Hz voice
    # the file says how the data was made: the echo, fast pacing, the auto tail isn't asked for
    assert d.meta["echo_delay_ms"] == "200" and d.meta["echo_gain"] == "0.5"
    assert d.meta["realtime"] == "false" and d.meta["max_ahead_units"] == "2" and d.meta["tail_s"] == "0"
    assert d.meta["output_lag_units"] == "1" and d.meta["model_options"] == "{}"


def test_echo_too_short_for_a_model_without_lag_is_refused() -> None:
    from engine.runner import EchoPath

    EchoPath(0, 0.5).check_causal(unit_ticks=4, output_lag_units=1)
    with pytest.raises(ValueError, match="echo delay 40 ms is shorter"):
        EchoPath(40, 0.5).check_causal(unit_ticks=4, output_lag_units=0)
    EchoPath(160, 0.5).check_causal(unit_ticks=4, output_lag_units=0)


def test_realtime_pacing(tmp_path: Path) -> None:
    wav = tmp_path / "short.wav"
    write_wav(wav, [True] * 12)
    summary = run_session(
        RunConfig(model="testecho", input=str(wav), output=str(tmp_path / "r.mkv"), realtime=True)
    )
    assert summary["realtime"] and summary["input_ticks"] == 12
    assert summary["wall_s"] >= 0.9 * 12 * 0.04  # fed at 40 ms a tick, never faster


def test_realtime_clock_starts_when_the_session_is_open(tmp_path: Path) -> None:
    """A model slow to open its session (lite: ~1-5 s) hears the input from its first tick."""
    wav = tmp_path / "speech.wav"
    write_wav(wav, [True] * 12)
    out = tmp_path / "r.mkv"
    cfg = RunConfig(
        model="testecho",
        input=str(wav),
        output=str(out),
        realtime=True,
        tail_s=1.0,
        model_options={"slowopen": "1.0"},
    )
    run_session(cfg)
    d = read_session(out)
    timings = sorted(m.tick for _, _, m in d.events if isinstance(m, Timings))
    assert timings[0] == 0  # the model stepped the input's first unit
    assert tick_energy(d.avatar_pcm, 960)[LAG : LAG + 12].min() > 0.1  # and answered every tick of it
    assert d.meta["realtime"] == "true" and "max_ahead_units" not in d.meta and d.meta["tail_s"] == "1"
    assert json.loads(d.meta["model_options"]) == {"slowopen": "1.0"}
    assert d.meta["echo_gain"] == "0"  # no echo


def test_engine_crash_keeps_the_partial_session(tmp_path: Path) -> None:
    wav = tmp_path / "long.wav"
    write_wav(wav, [True] * 100)
    out = tmp_path / "c.mkv"
    cfg = RunConfig(model="testcrash", input=str(wav), output=str(out), texts=[(1.0, "crash", False)])
    with pytest.raises(RunnerError, match=r"engine crashed.*partial session is kept in .*c\.mkv"):
        run_session(cfg)
    d = read_session(out)
    assert 20 <= d.n_ticks < 100
    assert tick_energy(d.user_pcm, 640)[:20].min() > 0.1
    assert tick_energy(d.avatar_pcm, 960)[LAG:20].min() > 0.1
    assert any(src == "runner" and isinstance(m, UserText) and m.text == "crash" for _, src, m in d.events)
    assert any(src == "client" and type(m).__name__ == "EngineDown" for _, src, m in d.events)


def test_bad_model_and_bad_input_fail_before_spawning(tmp_path: Path) -> None:
    wav = tmp_path / "a.wav"
    write_wav(wav, [True] * 4)
    with pytest.raises(UnknownModelError, match="nosuch"):
        run_session(RunConfig(model="nosuch", input=str(wav), output=str(tmp_path / "x.mkv")))
    with pytest.raises(MediaError, match=r"missing\.wav"):
        run_session(
            RunConfig(model="testecho", input=str(tmp_path / "missing.wav"), output=str(tmp_path / "x.mkv"))
        )
    assert not (tmp_path / "x.mkv").exists()


def test_plain_mkv_input_feeds_its_video_as_the_camera(tmp_path: Path) -> None:
    mkv = tmp_path / "clip.mkv"  # an ordinary Matroska file (no Duet metadata): first streams are used
    make_mp4(mkv, seconds=0.8, fps=25, size=(320, 240), step=10)
    out = tmp_path / "p.mkv"
    run_session(RunConfig(model="testecho", input=str(mkv), output=str(out)))
    d = read_session(out)
    assert d.meta["input"] == "clip.mkv"
    assert d.user_frames is not None and d.user_frames.shape[1:] == (240, 320, 3)
    levels = d.user_frames[:20].reshape(20, -1).mean(axis=1)
    np.testing.assert_allclose(levels, [10 * i for i in range(20)], atol=4)
    spectrum = np.abs(np.fft.rfft(d.user_pcm[3200:12800]))
    assert abs(np.argmax(spectrum) * 16000 / 9600 - 300) < 5  # the clip's 300 Hz tone is the mic


def test_replaying_a_session_feeds_the_user_camera_and_mic_not_the_avatar(tmp_path: Path) -> None:
    """A session stores the avatar's video (128x128, tick-coded) before the user's camera (320x240
    gray ramp); replaying it must feed the camera and the mic, never the avatar's tracks."""
    mp4 = tmp_path / "clip.mp4"
    make_mp4(mp4, seconds=0.8, fps=25, size=(320, 240), step=10)
    first = tmp_path / "first.mkv"
    run_session(RunConfig(model="testecho", input=str(mp4), output=str(first)))
    with av.open(str(first)) as c:  # the layout that used to fool the reader
        assert [s.metadata.get("title") for s in c.streams.video] == ["avatar", "user"]
    original = read_session(first)
    assert original.user_frames is not None

    replay = tmp_path / "replay.mkv"
    summary = run_session(RunConfig(model="testecho", input=str(first), output=str(replay), tail_s=0.0))
    assert summary["input_ticks"] == original.n_ticks  # every tick of the session is fed
    d = read_session(replay)
    assert d.meta["input"] == "first.mkv"
    assert d.user_frames is not None and d.user_frames.shape[1:] == (240, 320, 3)
    n = original.n_ticks
    levels = d.user_frames[:20].reshape(20, -1).mean(axis=1)
    np.testing.assert_allclose(levels, [10 * i for i in range(20)], atol=4)  # the camera's ramp
    np.testing.assert_allclose(d.user_frames[:n].astype(float), original.user_frames.astype(float), atol=6)
    # the mic is the session's user track (300 Hz), sample for sample; not the avatar's 440 Hz voice
    np.testing.assert_allclose(d.user_pcm[: n * 640], original.user_pcm, atol=1e-3)
    assert not np.allclose(d.user_pcm[: n * 640][: 20 * 640], 0.0)
    # the avatar answers the replayed mic exactly as it answered the original one
    np.testing.assert_array_equal(
        tick_energy(d.avatar_pcm, 960)[:n] > 0.1, tick_energy(original.avatar_pcm, 960) > 0.1
    )


def test_replaying_a_session_without_camera_gives_audio_only(tmp_path: Path) -> None:
    wav = tmp_path / "turn.wav"
    pattern = [False] * 4 + [True] * 8 + [False] * 8
    write_wav(wav, pattern)
    first = tmp_path / "first.mkv"
    run_session(RunConfig(model="testecho", input=str(wav), output=str(first), tail_s=0.0))
    original = read_session(first)
    assert original.user_frames is None and original.avatar_frames is not None  # avatar video only

    replay = tmp_path / "replay.mkv"
    run_session(RunConfig(model="testecho", input=str(first), output=str(replay), tail_s=0.0))
    d = read_session(replay)
    assert d.user_frames is None  # no camera: the avatar's video is not fed as one
    user_on = tick_energy(d.user_pcm, 640) > 0.1
    assert list(user_on[: len(pattern)]) == pattern  # the user's turn, not the avatar's answer
    assert not user_on[len(pattern) :].any()


def test_auto_tail_waits_for_the_avatar_to_finish() -> None:
    """tail_s=None: at least TAIL_MIN_S of silence, then more while the avatar thinks or speaks or
    was heard within TAIL_QUIET_S, never past TAIL_MAX_S; a number feeds exactly that much."""
    from engine.protocol import StateChanged
    from engine.runner import run as runner

    def make(tail_s: float | None) -> runner._Run:
        cfg = RunConfig(model="testecho", input="x.wav", output="x.mkv", tail_s=tail_s)
        return runner._Run(cfg, client=None, writer=None, unit=4, lag=1)  # type: ignore[arg-type]

    ticks: Callable[[float], int] = lambda s: round(s / 0.04)  # noqa: E731
    fixed = make(0.3)
    assert fixed.tail_more(ticks(0.3) - 1) and not fixed.tail_more(ticks(0.3))

    run = make(None)
    run.tick = 1000
    assert run.tail_more(0) and run.tail_more(ticks(runner.TAIL_MIN_S) - 1)
    assert not run.tail_more(ticks(runner.TAIL_MIN_S))  # quiet listener: done after the minimum
    run.state = "thinking"  # an answer is coming
    assert run.tail_more(ticks(runner.TAIL_MIN_S) + 10)
    run.state = "listening"
    run._store(run.pending_audio, 1020, np.full(960, 0.2, np.float32))  # its voice, not played yet
    assert run.voice_hi == 1020 and run.tail_more(ticks(5.0))
    run.tick = 1020 + ticks(runner.TAIL_QUIET_S)  # a tick short of a quiet spell after it
    assert run.tail_more(ticks(5.0))
    run.tick += 1  # ticks 1021..1045 were quiet
    assert not run.tail_more(ticks(5.0))
    run._store(run.pending_audio, 1100, np.full(960, 1e-4, np.float32))  # silence is not its voice
    assert run.voice_hi == 1020
    run.writer = type("Events", (), {"add_event": lambda *a: None})()
    run._event(StateChanged(tick=1100, state="speaking"))
    assert run.tail_more(ticks(runner.TAIL_MAX_S) - 1) and not run.tail_more(ticks(runner.TAIL_MAX_S))


def test_auto_tail_through_the_engine(tmp_path: Path) -> None:
    """testecho answers each speech tick one unit later: with speech up to the input's end, the
    auto tail is the minimum (the echo ends long before), rounded up to whole units."""
    wav = tmp_path / "turn.wav"
    write_wav(wav, [False] * 10 + [True] * 30)  # speech to the last tick
    out = tmp_path / "s.mkv"
    summary = run_session(RunConfig(model="testecho", input=str(wav), output=str(out), tail_s=None))
    tail = summary["tail_s"]
    assert 2.0 <= tail < 2.0 + 4 * 0.04 and round(40 + tail / 0.04) % 4 == 0
    d = read_session(out)
    voiced = np.nonzero(tick_energy(d.avatar_pcm, 960) > 0.01)[0]
    assert voiced[-1] == 39 + LAG  # the whole echo is in the file


def test_a_full_disk_stops_the_run_and_still_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills up mid-run and closing the file fails too: the write error reaches the
    caller, the engine process is stopped and its shared memory unlinked all the same, and what
    was written before stays readable."""
    import errno
    import multiprocessing as mp

    from engine.session import SessionWriteError, SessionWriter

    shm_before = {p.name for p in Path("/dev/shm").glob("duet_*")}
    real_add, real_close = SessionWriter.add_user_audio, SessionWriter.close
    calls = {"n": 0}

    def add_user_audio(self: SessionWriter, tick: int, pcm: np.ndarray) -> None:
        calls["n"] += 1
        if calls["n"] > 30:
            raise SessionWriteError(
                errno.ENOSPC, f"cannot write session file {self.path}: disk full", str(self.path)
            )
        real_add(self, tick, pcm)

    def close(self: SessionWriter) -> None:
        real_close(self)
        if calls["n"] > 30:
            raise SessionWriteError(errno.ENOSPC, "closing failed too", str(self.path))

    monkeypatch.setattr(SessionWriter, "add_user_audio", add_user_audio)
    monkeypatch.setattr(SessionWriter, "close", close)
    wav = tmp_path / "long.wav"
    write_wav(wav, [True] * 100)
    out = tmp_path / "full.mkv"
    with pytest.raises(SessionWriteError, match=f"disk full; the partial session is kept in {out}"):
        run_session(RunConfig(model="testecho", input=str(wav), output=str(out)))
    assert not mp.active_children()  # the engine is gone
    assert {p.name for p in Path("/dev/shm").glob("duet_*")} <= shm_before  # its rings are unlinked
    monkeypatch.undo()
    assert 20 <= read_session(out).n_ticks <= 30


def test_an_input_that_breaks_off_keeps_what_was_fed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A decode error after 30 ticks: the error names the kept partial session, which holds them."""
    from engine.media import MediaInput

    real_ticks = MediaInput.ticks

    def breaking(self: MediaInput) -> Iterator[TickInput]:
        for inp in real_ticks(self):
            if inp.tick == 30:
                raise MediaError(f"{self.spec}: cannot decode: Invalid data found when processing input")
            yield inp

    monkeypatch.setattr(MediaInput, "ticks", breaking)
    wav = tmp_path / "long.wav"
    write_wav(wav, [True] * 100)
    out = tmp_path / "broken.mkv"
    with pytest.raises(MediaError, match=r"cannot decode: .*; the partial session is kept in .*broken\.mkv$"):
        run_session(RunConfig(model="testecho", input=str(wav), output=str(out)))
    monkeypatch.undo()
    assert 25 <= read_session(out).n_ticks <= 30
