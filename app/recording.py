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
quits. A write error ends recording (wanted = off), except a full disk: see below.

Disk budget (app/disk_budget.py): no file starts, and one being written ends cleanly, while the
sessions folder's disk has less than the reserve free; a file that fails on a full disk (ENOSPC)
is kept as written. Either way recording pauses (`paused` says why; `wanted` stays on) and, every
DISK_CHECK_S and as a session (re)opens, resumes in a new file once the reserve +
RESUME_MARGIN_BYTES is free (and any back-off after full-disk failures is over); the user's Stop
cancels that. With retention on (`budget.keep_bytes`) the oldest Duet session files are deleted
before each file starts and every DISK_CHECK_S while recording is wanted (never one being written).

Linked files (metadata `continues`: the file before): recording that goes on across a session
switch or restart, Record pressed again after Stop while the session is the same one, and recording
that resumes after a pause for disk space in the same session. Not after a new conversation, a
session that closed while not recording (or paused), or a file that failed (but on a full disk).

Mic input (`set_input`): a change of Mute / push-to-talk / the talk key is a MicInput event (src
"client"); a file that starts muted or in push-to-talk mode says so at its tick 0.
"""

from __future__ import annotations

import logging
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

from . import disk_budget
from .disk_budget import Budget, free_bytes, is_disk_full
from .mic import TickAssembler
from .recorder import Recorder, WriterFactory

log = logging.getLogger(__name__)
RECENT_TICKS = 50  # avatar media kept to seed a file started mid-reply (only ticks not yet played)
CAMERA_FRESH_S = 1.0  # a camera frame this recent means "the camera is on" when a file starts
SHUTDOWN_WAIT_S = 15.0  # closing the app waits this long for files to finish
LAG_STEP_TICKS = 0.25  # a playback lag that moved this much (10 ms) is written into the file again
DISK_CHECK_S = 30.0  # while recording is wanted, the sessions folder's free space is looked at this often (s)
LOW_DISK_BYTES = 2_000_000_000  # this close to the reserve (bytes) the window warns (once, until it rises)


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
    space = Signal(str, str)  # (level "warn" | "info", text): recording paused for disk space / resumed

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
        self.budget: Budget = disk_budget.budget_from_env()  # reserve / retention (duet flags override)
        self.paused = ""  # why recording waits for disk space (the note shown); "" = it does not
        self._undeletable: set[Path] = set()  # files retention could not delete (said once)
        self._oversize: set[Path] = set()  # files being written that alone outgrew the keep (said once)
        # files in a row that failed on a full disk although the space looked free (a quota, no
        # inodes left): each doubles the wait before the next try, up to 16 x DISK_CHECK_S
        self._full_failures = 0
        self._resume_after = 0.0  # monotonic time (s) before which no resume is tried

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
            if self.paused:
                self.paused = ""
                log.info("recording stopped: no longer waiting for disk space")
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
        if started and self.paused:  # waiting for disk space: the margin and back-off hold here too
            self._try_resume(seed_input=False)
            started = self._file is not None
        elif started:
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
        if not self.wanted or self.paused:  # a later file is in another session: a recording of its own
            self._previous = None
        if self._file is not None:
            self._end_file("the session ended (a model, persona or avatar switch, or an engine restart)")
            self.changed.emit()

    def _start_file(self, seed_input: bool = True) -> None:
        info = self.info()
        if info is None:
            return
        folder = self._folder_now()
        free = None
        if folder is not None:
            self._prune(folder)
            free = free_bytes(folder)
            if free is not None and free < self.budget.reserve_bytes:
                self._pause(disk_budget.reserve_note(folder, free, self.budget))
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
        if self.paused:
            self.paused = ""
            text = disk_budget.resumed_note(free) if free is not None else "Recording resumed in a new file."
            log.info("%s", text)
            self.space.emit("info", text)

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
            if not (self.wanted and is_disk_full(f.error)):  # a full disk: paused (_report)
                self.wanted = False
                self._previous = None  # the next Record starts a new recording
            self._report(f)
            self.changed.emit()
        for g in [g for g in self._closing if g.done]:
            self._closing.remove(g)
            self._report(g)
        now = time.monotonic()
        if (self.wanted or self._file is not None) and now - self._disk_checked >= DISK_CHECK_S:
            self._disk_checked = now
            if self._file is not None:
                self._check_disk(self._file)
            elif self.paused and self.session_live:
                self._try_resume()

    def _folder_now(self, f: Recorder | None = None) -> Path | None:
        """The sessions folder (None when it cannot be made: the Recorder says why)."""
        if f is not None and f.path is not None:
            return f.path.parent
        try:
            return self.folder()
        except OSError:
            return None

    def _prune(self, folder: Path) -> None:
        """Retention (opt-in): the oldest Duet session files go until the rest fit budget.keep_bytes;
        never a file still being written, nor the last finished one."""
        keep = self.budget.keep_bytes
        if keep is None:
            return
        # files still being written: by name once open (unique_path may have added -N), else the
        # name asked for (and any -N after it)
        live = [r.path.stem if r.path is not None else r.stem for r in (self._file, *self._closing) if r]
        disk_budget.prune(folder, keep, live, self._undeletable, self._oversize)

    def _pause(self, text: str) -> None:
        """Recording waits for disk space (wanted stays on): say why, look again in DISK_CHECK_S."""
        self._disk_checked = time.monotonic()
        if text == self.paused:
            return
        self.paused = text
        log.warning("%s", text)
        self.space.emit("warn", text)
        self.changed.emit()

    def _try_resume(self, seed_input: bool = True) -> None:
        """Paused for disk space: a new file once the reserve and a margin are free (and, after a
        file failed on a full disk, the back-off is over). Every DISK_CHECK_S, and as a session
        opens (an engine restart or a new conversation while paused)."""
        folder = self._folder_now()
        if folder is None or time.monotonic() < self._resume_after:
            return
        self._prune(folder)
        free = free_bytes(folder)
        if free is None or free < self.budget.reserve_bytes + disk_budget.RESUME_MARGIN_BYTES:
            return
        self._start_file(seed_input)
        self.changed.emit()

    def _check_disk(self, f: Recorder) -> None:
        """Every DISK_CHECK_S while recording: retention; under the reserve the file ends cleanly
        and recording pauses; within LOW_DISK_BYTES of it the window warns once (a booth recording
        all day writes ~0.55 GB an hour)."""
        folder = self._folder_now(f)
        if folder is None:
            return
        self._prune(folder)
        free = free_bytes(folder)
        if free is None:
            return
        reserve = self.budget.reserve_bytes
        if free < reserve:
            text = disk_budget.reserve_note(folder, free, self.budget)
            have, kept = disk_budget.gb_under(free, reserve)
            self._end_file(f"the disk is nearly full ({have} free, under the {kept} reserve)")
            self._pause(text)
            return
        if free - reserve >= 2 * LOW_DISK_BYTES:
            self._disk_warned = False
        if free - reserve >= LOW_DISK_BYTES or self._disk_warned:
            return
        self._disk_warned = True
        size = f.path.stat().st_size if f.path is not None and f.path.exists() else 0
        text = disk_note(folder, free, size / max(self.elapsed_s(), 1.0), reserve)
        log.warning("%s", text)
        self.disk_low.emit(text)

    def _report(self, f: Recorder) -> None:
        if f.error is not None:
            self.last_error = str(f.error)
            if self.wanted and is_disk_full(f.error):  # kept as written; a new file once space is back
                if self._file is not None:  # (a file failing as it closes: the next one would too)
                    self._end_file("the disk is full")
                self._pause(disk_budget.full_note(f.error, self.budget))
                self._resume_after = time.monotonic() + DISK_CHECK_S * 2 ** min(self._full_failures, 4)
                self._full_failures += 1
                self.finished.emit(str(f.path or ""), self.last_error)
                return
            if self.wanted:  # the file failed while being finished: stop recording too
                self.wanted = False
                self._previous = None
                if self._file is not None:
                    self._end_file("the previous file failed")
                self.changed.emit()
            self.finished.emit(str(f.path or ""), self.last_error)
        else:
            self._full_failures = 0
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


def disk_note(folder: Path, free: int, bytes_per_s: float, reserve: int = 0) -> str:
    """What to say when `folder` has `free` bytes left, recording at about bytes_per_s until the
    `reserve` (bytes) is reached."""
    left, kept = disk_budget.gb_under(free, reserve)
    note = f"Disk space low: {left} left in {folder}"
    if bytes_per_s > 1000:
        minutes = int(max(0, free - reserve) / bytes_per_s / 60)
        note += f", about {minutes // 60} h {minutes % 60:02d} min of recording"
    return note + (
        f". Recording pauses with {kept} left and resumes once space is freed; free some space"
        " or move DUET_SESSIONS_DIR."
        if reserve
        else ". Recording pauses when it is full and resumes once space is freed; free some space or move"
        " DUET_SESSIONS_DIR."
    )


def _file_name(f: Recorder) -> str:
    """The file's name (its path once the worker opened it; else the name it was to have)."""
    return f.path.name if f.path is not None else f"{f.stem}.mkv"
