"""Recorder: one session file (NAME.mkv + NAME.events.jsonl) written by its own worker thread.

Producers never block, never touch the file and never encode:
- the audio thread (PortAudio callback) calls `add_user_audio` -> a bounded deque of mic ticks;
- the GUI thread calls the other `add_*`, `flush`, `played` and `stop` -> one ordered deque of ops
  (media bounded by bytes; events, flushes and the stop are small and always kept).
A full queue drops the newest item and counts it (`dropped`). The worker ("duet-recorder") drains
both every 20 ms into engine.session.SessionWriter (which encodes the video).

Ticks: callers give session ticks (the tick clock of the engine session, mic tick 0 = session
start); the file starts at `start_tick`, so file tick = session tick - start_tick (tick 0 of the
file = the moment recording started; container metadata `start_tick` keeps the offset). Events
are re-based the same way (the line's tick and every `tick`/`*_tick` field of the message).

Only what was heard goes into the file: user audio is held back in the worker until the avatar
tick at the speaker (`played`) has reached it (at most `hold_ticks`), so avatar media that a flush
(barge-in) cancels before it was played is still unwritten and `drop_avatar_from` removes it.

Errors: any OSError (SessionWriteError: unwritable folder, disk full) ends this file; what was
written stays readable, `error` holds the reason (names the path) and `done` is set. Producers
keep returning at once (their data is discarded) until the owner drops the recorder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engine import paths
from engine.protocol import AVATAR_SAMPLES_PER_TICK, TICK_S
from engine.session import SessionWriteError, SessionWriter, events_path_for

log = logging.getLogger(__name__)

MAX_MIC_TICKS = 750  # mic ticks queued at most (30 s, 1.9 MB)
MAX_MEDIA_BYTES = 64 << 20  # avatar audio/frames + camera frames queued at most (~80 frames of 512x512)
HOLD_TICKS = 38  # user audio waits at most this long (1.5 s; the speaker lags ~0.4 s) for the avatar to play
MAX_LAG_TICKS = 75  # SessionWriter: a side this far ahead makes the other silent (> HOLD_TICKS + lag)
POLL_S = 0.02  # worker period

WriterFactory = Callable[..., Any]  # SessionWriter(path, **kwargs) or a test double


def rebase(msg: object, offset: int) -> object:
    """The protocol message with every non-negative `tick` / `*_tick` int field minus `offset`
    (clamped at 0); other messages unchanged."""
    if not dataclasses.is_dataclass(msg) or isinstance(msg, type):
        return msg
    changes: dict[str, int] = {}
    for f in dataclasses.fields(msg):
        value = getattr(msg, f.name)
        if (f.name == "tick" or f.name.endswith("_tick")) and type(value) is int and value >= 0:
            changes[f.name] = max(0, value - offset)
    return dataclasses.replace(msg, **changes) if changes else msg


def unique_path(folder: Path, stem: str) -> Path:
    """folder/stem.mkv, or folder/stem-2.mkv, ... when taken (by either file: the .mkv is made at its
    first packet, its .events.jsonl at once)."""
    path = folder / f"{stem}.mkv"
    k = 2
    while path.exists() or events_path_for(path).exists():
        path = folder / f"{stem}-{k}.mkv"
        k += 1
    return path


def folder_error(e: OSError, stem: str) -> SessionWriteError:
    """A sessions folder that cannot be created, said like SessionWriter says it (path + reason);
    a FolderError already names the folder and the setting that chose it."""
    if isinstance(e, paths.FolderError):
        return SessionWriteError(e.errno or errno.EIO, f"cannot write session files: {e}", e.filename)
    folder = Path(e.filename) if e.filename else Path("(the sessions folder)")
    reason = paths.folder_reason(e)
    path = folder / f"{stem}.mkv"
    return SessionWriteError(e.errno or errno.EIO, f"cannot write session file {path}: {reason}", str(path))


class Recorder:
    """One recording. Construct it (the worker starts at once), feed it, `stop(end_tick)`, then
    poll `done` (or `wait()`): `path` is the file, `error` why it ended early (None: saved).

    folder: returns the sessions folder (called on the worker: may create it, may raise OSError).
    stem: file name without .mkv, e.g. "duet-2026-12-01-160512". epoch: the mic stream generation
    (TickAssembler.epoch) whose ticks belong to this file; start_tick: its first session tick.
    user_video_size: camera (width, height), None = no camera track. writer_kwargs: for the writer
    (model, persona, avatar, avatar_size, meta).
    """

    def __init__(
        self,
        folder: Callable[[], Path],
        stem: str,
        *,
        start_tick: int,
        epoch: int = 0,
        user_video_size: tuple[int, int] | None = None,
        writer_factory: WriterFactory = SessionWriter,
        max_mic_ticks: int = MAX_MIC_TICKS,
        max_media_bytes: int = MAX_MEDIA_BYTES,
        hold_ticks: int = HOLD_TICKS,
        **writer_kwargs: Any,
    ) -> None:
        self.stem = stem
        self.start_tick = start_tick
        self.epoch = epoch
        self.user_video_size = user_video_size
        self.path: Path | None = None  # set by the worker once the file is open
        self.error: OSError | None = None
        self.ticks_written = 0  # file ticks in the file (after done)
        self.stats: dict[str, int] = {}  # writer's late-data counts (after done)
        self.started_at = time.monotonic()
        self._folder = folder
        self._writer_factory = writer_factory
        self._writer_kwargs = writer_kwargs
        self._max_mic = max_mic_ticks
        self._max_bytes = max_media_bytes
        self._hold = hold_ticks
        # audio thread -> worker: (session tick, float32 (640,)); written only by the audio thread
        self._mic: deque[tuple[int, np.ndarray]] = deque()
        self.mic_dropped = 0  # mic ticks dropped: queue full (audio thread)
        # GUI thread -> worker: ops in order (kind, ...); bytes counted by each side separately
        self._ops: deque[tuple[Any, ...]] = deque()
        self._bytes_in = 0  # GUI thread only
        self._bytes_out = 0  # worker only
        self.media_dropped = 0  # avatar/camera items dropped: queue full (GUI thread)
        self.skipped = 0  # items the writer refused (bad shape, ...) (worker)
        self.horizon = -1  # session tick at the speaker now (GUI thread writes, worker reads)
        self._stopping = False
        self._done = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="duet-recorder", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ producers (never block)
    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def has_user_video(self) -> bool:
        return self.user_video_size is not None

    def add_user_audio(self, epoch: int, tick: int, pcm: np.ndarray) -> None:
        """Audio thread: one mic tick, float32 (640,) at 16 kHz, as sent to the engine."""
        if epoch != self.epoch or tick < self.start_tick or self._stopping or self._done.is_set():
            return
        if len(self._mic) >= self._max_mic:
            self.mic_dropped += 1
            return
        self._mic.append((tick, pcm))

    def add_avatar_audio(self, tick: int, pcm: np.ndarray) -> None:
        """Avatar voice as received: float32 (960 * n,) at 24 kHz from the first sample of `tick`."""
        if tick < self.start_tick:  # a block that began before the file: keep the part inside it
            pcm = pcm[(self.start_tick - tick) * AVATAR_SAMPLES_PER_TICK :]
            tick = self.start_tick
            if pcm.shape[0] == 0:
                return
        self._media("avatar_audio", tick, pcm)

    def add_avatar_frame(self, tick: int, rgb: np.ndarray) -> None:
        """Avatar frame as received: uint8 (S, S, 3)."""
        self._media("avatar_frame", tick, rgb)

    def add_user_frame(self, tick: int, rgb: np.ndarray) -> None:
        """Camera frame: uint8 (H, W, 3); ignored without a camera track."""
        if self.user_video_size is not None:
            self._media("user_frame", tick, rgb)

    def add_event(self, tick: int, src: str, msg: object) -> None:
        """A protocol message at session `tick`; src "engine" | "client"."""
        if not (self._stopping or self._done.is_set()):
            self._ops.append(("event", tick, src, msg))

    def flush(self, from_tick: int, audio: bool = True, frames: bool = True) -> None:
        """Barge-in: avatar media (audio and/or frames) from session tick `from_tick` on was not (and
        will not be) heard or seen."""
        if not (self._stopping or self._done.is_set()):
            self._ops.append(("flush", from_tick, audio, frames))

    def played(self, tick: int) -> None:
        """The avatar's session tick at the speaker now (user audio up to it may be written)."""
        self.horizon = tick

    def stop(self, end_tick: int | None = None) -> None:
        """Finish the file at session tick `end_tick` (exclusive; None: after the last mic tick).
        Returns at once; the worker closes the file (see `done`, `wait`)."""
        if self._stopping:
            return
        self._ops.append(("stop", end_tick))
        self._stopping = True
        self._wake.set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the file is closed (after stop() or an error); True if it is."""
        ok = self._done.wait(timeout_s)
        if ok:
            self._thread.join(timeout=1.0)
        return ok

    def _media(self, kind: str, tick: int, data: np.ndarray) -> None:
        if tick < self.start_tick or self._stopping or self._done.is_set():
            return
        if self._bytes_in - self._bytes_out + data.nbytes > self._max_bytes:
            self.media_dropped += 1
            return
        self._bytes_in += data.nbytes
        self._ops.append((kind, tick, data))

    # ------------------------------------------------------------------ worker
    def _run(self) -> None:
        writer: Any = None
        try:
            try:
                folder = self._folder()
            except OSError as e:
                raise folder_error(e, self.stem) from None
            path = unique_path(folder, self.stem)
            writer = self._writer_factory(
                path, user_video_size=self.user_video_size, max_lag_ticks=MAX_LAG_TICKS, **self._writer_kwargs
            )
            self.path = path
            log.info("recording to %s", path)
            held: deque[tuple[int, np.ndarray]] = deque()  # user audio (file tick, pcm) not yet written
            newest = -1  # newest file tick of user audio received
            while True:
                # read BEFORE draining: avatar media up to the horizon was queued before it was set
                horizon = self.horizon - self.start_tick
                end = self._drain_ops(writer)
                while self._mic:
                    tick, pcm = self._mic.popleft()
                    held.append((tick - self.start_tick, pcm))
                    newest = max(newest, tick - self.start_tick)
                if end is not None:
                    self._finish(writer, held, end if end >= 0 else newest + 1)
                    return
                while held and (held[0][0] <= horizon or held[0][0] <= newest - self._hold):
                    self._write(writer.add_user_audio, *held.popleft())
                self._wake.wait(POLL_S)
                self._wake.clear()
        except OSError as e:
            self.error = e
            log.warning("recording stopped: %s", e)
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.close()
        except Exception as e:  # a bug must not take the app down: end the file, say why
            log.exception("recording failed")
            self.error = SessionWriteError(errno.EIO, f"recording failed ({self.path}): {e}", str(self.path))
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.close()
        finally:
            if writer is not None:
                self.ticks_written = int(getattr(writer, "n_ticks", 0))
                with contextlib.suppress(Exception):
                    self.stats = dict(writer.stats())
            self._mic.clear()
            self._ops.clear()
            self._done.set()

    def _drain_ops(self, writer: Any) -> int | None:
        """Apply every queued GUI op; the stop's end tick (file ticks, -1 = after the mic) if seen."""
        while self._ops:
            op = self._ops.popleft()
            kind = op[0]
            if kind == "stop":
                return -1 if op[1] is None else op[1] - self.start_tick
            if kind == "event":
                _, tick, src, msg = op
                tick, msg = max(0, tick - self.start_tick), rebase(msg, self.start_tick)
                self._write(writer.add_event, tick, src, msg)
            elif kind == "flush":
                _, tick, audio, frames = op
                tick = max(0, tick - self.start_tick)
                if audio and frames:
                    writer.drop_avatar_from(tick)
                else:
                    writer.drop_avatar_from(tick, audio=audio, frames=frames)
            else:
                _, tick, data = op
                self._bytes_out += data.nbytes
                add = getattr(writer, f"add_{kind}")  # add_avatar_audio / add_avatar_frame / add_user_frame
                self._write(add, tick - self.start_tick, data)
        return None

    def _write(self, fn: Callable[..., None], *args: Any) -> None:
        """One writer call: OSError ends the recording (raised on); anything else skips the item."""
        try:
            fn(*args)
        except OSError:
            raise
        except (ValueError, TypeError) as e:
            self.skipped += 1
            if self.skipped <= 3:
                log.warning("recording: skipped an item: %s", e)

    def _finish(self, writer: Any, held: deque[tuple[int, np.ndarray]], end: int) -> None:
        """Everything before file tick `end` into the file; close it."""
        for tick, pcm in held:
            if tick < end:
                self._write(writer.add_user_audio, tick, pcm)
        writer.drop_avatar_from(end)  # avatar media received ahead of the end: not in this file
        writer.close()
        log.info(
            "Saved: %s (%.1f s, %d events; dropped: %d mic ticks, %d media items; late: %s)",
            self.path,
            writer.n_ticks * TICK_S,
            getattr(writer, "n_events", 0),
            self.mic_dropped,
            self.media_dropped,
            writer.stats(),
        )
