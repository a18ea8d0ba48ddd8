"""Input media on the tick clock: audio files resampled to 16 kHz mono, videos scaled to fit 640x480
and resampled to one frame a tick, lavfi fake cameras, Duet session files replaying their user side
(mic + camera, never the avatar's tracks), and clear errors for bad inputs."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from engine.media import FAKE_CAMERA, MediaError, MediaInput, TickInput, fit_size
from tests.support.media import make_mp4


def make_wav(path: Path, seconds: float = 1.0, rate: int = 44100, freq: float = 440.0) -> None:
    n = int(seconds * rate)
    x = (0.5 * np.sin(2 * np.pi * freq * np.arange(n) / rate) * 32767).astype(np.int16)
    with av.open(str(path), "w") as c:
        s = c.add_stream("pcm_s16le", rate=rate, layout="stereo")
        f = av.AudioFrame.from_ndarray(np.stack([x, x], axis=1).reshape(1, -1), format="s16", layout="stereo")
        f.sample_rate = rate
        f.pts = 0
        for p in [*s.encode(f), *s.encode(None)]:
            c.mux(p)


def test_wav_to_ticks(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    make_wav(path, seconds=1.0)
    with MediaInput(path) as m:
        assert m.has_audio and not m.has_video and m.frame_size is None
        assert m.duration_ticks() == 25
        ticks = list(m.ticks())
    assert [t.tick for t in ticks] == list(range(25))
    assert all(t.mic.shape == (640,) and t.mic.dtype == np.float32 and t.frame is None for t in ticks)
    pcm = np.concatenate([t.mic for t in ticks])
    spectrum = np.abs(np.fft.rfft(pcm[1600:14400]))
    peak_hz = np.argmax(spectrum) * 16000 / 12800
    assert abs(peak_hz - 440) < 5
    assert 0.3 < np.abs(pcm[1600:14400]).max() <= 0.55  # stereo averaged to mono, never clipped


def test_odd_length_audio_pads_the_last_tick(tmp_path: Path) -> None:
    path = tmp_path / "short.wav"
    make_wav(path, seconds=0.1, rate=16000)  # 2.5 ticks
    with MediaInput(path) as m:
        ticks = list(m.ticks())
    assert len(ticks) == 3
    assert ticks[2].mic[:320].any() and not ticks[2].mic[330:].any()


def test_mp4_video_and_audio_on_the_tick_clock(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    make_mp4(path, seconds=1.0, fps=30)
    with MediaInput(path) as m:
        assert m.has_audio and m.has_video
        assert m.frame_size == (640, 360)  # 1280x720 scaled to fit 640x480
        ticks = list(m.ticks())
    assert 25 <= len(ticks) <= 27
    frames = [t.frame for t in ticks[:25]]
    assert all(f is not None and f.shape == (360, 640, 3) and f.dtype == np.uint8 for f in frames)
    # 30 fps -> 25 fps by tick: tick k shows source frame floor(k * 30 / 25)
    levels = [float(f.mean()) for f in frames if f is not None]
    expected = [8 * int(k * 30 / 25) for k in range(25)]
    np.testing.assert_allclose(levels, expected, atol=4)
    pcm = np.concatenate([t.mic for t in ticks])
    assert np.abs(pcm[3200:12800]).max() > 0.2


def test_video_ignored_without_camera(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    make_mp4(path, seconds=0.4, fps=25, size=(320, 240))
    with MediaInput(path, camera=False) as m:
        assert not m.has_video
        ticks = list(m.ticks())
    assert all(t.frame is None for t in ticks) and len(ticks) >= 10


def test_lavfi_fake_camera() -> None:
    with MediaInput(FAKE_CAMERA, max_ticks=6) as m:
        assert m.has_video and not m.has_audio and m.duration_ticks() is None
        ticks = list(m.ticks())
    assert len(ticks) == 6
    assert all(t.frame is not None and t.frame.shape == (480, 640, 3) for t in ticks)
    assert not any(t.mic.any() for t in ticks)
    assert ticks[0].frame is not None and ticks[5].frame is not None
    assert not np.array_equal(ticks[0].frame, ticks[5].frame)  # the test pattern moves


def test_fit_size() -> None:
    assert fit_size(640, 480) == (640, 480)
    assert fit_size(1920, 1080) == (640, 360)
    assert fit_size(480, 1000) == (230, 480)
    assert fit_size(321, 241) == (320, 240)


def test_bad_inputs_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"not found: .*missing\.wav"):
        MediaInput(tmp_path / "missing.wav")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(MediaError) as info:
        MediaInput(junk)
    # FFmpeg's words, without its "[Errno 1094995529]" or the path said twice
    assert str(info.value) == f"cannot open input {junk}: Invalid data found when processing input"
    silent = tmp_path / "silent.mp4"  # video only
    with av.open(str(silent), "w") as c:
        v = c.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 64, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            frame.pts = i
            for pkt in v.encode(frame):
                c.mux(pkt)
        for pkt in v.encode(None):
            c.mux(pkt)
    with MediaInput(silent) as media:
        assert media.has_video and not media.has_audio
    with pytest.raises(MediaError, match=r"silent\.mp4: no audio stream, and its video is not used"):
        MediaInput(silent, camera=False)
    with pytest.raises(MediaError, match="lavfi:nosuchfilter"):
        MediaInput("lavfi:nosuchfilter=1")


@pytest.mark.parametrize(
    ("fmt", "codec", "suffix"),
    [("flac", "flac", "flac"), ("mp3", "libmp3lame", "mp3"), ("ogg", "libopus", "ogg")],
)
def test_compressed_audio_formats(tmp_path: Path, fmt: str, codec: str, suffix: str) -> None:
    path = tmp_path / f"tone.{suffix}"
    rate = 48000 if codec == "libopus" else 44100
    x = (0.4 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)).astype(np.float32)
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=rate, layout="mono")
        assert isinstance(s, av.audio.stream.AudioStream)
        for i in range(0, x.shape[0], 1024):  # PyAV converts and re-chunks for the encoder
            f = av.AudioFrame.from_ndarray(x[None, i : i + 1024].copy(), format="flt", layout="mono")
            f.sample_rate, f.pts = rate, i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    with MediaInput(path) as m:
        ticks = list(m.ticks())
    assert 24 <= len(ticks) <= 28
    pcm = np.concatenate([t.mic for t in ticks])
    mid = pcm[3200:12800]
    assert 0.3 < np.abs(mid).max() < 0.5
    assert abs(np.argmax(np.abs(np.fft.rfft(mid))) * 16000 / mid.shape[0] - 440) < 5


Track = tuple[str, float | tuple[int, int, int]]  # (title, tone Hz for audio | (w, h, gray) for video)


def write_tracks(path: Path, tracks: list[Track], meta: dict[str, str]) -> None:
    """A 1 s Matroska file with the given streams in that order: a tone (16 kHz mono s16) for an
    audio track, a constant gray 25 fps h264 video for a video track; each titled as given."""
    with av.open(str(path), "w", format="matroska") as c:
        for k, v in meta.items():
            c.metadata[k] = v
        streams: list[tuple[Any, float | tuple[int, int, int]]] = []
        for title, spec in tracks:
            if isinstance(spec, tuple):
                s: Any = c.add_stream("libx264", rate=25)
                s.width, s.height, s.pix_fmt = spec[0], spec[1], "yuv420p"
            else:
                s = c.add_stream("pcm_s16le", rate=16000, layout="mono")
            s.metadata["title"] = title
            streams.append((s, spec))
        for s, spec in streams:
            packets = []
            if isinstance(spec, tuple):
                w, h, level = spec
                for i in range(25):
                    vf = av.VideoFrame.from_ndarray(np.full((h, w, 3), level, np.uint8), format="rgb24")
                    vf.pts, vf.time_base = i, Fraction(1, 25)
                    packets += s.encode(vf)
            else:
                x = (0.3 * np.sin(2 * np.pi * spec * np.arange(16000) / 16000) * 32767).astype(np.int16)
                f = av.AudioFrame.from_ndarray(x.reshape(1, -1), format="s16", layout="mono")
                f.sample_rate, f.pts = 16000, 0
                packets += s.encode(f)
            for p in [*packets, *s.encode(None)]:
                c.mux(p)


def peak_hz(ticks: list[TickInput]) -> float:
    pcm = np.concatenate([t.mic for t in ticks])[1600:14400]
    return float(np.argmax(np.abs(np.fft.rfft(pcm))) * 16000 / pcm.shape[0])


SESSION_META = {"duet_session_version": "1", "model": "testecho", "tick_ms": "40"}
# avatar tracks first, like engine/session/writer.py writes its video
SESSION_TRACKS: list[Track] = [
    ("avatar", 440.0),  # audio
    ("user", 300.0),  # audio
    ("avatar", (64, 64, 200)),  # video
    ("user", (160, 120, 60)),  # video
]


def test_a_session_file_gives_the_user_mic_and_camera(tmp_path: Path) -> None:
    path = tmp_path / "s.mkv"
    write_tracks(path, SESSION_TRACKS, SESSION_META)
    with MediaInput(path) as m:
        assert m.is_session and m.has_audio and m.has_video and m.frame_size == (160, 120)
        ticks = list(m.ticks())
    assert 25 <= len(ticks) <= 26
    assert abs(peak_hz(ticks) - 300) < 5  # the user's mic, not the avatar's 440 Hz
    frames = [t.frame for t in ticks[:25]]
    assert all(f is not None and f.shape == (120, 160, 3) and abs(float(f.mean()) - 60) < 4 for f in frames)
    with MediaInput(path, camera=False) as m:
        assert m.has_audio and not m.has_video


def test_a_session_without_camera_is_audio_only(tmp_path: Path) -> None:
    path = tmp_path / "s.mkv"
    write_tracks(path, SESSION_TRACKS[:3], SESSION_META)  # avatar video, no user camera
    with MediaInput(path) as m:
        assert m.is_session and m.has_audio and not m.has_video and m.frame_size is None
        ticks = list(m.ticks())
    assert all(t.frame is None for t in ticks) and abs(peak_hz(ticks) - 300) < 5


def test_a_session_without_user_audio_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.mkv"
    write_tracks(path, [SESSION_TRACKS[0], SESSION_TRACKS[3]], SESSION_META)
    with pytest.raises(MediaError, match=r"broken\.mkv.*no 'user' audio track"):
        MediaInput(path)


def test_an_ordinary_mkv_uses_its_first_streams(tmp_path: Path) -> None:
    """The same titled layout without Duet metadata is just a media file: first audio, first video."""
    path = tmp_path / "plain.mkv"
    write_tracks(path, SESSION_TRACKS, {"title": "not a session"})
    with MediaInput(path) as m:
        assert not m.is_session and m.frame_size == (64, 64)
        ticks = list(m.ticks())
    assert abs(peak_hz(ticks) - 440) < 5
    assert ticks[5].frame is not None and abs(float(ticks[5].frame.mean()) - 200) < 4
