"""DuetCore: the app's non-widget heart. Owns the engine client, capture, playback and A/V sync.

Threads: the GUI thread runs one 5 ms timer (`_tick`) that polls engine events and media, picks the
frame matching the audio clock and emits `frame_due`; blocking client calls (start, restart, stop)
run on a one-worker executor and are collected by the same timer (no Qt signal ever crosses a
thread). The mic callback pushes ticks straight to the client (push_mic never blocks) and hands
them to the recorder (a bounded deque; see app/recording.py and app/recorder.py).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal

from engine.protocol import (
    CloseSession,
    EngineDown,
    ErrorEvent,
    Flush,
    FlushOut,
    Health,
    PlaybackReport,
    Ready,
    SessionOpened,
    SessionSpec,
    StateChanged,
    Timings,
    Transcript,
    UserText,
)
from engine.session import session_meta

from .avsync import FrameScheduler
from .conversation import Conversation
from .devices import DevicesMixin
from .engine_faults import CrashPolicy, summary
from .intake import AvatarIntake
from .latency import LatencyTracker
from .logs import app_log_path, engine_log_path
from .mic import MicCapture, SilenceSource, TickAssembler
from .model_failures import ModelFailuresMixin
from .playback import Player, StallWatch
from .recording import FileInfo, RecordingController
from .settings import ModelSource

log = logging.getLogger(__name__)


def _default_client_factory(model: str, source: ModelSource) -> Any:
    from engine.client import EngineClient

    return EngineClient(
        model=model,
        weights=source.weights,
        revision=source.revision,
        model_options=dict(source.options),
        log_path=str(engine_log_path()),
    )


ECHO_TAIL_S = 0.25  # a room's echo of the avatar's voice after it leaves the speaker (s)


class DuetCore(DevicesMixin, ModelFailuresMixin, QObject):
    frame_due = Signal(object)  # uint8 (S, S, 3): show it now
    status = Signal(str, str)  # (level "info" | "warn" | "error" | "", text); "" text clears
    ready = Signal(object)  # engine.protocol.Ready
    mic_message = Signal(str)  # "" = fine
    speaker_message = Signal(str)
    timings = Signal(float)  # engine step ms
    model_changed = Signal(str)  # the engine now runs this model (a pick, or a fall back after a failure)
    session_opened = Signal(object)  # engine.protocol.SessionOpened: a conversation can start
    # (model, ModelSource): weights/options that failed to load were dropped for the ones before
    source_reverted = Signal(str, object)

    def __init__(
        self,
        model: str,
        spec: SessionSpec,
        mic_device: str = "",
        speaker_device: str = "",
        client_factory: Callable[[str, ModelSource], Any] = _default_client_factory,
        parent: QObject | None = None,
        sources: Mapping[str, ModelSource] | None = None,
        fallback: str = "",
        untried: Mapping[str, ModelSource] | None = None,
        stand_in: str = "",
    ) -> None:
        """`fallback`: the model to go back to when `model` fails to load (the one that ran before
        a `duet --model`); `untried`: per model, the source it had before the one in `sources`
        (given on the command line, not yet loaded), restored if the new one fails to load;
        `stand_in`: the model to run for now when `model` cannot load and neither of those helps
        (the default: a booth whose weights drive is gone still talks); it is not the user's
        choice (stand_in_for says which model it stands in for, and the settings keep that one)."""
        super().__init__(parent)
        self.model = model
        self.spec = spec
        self.client_factory = client_factory
        self.sources: dict[str, ModelSource] = dict(sources or {})  # per model: weights/revision/options
        self.good_model = fallback  # the last model that loaded (fallback when a newly picked one cannot)
        self.stand_in = stand_in  # used once, for the model started with (see __init__'s doc)
        self.stand_in_for = ""  # the model the running one stands in for ("" = it is the user's choice)
        # per model: the source it had before new weights/options that have not loaded yet; they
        # are given up (and this one restored) if they fail to load, kept once the model is Ready
        self.untried: dict[str, ModelSource] = dict(untried or {})
        self.load_failures: dict[str, str] = {}  # model -> why it last failed to load (until it loads)
        self._notice: tuple[str, str] | None = None  # shown again once the next session opens
        self.conversation = Conversation(parent=self)
        self.scheduler = FrameScheduler()
        self.latency = LatencyTracker()
        self.player = Player(device=speaker_device or None)
        self.assembler = TickAssembler(self._push_mic)
        self.assembler.gate = lambda: time.monotonic() < self.player.voiced_until + ECHO_TAIL_S
        self.mic_device = mic_device
        self.mic: MicCapture | SilenceSource | None = None
        self.crash_policy = CrashPolicy()
        self.ready_info: Ready | None = None
        self.client: Any = None
        self._live: Any = None  # the client while a session is open (read by the audio thread)
        self._pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="duet-engine")
        self._job: tuple[str, cf.Future[Any]] | None = None
        self._closing = False
        self.step_ms: deque[float] = deque(maxlen=200)
        self.engine_queue = 0
        self.engine_overruns: dict[str, int] = {}
        self.restarts = 0
        self.session_open = False
        self._session_avatar = ""  # the avatar id the engine opened the session with
        self.present_delay_s = 0.0  # EMA of frame_due -> drawn; frames are picked this much early
        self._due_at = 0.0
        self.last_error = ""
        self._last_report = -1
        self._n = 0
        self._trouble = (0, 0, 0)  # (mic overflows, speaker underflows, playback underruns) logged
        # devices lost mid-conversation (unplugged, the sound server went away): "mic"/"speaker" ->
        # monotonic time of the next try to open them again (a booth comes back by itself)
        self._reopen_at: dict[str, float] = {}
        self._speaker_watch = StallWatch()
        self._mic_watch = StallWatch()
        self._engine_retry_at: float | None = None  # after the crash limit: the next automatic retry
        self._fatal = ""  # the engine's fatal ErrorEvent, said again when the process goes down
        self.recording = RecordingController(self.assembler, self._file_info, parent=self)
        self.intake = AvatarIntake(self.player, self.scheduler, self.recording)
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Open audio devices and start the engine in the background; returns at once."""
        self._open_speaker()
        self._open_mic(self.mic_device)
        self.timer.start()
        self._start_engine()

    def _start_engine(self) -> None:
        self.conversation.set_state("starting")
        self.session_open = False
        self.status.emit("info", f"Starting engine ({self.model})…")
        client = self.client_factory(self.model, self.source(self.model))
        self.client = client
        self._run_job("start", lambda: client.start(timeout_s=120))

    def _run_job(self, kind: str, fn: Callable[[], Any]) -> None:
        self._job = (kind, self._pool.submit(fn))

    def _file_info(self) -> FileInfo | None:
        """What a recording made now is made with (None before the engine is ready)."""
        ready = self.ready_info
        if ready is None:
            return None
        avatar = self._session_avatar or self.spec.avatar  # the engine names the persona's own
        source = self.source(self.model)  # what the running engine was started with
        meta = session_meta(
            self.spec, ready.device, ready.unit_ticks, ready.output_lag_units, dict(source.options)
        )
        meta.update({k: v for k, v in (("weights", source.weights), ("revision", source.revision)) if v})
        return FileInfo(self.model, self.spec.persona, avatar, ready.frame_size, meta)

    def _open_session(self) -> None:
        self.recording.session_closed()  # a recording goes on in a new file (tick 0 = this session)
        self.assembler.reset(0)
        # what the old session said may still be leaving the speaker: the new one must not hear it
        self.assembler.silence_until = self.player.voiced_until + ECHO_TAIL_S
        self.intake.clear()  # and the speaker's ticks are the new session's from here (Player.tick_at)
        self.conversation.forget_due()
        self._last_report = -1
        spec = self.spec
        if self.ready_info is not None:  # the frames the engine announced (as the runner does)
            spec = replace(spec, frame_size=self.ready_info.frame_size)
        self.client.open_session(spec)
        self._live = self.client
        self.session_open = False  # until SessionOpened: the model may still load persona/voice
        self._session_avatar = ""  # the avatar id the engine opened the session with
        self.conversation.set_state("starting")

    def _job_done(self, kind: str, fut: cf.Future[Any]) -> None:
        if self._closing:
            return
        err = fut.exception()
        if err is not None:
            self.last_error = str(err)
            log.error("engine %s failed: %s", kind, err)
            load_error = self._load_error(err)
            if load_error:
                self._load_failed(load_error)
            else:
                self._engine_failed(f"The engine could not start: {summary(str(err))}")  # all in the log
            return
        if kind in ("start", "restart"):
            self.ready_info = fut.result()
            self.good_model = self.model
            self.load_failures.pop(self.model, None)
            self.untried.pop(self.model, None)  # its weights/options loaded: they are kept
            try:
                self._open_session()
            except Exception as e:
                self._engine_failed(f"Could not open a session: {e}")
                return
            self.status.emit("info", "Opening the session…")
            self.ready.emit(self.ready_info)
            log.info("engine ready: %s", self.ready_info)

    def notify(self, level: str, text: str) -> None:
        """Show a status now; while an engine is (re)starting, show it again once its session is
        open (the start's own progress lines would otherwise replace it)."""
        self.status.emit(level, text)
        self._notice = (level, text) if (self._job is not None or not self.session_open) else None

    def source(self, model: str) -> ModelSource:
        return self.sources.get(model, ModelSource())

    def set_source(self, model: str, source: ModelSource) -> None:
        """New weights/options for `model`; the engine restarts with them if it runs that model."""
        self.untried.setdefault(model, self.source(model))  # until they load: see _drop_untried
        self.sources[model] = source
        self.load_failures.pop(model, None)
        if model == self.model and self.client is not None:
            self.switch_model(model, force=True)

    def _engine_failed(self, text: str) -> None:
        self._live = None
        self.recording.session_closed()
        if self.crash_policy.crashed(time.monotonic()) and self.client is not None:
            self.restarts += 1
            self.conversation.set_state("starting")
            self.status.emit("warn", f"{text} — restarting the engine…")
            client = self.client
            self._run_job("restart", lambda: client.restart())
        else:
            self.conversation.set_state("offline")
            if self.client is not None:  # a hung engine is still running: not through the pause
                self._pool.submit(self.client.stop)
            pause = self.crash_policy.pause_s()
            self._engine_retry_at = time.monotonic() + pause
            log.error(
                "engine failed %d times within %.0f s: no restart for %.0f s (%s)",
                self.crash_policy.max_crashes,
                self.crash_policy.window_s,
                pause,
                text.replace("\n", " "),
            )
            self.status.emit(
                "error",
                f"{text}\nThe engine failed {self.crash_policy.max_crashes} times within "
                f"{self.crash_policy.window_s:.0f} s: trying again in {pause:.0f} s (or press Retry)."
                f" Log: {app_log_path()}",
            )

    def retry(self) -> None:
        """Try again after the crash limit stopped restarts: the user pressed Retry, or the pause
        after the limit (CrashPolicy.pause_s) is over."""
        if self._engine_retry_at is not None and time.monotonic() < self._engine_retry_at:
            log.info("engine: Retry pressed")
        self._engine_retry_at = None
        self.crash_policy.times.clear()
        if self._job is None and self.client is not None:
            self._live = None
            client = self.client
            self.status.emit("info", "Restarting the engine…")
            self._run_job("restart", lambda: client.restart())

    def switch_model(self, model: str, force: bool = False, stand_in_for: str = "") -> None:
        """Run `model` (a new engine process); `force` restarts even when it is the current one;
        `stand_in_for`: it runs only in place of that model, which stays the user's choice."""
        if model == self.model and self.client is not None and not force:
            return
        self.stand_in = ""  # a model picked (or fallen back to) is past the start-up's stand-in
        self.stand_in_for = stand_in_for
        self._engine_retry_at = None  # a pause after crashes belonged to the engine being replaced
        self._fatal = ""  # and so did its last words
        self._live = None
        self.recording.session_closed()
        old = self.client
        self.model = model
        self.client = None
        self.ready_info = None
        if old is not None:
            old.cancel_start()  # its start (up to 120 s for Ready) must not hold the pool: stop it now
            self._pool.submit(old.stop)
        self.crash_policy.times.clear()
        self.model_changed.emit(model)
        self._start_engine()

    def update_session(self, **changes: Any) -> None:
        """Persona/avatar change: close and reopen the session on the running engine."""
        self.spec = replace(self.spec, **changes)
        if self._live is None:
            return
        try:
            self.client.send(CloseSession())
            self._open_session()
            self.conversation.clear()
        except Exception as e:
            self.status.emit("warn", f"Could not switch: {e}")

    def shutdown(self) -> None:
        """Synchronous, idempotent: close devices, stop the engine (no orphan), stop threads."""
        if self._closing:
            return
        self._closing = True
        self._engine_retry_at = None
        self.timer.stop()
        self._live = None
        self.close_mic()
        self.player.stop()
        self.recording.shutdown()  # the file gets everything up to the last mic tick, and is closed
        client, self.client = self.client, None
        if (
            self._job is not None
            and not self._job[1].cancel()
            and not self._job[1].done()
            and client is not None
        ):
            # a start/restart is waiting for Ready (up to its timeout): abort it at once
            # (stop() below would also cancel it; this makes the intent explicit)
            client.cancel_start()
        if client is not None:
            try:
                client.stop(timeout_s=3)
            except Exception as e:
                log.warning("engine stop: %s", e)
        self._pool.shutdown(wait=True, cancel_futures=True)
        if client is not None:  # a start that was in flight during stop: make sure it is gone
            try:
                client.stop(timeout_s=3)
            except Exception as e:
                log.warning("engine stop: %s", e)

    # ------------------------------------------------------------------ input
    def _push_mic(self, tick: int, pcm: np.ndarray) -> None:  # audio thread
        self.recording.user_audio(self.assembler.epoch, tick, pcm)
        client = self._live
        if client is not None:
            client.push_mic(tick, pcm)

    def push_frame(self, tick: int, rgb: np.ndarray) -> None:
        client = self._live
        if client is not None:
            client.push_frame(tick, rgb)
            self.recording.user_frame(tick, rgb)

    def session_tick(self) -> int:
        """The mic's next tick while a session is live (a reset not applied yet counts), else -1."""
        return self.assembler.position()[1] if self._live is not None else -1

    def send_text(self, text: str) -> bool:
        text = text.strip()
        if not text or self._live is None:
            return False
        msg = UserText(text, tick=self.assembler.tick)
        self._live.send(msg)
        self.recording.record_event(msg, "client")
        self.conversation.typed(text)
        return True

    def interrupt(self) -> None:
        """Stop the avatar now (like a barge-in): flush everything not yet at the speaker."""
        if self._live is None:
            return
        played = self.player.played_tick()
        from_tick = played + 1 if played >= 0 else self.player.buffer.last_tick + 1
        self._live.flush(from_tick)
        self.recording.record_event(Flush(from_tick=from_tick), "client")
        self.intake.drop_from(from_tick)

    # ------------------------------------------------------------------ the 5 ms loop
    def _tick(self) -> None:
        if self._job is not None and self._job[1].done():
            kind, fut = self._job
            self._job = None
            self._job_done(kind, fut)
        client = self._live
        self._n += 1
        if client is not None and self._n % 2 == 0:
            self._poll_engine(client)
        if self._n % 200 == 0:  # once a second: device trouble goes to the log
            self._log_device_trouble()
        now = time.monotonic()
        at_speaker = self.player.tick_at(now)
        if at_speaker is not None:
            self.recording.played(math.floor(at_speaker))
        picked = self.scheduler.pick(at_speaker, now)
        if picked is not None:
            self._due_at = now
            self.frame_due.emit(picked[1])
        self._poll_latency()
        if self._n % 20 == 0:
            self.recording.poll()
        if self._n % 50 == 0:  # 4x a second: notice devices that died or stalled; reopen lost ones
            self._check_devices(now)
        if self._engine_retry_at is not None and now >= self._engine_retry_at:
            log.info("engine: trying again after the pause (automatic retry)")
            self.retry()

    def frame_presented(self, t: float) -> None:
        """The view drew the last frame at monotonic t: learn the display delay and lead by it."""
        delay = t - self._due_at
        if 0.0 <= delay < 0.2:
            self.present_delay_s += 0.1 * (delay - self.present_delay_s)
            # base lead: half the 5 ms pick period; plus the measured draw delay (in ticks)
            self.scheduler.lead = min(1.0, 0.06 + self.present_delay_s * 25.0)

    def _poll_engine(self, client: Any) -> None:
        # Media read before the session is open, or in the poll that brings SessionOpened, is the
        # previous session's: the engine wrote all of it before it opened the new one (steps and
        # OpenSession run in order), and events are read before media. Played now, on the new
        # session's clock, it would be a stray voice the new session never said.
        stale = not self.session_open
        try:
            events = client.poll_events()
            audio = client.read_audio()
            frames = client.read_frames()
            marks = client.read_flushes()  # the flush marks these reads crossed
        except Exception as e:
            log.exception("engine poll failed")
            self._engine_failed(f"Lost the engine: {e}")
            return
        self.intake.crossed(marks)  # before the events: their FlushOuts then know what is done
        for ev in events:
            if not isinstance(ev, SessionOpened):  # recorded once its file has started
                self.recording.record_event(ev, "client" if isinstance(ev, EngineDown) else "engine")
            self.handle_event(ev)
            if self._live is None:
                return
        if stale:
            return
        self.intake.take(audio, frames)
        self.conversation.show_due(self.player.played_tick)
        if self._n % 10 == 0:
            now = time.monotonic()
            pos, mic = self.player.tick_at(now), self.assembler.tick_at(now)
            played = -1 if pos is None else math.floor(pos)
            if played > self._last_report:
                self._last_report = played
                # avatar tick `pos` is at the DAC while the mic captures input tick `mic`
                lag = None if pos is None or mic is None else round(mic - pos, 3)
                since = self.player.buffer.segment_of(pos) if pos is not None else -1
                report = PlaybackReport(played, lag, since)
                client.send(report)
                self.recording.playback(report)

    def handle_event(self, ev: object) -> None:
        match ev:
            case SessionOpened(persona=persona, avatar=avatar):
                spec = self.spec
                answers = f"{spec.llm_model} at {spec.llm_url}" if spec.brain == "llm" else "the script"
                log.info(  # the engine's own words: after a quick switch self.spec is the next one's
                    "session open: model %s, persona %s, avatar %s, answers from %s",
                    self.model,
                    persona,
                    avatar,
                    answers,
                )
                self.session_open = True
                self._session_avatar = avatar
                self._engine_retry_at = None  # running again: no retry pending
                self.crash_policy.started(time.monotonic())
                self.recording.session_opened(ev)
                notice, self._notice = self._notice, None
                self.status.emit(*(notice or ("", "")))
                if self.conversation.state == "starting":
                    self.conversation.set_state("listening")
                self.session_opened.emit(ev)
            case Transcript(side=side, text=text, final=final):
                self.conversation.transcript(side, text, final)
            case StateChanged(tick=tick, state=state):
                self.conversation.state_at(tick, state)  # shown when its tick is at the speaker
            case FlushOut(from_tick=t):
                self.intake.flush_out(t)
            case Timings(step_ms=ms, queue_units=q):
                self.step_ms.append(ms)
                self.engine_queue = q
                self.timings.emit(ms)
            case Health(overruns=o):
                self.engine_overruns = dict(o)
            case ErrorEvent(code="session", message=msg) if not self.session_open:
                # the persona or avatar could not be loaded: no conversation until another is picked
                log.warning("could not start the conversation: %s", msg)  # the reason, in duet-app.log
                self.conversation.set_state("no session")
                self.status.emit(
                    "error",
                    f"Could not start the conversation: {msg}. "
                    "Pick another persona or avatar, or fix it and pick it again.",
                )
            case ErrorEvent(code="llm" | "llm_settings", message=msg):  # the Answers panel's server
                self.status.emit("warn", f"Answers: {msg}.")
            case ErrorEvent(code=code, message=msg, fatal=True):  # the engine stops next: say why
                log.error("engine error (%s, fatal): %s", code, msg)
                self._fatal = msg
                self.status.emit("error", f"Engine error ({code}): {msg}")
            case ErrorEvent(code=code, message=msg, fatal=fatal):
                self.status.emit("error" if fatal else "warn", f"Engine error ({code}): {msg}")
            case EngineDown(reason=reason, detail=detail, exitcode=code):
                what = {"hung": "stopped responding", "start_failed": "failed to start"}.get(
                    reason, "crashed"
                )
                extra = f" (exit code {code})" if code is not None else ""
                why, self._fatal = self._fatal, ""  # the model's own last words, when it had any
                log.warning("engine down: %s%s%s", reason, f": {detail}" if detail else "", extra)
                self.last_error = why or detail or reason
                self._engine_failed(f"The engine {what}{extra}" + (f": {why}" if why else ""))
            case _:
                pass

    def _poll_latency(self) -> None:
        events = self.assembler.vad.events
        while events:
            e = events.popleft()
            if e.kind == "end":
                self.latency.user_speech_end(e.t)
            else:
                self.latency.user_speech_start(e.t)
        onsets = self.player.onsets
        while onsets:
            o = onsets.popleft()
            turn = self.latency.avatar_onset(o.dac)
            if turn is not None:
                log.info("glass-to-glass latency %.0f ms", turn.ms)
