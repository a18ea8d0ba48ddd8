"""Input files on the tick clock: per tick 640 mic samples (16 kHz mono float32) + one camera frame.

Audio is converted with PyAV's AudioResampler (any rate/format -> float 16 kHz), channels averaged. Video is
scaled down to fit 640x480 (aspect kept, even sides) and resampled to 25 fps by tick: the frame for
tick k is the newest frame whose time is <= k * 40 ms (frames dropped or repeated as needed).
A "lavfi:GRAPH" source (e.g. "lavfi:testsrc2=size=640x480:rate=25") is a fake camera/mic.

A Duet session file (docs/CONTRACTS.md: container metadata duet_session_version) holds both sides of a
conversation; replaying it feeds the USER side: the audio and video streams titled "user" (the mic and
the camera), never the avatar's. A session without a camera track gives audio only. Any other file
gives its first audio and first video stream.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from engine.protocol import MIC_RATE, MIC_SAMPLES_PER_TICK, TICK_S

MAX_W, MAX_H = 640, 480  # camera frames pushed to the engine fit in this box
LAVFI_PREFIX = "lavfi:"
FAKE_CAMERA = "lavfi:testsrc2=size=640x480:rate=25"


class MediaError(ValueError):
    """An input that cannot be opened or decoded. The message names the file."""


def reason(e: BaseException) -> str:
    """FFmpeg's / the OS's words for an error, without "[Errno 1094995529]" and the repeated path."""
    words = getattr(e, "strerror", None)
    return str(words) if words else str(e)


@dataclass(frozen=True)
class TickInput:
    tick: int
    mic: np.ndarray  # float32 (640,) at 16 kHz; silence where the input has no audio
    frame: np.ndarray | None  # uint8 (H<=480, W<=640, 3) RGB, or None (no video / before the first frame)


def fit_size(width: int, height: int, max_w: int = MAX_W, max_h: int = MAX_H) -> tuple[int, int]:
    """(w, h) scaled down (never up) to fit max_w x max_h, aspect kept, both even."""
    scale = min(1.0, max_w / width, max_h / height)
    w = max(2, int(width * scale) // 2 * 2)
    h = max(2, int(height * scale) // 2 * 2)
    return w, h


class MediaInput:
    """An opened input: `ticks()` yields TickInput for tick 0, 1, ... until the input ends.

    spec: a file path (wav/flac/mp3/ogg/mp4/mkv/...) or "lavfi:GRAPH". camera=False ignores video.
    max_ticks: stop after this many ticks (needed for endless lavfi sources).
    is_session: the input is a Duet session file; its "user" mic and camera tracks are replayed.
    """

    def __init__(self, spec: str | Path, *, camera: bool = True, max_ticks: int | None = None) -> None:
        self.spec = str(spec)
        self.max_ticks = max_ticks
        self._container = _open(self.spec)
        try:
            self.is_session: bool = _is_session(self._container)
            video: Any | None
            if self.is_session:  # the user's side only: the avatar's tracks come first in the file
                self._audio = _titled(self._container.streams.audio, "user")
                video = _titled(self._container.streams.video, "user")
                if self._audio is None:
                    raise MediaError(f"{self.spec}: Duet session file has no 'user' audio track")
            else:
                audio, videos = self._container.streams.audio, self._container.streams.video
                self._audio = audio[0] if audio else None
                video = videos[0] if videos else None
            self._video = video if camera else None
            if self._audio is None and self._video is None:
                if video is not None:  # video only, and the camera is turned off
                    raise MediaError(f"{self.spec}: no audio stream, and its video is not used (no camera)")
                raise MediaError(f"{self.spec}: no audio or video stream")
            self.frame_size: tuple[int, int] | None = None  # (w, h) of the frames yielded
            if self._video is not None:
                cc = self._video.codec_context
                if not cc.width or not cc.height:
                    raise MediaError(f"{self.spec}: video stream has no size")
                self.frame_size = fit_size(cc.width, cc.height)
        except BaseException:
            self._container.close()
            raise

    @property
    def has_audio(self) -> bool:
        return self._audio is not None

    @property
    def has_video(self) -> bool:
        return self._video is not None

    def duration_ticks(self) -> int | None:
        """The length in ticks if the container knows it (estimate), else None."""
        d = self._container.duration  # microseconds
        if d is None or d <= 0:
            return None
        n = int(np.ceil(d / 1e6 / TICK_S))
        return min(n, self.max_ticks) if self.max_ticks is not None else n

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> MediaInput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ticks(self) -> Iterator[TickInput]:
        streams = [s for s in (self._audio, self._video) if s is not None]
        start = _start_seconds(streams)
        resampler = av.AudioResampler(format="fltp", rate=MIC_RATE) if self._audio else None
        audio = _AudioQueue(start)
        frames: list[tuple[float, np.ndarray]] = []  # (seconds from start, rgb), oldest first
        held: np.ndarray | None = None
        tick = 0
        packets = self._container.demux(streams)
        ended = False
        while self.max_ticks is None or tick < self.max_ticks:
            # decode until both sides cover this tick (or the input has ended)
            while not ended and not self._covered(tick, audio, frames):
                try:
                    packet = next(packets)
                except StopIteration:
                    ended = True
                    if resampler is not None:
                        for f in resampler.resample(None):
                            audio.push(f)
                    break
                except (av.FFmpegError, OSError) as e:
                    raise MediaError(f"{self.spec}: cannot decode: {reason(e)}") from None
                try:
                    decoded = packet.decode()
                except av.FFmpegError as e:
                    raise MediaError(f"{self.spec}: cannot decode: {reason(e)}") from None
                for f in decoded:
                    if packet.stream is self._audio and resampler is not None:
                        for r in resampler.resample(f):
                            audio.push(r)
                    elif f.pts is not None:
                        assert self.frame_size is not None
                        w, h = self.frame_size
                        t = float(f.pts * f.time_base) - start
                        frames.append((t, f.reformat(width=w, height=h, format="rgb24").to_ndarray()))
            if ended and audio.available_until() <= tick * MIC_SAMPLES_PER_TICK and not frames:
                return
            now = tick * TICK_S + 1e-6
            while frames and frames[0][0] <= now:
                held = frames.pop(0)[1]
            yield TickInput(tick=tick, mic=audio.take(tick), frame=held if self._video is not None else None)
            tick += 1

    def _covered(self, tick: int, audio: _AudioQueue, frames: list[tuple[float, np.ndarray]]) -> bool:
        if self._audio is not None and audio.available_until() < (tick + 1) * MIC_SAMPLES_PER_TICK:
            return False
        return self._video is None or _later(frames, tick)


def _later(frames: list[tuple[float, np.ndarray]], tick: int) -> bool:
    """A frame newer than tick's time is queued, so the frame for `tick` is known."""
    return bool(frames) and frames[-1][0] > tick * TICK_S + 1e-6


class _AudioQueue:
    """16 kHz mono float32 samples on the input clock (sample 0 = input start)."""

    def __init__(self, start_s: float) -> None:
        self.start_s = start_s
        self.buf = np.zeros(0, np.float32)  # samples [base, end)
        self.base = 0
        self.first = True

    @property
    def end(self) -> int:
        return self.base + self.buf.shape[0]

    def push(self, frame: Any) -> None:
        pcm = frame.to_ndarray().astype(np.float32, copy=False)  # (channels, n) planar
        pcm = pcm.mean(axis=0) if pcm.shape[0] > 1 else pcm.reshape(-1)  # a mic: average, never louder
        if self.first:
            self.first = False
            if frame.pts is not None and frame.time_base is not None:
                lead = round((float(frame.pts * frame.time_base) - self.start_s) * MIC_RATE)
                if lead > 0:  # audio starts after the video: silence before it
                    pcm = np.concatenate([np.zeros(lead, np.float32), pcm])
        self.buf = np.concatenate([self.buf, pcm])

    def available_until(self) -> int:
        return self.end

    def take(self, tick: int) -> np.ndarray:
        """The (640,) block of `tick` (zero-padded past the end); samples before it are released."""
        lo = tick * MIC_SAMPLES_PER_TICK
        hi = lo + MIC_SAMPLES_PER_TICK
        out = np.zeros(MIC_SAMPLES_PER_TICK, np.float32)
        a, b = max(lo, self.base), min(hi, self.end)
        if b > a:
            out[a - lo : b - lo] = self.buf[a - self.base : b - self.base]
        if hi >= self.end:
            self.buf, self.base = np.zeros(0, np.float32), hi
        elif hi > self.base:
            self.buf, self.base = self.buf[hi - self.base :], hi
        return out


def _is_session(container: Any) -> bool:
    """A Duet session file (engine/session/writer.py): it carries duet_session_version metadata."""
    return any(str(k).lower() == "duet_session_version" for k in container.metadata)


def _titled(streams: Any, title: str) -> Any | None:
    """The first stream whose metadata title is `title` (case-insensitive), else None."""
    for s in streams:
        meta = {str(k).lower(): str(v) for k, v in s.metadata.items()}
        if meta.get("title", "").lower() == title:
            return s
    return None


def _start_seconds(streams: list[Any]) -> float:
    starts = [float(s.start_time * s.time_base) for s in streams if s.start_time is not None]
    return min(starts) if starts else 0.0


def not_a_file(spec: str) -> str:
    """Why the input `spec`, not a regular file, cannot be read: missing, or what it is instead
    (/dev/null, a pipe: not an audio or video file)."""
    try:
        mode = Path(spec).stat().st_mode
    except OSError:
        return f"input file not found: {spec}"
    kinds = [
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    ]
    what = next((name for test, name in kinds if test(mode)), "not a regular file")
    return f"the input {spec} is {what}, not a regular, readable audio or video file"


def _open(spec: str) -> Any:
    try:
        if spec.startswith(LAVFI_PREFIX):
            return av.open(spec[len(LAVFI_PREFIX) :], format="lavfi")
        path = Path(spec)
        if not path.is_file():
            raise MediaError(not_a_file(spec))
        return av.open(str(path))
    except (av.FFmpegError, OSError) as e:
        raise MediaError(f"cannot open input {spec}: {reason(e)}") from None
