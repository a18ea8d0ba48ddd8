"""EngineClient: spawns the engine process, feeds it media, and supervises it (see docs/CONTRACTS.md).

torch-free: the engine process imports model code, this module never does. Media travels through
shared-memory rings (engine.ipc), control and events through a message channel. A monitor thread
reads events, pings every `ping_period_s`, and reports a crashed engine (process exit) or a hung
one (no Pong for `hang_timeout_s`) as EngineDown within ~2 s; EngineDown is that engine's last
event (it is no longer pinged, what it still sends is dropped). No call blocks longer than its
timeout, even on a frozen engine (SIGSTOP, a C call holding its GIL): a control message that cannot
be written within SEND_TIMEOUT_S is not sent (on Windows, where pipes cannot be polled, a writer
thread sends it: send() gives up on it after SEND_TIMEOUT_S all the same, but it still reaches an
engine that reads again, and sends fail until it has). stop() always leaves no child process behind; a
down engine is terminated without being asked. A start() or restart() still waiting for Ready is
aborted promptly (EngineStartError "cancelled") by cancel_start() or stop() from another thread.
Events of an engine not read before the next start()/restart() spawns its successor are dropped.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import multiprocessing as mp
import signal
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from engine import paths
from engine.ipc import (
    CAMERA_MAX_H,
    CAMERA_MAX_W,
    DEFAULT_MAX_FRAME_SIZE,
    ENGINE_EVENT_TYPES,
    Channel,
    ChannelClosed,
    Doorbell,
    MediaRings,
)
from engine.process.main import EngineConfig, run_engine
from engine.protocol import (
    MIC_SAMPLES_PER_TICK,
    EngineDown,
    ErrorEvent,
    Flush,
    Ping,
    Pong,
    Ready,
    SessionSpec,
    Shutdown,
    Timings,
)
from engine.protocol.messages import OpenSession
from engine.registry import ModelOptions

log = logging.getLogger("duet.client")
MAX_QUEUED_EVENTS = 10_000
MONITOR_SEQ_BASE = 1 << 40  # the monitor's own pings; Pongs to other pings are passed on as events
# s: the longest a control message waits for room in the 64 KiB pipe. A live engine drains it within
# milliseconds; one that has not made room is frozen, and the message is not sent (send() -> False).
SEND_TIMEOUT_S = 1.0
PING_SEND_TIMEOUT_S = 0.05  # s: the monitor's pings wait less (a skipped ping is sent again next period)


class EngineStartError(RuntimeError):
    """The engine process could not be started or its model failed to load (message has the log tail)."""


def _exit_text(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class EngineClient:
    def __init__(
        self,
        model: str = "lite",
        device: str = "auto",
        weights: str = "",
        revision: str = "",
        hang_timeout_s: float = 1.5,
        log_path: str | Path | None = None,
        extra_env: dict[str, str] | None = None,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        model_options: dict[str, str] | None = None,
        ping_period_s: float = 0.2,
    ) -> None:
        if hang_timeout_s <= 0 or ping_period_s <= 0:
            raise ValueError("hang_timeout_s and ping_period_s must be positive")
        self.model = model
        self.options = ModelOptions(
            device=device, weights=weights, revision=revision, extra=dict(model_options or {})
        )
        self.hang_timeout_s = float(hang_timeout_s)
        self.ping_period_s = float(ping_period_s)
        self.log_path = Path(log_path) if log_path else None
        self.extra_env = dict(extra_env or {})
        self.max_frame_size = int(max_frame_size)
        self.ready: Ready | None = None
        self.consumed_tick = -1
        self._start_timeout_s = 120.0
        self._life = threading.RLock()  # start/stop/restart
        self._media = threading.Lock()  # camera/avatar ring access vs. closing the rings
        # push_mic (the PortAudio callback) takes only this one: it must never wait behind the GUI
        # thread's read_frames copy (up to 32 x 512x512 frames, ~13 ms). Closing takes both, _media first.
        self._mic_lock = threading.Lock()
        self._proc: Any = None  # multiprocessing SpawnProcess
        self._rings: MediaRings | None = None
        self._channel: Channel | None = None
        self._doorbell: Doorbell | None = None
        self._events: collections.deque[object] = collections.deque()
        self._events_lock = threading.Lock()
        self._events_dropped = 0
        self._monitor: threading.Thread | None = None
        self._gen = 0  # engine generation: a monitor only reports (and queues events) for its own engine
        self._down = False
        self._ping_seq = MONITOR_SEQ_BASE
        # bumped by cancel_start()/stop() without taking _life: a start() that began before the bump
        # sees it change and gives up (it holds _life while it waits for Ready)
        self._cancel_epoch = 0
        self._cancel_lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout_s: float = 120.0) -> Ready:
        """Spawn the engine and wait for Ready. Idempotent while the engine is running.

        EngineStartError("... cancelled") if cancel_start() or stop() is called (from another
        thread) before it returns; the half-started engine process is then gone.
        """
        epoch = self._cancel_epoch
        with self._life:
            if self._proc is not None and self.ready is not None and self.alive:
                return self.ready
            if self._proc is not None:
                self._kill_and_clean()
            self._start_timeout_s = timeout_s
            return self._spawn(timeout_s, epoch)

    def cancel_start(self) -> None:
        """Abort a start()/restart() in progress on another thread; returns at once, never blocks.

        The aborted call kills its engine process and raises EngineStartError("... cancelled")
        within ~1 s. No effect on a running engine or on a start() called afterwards.
        """
        with self._cancel_lock:
            self._cancel_epoch += 1

    def _check_cancel(self, epoch: int) -> None:
        if epoch != self._cancel_epoch:
            raise EngineStartError(f"engine {self.model!r} start cancelled")

    def _resolved_log_path(self) -> Path:
        return self.log_path or paths.log_dir() / "engine.log"

    def _spawn(self, timeout_s: float, epoch: int) -> Ready:
        self._check_cancel(epoch)
        log_path = self._resolved_log_path()
        try:  # the engine process appends to it: a bad path is this side's clear error
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "a", encoding="utf-8"):
                pass
        except OSError as e:
            reason = paths.folder_reason(e)
            raise EngineStartError(f"cannot write the engine log {log_path}: {reason}") from None
        log_offset = log_path.stat().st_size
        ctx = mp.get_context("spawn")
        try:
            rings = MediaRings.create(self.max_frame_size)
        except OSError as e:
            raise EngineStartError(f"cannot create the shared-memory media rings: {e}") from e
        control_recv, control_send = ctx.Pipe(duplex=False)
        events_recv, events_send = ctx.Pipe(duplex=False)
        doorbell = Doorbell()
        config = EngineConfig(
            model=self.model,
            options=self.options,
            rings=rings.names(),
            control_recv=control_recv,
            events_send=events_send,
            doorbell=doorbell.reader,
            log_path=str(log_path),
            extra_env=self.extra_env,
        )
        proc = ctx.Process(target=run_engine, args=(config,), name=f"duet-engine-{self.model}", daemon=True)
        try:
            proc.start()
        except BaseException:
            for c in (control_recv, control_send, events_recv, events_send):
                c.close()
            doorbell.close()
            rings.close()
            raise
        for c in (control_recv, events_send, doorbell.reader):  # the child holds its own copies
            c.close()
        with self._media, self._mic_lock:
            self._proc, self._rings, self._doorbell = proc, rings, doorbell
        self._channel = Channel(events_recv, control_send, ENGINE_EVENT_TYPES, send_timeout_s=SEND_TIMEOUT_S)
        self._new_generation()
        self.consumed_tick = -1
        self.ready = None
        try:
            ready = self._await_ready(timeout_s, log_path, log_offset, epoch)
        except BaseException:
            self._kill_and_clean()
            raise
        self.ready = ready
        self._monitor = threading.Thread(
            target=self._monitor_loop,
            args=(self._gen, proc, self._channel),
            name="duet-engine-monitor",
            daemon=True,
        )
        self._monitor.start()
        log.info("engine %r ready (pid %s, %s)", self.model, proc.pid, ready.device)
        return ready

    def _await_ready(self, timeout_s: float, log_path: Path, log_offset: int, epoch: int) -> Ready:
        assert self._channel is not None and self._proc is not None
        deadline = time.monotonic() + timeout_s
        error = ""
        closed = False
        while time.monotonic() < deadline:
            self._check_cancel(epoch)  # polled every <= 50 ms
            exited = self._proc.exitcode is not None  # read before draining: no message is missed
            msgs: list[object] = []
            if not closed:
                try:
                    msgs = self._channel.recv_ready(0.0 if exited else 0.05)
                except ChannelClosed:
                    closed = True
            else:
                time.sleep(0.05)
            for msg in msgs:
                if isinstance(msg, Ready):
                    return msg
                if isinstance(msg, ErrorEvent):
                    error = error or msg.message
                self._push_event(msg, self._gen)
            if exited and (closed or not msgs):
                what = error or f"engine process {_exit_text(self._proc.exitcode)} before it was ready"
                message = f"engine {self.model!r} failed to start: {what}"
                raise EngineStartError(self._with_log(message, log_path, log_offset))
        raise EngineStartError(
            self._with_log(
                f"engine {self.model!r} was not ready within {timeout_s:g} s", log_path, log_offset
            )
        )

    @staticmethod
    def _with_log(message: str, log_path: Path, offset: int = 0, lines: int = 15) -> str:
        try:
            with open(log_path, "rb") as f:
                f.seek(offset)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return f"{message}\n(no engine log at {log_path})"
        tail = "\n".join(text.rstrip().splitlines()[-lines:])
        return f"{message}\n--- engine log ({log_path}) ---\n{tail}" if tail else message

    def stop(self, timeout_s: float = 3.0) -> None:
        """Ask the engine to shut down; terminate, then kill it if it does not. Idempotent.

        Safe from any thread: a start()/restart() still waiting for Ready is cancelled first. An
        engine reported down (crashed or hung) is not asked: it is terminated at once (a frozen one
        would never read the request). Returns within about timeout_s + 3 s (terminate, kill).
        """
        self.cancel_start()
        with self._life:
            proc = self._proc
            if proc is None:
                return
            down = self._down
            self._gen += 1  # silence the monitor: this exit is ours
            asked = False
            if not down and self._channel is not None and proc.exitcode is None:
                with contextlib.suppress(ChannelClosed):  # ChannelTimeout too: frozen, not asked
                    self._channel.send(Shutdown())
                    asked = True
            if asked:
                proc.join(max(0.1, timeout_s))
            self._kill_and_clean()

    def restart(self) -> Ready:
        """Kill whatever is left of the engine and spawn a new one (same model and options).

        Cancellable like start()."""
        epoch = self._cancel_epoch
        with self._life:
            self._gen += 1
            self._kill_and_clean()
            return self._spawn(self._start_timeout_s, epoch)

    def _kill_and_clean(self) -> None:
        proc = self._proc
        self._gen += 1
        if proc is not None:
            if proc.exitcode is None:
                proc.terminate()
                proc.join(1.0)
            if proc.exitcode is None:
                proc.kill()
                proc.join(2.0)
        monitor = self._monitor
        if monitor is not None and monitor is not threading.current_thread():
            monitor.join(1.0)
        self._monitor = None
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        with self._media, self._mic_lock:
            if self._doorbell is not None:
                self._doorbell.close()
            if self._rings is not None:
                self._rings.close()
            self._rings = self._doorbell = None
            self._proc = None
        if proc is not None and proc.exitcode is not None:
            proc.close()
        self.ready = None

    def __enter__(self) -> EngineClient:
        self.start(self._start_timeout_s)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __del__(self) -> None:
        proc = getattr(self, "_proc", None)
        with contextlib.suppress(Exception):  # best effort at garbage collection / interpreter exit
            if proc is not None and proc.exitcode is None:
                proc.kill()

    @property
    def alive(self) -> bool:
        proc = self._proc
        return proc is not None and proc.exitcode is None and not self._down

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return None if proc is None else proc.pid

    # ------------------------------------------------------------------ monitor thread
    def _monitor_loop(self, gen: int, proc: Any, channel: Channel) -> None:
        last_pong = time.monotonic()
        next_ping = last_pong
        while gen == self._gen:
            try:
                msgs = channel.recv_ready(0.05)
            except (ChannelClosed, OSError):
                msgs = []
                time.sleep(0.05)
            now = time.monotonic()
            for msg in msgs:
                if isinstance(msg, Pong):
                    last_pong = now
                    self.consumed_tick = max(self.consumed_tick, msg.engine_tick)
                    if msg.seq >= MONITOR_SEQ_BASE:
                        continue
                if isinstance(msg, Timings) and self.ready is not None:
                    self.consumed_tick = max(self.consumed_tick, msg.tick + self.ready.unit_ticks - 1)
                if self._down:  # reported hung: the app has given it up, its words would reach the next
                    continue  # engine's session (drained all the same: one that recovers must not block)
                self._push_event(msg, gen)
            if gen != self._gen:
                return
            code = proc.exitcode
            if code is not None:
                self._report_down(gen, "crashed", f"engine process {_exit_text(code)}", code)
                return
            if self._down:  # hung: no more pings (a frozen engine's control pipe would fill up)
                continue
            if now - last_pong > self.hang_timeout_s:
                # keep draining events afterwards: a hung engine that recovers must not block on a full pipe
                self._report_down(
                    gen,
                    "hung",
                    f"no answer to pings for {now - last_pong:.1f} s (most likely a model step that does"
                    " not return: the engine log holds the stacks of a step stuck for over 1 s)",
                    None,
                )
                continue
            if now >= next_ping:
                next_ping = now + self.ping_period_s
                self._ping_seq += 1
                # an exit code shows up on the next turn; a full pipe (frozen engine) skips this ping
                with contextlib.suppress(ChannelClosed):  # ChannelTimeout is one
                    channel.send(Ping(self._ping_seq, time.monotonic_ns()), timeout_s=PING_SEND_TIMEOUT_S)

    def _new_generation(self) -> None:
        """A new engine: what an earlier one said (and had not been read) is stale, and it is not
        down. Under _events_lock, as _report_down's check-and-set: an old monitor's report can
        never land on the new engine."""
        with self._events_lock:
            self._gen += 1
            self._events.clear()
            self._down = False

    def _report_down(self, gen: int, reason: str, detail: str, exitcode: int | None) -> None:
        log_path = self._resolved_log_path()
        event = EngineDown(reason=reason, detail=detail, exitcode=exitcode, log_path=str(log_path))
        with self._events_lock:
            if gen != self._gen or self._down:
                return
            self._down = True
            self._queue(event)
        log.error("engine %s: %s", reason, detail)

    def _push_event(self, msg: object, gen: int) -> None:
        """Queue an event of engine generation `gen`; dropped if a newer engine has been spawned."""
        with self._events_lock:
            if gen == self._gen:
                self._queue(msg)

    def _queue(self, msg: object) -> None:
        """Under _events_lock."""
        if len(self._events) >= MAX_QUEUED_EVENTS:
            self._events.popleft()
            self._events_dropped += 1
        self._events.append(msg)

    # ------------------------------------------------------------------ control
    def send(self, msg: object) -> bool:
        """Send any control message. False if there is no running engine to send it to, or if it
        could not be written within SEND_TIMEOUT_S (the engine has stopped reading: frozen)."""
        channel = self._channel
        if channel is None:
            return False
        try:
            channel.send(msg)
            return True
        except ChannelClosed:
            return False

    def open_session(self, spec: SessionSpec | None = None) -> bool:
        return self.send(OpenSession(spec or SessionSpec()))

    def flush(self, from_tick: int, reason: str = "client") -> None:
        """Drop queued avatar media with tick >= from_tick here and in the engine."""
        with self._media:
            if self._rings is not None:
                self._rings.avatar_audio.local_flush(from_tick)
                self._rings.avatar_frames.local_flush(from_tick)
        self.send(Flush(from_tick=from_tick, reason=reason))

    def poll_events(self) -> list[object]:
        """Events received so far (protocol events and EngineDown), oldest first; never blocks."""
        with self._events_lock:
            out = list(self._events)
            self._events.clear()
        return out

    # ------------------------------------------------------------------ media
    def push_mic(self, tick: int, pcm: np.ndarray) -> bool:
        """float32 (640 * k,) mic audio covering ticks [tick, tick + k). Never blocks.

        False if (part of) it was dropped: ring full (counted as a "mic" overrun) or no engine.
        """
        pcm = np.asarray(pcm, dtype=np.float32)
        if pcm.ndim != 1 or pcm.size == 0 or pcm.size % MIC_SAMPLES_PER_TICK:
            raise ValueError(f"mic audio must be float32 (640 * k,) for whole ticks, got shape {pcm.shape}")
        with self._mic_lock:  # never _media (see __init__)
            if self._rings is None or self._doorbell is None:
                return False
            dropped = self._rings.mic.write(tick, pcm)
            self._doorbell.ring()
        return dropped == 0

    def push_frame(self, tick: int, rgb: np.ndarray) -> bool:
        """One uint8 (H <= 480, W <= 640, 3) RGB camera frame. Never blocks; False if dropped."""
        rgb = np.asarray(rgb)
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"camera frame must be uint8 (H, W, 3) RGB, got {rgb.dtype} {rgb.shape}")
        if rgb.shape[0] > CAMERA_MAX_H or rgb.shape[1] > CAMERA_MAX_W:
            raise ValueError(
                f"camera frame {rgb.shape[1]}x{rgb.shape[0]} is larger than {CAMERA_MAX_W}x{CAMERA_MAX_H}: "
                "scale it down first"
            )
        with self._media:
            if self._rings is None or self._doorbell is None:
                return False
            ok = self._rings.camera.write(tick, rgb)
            self._doorbell.ring()
        return ok

    def read_audio(self) -> list[tuple[int, np.ndarray]]:
        """Avatar audio received so far: (tick, float32 (960 * n,)) blocks in tick order."""
        with self._media:
            return [] if self._rings is None else self._rings.avatar_audio.read()

    def read_frames(self) -> list[tuple[int, np.ndarray]]:
        """Avatar frames received so far: (tick, uint8 (S, S, 3)) in tick order."""
        with self._media:
            return [] if self._rings is None else self._rings.avatar_frames.read()

    def read_flushes(self) -> tuple[list[int], list[int]]:
        """(audio, frames): from_tick of each engine flush mark that read_audio() / read_frames()
        crossed since the last call, oldest first. Media an EARLIER read returned with tick >=
        from_tick is stale (a reader that holds it drops it); media returned by the read that
        crossed the mark, or later, is current (e.g. the yielding step's own output)."""
        with self._media:
            if self._rings is None:
                return [], []
            return self._rings.avatar_audio.take_flushes(), self._rings.avatar_frames.take_flushes()

    def overruns(self) -> dict[str, int]:
        with self._media:
            counts = {} if self._rings is None else self._rings.overruns()
        counts["events"] = self._events_dropped
        return counts
