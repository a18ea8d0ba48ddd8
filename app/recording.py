"""RecordingController: the app's Record toggle. Decides when files start and end; DuetCore feeds it.

Threads: everything here runs on the GUI thread except `user_audio` (the PortAudio callback), which
only reads `self._file` (one reference) and appends to that Recorder's bounded deque. Files are
written by each Recorder's own worker thread (app/recorder.py).

Files: `<sessions dir>/duet-YYYY-MM-DD-HHMMSS[-LABEL].mkv` (+ .events.jsonl; local time, the label
made safe for a file name: engine.session.file_stem); engine.paths.sessions_dir() (platformdirs,
DUET_SESSIONS_DIR overrides). A file starts when recording is wanted and a session is
open (the Record toggle, `duet --record`, or the session (re)opening while wanted) and ends when the
user stops, the session closes (model/persona/avatar switch, engine crash or restart: recording
then goes on in a new file once the new session opens), the camera comes on in a file without a
camera track (a new file with one), a new conversation starts (`new_conversation`), or the app
quits. A write error ends recording (wanted = off).

Linked files (metadata `continues`: the file before): recording that goes on across a session
switch or restart, and Record pressed again after Stop while the session is the same one. Not after
a new conversation, a session that closed while not recording, or a failed file.

Mic input (`set_input`): a change of Mute / push-to-talk / the talk key is a MicInput event (src
"client"); a file that starts muted or in push-to-talk mode says so at its tick 0.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine import paths
from engine.protocol import AVATAR_SAMPLES_PER_TICK, TICK_S, Closed, MicInput, PlaybackReport
from engine.session import SessionWriter, clean_label, file_stem

from .mic import TickAssembler
from .recorder import Recorder, WriterFactory

log = logging.getLogger(__name__)
RECENT_TICKS = 50  # avatar media kept to seed a file started mid-reply (only ticks not yet played)
CAMERA_FRESH_S = 1.0  # a camera frame this recent means "the camera is on" when a file starts
SHUTDOWN_WAIT_S = 15.0  # closing the app waits this long for files to finish
LAG_STEP_TICKS = 0.25  # a playback lag that moved this much (10 ms) is written into the file again
DISK_CHECK_S = 30.0  # while recording, the free space of the sessions folder is looked at this often
LOW_DISK_BYTES = 2_000_000_000  # under this much free space the window warns (once, until it rises)


@dataclass(frozen=True)
class FileInfo:
    """What a new file is made with: the session as it runs now."""

    model: str
    persona: str
    avatar: str
    avatar_size: int  # avatar frames are S x S (Ready.frame_size)
    meta: dict[str, str] = field(default_factory=dict)  # more container metadata (brain, device, ...)


class RecordingController(QObject):
    changed = Signal()  # recording wanted / file started / file ended: refresh the indicator
    finished = Signal(str, str)  # (path, error): a file was closed; error "" = saved
    disk_low = Signal(str)  # the sessions folder is running out of space: what to tell the user

    def __init__(
        self,
        assembler: TickAssembler,
        info: Callable[[], FileInfo | None],
        parent: QObject | None = None,
        folder: Callable[[], Path] = paths.sessions_dir,
        writer_factory: WriterFactory = SessionWriter,
    ) -> None:
        super().__init__(parent)
        self.assembler = assembler
        self.info = info
        self.folder = folder
        self.writer_factory = writer_factory
        self.wanted = False  # the user wants recording (button / --record)
        self.session_live = False  # a session is open (SessionOpened seen, not closed since)
        self._file: Recorder | None = None  # the file being written (read by the audio thread)
        self._closing: list[Recorder] = []  # stopped files whose worker is still finishing
        self.horizon = -1  # avatar session tick at the speaker (-1: unknown)
        # avatar media received but not yet played, to seed a new file: (first session tick,
        # one past its last tick, float32 (960 * n,) audio | uint8 (S, S, 3) frame)
        self._recent_audio: deque[tuple[int, int, np.ndarray]] = deque(maxlen=RECENT_TICKS)
        self._recent_frames: deque[tuple[int, int, np.ndarray]] = deque(maxlen=RECENT_TICKS)
        self._camera: tuple[tuple[int, int], float] | None = None  # ((w, h), monotonic time)
        # the file before the current one while recording goes on across sessions (meta "continues")
        self._previous: Recorder | None = None
        # the playback lag last written into a file: (file, mic_lag_ticks, lag_from_tick)
        self._lag_mark: tuple[Recorder, float, int] | None = None
        self.last_path = ""  # the last file saved
        self.last_error = ""  # why the last recording stopped early ("" = it did not)
        self._disk_checked = 0.0  # monotonic time of the last free-space look (s)
        self._disk_warned = False  # said once; again only after the space came back
        self.label = ""  # the study's label (participant, condition): in new files' names and metadata
        self.file_label = ""  # the label the current (or last) file was started with
        self._input: MicInput | None = None  # what the avatar hears of the mic (set_input)

    # ------------------------------------------------------------------ user intent
    @property
    def recording(self) -> bool:
        """A file is being written now."""
        return self._file is not None

    @property
    def current(self) -> Recorder | None:
        return self._file

    def set_wanted(self, on: bool) -> None:
        if on == self.wanted:
            return
        self.wanted = on
        if on:
            self.last_error = ""
            if self.session_live:
                self._start_file()
        else:  # Record again in this session goes on from this file (`continues`)
            self._end_file("recording stopped")
        self.changed.emit()

    def set_label(self, text: str) -> None:
        """The label of files started from now on (one being written keeps its name)."""
        self.label = clean_label(text)

    def new_conversation(self) -> None:
        """A new conversation starts (the session is reopened next): the file ends, and the next
        one (recording goes on once the new session opens) does not continue it."""
        self._previous = None
        if self._file is not None:
            self._end_file("a new conversation was started")
            self.changed.emit()

    def set_input(self, state: MicInput) -> None:
        """Mute / push-to-talk / the talk key changed: into the file as a MicInput event."""
        if state == self._input:
            return
        self._input = state
        self.record_event(state, "client")

    def elapsed_s(self) -> float:
        """Length of the current file so far (mic ticks since it started), 0 without one."""
        f = self._file
        if f is None:
            return 0.0
        epoch, tick = self.assembler.position()
        return max(0, tick - f.start_tick) * TICK_S if epoch == f.epoch else 0.0

    # ------------------------------------------------------------------ session life
    def session_opened(self, ev: object) -> None:
        self.session_live = True
        self._recent_audio.clear()
        self._recent_frames.clear()
        started = self.wanted and self._file is None
        if started:
            self._start_file(seed_input=False)
            self.changed.emit()
        f = self._file
        if f is not None:  # the file's first event, at its tick 0 (the mic may have ticked on since)
            f.add_event(f.start_tick, "engine", ev)
            if started:
                self._seed_input(f)

    def session_closed(self) -> None:
        """The session ends (switch, crash, restart): end the file; recording resumes on the next."""
        self.session_live = False
        self.horizon = -1
        if not self.wanted:  # a later Record is in another session: a recording of its own
            self._previous = None
        if self._file is not None:
            self._end_file("the session ended (a model, persona or avatar switch, or an engine restart)")
            self.changed.emit()

    def _start_file(self, seed_input: bool = True) -> None:
        info = self.info()
        if info is None:
            return
        epoch, start = self.assembler.position()
        size = None
        if self._camera is not None and time.monotonic() - self._camera[1] < CAMERA_FRESH_S:
            size = self._camera[0]
        stem = file_stem("duet", self.label)
        f = Recorder(
            self.folder,
            stem,
            start_tick=start,
            epoch=epoch,
            user_video_size=size,
            writer_factory=self.writer_factory,
            model=info.model,
            persona=info.persona,
            avatar=info.avatar,
            avatar_size=info.avatar_size,
            meta={
                "recorded_by": "duet app",
                "start_tick": str(start),
                **info.meta,
                **({"label": self.label} if self.label else {}),
                **({"continues": _file_name(self._previous)} if self._previous is not None else {}),
            },
        )
        self._previous = f
        self.file_label = self.label
        f.played(self.horizon)
        for tick, _, pcm in self._recent_audio:  # in flight to the speaker: part of this file
            f.add_avatar_audio(tick, pcm)
        for tick, _, rgb in self._recent_frames:
            f.add_avatar_frame(tick, rgb)
        self._file = f
        if seed_input:
            self._seed_input(f)
        log.info("recording started (session tick %d, camera %s)", start, size or "none")

    def _seed_input(self, f: Recorder) -> None:
        """A file that starts muted or in push-to-talk mode says so at its tick 0."""
        state = self._input
        if state is not None and (state.muted or state.push_to_talk):
            f.add_event(f.start_tick, "client", state)

    def _end_file(self, why: str) -> None:
        """Finish the current file; its last event says why it ends (Closed, src "client")."""
        f, self._file = self._file, None
        if f is None:
            return
        epoch, tick = self.assembler.position()
        f.add_event(tick if epoch == f.epoch else f.start_tick, "client", Closed(reason=why))
        f.stop(tick if epoch == f.epoch else None)
        self._closing.append(f)

    def poll(self) -> None:
        """GUI timer: report finished files; a file that failed ends recording."""
        f = self._file
        if f is not None and f.done:  # failed while recording (stop() was never called)
            self._file = None
            self.wanted = False
            self._previous = None  # the next Record starts a new recording
            self._report(f)
            self.changed.emit()
        for g in [g for g in self._closing if g.done]:
            self._closing.remove(g)
            self._report(g)
        now = time.monotonic()
        if self._file is not None and now - self._disk_checked >= DISK_CHECK_S:
            self._disk_checked = now
            self._check_disk(self._file)

    def _check_disk(self, f: Recorder) -> None:
        """Warn once when the sessions folder has less than LOW_DISK_BYTES left (a booth recording
        all day writes ~0.55 GB an hour); recording itself stops cleanly if the disk does fill."""
        folder = f.path.parent if f.path is not None else self.folder()
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            return
        if free >= 2 * LOW_DISK_BYTES:
            self._disk_warned = False
        if free >= LOW_DISK_BYTES or self._disk_warned:
            return
        self._disk_warned = True
        size = f.path.stat().st_size if f.path is not None and f.path.exists() else 0
        text = disk_note(folder, free, size / max(self.elapsed_s(), 1.0))
        log.warning("%s", text)
        self.disk_low.emit(text)

    def _report(self, f: Recorder) -> None:
        if f.error is not None:
            self.last_error = str(f.error)
            if self.wanted:  # the file failed while being finished: stop recording too
                self.wanted = False
                self._previous = None
                if self._file is not None:
                    self._end_file("the previous file failed")
                self.changed.emit()
            self.finished.emit(str(f.path or ""), self.last_error)
        else:
            self.last_path = str(f.path)  # logged by the Recorder ("Saved: …")
            self.finished.emit(self.last_path, "")

    def shutdown(self, timeout_s: float = SHUTDOWN_WAIT_S) -> None:
        """App exit: finish every file (blocks until written, at most timeout_s)."""
        self.session_live = False
        self._end_file("the app closed")
        deadline = time.monotonic() + timeout_s
        for f in self._closing:
            if not f.wait(max(0.1, deadline - time.monotonic())):
                log.error("recording %s did not finish within %.0f s", f.path, timeout_s)
        self.poll()

    # ------------------------------------------------------------------ data (from DuetCore)
    def user_audio(self, epoch: int, tick: int, pcm: np.ndarray) -> None:  # audio thread
        f = self._file
        if f is not None:
            f.add_user_audio(epoch, tick, pcm)

    def user_frame(self, tick: int, rgb: np.ndarray) -> None:
        self._camera = ((int(rgb.shape[1]), int(rgb.shape[0])), time.monotonic())
        f = self._file
        if f is None:
            return
        if not f.has_user_video and f.epoch == self.assembler.position()[0]:
            log.info("camera on while recording: continuing in a new file with a camera track")
            self._end_file("the camera was turned on (the recording goes on with a camera track)")
            self._start_file()
            self.changed.emit()
            f = self._file
            if f is None:
                return
        f.add_user_frame(tick, rgb)

    def avatar_audio(self, tick: int, pcm: np.ndarray) -> None:
        self._recent_audio.append((tick, tick + max(1, pcm.shape[0] // AVATAR_SAMPLES_PER_TICK), pcm))
        if self._file is not None:
            self._file.add_avatar_audio(tick, pcm)

    def avatar_frame(self, tick: int, rgb: np.ndarray) -> None:
        self._recent_frames.append((tick, tick + 1, rgb))
        if self._file is not None:
            self._file.add_avatar_frame(tick, rgb)

    def played(self, tick: int) -> None:
        """The avatar tick at the speaker now (called every few ms while playing)."""
        if tick > self.assembler.position()[1]:  # the old session's last ticks (its marks linger)
            return
        self.horizon = tick
        for recent in (self._recent_audio, self._recent_frames):
            while recent and recent[0][1] <= tick:  # played through: not part of a new file
                recent.popleft()
        if self._file is not None:
            self._file.played(tick)

    def flush(self, from_tick: int, audio: bool = True, frames: bool = True) -> None:
        """Barge-in: avatar media (audio and/or frames) from `from_tick` on is dropped; what
        already played stays."""
        if self.horizon >= 0:
            from_tick = max(from_tick, self.horizon + 1)
        for recent, kind in ((self._recent_audio, audio), (self._recent_frames, frames)):
            if kind:
                kept = [item for item in recent if item[0] < from_tick]  # (a block that straddles: kept)
                recent.clear()
                recent.extend(kept)
        if self._file is not None:
            self._file.flush(from_tick, audio, frames)

    def playback(self, report: PlaybackReport) -> None:
        """The speaker's lag behind the avatar track, into the file when it is new to the file or
        moved (an avatar tick T was heard while the mic captured tick T + mic_lag_ticks): what a
        latency measured on the file needs to add to be what the person heard."""
        f, lag = self._file, report.mic_lag_ticks
        if f is None or lag is None:
            return
        mark = self._lag_mark
        if mark and mark[0] is f and mark[2] == report.lag_from_tick and abs(mark[1] - lag) < LAG_STEP_TICKS:
            return
        self._lag_mark = (f, lag, report.lag_from_tick)
        self.record_event(report, "client")

    def record_event(self, ev: object, src: str = "engine") -> None:
        """An engine event (src "engine"; EngineDown: "client") or a client message ("client")."""
        f = self._file
        if f is None:
            return
        tick = getattr(ev, "tick", None)
        if not (isinstance(tick, int) and tick >= 0):  # no tick of its own: the mic's tick now
            epoch, tick = self.assembler.position()
            if epoch != f.epoch:
                tick = f.start_tick
        f.add_event(tick, src, ev)


def disk_note(folder: Path, free: int, bytes_per_s: float) -> str:
    """What to say when `folder` has `free` bytes left, recording at about bytes_per_s."""
    note = f"Disk space low: {free / 1e9:.1f} GB left in {folder}"
    if bytes_per_s > 1000:
        minutes = int(free / bytes_per_s / 60)
        note += f", about {minutes // 60} h {minutes % 60:02d} min of recording"
    return note + ". Recording stops cleanly when it is full; free some space or move DUET_SESSIONS_DIR."


def _file_name(f: Recorder) -> str:
    """The file's name (its path once the worker opened it; else the name it was to have)."""
    return f.path.name if f.path is not None else f"{f.stem}.mkv"
