"""Session files: what is written reads back on the tick clock (audio exact to 16 bits, video within
codec tolerance, events decoded), whatever order the two sides are appended in."""

from __future__ import annotations

import json
import random
from pathlib import Path

import av
import numpy as np
import pytest

from engine.protocol import (
    AVATAR_RATE,
    AVATAR_SAMPLES_PER_TICK,
    MIC_RATE,
    MIC_SAMPLES_PER_TICK,
    Decision,
    DecisionChanged,
    EngineDown,
    Timings,
    Transcript,
)
from engine.session import SessionWriter, describe, events_path_for, read_session

S = 64  # avatar frame size in these tests
N = 30  # ticks


def user_block(t: int) -> np.ndarray:
    n = np.arange(t * MIC_SAMPLES_PER_TICK, (t + 1) * MIC_SAMPLES_PER_TICK)
    return (0.5 * np.sin(2 * np.pi * 300 * n / MIC_RATE)).astype(np.float32)


def avatar_block(t: int) -> np.ndarray:
    n = np.arange(t * AVATAR_SAMPLES_PER_TICK, (t + 1) * AVATAR_SAMPLES_PER_TICK)
    return (0.25 * np.sin(2 * np.pi * 500 * n / AVATAR_RATE)).astype(np.float32)


def avatar_frame(t: int) -> np.ndarray:
    return np.full((S, S, 3), 8 * t, np.uint8)


def user_frame(t: int) -> np.ndarray:
    f = np.zeros((48, 64, 3), np.uint8)
    f[..., 0] = 200 - 4 * t
    return f


def write_all(path: Path, items: list[tuple[str, int]], user_video: bool = True) -> SessionWriter:
    w = SessionWriter(
        path,
        model="testecho",
        persona="guide",
        avatar="ada",
        avatar_size=S,
        user_video_size=(64, 48) if user_video else None,
        meta={"note": "hello"},
    )
    for kind, t in items:
        match kind:
            case "ua":
                w.add_user_audio(t, user_block(t))
            case "aa":
                w.add_avatar_audio(t, avatar_block(t))
            case "af":
                w.add_avatar_frame(t, avatar_frame(t))
            case "uf":
                w.add_user_frame(t, user_frame(t))
    w.add_event(3, "engine", Transcript(tick=3, side="user", text="hi there", final=True))
    w.add_event(7, "engine", DecisionChanged(tick=7, decision=Decision.SPEAK))
    w.add_event(9, "client", EngineDown(reason="hung", detail="no pong"))
    w.close()
    return w


def in_order() -> list[tuple[str, int]]:
    return [(k, t) for t in range(N) for k in ("ua", "aa", "af", "uf")]


def check(path: Path) -> None:
    d = read_session(path)
    assert d.n_ticks == N
    assert d.user_pcm.shape == (N * MIC_SAMPLES_PER_TICK,)
    assert d.avatar_pcm.shape == (N * AVATAR_SAMPLES_PER_TICK,)
    want_u = np.concatenate([user_block(t) for t in range(N)])
    want_a = np.concatenate([avatar_block(t) for t in range(N)])
    np.testing.assert_allclose(d.user_pcm, want_u, atol=2 / 32768)
    np.testing.assert_allclose(d.avatar_pcm, want_a, atol=2 / 32768)
    assert d.avatar_frames is not None and d.avatar_frames.shape == (N, S, S, 3)
    levels = d.avatar_frames.reshape(N, -1).mean(axis=1)
    np.testing.assert_allclose(levels, [8 * t for t in range(N)], atol=3)
    assert d.user_frames is not None and d.user_frames.shape == (N, 48, 64, 3)
    np.testing.assert_allclose(
        d.user_frames[:, :, :, 0].reshape(N, -1).mean(axis=1), [200 - 4 * t for t in range(N)], atol=4
    )
    assert d.meta["duet_session_version"] == "1"
    assert d.meta["model"] == "testecho" and d.meta["persona"] == "guide" and d.meta["avatar"] == "ada"
    assert d.meta["tick_ms"] == "40" and d.meta["note"] == "hello" and "created" in d.meta
    assert [(t, src) for t, src, _ in d.events] == [(3, "engine"), (7, "engine"), (9, "client")]
    assert d.events[0][2] == Transcript(tick=3, side="user", text="hi there", final=True)
    assert d.events[1][2] == DecisionChanged(tick=7, decision=Decision.SPEAK)
    assert isinstance(d.events[2][2], EngineDown)
    assert not d.truncated


def test_round_trip_in_order(tmp_path: Path) -> None:
    path = tmp_path / "s.mkv"
    w = write_all(path, in_order())
    assert w.n_ticks == N and w.n_events == 3
    assert all(v == 0 for v in w.stats().values())
    check(path)


def test_round_trip_any_interleaving(tmp_path: Path) -> None:
    """Avatar output runs a unit ahead, user input behind, each side shuffled within a window."""
    rng = random.Random(7)
    user = [(k, t) for t in range(N) for k in ("ua", "uf")]
    avatar = [(k, t) for t in range(N) for k in ("aa", "af")]
    for side in (user, avatar):
        for i in range(0, len(side), 6):
            chunk = side[i : i + 6]
            rng.shuffle(chunk)
            side[i : i + 6] = chunk
    items = avatar[:8] + [x for pair in zip(user, avatar[8:] + [("", -1)] * 8) for x in pair if x[1] >= 0]
    assert sorted(items) == sorted(in_order())
    write_all(tmp_path / "s.mkv", items)
    check(tmp_path / "s.mkv")


def test_pyav_sees_the_documented_streams(tmp_path: Path) -> None:
    path = tmp_path / "s.mkv"
    write_all(path, in_order())
    with av.open(str(path)) as c:
        kinds = {(s.type, s.metadata.get("title"), s.codec_context.name) for s in c.streams}
        rates = {s.metadata.get("title"): s.codec_context.sample_rate for s in c.streams.audio}
        names = {(s.type, s.metadata.get("title"), s.metadata.get("DUET_TRACK")) for s in c.streams}
        video = {
            s.metadata.get("title"): (s.codec_context.width, s.codec_context.pix_fmt) for s in c.streams.video
        }
    assert kinds == {
        ("audio", "user", "pcm_s16le"),
        ("audio", "avatar", "pcm_s16le"),
        ("video", "avatar", "h264"),
        ("video", "user", "h264"),
    }
    assert rates == {"user": MIC_RATE, "avatar": AVATAR_RATE}
    assert video == {"avatar": (S, "yuv420p"), "user": (64, "yuv420p")}
    # the titles say the side (what readers choose by); duet_track tells the four tracks apart
    assert names == {
        ("audio", "user", "user mic"),
        ("audio", "avatar", "avatar voice"),
        ("video", "avatar", "avatar face"),
        ("video", "user", "user camera"),
    }
    assert {t["kind"]: t["track"] for t in describe(path)["tracks"]} == {
        "audio:user": "user mic",
        "audio:avatar": "avatar voice",
        "video:avatar": "avatar face",
        "video:user": "user camera",
    }
    lines = events_path_for(path).read_text().splitlines()
    assert json.loads(lines[0])["msg"]["type"] == "transcript"


def test_gaps_become_silence_and_tracks_end_together(tmp_path: Path) -> None:
    path = tmp_path / "g.mkv"
    with SessionWriter(path, avatar_size=S) as w:
        for t in range(20):
            if t not in (5, 6, 7):
                w.add_user_audio(t, user_block(t))
        for t in range(4, 24):  # avatar output lags a unit and ends later
            w.add_avatar_audio(t, avatar_block(t))
            if t != 10:
                w.add_avatar_frame(t, avatar_frame(t))
    d = read_session(path)
    assert d.n_ticks == 24
    assert d.user_pcm.shape == (24 * MIC_SAMPLES_PER_TICK,)
    assert d.avatar_pcm.shape == (24 * AVATAR_SAMPLES_PER_TICK,)
    assert not d.user_pcm[5 * 640 : 8 * 640].any() and not d.user_pcm[20 * 640 :].any()
    assert d.user_pcm[4 * 640 : 5 * 640].any() and d.user_pcm[8 * 640 : 9 * 640].any()
    assert not d.avatar_pcm[: 4 * 960].any()
    assert d.user_frames is None
    assert d.avatar_frames is not None
    assert not d.avatar_frames[:4].any()  # black before the first frame
    np.testing.assert_allclose(d.avatar_frames[10].mean(), 8 * 9, atol=3)  # gap holds the previous frame


def test_blocks_of_any_length_and_none_silence(tmp_path: Path) -> None:
    """Mic blocks need not be tick-sized (a sound card callback); avatar None = a silent tick."""
    path = tmp_path / "b.mkv"
    full = np.concatenate([user_block(t) for t in range(10)])
    with SessionWriter(path, avatar_size=S) as w:
        w.add_user_audio(0, full[:1000])
        w.add_user_audio(1, full[640:3000])  # overlaps the first block with the same samples
        w.add_user_audio(4, full[2560:])
        for t in range(10):
            w.add_avatar_audio(t, None)
    d = read_session(path)
    np.testing.assert_allclose(d.user_pcm, full, atol=2 / 32768)
    assert d.avatar_pcm.shape == (10 * 960,) and not d.avatar_pcm.any()


def test_late_data_is_dropped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "l.mkv"
    w = SessionWriter(path, avatar_size=S, max_lag_ticks=5)
    for t in range(20):  # the avatar side never arrives: the user side forces it along
        w.add_user_audio(t, user_block(t))
    assert w.n_ticks >= 14
    w.add_avatar_audio(0, avatar_block(0))  # far too late
    w.add_avatar_frame(0, avatar_frame(0))
    w.add_avatar_frame(19, avatar_frame(19))
    w.close()
    assert w.stats()["late_avatar_samples"] == AVATAR_SAMPLES_PER_TICK
    d = read_session(path)
    assert d.n_ticks == 20 and not d.avatar_pcm.any()
    assert d.avatar_frames is not None and d.avatar_frames[19].mean() > 100


def test_drop_avatar_from_forgets_unwritten_output(tmp_path: Path) -> None:
    path = tmp_path / "f.mkv"
    with SessionWriter(path, avatar_size=S) as w:
        for t in range(4, 12):
            w.add_avatar_audio(t, avatar_block(t))
            w.add_avatar_frame(t, avatar_frame(t))
        for t in range(6):
            w.add_user_audio(t, user_block(t))
        w.drop_avatar_from(8)  # barge-in: output for ticks >= 8 was never heard
        for t in range(6, 12):
            w.add_user_audio(t, user_block(t))
    d = read_session(path)
    assert d.avatar_pcm[4 * 960 : 8 * 960].any()
    assert not d.avatar_pcm[8 * 960 :].any()
    assert d.avatar_frames is not None
    np.testing.assert_allclose(d.avatar_frames[11].mean(), 8 * 7, atol=3)


def test_frame_size_downscales_both_sides(tmp_path: Path) -> None:
    path = tmp_path / "s.mkv"
    write_all(path, in_order())
    d = read_session(path, frame_size=32)
    assert d.avatar_frames is not None and d.avatar_frames.shape == (N, 32, 32, 3)
    assert d.user_frames is not None and d.user_frames.shape == (N, 24, 32, 3)


@pytest.mark.parametrize(
    ("size", "avatar", "user"),
    [(2, 2, (2, 2)), (3, 3, (2, 2)), (7, 7, (4, 6)), (9, 9, (6, 8)), (33, 33, (24, 32)), (64, 64, (48, 64))],
)
def test_user_frames_fit_in_the_frame_size_square(
    tmp_path: Path, size: int, avatar: int, user: tuple[int, int]
) -> None:
    """Both sides of a camera frame are even and <= frame_size, whether frame_size is odd or even."""
    path = tmp_path / "s.mkv"
    write_all(path, in_order())  # a 64x48 camera
    d = read_session(path, frame_size=size)
    assert d.avatar_frames is not None and d.avatar_frames.shape == (N, avatar, avatar, 3)
    assert d.user_frames is not None and d.user_frames.shape == (N, *user, 3)
    assert d.user_frames[:, :, :, 0].mean() > 100  # scaled, not blank


def audio_cut(src: Path, dst: Path, ticks: int) -> None:
    """Copy a session file with its audio cut after `ticks` (its video runs on: a file whose tracks
    end apart, which SessionWriter itself never writes)."""
    with av.open(str(src)) as i, av.open(str(dst), "w", format="matroska") as o:
        o.metadata.update(i.metadata)
        streams = {}
        for s in i.streams:
            streams[s.index] = o.add_stream_from_template(s)
            streams[s.index].metadata.update(s.metadata)
        for packet in i.demux():
            if packet.dts is None or packet.pts is None:  # (the demuxer's flush packets)
                continue
            if packet.stream.type == "audio" and float(packet.pts * packet.time_base) >= ticks * 0.04:
                continue
            packet.stream = streams[packet.stream.index]
            o.mux(packet)


def test_audio_only_read_skips_the_video_and_keeps_the_clock(tmp_path: Path) -> None:
    write_all(tmp_path / "s.mkv", in_order())
    path = tmp_path / "cut.mkv"
    audio_cut(tmp_path / "s.mkv", path, N - 10)
    full, audio = read_session(path), read_session(path, video=False)
    assert audio.user_pcm.shape[0] <= (N - 10) * MIC_SAMPLES_PER_TICK  # the audio ends 10 ticks early
    assert audio.avatar_frames is None and audio.user_frames is None
    assert audio.n_ticks == full.n_ticks == N  # the video's ticks still count
    np.testing.assert_array_equal(audio.user_pcm, full.user_pcm)
    np.testing.assert_array_equal(audio.avatar_pcm, full.avatar_pcm)
    assert audio.events == full.events and audio.meta == full.meta


def test_bad_arguments(tmp_path: Path) -> None:
    w = SessionWriter(tmp_path / "a.mkv", avatar_size=S)
    with pytest.raises(ValueError, match="without a user video track"):
        w.add_user_frame(0, user_frame(0))
    with pytest.raises(ValueError, match="uint8"):
        w.add_avatar_frame(0, np.zeros((S, S), np.uint8))
    with pytest.raises(ValueError, match="src"):
        w.add_event(0, "someone", Timings(tick=0, stages={}, step_ms=1.0))
    w.close()
    w.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        w.add_user_audio(0, user_block(0))


def test_two_threads_append_both_sides(tmp_path: Path) -> None:
    """The app appends the mic from its audio thread and the avatar from the GUI thread."""
    import threading

    path = tmp_path / "t.mkv"
    w = SessionWriter(path, avatar_size=S)

    def user() -> None:
        for t in range(N):
            w.add_user_audio(t, user_block(t))

    def avatar() -> None:
        for t in range(N):
            w.add_avatar_audio(t, avatar_block(t))
            w.add_avatar_frame(t, avatar_frame(t))

    threads = [threading.Thread(target=user), threading.Thread(target=avatar)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    w.close()
    d = read_session(path)
    assert d.n_ticks == N
    np.testing.assert_allclose(d.user_pcm, np.concatenate([user_block(t) for t in range(N)]), atol=2 / 32768)
    np.testing.assert_allclose(
        d.avatar_pcm, np.concatenate([avatar_block(t) for t in range(N)]), atol=2 / 32768
    )


def test_files_from_before_duet_track_still_read(tmp_path: Path) -> None:
    """A file as Duet wrote it before the duet_track tag (streams named by their title only)."""
    path = tmp_path / "old.mkv"
    with av.open(str(path), "w", format="matroska") as c:
        c.metadata["duet_session_version"] = "1"
        c.metadata["model"] = "lite"
        streams = []
        for title, rate in (("user", MIC_RATE), ("avatar", AVATAR_RATE)):
            s = c.add_stream("pcm_s16le", rate=rate, layout="mono")
            s.metadata["title"] = title
            streams.append((s, rate))
        for s, rate in streams:
            frame = av.AudioFrame.from_ndarray(
                np.full((1, rate // 5), 1000, np.int16), format="s16", layout="mono"
            )
            frame.sample_rate, frame.pts = rate, 0
            for pkt in [*s.encode(frame), *s.encode(None)]:
                c.mux(pkt)
    d = read_session(path)
    assert d.n_ticks == 5 and d.user_pcm.shape == (5 * 640,) and abs(d.avatar_pcm[0] - 1000 / 32768) < 1e-6
    info = describe(path)
    assert [(t["kind"], "track" in t) for t in info["tracks"]] == [
        ("audio:user", False),
        ("audio:avatar", False),
    ]
