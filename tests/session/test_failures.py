"""Session files under failure: SIGKILL mid-session, a full disk, unwritable paths, wrong or
corrupt files. Each keeps what was written readable or gives a clear error naming the file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import numpy as np
import pytest

from engine.cli.main import build_parser
from engine.cli.show import cmd_show
from engine.protocol import MIC_SAMPLES_PER_TICK, Closed, Decision, DecisionChanged, Transcript
from engine.session import (
    SessionReadError,
    SessionWriteError,
    SessionWriter,
    describe,
    events_path_for,
    read_events,
    read_session,
)

ROOT = Path(__file__).resolve().parents[2]

# a child that writes a session tick by tick and reports each tick written on stdout
CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from engine.protocol import Timings
    from engine.session import SessionWriter
    w = SessionWriter(sys.argv[1], model="crashy", avatar_size=64, user_video_size=(64, 48))
    t = 0
    while True:
        w.add_user_audio(t, np.full(640, 0.25, np.float32))
        w.add_avatar_audio(t, np.full(960, -0.25, np.float32))
        w.add_avatar_frame(t, np.full((64, 64, 3), 120, np.uint8))
        w.add_user_frame(t, np.full((48, 64, 3), 60, np.uint8))
        w.add_event(t, "engine", Timings(tick=t, stages={"x": 1.0}, step_ms=1.0))
        print(t, flush=True)
        t += 1
        time.sleep(0.005)
    """
)


def show(argv: list[str]) -> int:
    """`duet-engine show ARGV` in this process (without main(): it would add a logging handler
    to the root logger for the rest of the test session)."""
    return cmd_show(build_parser().parse_args(["show", *argv]))


@pytest.mark.linux  # SIGKILL, resource.setrlimit
def test_sigkill_mid_session_keeps_all_but_the_last_moment(tmp_path: Path) -> None:
    path = tmp_path / "crash.mkv"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        last = -1
        while last < 75:  # 3 s of session
            line = proc.stdout.readline()
            assert line, "writer child died"
            last = int(line)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    d = read_session(path)
    # everything but the open cluster (~0.2 s = 5 ticks) survives; allow a little more on a busy machine
    assert d.n_ticks >= 75 - 12
    assert d.meta["model"] == "crashy"
    n = d.n_ticks
    assert d.user_pcm.shape[0] >= (n - 1) * MIC_SAMPLES_PER_TICK
    np.testing.assert_allclose(d.user_pcm[: (n - 1) * 640], 0.25, atol=1e-3)
    np.testing.assert_allclose(d.avatar_pcm[: (n - 1) * 960], -0.25, atol=1e-3)
    assert d.avatar_frames is not None and d.user_frames is not None
    assert abs(float(d.avatar_frames[: n - 2].mean()) - 120) < 4
    assert len(d.events) >= 75  # events are flushed line by line
    info = describe(path)  # the quick summary copes with the crashed file too
    assert abs(info["ticks"] - d.n_ticks) <= 1 and info["events"]["Timings"] >= 75
    assert d.truncated and info["truncated"]  # never closed: it ended mid-write


# a child whose files may not grow beyond 120 kB (RLIMIT_FSIZE): writing fails like a full disk
FULL_DISK_CHILD = textwrap.dedent(
    """
    import resource, signal, sys
    import numpy as np
    from engine.session import SessionWriter, SessionWriteError
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (120_000, 120_000))
    w = SessionWriter(sys.argv[1], avatar_size=64)
    try:
        for t in range(10_000):
            w.add_user_audio(t, np.full(640, 0.5, np.float32))
            w.add_avatar_audio(t, np.full(960, 0.5, np.float32))
            w.add_avatar_frame(t, np.random.default_rng(t).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    except SessionWriteError as e:
        print("ERROR", e.errno, e.filename, "|", e)
        try:
            w.add_user_audio(t + 1, np.zeros(640, np.float32))
        except SessionWriteError:
            print("STILL FAILED")
        try:
            w.close()
        except SessionWriteError:
            pass
        sys.exit(0)
    sys.exit(3)
    """
)


def test_full_disk_gives_clear_error_and_keeps_what_was_written(tmp_path: Path) -> None:
    path = tmp_path / "full.mkv"
    out = subprocess.run(
        [sys.executable, "-c", FULL_DISK_CHILD, str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"ERROR 27 {path}" in out.stdout  # EFBIG, the file named
    assert f"cannot write session file {path}" in out.stdout
    assert "STILL FAILED" in out.stdout
    d = read_session(path)
    assert d.n_ticks > 5
    np.testing.assert_allclose(d.user_pcm[: 5 * 640], 0.5, atol=1e-3)


def test_unwritable_path_is_an_oserror_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    target = blocker / "s.mkv"
    with pytest.raises(OSError, match="not_a_dir") as info:
        SessionWriter(target)
    assert isinstance(info.value, SessionWriteError)
    assert str(blocker) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SessionReadError, match=r"not found.*nope\.mkv"):
        read_session(tmp_path / "nope.mkv")


def test_garbage_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.mkv"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(SessionReadError, match=r"garbage\.mkv"):
        read_session(path)


def test_media_file_that_is_not_a_session(tmp_path: Path) -> None:
    path = tmp_path / "song.mkv"
    with av.open(str(path), "w", format="matroska") as c:
        s = c.add_stream("pcm_s16le", rate=16000, layout="mono")
        f = av.AudioFrame.from_ndarray(np.zeros((1, 1600), np.int16), format="s16", layout="mono")
        f.sample_rate = 16000
        f.pts = 0
        for p in [*s.encode(f), *s.encode(None)]:
            c.mux(p)
    with pytest.raises(SessionReadError, match=r"song.mkv is not a Duet session file"):
        read_session(path)


def _small_session(path: Path, ticks: int = 50) -> None:
    with SessionWriter(path, avatar_size=32) as w:
        for t in range(ticks):
            w.add_user_audio(t, np.full(640, 0.1, np.float32))
            w.add_avatar_audio(t, np.full(960, 0.1, np.float32))
            w.add_avatar_frame(t, np.full((32, 32, 3), 50, np.uint8))


def test_cut_file_reads_what_is_there(tmp_path: Path) -> None:
    path = tmp_path / "cut.mkv"
    _small_session(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    d = read_session(path)
    assert 10 < d.n_ticks < 50
    assert d.truncated and describe(path)["truncated"]  # it says it is shorter than it was written
    _small_session(path)
    assert not read_session(path).truncated and not describe(path)["truncated"]  # whole


def test_bad_event_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "ev.mkv"
    _small_session(path, ticks=5)
    ev = events_path_for(path)
    good = '{"tick": 1, "src": "engine", "msg": {"v": 1, "type": "state", "tick": 1, "state": "idle"}}\n'
    ev.write_text(good + good + '{"tick": 2, "src": "eng')  # cut mid-line by a crash
    d = read_session(path)
    assert len(d.events) == 2 and d.truncated and d.bad_event_lines == 0
    info = describe(path)
    assert info["truncated"] and info["bad_event_lines"] == 0

    said = '{"tick": 3, "src": "engine", "msg": {"v": 1, "type": "transcript", "tick": 3, "side": "user", '
    said += '"text": "still here", "final": true}}\n'
    bad = [
        '{"tick": 2, "src": "engine", "msg": {"v": 1, "type": "nonsense"}}\n',  # an unknown type
        "#!@ garbage {{\n",  # not JSON
        '["tick", 2]\n',  # JSON, not an event
        '{"src": "engine", "msg": {}}\n',  # no tick
    ]
    not_utf8 = b'{"tick": 4, "src": "\xff\xfe"}\n'
    ev.write_bytes((good + "".join(bad) + said).encode() + not_utf8 + good.encode())
    with caplog.at_level("WARNING", logger="engine.session"):
        d = read_session(path)
    assert [type(m).__name__ for _, _, m in d.events] == ["StateChanged", "Transcript", "StateChanged"]
    assert d.bad_event_lines == 5 and not d.truncated
    assert d.n_ticks == 5 and d.avatar_frames is not None  # the media are all there
    assert "ev.events.jsonl: skipped 5 unreadable event line(s) (line 2: unknown message type" in caplog.text
    info = describe(path)
    assert info["bad_event_lines"] == 5 and not info["truncated"]
    assert info["events"] == {"StateChanged": 2, "Transcript": 1}
    assert info["conversation"] == [{"tick": 3, "side": "user", "text": "still here"}]
    log = read_events(path)
    assert len(log) == 3 and log.bad_event_lines == 5 and not log.truncated and not log.missing
    assert info["event_types"] == {"state": 2, "transcript": 1}  # as NAME.events.jsonl names them

    ev.write_bytes(good.encode() + bad[0].encode() + b'{"tick": 2, "src": "\xe6\x97')  # both
    d = read_session(path)
    assert len(d.events) == 1 and d.bad_event_lines == 1 and d.truncated
    log = read_events(path)
    assert list(log) == d.events and log.truncated and log.bad_event_lines == 1


def test_wrong_paths_say_what_they_are(tmp_path: Path) -> None:
    path = tmp_path / "s.mkv"
    _small_session(path, ticks=5)
    folder = tmp_path / "sessions"
    folder.mkdir()
    empty = tmp_path / "empty.mkv"
    empty.touch()
    cases = [
        (folder, f"{folder} is a folder, not a session file"),
        (
            events_path_for(path),
            f"{events_path_for(path)} is the events log of a session, not the session "
            "file: pass s.mkv beside it",
        ),
        (tmp_path / "gone.events.jsonl", "session file not found"),
        (empty, f"{empty} is empty (0 bytes)"),
        (tmp_path / "nope.mkv", f"session file not found: {tmp_path / 'nope.mkv'}"),
    ]
    for p, message in cases:
        for read in (read_session, describe):
            with pytest.raises(SessionReadError) as e:
                read(p)
            assert message in str(e.value), (read, p)
    path.unlink()
    with pytest.raises(SessionReadError, match=r"pass s\.mkv beside it, which is not there"):
        read_session(events_path_for(path))


def test_a_file_cut_in_half_says_what_is_past_its_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The media stop half way, the events log goes on: describe() and `show` count the events
    past the end, leave out what was said after it and cut the answer being said there."""
    path = tmp_path / "half.mkv"
    said: dict[int, list[object]] = {
        5: [Transcript(5, "user", "hi", True)],
        10: [Transcript(10, "avatar", "Hello,", True), DecisionChanged(10, Decision.SPEAK)],
        70: [Transcript(70, "avatar", "nice to meet you.", True)],
        80: [DecisionChanged(80, Decision.LISTEN)],
        90: [Transcript(90, "user", "bye", True)],
    }
    with SessionWriter(path, avatar_size=32) as w:
        for t in range(100):
            w.add_user_audio(t, np.full(640, 0.1, np.float32))
            w.add_avatar_audio(t, np.full(960, 0.1, np.float32))
            w.add_avatar_frame(t, np.full((32, 32, 3), 50, np.uint8))
            for m in said.get(t, []):
                w.add_event(t, "engine", m)
        w.add_event(100, "engine", Closed("session"))
    info = describe(path)
    assert info["events_after_end"] == 0 and info["conversation_after_end"] == 0  # whole: Closed at its end
    assert [c["text"] for c in info["conversation"]] == ["hi", "Hello, nice to meet you.", "bye"]

    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    info = describe(path)
    end = info["ticks"]
    assert info["truncated"] and 15 < end < 70
    assert info["events_after_end"] == 4  # at 70, 80, 90 and the Closed at 100
    assert info["events"]["Transcript"] == 4  # counted all the same
    assert info["conversation_after_end"] == 1  # "bye"
    hi, hello = info["conversation"]
    assert hi == {"tick": 5, "side": "user", "text": "hi"}
    assert (
        hello["text"] == "Hello," and hello["unheard"] == "nice to meet you." and hello["cut"] == "file_end"
    )
    assert end - 2 <= hello["cut_tick"] <= end  # where the avatar's track ends

    assert show([str(path)]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert (
        f"  after the file's end ({end * 0.04:.2f} s): 4 event(s); 1 line(s) said then are left out below"
        in shown
    )
    assert shown[-1].startswith("  [  0.40 s] avatar: Hello, … [cut off at ")
    assert shown[-1].endswith(" s: the file ends; not heard: nice to meet you.]")
    assert not any("bye" in line for line in shown)


def test_a_missing_events_file_is_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "alone.mkv"
    _small_session(path, ticks=5)
    assert not read_session(path).events_missing and not describe(path)["events_missing"]
    events_path_for(path).unlink()
    with caplog.at_level("WARNING", logger="engine.session"):
        d = read_session(path)
    assert d.events == [] and d.events_missing and d.n_ticks == 5
    assert "alone.events.jsonl is missing: the session reads without events" in caplog.text
    info = describe(path)
    assert info["events_missing"] and info["events"] == {} and info["event_types"] == {}
    with pytest.raises(SessionReadError, match="events file not found"):
        read_events(path)


def test_a_line_said_on_the_tick_after_the_last_is_counted_as_after_the_end(tmp_path: Path) -> None:
    """The file holds ticks 0..N-1: a caption stamped N is left out of the conversation, and the
    count of events after the end says so (the Closed that ends a whole file there is not one)."""
    path = tmp_path / "edge.mkv"
    with SessionWriter(path, model="testecho", persona="guide", avatar="ada") as w:
        for t in range(50):
            w.add_user_audio(t, np.zeros(640, np.float32))
        w.add_event(50, "engine", Transcript(tick=50, side="avatar", text="Too late.", final=True))
        w.add_event(50, "engine", Closed("session"))
    info = describe(path)
    assert info["ticks"] == 50 and info["conversation"] == []
    assert info["conversation_after_end"] == 1 and info["events_after_end"] == 1
