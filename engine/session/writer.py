"""SessionWriter: both sides of a conversation + events into one crash-safe Matroska file.

Format (docs/CONTRACTS.md): NAME.mkv with streams titled "user"/"avatar" (audio pcm_s16le 16 kHz /
24 kHz mono, pts = sample index; video h264 yuv420p 25 fps, pts = tick) and container metadata;
NAME.events.jsonl beside it. Matroska stores every timestamp in milliseconds; ticks and sample
indices are exact multiples of 1 ms per tick (40 ms), so nothing is lost.

Crash safety: clusters close every 200 ms and every packet is flushed to the OS, so a SIGKILL keeps
all but the last ~0.2 s. Data may be appended for both sides in any interleaving; it is buffered
per track and muxed in tick order once every audio track has reached a tick (or once one track runs
more than `max_lag_ticks` ahead: the lagging side is then filled with silence and late data for
already-written ticks is dropped and counted). Gaps in audio become silence, so all tracks stay on
the tick clock; gaps in video stay gaps (the reader holds the previous frame).

Usable from the app (no torch). Thread-safe: every public method takes one lock.

    with SessionWriter("s.mkv", model="lite", persona="guide", avatar="ada", avatar_size=512,
                       user_video_size=(640, 480)) as w:    # None: no camera track
        w.add_user_audio(tick, mic)          # float32 16 kHz from the first sample of `tick`
        w.add_user_frame(tick, camera_rgb)   # uint8 (H, W, 3)
        w.add_avatar_audio(tick, pcm)        # float32 24 kHz (what was played), None = silence
        w.add_avatar_frame(tick, frame)      # uint8 (S, S, 3)
        w.add_event(tick, "engine", event)   # any engine.protocol message; src engine|client|runner
        w.drop_avatar_from(tick)             # barge-in: unplayed avatar media is forgotten
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
import importlib.metadata
import json
import threading
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np

from engine.paths import assets_dir, folder_reason
from engine.protocol import (
    AVATAR_RATE,
    AVATAR_SAMPLES_PER_TICK,
    FPS,
    MIC_RATE,
    MIC_SAMPLES_PER_TICK,
    TICK_MS,
    SessionSpec,
    encode,
)

from .naming import local_iso

SESSION_VERSION = 1
EVENT_SOURCES = ("engine", "client", "runner")
CONTAINER_OPTIONS = {
    "cluster_time_limit": "200",  # ms: a crash loses at most the open cluster
    "flush_packets": "1",  # every packet reaches the OS at once
    "max_interleave_delta": "1",  # µs: we interleave ourselves; libav must not hold packets back
}
PERSONA_HASH_CHARS = 16  # persona_sha256: 64 bits tell files apart
X264_OPTIONS = {"preset": "ultrafast", "tune": "zerolatency", "g": "50"}  # no encoder delay, 2 s GOP


class SessionWriteError(OSError):
    """The session file cannot be written (unwritable path, disk full, ...). Names the file."""

    def __str__(self) -> str:
        return str(self.strerror) if self.strerror else super().__str__()


def session_meta(
    spec: SessionSpec,
    device: str,
    unit_ticks: int,
    output_lag_units: int | None = None,
    model_options: dict[str, str] | None = None,
) -> dict[str, str]:
    """Container metadata that says how a session was run, beside model/persona/avatar: where
    answers came from (brain; the chat server and model for "llm"), the device, the model's unit
    and output lag (Ready.output_lag_units; left out when None), the session's options
    (SessionSpec.options, JSON, when there are any), the model's build options (ModelOptions.extra,
    JSON, when given) and which persona file it was (persona_sha256: the first 16 hex digits of the
    sha256 of the YAML file's bytes; left out when the file cannot be read)."""
    meta = {"brain": spec.brain, "device": device, "unit_ticks": str(unit_ticks)}
    if output_lag_units is not None:
        meta["output_lag_units"] = str(output_lag_units)
    if spec.brain == "llm":
        meta.update(llm_url=spec.llm_url, llm_model=spec.llm_model)
    if spec.options:
        meta["session_options"] = _json_dict(spec.options)
    if model_options is not None:
        meta["model_options"] = _json_dict(model_options)
    digest = persona_sha256(spec.persona)
    if digest:
        meta["persona_sha256"] = digest
    return meta


def _json_dict(d: dict[str, str]) -> str:
    """{"k": "v", ...} with sorted keys: one string for container metadata (json.loads reads it back)."""
    return json.dumps({str(k): str(v) for k, v in sorted(d.items())}, ensure_ascii=False)


def persona_file(persona: str) -> Path:
    """The YAML file a persona id or path names: assets/personas/<id>.yaml, or the path itself when
    it ends in .yaml/.yml or has a folder in it (the rule of engine.models.lite.persona's
    resolve_persona_path, kept here so that session files need no model code)."""
    if persona.endswith((".yaml", ".yml")) or "/" in persona or "\\" in persona:
        return Path(persona).expanduser()
    return assets_dir() / "personas" / f"{persona}.yaml"


def persona_sha256(persona: str) -> str:
    """The first PERSONA_HASH_CHARS hex digits of the sha256 of the persona's YAML file (its bytes
    as they are on disk); "" when there is no persona or its file cannot be read. Two files with
    the same persona id but other words have different hashes."""
    if not persona:
        return ""
    try:
        data = persona_file(persona).read_bytes()
    except OSError:
        return ""
    return hashlib.sha256(data).hexdigest()[:PERSONA_HASH_CHARS]


def _duet_version() -> str:
    try:
        return importlib.metadata.version("duet-avatar")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def events_path_for(path: str | Path) -> Path:
    """NAME.mkv -> NAME.events.jsonl (beside it)."""
    p = Path(path)
    return p.with_name(p.stem + ".events.jsonl")


def _even(n: int) -> int:
    return max(2, n - n % 2)


class _AudioTrack:
    """One mono pcm_s16le stream; receives float32 blocks at sample offsets, writes whole ticks."""

    def __init__(self, stream: Any, rate: int, samples_per_tick: int) -> None:
        self.stream = stream
        self.rate = rate
        self.spt = samples_per_tick
        self.segments: list[tuple[int, np.ndarray]] = []  # (start sample, float32 (n,))
        self.written = 0  # samples muxed so far (always a whole number of ticks)
        self.end = 0  # one past the last sample received
        self.late_samples = 0  # samples dropped because their ticks were already written

    def add(self, start: int, pcm: np.ndarray) -> None:
        if start < self.written:
            cut = min(self.written - start, pcm.shape[0])
            self.late_samples += cut
            pcm, start = pcm[cut:], start + cut
        if pcm.shape[0] == 0:
            return
        self.segments.append((start, pcm))
        self.end = max(self.end, start + pcm.shape[0])

    def end_tick(self) -> int:
        """One past the last tick with any data."""
        return -(-self.end // self.spt)

    def covered_tick(self) -> int:
        """Ticks before this one are complete (contiguous data from what was written)."""
        cov = self.written
        for start, pcm in sorted(self.segments, key=lambda sp: sp[0]):
            if start > cov:
                break
            cov = max(cov, start + pcm.shape[0])
        return cov // self.spt

    def take_tick(self, tick: int) -> np.ndarray:
        """The float32 (spt,) block for `tick` (silence where nothing arrived); later data wins."""
        lo, hi = tick * self.spt, (tick + 1) * self.spt
        out = np.zeros(self.spt, np.float32)
        keep = []
        for start, pcm in self.segments:
            stop = start + pcm.shape[0]
            if start < hi and stop > lo:
                a, b = max(start, lo), min(stop, hi)
                out[a - lo : b - lo] = pcm[a - start : b - start]
            if stop > hi:
                keep.append((start, pcm))
        self.segments = keep
        self.written = hi
        return out


class _VideoTrack:
    """One h264 stream; frames keyed by tick, muxed in tick order, pts = tick."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.pending: dict[int, np.ndarray] = {}  # tick -> uint8 (H, W, 3)
        self.last_written = -1
        self.late_frames = 0

    def add(self, tick: int, rgb: np.ndarray) -> None:
        if tick <= self.last_written:
            self.late_frames += 1
            return
        self.pending[tick] = rgb

    def end_tick(self) -> int:
        return max([self.last_written, *self.pending]) + 1


class SessionWriter:
    """Writes NAME.mkv + NAME.events.jsonl; see the module docstring for the format.

    path: the .mkv file (parent folders are created). avatar_size: avatar frames are S x S.
    user_video_size: (width, height) of camera frames, or None for no camera track. Frames of another
    size are scaled. meta: extra container metadata (strings).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        model: str = "",
        persona: str = "",
        avatar: str = "",
        avatar_size: int = 512,
        user_video_size: tuple[int, int] | None = None,
        meta: dict[str, str] | None = None,
        max_lag_ticks: int = 50,
    ) -> None:
        self.path = Path(path)
        self.events_path = events_path_for(self.path)
        self.max_lag_ticks = max_lag_ticks
        self._lock = threading.Lock()
        self._closed = False
        self._error: SessionWriteError | None = None
        self._cursor = 0  # every audio track is written up to (not including) this tick
        self._n_events = 0
        if avatar_size < 2:
            raise ValueError(f"avatar_size must be >= 2, got {avatar_size}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise self._wrap(e, self.path) from None
        try:
            self._events = open(self.events_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        except OSError as e:
            raise self._wrap(e, self.events_path) from None
        try:
            self._container = av.open(
                str(self.path), "w", format="matroska", container_options=CONTAINER_OPTIONS
            )
        except (OSError, av.FFmpegError) as e:
            self._events.close()
            raise self._wrap(e, self.path) from None
        now = _dt.datetime.now(_dt.UTC)  # ~ file tick 0
        created = now.isoformat(timespec="milliseconds")
        md = {
            "duet_session_version": str(SESSION_VERSION),
            "duet_version": _duet_version(),
            "model": model,
            "persona": persona,
            "avatar": avatar,
            "created": created,
            "created_local": local_iso(now),  # the same moment in local time, with its UTC offset
            "tick_ms": str(TICK_MS),
        }
        md.update({str(k): str(v) for k, v in (meta or {}).items()})
        for k, v in md.items():
            self._container.metadata[k] = v
        self.user_audio = _AudioTrack(
            self._audio_stream(MIC_RATE, "user", "user mic"), MIC_RATE, MIC_SAMPLES_PER_TICK
        )
        self.avatar_audio = _AudioTrack(
            self._audio_stream(AVATAR_RATE, "avatar", "avatar voice"), AVATAR_RATE, AVATAR_SAMPLES_PER_TICK
        )
        self.avatar_video = _VideoTrack(self._video_stream(avatar_size, avatar_size, "avatar", "avatar face"))
        self.user_video: _VideoTrack | None = None
        if user_video_size is not None:
            w, h = user_video_size
            self.user_video = _VideoTrack(self._video_stream(w, h, "user", "user camera"))

    # ------------------------------------------------------------------ streams
    def _audio_stream(self, rate: int, title: str, track: str) -> Any:
        # mono, as Matroska stores PCM: a channel count, no layout (ffmpeg says it "guessed" mono)
        s = self._container.add_stream("pcm_s16le", rate=rate, layout="mono")
        self._name(s, title, track)
        return s

    def _video_stream(self, width: int, height: int, title: str, track: str) -> Any:
        s = self._container.add_stream("libx264", rate=FPS, options=dict(X264_OPTIONS))
        s.width, s.height = _even(int(width)), _even(int(height))
        s.pix_fmt = "yuv420p"
        s.time_base = Fraction(1, FPS)
        self._name(s, title, track)
        return s

    @staticmethod
    def _name(stream: Any, title: str, track: str) -> None:
        """title "user"|"avatar" (the side: what readers choose tracks by), duet_track: which of
        the four it is ("user mic", "user camera", "avatar voice", "avatar face"), language "und"
        (undetermined: Duet does not know what language was spoken)."""
        stream.metadata["title"] = title
        stream.metadata["duet_track"] = track
        stream.metadata["language"] = "und"

    # ------------------------------------------------------------------ public API
    def add_user_audio(self, tick: int, pcm: np.ndarray) -> None:
        """Mic audio: float32 (n,) at 16 kHz, starting at the first sample of `tick` (any n)."""
        self._add_audio(self.user_audio, tick, pcm)

    def add_avatar_audio(self, tick: int, pcm: np.ndarray | None) -> None:
        """Avatar voice: float32 (n,) at 24 kHz from the first sample of `tick`; None = a silent tick."""
        if pcm is None:
            pcm = np.zeros(AVATAR_SAMPLES_PER_TICK, np.float32)
        self._add_audio(self.avatar_audio, tick, pcm)

    def add_avatar_frame(self, tick: int, rgb: np.ndarray) -> None:
        """One avatar frame, uint8 (S, S, 3) RGB, shown at `tick`."""
        self._add_frame(self.avatar_video, tick, rgb)

    def add_user_frame(self, tick: int, rgb: np.ndarray) -> None:
        """One camera frame, uint8 (H, W, 3) RGB, at `tick`. Needs user_video_size at construction."""
        if self.user_video is None:
            raise ValueError(f"{self.path}: this session was opened without a user video track")
        self._add_frame(self.user_video, tick, rgb)

    def add_event(self, tick: int, src: str, msg: object) -> None:
        """One protocol message (engine.protocol) as a JSONL line {"tick", "src", "msg"}; flushed at once."""
        if src not in EVENT_SOURCES:
            raise ValueError(f"event src must be one of {EVENT_SOURCES}, got {src!r}")
        line = json.dumps({"tick": int(tick), "src": src, "msg": json.loads(encode(msg))})
        with self._lock:
            self._check_open()
            try:
                self._events.write(line + "\n")
                self._events.flush()
            except OSError as e:
                self._fail(e, self.events_path)
            self._n_events += 1

    def drop_avatar_from(self, tick: int, *, audio: bool = True, frames: bool = True) -> None:
        """Barge-in: forget avatar audio and/or frames from `tick` on that are not written yet."""
        with self._lock:
            a = self.avatar_audio
            if audio:
                lo = max(tick * a.spt, a.written)
                a.segments = [(s, p[: max(0, lo - s)]) for s, p in a.segments if s < lo]
                a.end = max([a.written, *(s + p.shape[0] for s, p in a.segments)])
            v = self.avatar_video
            if frames:
                v.pending = {t: f for t, f in v.pending.items() if t < tick}

    @property
    def n_ticks(self) -> int:
        """Ticks written to the file so far (all of them after close())."""
        return self._cursor

    @property
    def n_events(self) -> int:
        return self._n_events

    def stats(self) -> dict[str, int]:
        """Counts of data dropped because it arrived after its ticks had been written."""
        out = {
            "late_user_samples": self.user_audio.late_samples,
            "late_avatar_samples": self.avatar_audio.late_samples,
            "late_avatar_frames": self.avatar_video.late_frames,
        }
        if self.user_video is not None:
            out["late_user_frames"] = self.user_video.late_frames
        return out

    def close(self) -> None:
        """Pad every track to the same last tick, finish the file. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self._error is None:
                    tracks: list[Any] = [self.user_audio, self.avatar_audio, self.avatar_video]
                    if self.user_video is not None:
                        tracks.append(self.user_video)
                    end = max(t.end_tick() for t in tracks)
                    self._write_until(end)
                    for v in self._videos():
                        self._mux_video(v, end)  # late frames for ticks already written
                        for pkt in v.stream.encode(None):
                            self._container.mux(pkt)
                self._container.close()
            except (OSError, av.FFmpegError) as e:
                self._error = self._wrap(e, self.path)
                with contextlib.suppress(OSError, av.FFmpegError):
                    self._container.close()
            finally:
                self._events.close()
            if self._error is not None:
                raise self._error

    def __enter__(self) -> SessionWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.close()
        except SessionWriteError:
            if exc is None:
                raise

    # ------------------------------------------------------------------ internals
    def _videos(self) -> list[_VideoTrack]:
        return [self.avatar_video] + ([self.user_video] if self.user_video is not None else [])

    def _add_audio(self, track: _AudioTrack, tick: int, pcm: np.ndarray) -> None:
        pcm = np.asarray(pcm, dtype=np.float32).reshape(-1)
        if not np.all(np.isfinite(pcm)):
            pcm = np.nan_to_num(pcm, nan=0.0, posinf=1.0, neginf=-1.0)
        with self._lock:
            self._check_open()
            track.add(int(tick) * track.spt, pcm.copy())
            self._advance()

    def _add_frame(self, track: _VideoTrack, tick: int, rgb: np.ndarray) -> None:
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 (H, W, 3) RGB, got {rgb.dtype} {rgb.shape}")
        with self._lock:
            self._check_open()
            track.add(int(tick), np.ascontiguousarray(rgb))
            self._advance()

    def _advance(self) -> None:
        """Write every tick that all audio tracks have reached (or that one side left behind)."""
        tracks = (self.user_audio, self.avatar_audio)
        target = min(a.covered_tick() for a in tracks)
        target = max(target, max(a.end_tick() for a in tracks) - self.max_lag_ticks)
        for v in self._videos():  # video running far ahead also forces the audio along
            target = max(target, v.end_tick() - self.max_lag_ticks)
        if target > self._cursor:
            self._write_until(target)

    def _write_until(self, target: int) -> None:
        try:
            for tick in range(self._cursor, target):
                for a in (self.user_audio, self.avatar_audio):
                    self._mux_audio(a, tick)
                for v in self._videos():
                    self._mux_video(v, tick)
                self._cursor = tick + 1
        except (OSError, av.FFmpegError) as e:
            self._fail(e, self.path)

    def _mux_audio(self, a: _AudioTrack, tick: int) -> None:
        block = a.take_tick(tick)
        s16 = (np.clip(block, -1.0, 1.0) * 32767.0).round().astype(np.int16)
        frame = av.AudioFrame.from_ndarray(s16.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = a.rate
        frame.pts = tick * a.spt
        frame.time_base = Fraction(1, a.rate)
        for pkt in a.stream.encode(frame):
            self._container.mux(pkt)

    def _mux_video(self, v: _VideoTrack, upto_tick: int) -> None:
        """Encode every pending frame with tick <= upto_tick, in tick order."""
        for t in sorted(t for t in v.pending if t <= upto_tick):
            rgb = v.pending.pop(t)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = t
            frame.time_base = Fraction(1, FPS)
            v.last_written = t
            for pkt in v.stream.encode(frame):
                self._container.mux(pkt)

    def _check_open(self) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise ValueError(f"session writer for {self.path} is closed")

    def _fail(self, e: BaseException, path: Path) -> None:
        self._error = self._wrap(e, path)
        raise self._error

    @staticmethod
    def _wrap(e: BaseException, path: Path) -> SessionWriteError:
        if isinstance(e, SessionWriteError):  # already says which file and why (_fail in close)
            return e
        code = getattr(e, "errno", None) or errno.EIO
        reason = folder_reason(e)
        return SessionWriteError(code, f"cannot write session file {path}: {reason}", str(path))
