"""The engine loop inside the engine process: control reader, input drainer, stepper.

Threads (all model calls happen on the stepper thread, so models need not be thread-safe):
- control (main thread): reads control messages. Urgent ones act at once: Shutdown stops the
  loop, Flush marks the output rings (stale media is dropped by the reader) and cuts the output of
  a step in flight; Ping -> Pong. Everything touching the model is queued for the stepper.
- drainer: waits on the doorbell, moves mic/camera items from the rings into the UnitFifo,
  sends Health about once a second.
- stepper: runs queued commands (open/close/user_text/flush) between steps and steps the model
  whenever the FIFO holds a full unit.

Per step, in this order: the output media go into the rings (stamped with output ticks), then
UnitOut.events, then Timings(tick = first INPUT tick of the unit). Every client Flush(T) is
acknowledged with FlushOut(T, reason) once the output rings carry the flush mark. A model's own
FlushOut(T) marks the rings before that step's media are written, so only older media are dropped.

Hang detection: while the stepper is inside a model call, Pongs are held back until the call
returns (open/close get OPEN_ALLOWANCE_S of normal Pongs first, they may load assets). So a
step that does not return within the client's hang timeout shows up as "no Pong" = hung.
"""

from __future__ import annotations

import collections
import faulthandler
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np

from engine.ipc import Channel, ChannelClosed, MediaRings
from engine.ipc.doorbell import wait as doorbell_wait
from engine.models.lite.persona import avatar_of
from engine.protocol import (
    AVATAR_SAMPLES_PER_TICK,
    Closed,
    CloseSession,
    ErrorEvent,
    Flush,
    FlushOut,
    Health,
    OpenSession,
    Ping,
    PlaybackReport,
    Pong,
    SessionOpened,
    Shutdown,
    Timings,
    UnitIn,
    UnitOut,
    UserText,
)

from .fifo import UnitFifo
from .sysinfo import rss_mb

log = logging.getLogger("duet.engine")
T = TypeVar("T")

OPEN_ALLOWANCE_S = 60.0  # open()/close() may take this long before Pongs stop
MAX_STEP_FAILURES = 5  # consecutive failing steps before the engine gives up (fatal)
# a step still running after this long has every thread's stack written to stderr (the engine log:
# engine/process/main.py points fd 2 there): where a model is stuck, before the app (1.5 s) or the
# runner (10 s) calls the engine hung and kills it
STUCK_STEP_DUMP_S = 1.0
MAX_STUCK_DUMPS = 3  # per engine: a model that is merely slow does not fill its log with stacks
HEALTH_PERIOD_S = 1.0
EXIT_OK, EXIT_FATAL = 0, 3


class Fatal(Exception):
    pass


class Engine:
    def __init__(self, model: Any, channel: Channel, rings: MediaRings, doorbell: Any) -> None:
        self.model = model
        self.channel = channel
        self.rings = rings
        self.doorbell = doorbell
        self.unit_ticks = int(model.unit_ticks)
        self.fifo = UnitFifo(self.unit_ticks)
        self.exit_code = EXIT_OK
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._commands: collections.deque[object] = collections.deque()
        self._state_lock = threading.Lock()
        self._busy: tuple[str, float] | None = None  # (kind, monotonic start) of the model call
        self._held_pings: list[Ping] = []
        self._out_lock = threading.Lock()  # one writer at a time on the output rings
        self._flush_gen = 0
        self._flushes: collections.deque[tuple[int, int]] = collections.deque(maxlen=64)  # (gen, tick)
        self.consumed_tick = -1
        self.played_tick = -1
        self.mic_lag: tuple[float, int] | None = None  # (mic_lag_ticks, lag_from_tick) last reported
        self._session_open = False
        self._step_failures = 0
        self._frame_error_sent = False
        self._frame_size_said = False  # frames of another size than the model announced: said once
        self._stuck_dumps = 0  # steps that ran over STUCK_STEP_DUMP_S (their stacks are dumped)
        self._parent = os.getppid()

    # ------------------------------------------------------------------ helpers
    def send(self, msg: object) -> None:
        try:
            self.channel.send(msg)
        except ChannelClosed:
            self._stop.set()

    def _queue(self, cmd: object) -> None:
        with self._wake:
            self._commands.append(cmd)
            self._wake.notify_all()

    def _call(self, kind: str, fn: Callable[..., T], *args: object) -> T:
        with self._state_lock:
            self._busy = (kind, time.monotonic())
        try:
            return fn(*args)
        finally:
            with self._state_lock:
                self._busy = None
                held, self._held_pings = self._held_pings, []
            for ping in held:
                self.send(Pong(ping.seq, ping.sent_ns, self.consumed_tick))

    # ------------------------------------------------------------------ main / control thread
    def run(self) -> int:
        threads = [
            threading.Thread(target=self._drain_loop, name="duet-drainer", daemon=True),
            threading.Thread(target=self._step_loop, name="duet-stepper", daemon=True),
        ]
        for t in threads:
            t.start()
        try:
            while not self._stop.is_set():
                try:
                    if not self.channel.poll(0.1):
                        continue
                    msg = self.channel.recv()
                except ChannelClosed:
                    log.warning("control channel closed (client gone): shutting down")
                    break
                self._on_control(msg)
        finally:
            self._stop.set()
            with self._wake:
                self._wake.notify_all()
            stepper = threads[1]
            stepper.join(timeout=2.0)
            threads[0].join(timeout=1.0)
            if self._session_open and not stepper.is_alive():
                self._safe_close()
            self.send(Closed(reason="shutdown"))
        return self.exit_code

    def _on_control(self, msg: object) -> None:
        match msg:
            case Ping():
                self._on_ping(msg)
            case Shutdown():
                log.info("shutdown requested")
                self._stop.set()
            case Flush(from_tick=tick, reason=reason):
                with self._out_lock:
                    self.rings.avatar_audio.mark_flush(tick)
                    self.rings.avatar_frames.mark_flush(tick)
                    self._flush_gen += 1
                    self._flushes.append((self._flush_gen, tick))
                self.send(FlushOut(from_tick=tick, reason=reason))
                self._queue(msg)
            case PlaybackReport(played_tick=tick, mic_lag_ticks=lag, lag_from_tick=since):
                self.played_tick = max(self.played_tick, tick)
                if lag is not None:
                    self.mic_lag = (lag, since)
            case OpenSession():
                self.played_tick, self.mic_lag = -1, None  # a new session: a new output clock
                self._queue(msg)
            case CloseSession() | UserText():
                self._queue(msg)
            case ErrorEvent():
                log.warning("control: %s", msg.message)
                self.send(msg)
            case _:
                self.send(ErrorEvent(code="protocol", message=f"unexpected control message {msg!r:.80}"))

    def _on_ping(self, ping: Ping) -> None:
        with self._state_lock:
            busy = self._busy
            hold = busy is not None and (
                busy[0] not in ("open", "close") or time.monotonic() - busy[1] > OPEN_ALLOWANCE_S
            )
            if hold:
                self._held_pings.append(ping)
        if not hold:
            self.send(Pong(ping.seq, ping.sent_ns, self.consumed_tick))

    # ------------------------------------------------------------------ drainer thread
    def _drain_loop(self) -> None:
        next_health = time.monotonic() + HEALTH_PERIOD_S
        try:
            while not self._stop.is_set():
                doorbell_wait(self.doorbell, 0.05)
                got = False
                for tick, pcm in self.rings.mic.read(apply_flush=False):
                    self.fifo.push_mic(tick, pcm)
                    got = True
                for tick, rgb in self.rings.camera.read(apply_flush=False):
                    self.fifo.push_frame(tick, rgb)
                if got:
                    with self._wake:
                        self._wake.notify_all()
                now = time.monotonic()
                if now >= next_health:
                    next_health = now + HEALTH_PERIOD_S
                    self.send(self.health())
                    if os.getppid() != self._parent:
                        log.warning("parent process is gone: shutting down")
                        self._stop.set()
        except Exception:
            log.exception("drainer failed")
            self.send(ErrorEvent(code="engine", message="input drainer failed (see engine log)", fatal=True))
            self.exit_code = EXIT_FATAL
            self._stop.set()

    def health(self) -> Health:
        overruns = self.rings.overruns()
        overruns.update(
            mic_missing_ticks=self.fifo.missing_ticks,
            mic_late_ticks=self.fifo.late_ticks,
            fifo_skipped_ticks=self.fifo.skipped_ticks,
            camera_dropped=self.fifo.dropped_frames,
        )
        return Health(
            tick=self.consumed_tick, overruns=overruns, rss_mb=rss_mb(), fifo_units=self.fifo.depth_units()
        )

    # ------------------------------------------------------------------ stepper thread
    def _step_loop(self) -> None:
        try:
            while not self._stop.is_set():
                with self._wake:
                    cmd = self._commands.popleft() if self._commands else None
                    if cmd is None and not (self._session_open and self.fifo.ready()):
                        self._wake.wait(timeout=0.1)
                        continue
                if cmd is not None:
                    self._run_command(cmd)
                    continue
                unit = self.fifo.pop()
                if unit is not None:
                    self._step(unit)
        except Fatal as e:
            log.error("fatal: %s", e)
            self.send(ErrorEvent(code="fatal", message=str(e), fatal=True))
            self.exit_code = EXIT_FATAL
            self._stop.set()
        except Exception as e:
            log.exception("stepper failed")
            self.send(ErrorEvent(code="engine", message=f"stepper failed: {e}", fatal=True))
            self.exit_code = EXIT_FATAL
            self._stop.set()

    def _run_command(self, cmd: object) -> None:
        try:
            match cmd:
                case OpenSession(spec=spec):
                    # "" = the persona's own avatar: every model, the client and its files see one id
                    spec = replace(spec, avatar=avatar_of(spec.persona, spec.avatar))
                    if self._session_open:
                        self._call("close", self.model.close)
                    self._call("open", self.model.open, spec)
                    self._session_open = True
                    self.fifo.set_session_open(True)
                    self.send(SessionOpened(persona=spec.persona, avatar=spec.avatar))
                case CloseSession():
                    if self._session_open:
                        self._session_open = False
                        self.fifo.set_session_open(False)
                        self._call("close", self.model.close)
                    self.send(Closed(reason="session"))
                case UserText(text=text, operator=operator):
                    self._call("user_text", self.model.user_text, text, operator)
                case Flush(from_tick=tick):
                    self._call("flush", self.model.flush, tick)
        except MemoryError as e:
            raise Fatal(f"out of memory in {type(cmd).__name__}") from e
        except Exception as e:
            log.exception("model failed on %s", type(cmd).__name__)
            code = "session" if isinstance(cmd, OpenSession | CloseSession) else "model"
            # a bad persona file, avatar or option says itself; anything else names its type
            what = str(e) if isinstance(e, ValueError | LookupError | OSError) else f"{type(e).__name__}: {e}"
            message = what if isinstance(cmd, OpenSession) else f"{type(cmd).__name__}: {what}"
            self.send(ErrorEvent(code=code, message=message))

    def _step(self, unit: UnitIn) -> None:
        lag = self.mic_lag  # one read: the drainer thread replaces the tuple
        if lag is not None:
            unit = replace(unit, played_tick=self.played_tick, mic_lag_ticks=lag[0], lag_from_tick=lag[1])
        elif self.played_tick >= 0:
            unit = replace(unit, played_tick=self.played_tick)
        gen0 = self._flush_gen
        t0 = time.perf_counter()
        try:
            armed = self._stuck_dumps < MAX_STUCK_DUMPS and _arm_stuck_dump()
            try:
                out = self._call("step", self.model.step, unit)
            finally:
                if armed:
                    faulthandler.cancel_dump_traceback_later()
                took = time.perf_counter() - t0
                if took > STUCK_STEP_DUMP_S:  # (the dump above, if armed, has no tick or time)
                    self._stuck_dumps += 1
                    log.warning("step at tick %d took %.1f s", unit.tick, took)
            if not isinstance(out, UnitOut):
                raise TypeError(f"step() returned {type(out).__name__}, expected UnitOut")
            self._check_output(unit, out)
        except MemoryError as e:
            raise Fatal("out of memory in step()") from e
        except Exception as e:
            self._step_failures += 1
            log.exception("step failed at tick %d", unit.tick)
            self.consumed_tick = unit.tick + unit.n_ticks - 1
            self.send(ErrorEvent(code="step", message=f"step at tick {unit.tick}: {type(e).__name__}: {e}"))
            if self._step_failures >= MAX_STEP_FAILURES:
                raise Fatal(
                    f"{self._step_failures} consecutive steps failed; last: {type(e).__name__}: {e}"
                ) from e
            return
        self._step_failures = 0
        step_ms = (time.perf_counter() - t0) * 1000.0
        self.consumed_tick = unit.tick + unit.n_ticks - 1
        try:
            self._write_output(out, gen0)
        except ValueError as e:
            log.exception("bad model output at tick %d", out.tick)
            self.send(ErrorEvent(code="output", message=f"bad model output at tick {out.tick}: {e}"))
        for ev in out.events:
            self.send(ev)
        self.send(
            Timings(
                tick=unit.tick, stages=dict(out.timings), step_ms=step_ms, queue_units=self.fifo.depth_units()
            )
        )

    def _check_output(self, unit: UnitIn, out: UnitOut) -> None:
        """What the engine and the session file rely on (see docs/CONTRACTS.md, Model contract);
        a ValueError here counts as a failed step, naming what is wrong."""
        lag = int(self.model.output_lag_units) * self.unit_ticks
        if out.tick != unit.tick + lag or out.n_ticks != unit.n_ticks:
            raise ValueError(
                f"UnitOut covers ticks {out.tick}..{out.tick + out.n_ticks - 1}, expected"
                f" {unit.tick + lag}..{unit.tick + lag + unit.n_ticks - 1} (unit.tick + output_lag_units"
                f" * unit_ticks = {unit.tick} + {lag}, and n_ticks = {unit.n_ticks})"
            )
        if out.pcm is not None and (not isinstance(out.pcm, np.ndarray) or out.pcm.dtype.kind != "f"):
            got = out.pcm.dtype if isinstance(out.pcm, np.ndarray) else type(out.pcm).__name__
            raise ValueError(f"UnitOut.pcm must be float32 samples in -1..1 (or None), got {got}")
        if not isinstance(out.frames, np.ndarray) or out.frames.dtype != np.uint8:
            got = out.frames.dtype if isinstance(out.frames, np.ndarray) else type(out.frames).__name__
            raise ValueError(f"UnitOut.frames must be uint8 RGB 0..255 (n_ticks, S, S, 3), got {got}")
        side = int(self.model.frame_size)
        if out.frames.shape[1:3] != (side, side) and not self._frame_size_said:
            self._frame_size_said = True  # said once; the session file scales them to the announced size
            self.send(
                ErrorEvent(
                    code="frame_size",
                    message=f"model frames are {out.frames.shape[2]}x{out.frames.shape[1]} but it announced"
                    f" frame_size {side}: they are scaled to {side}x{side}",
                )
            )

    def _write_output(self, out: UnitOut, gen0: int) -> None:
        frames = out.frames
        size_ok = frames.shape[1] * frames.shape[2] <= self.rings.avatar_frames.max_pixels
        if not size_ok and not self._frame_error_sent:
            self._frame_error_sent = True
            self.send(
                ErrorEvent(
                    code="frame_size",
                    message=f"model frames {frames.shape[2]}x{frames.shape[1]} exceed the ring's "
                    f"max frame size {self.rings.max_frame_size}: frames dropped",
                )
            )
        pcm = np.ascontiguousarray(out.pcm_or_silence(), np.float32)
        with self._out_lock:
            cut_ticks = [tick for gen, tick in self._flushes if gen > gen0]
            n = out.n_ticks if not cut_ticks else max(0, min(out.n_ticks, min(cut_ticks) - out.tick))
            for ev in out.events:  # the model's own yield: stale media already sent must go
                if isinstance(ev, FlushOut):
                    self.rings.avatar_audio.mark_flush(ev.from_tick)
                    self.rings.avatar_frames.mark_flush(ev.from_tick)
            if n > 0:
                self.rings.avatar_audio.write(
                    out.tick, np.ascontiguousarray(pcm[: n * AVATAR_SAMPLES_PER_TICK])
                )
                if size_ok:
                    for i in range(n):
                        self.rings.avatar_frames.write(out.tick + i, frames[i])

    def _safe_close(self) -> None:
        try:
            self.model.close()
        except Exception:
            log.exception("model.close() failed at shutdown")
        self._session_open = False


def _arm_stuck_dump() -> bool:
    """Arm the stuck-step stack dump (STUCK_STEP_DUMP_S); False where stderr is no real file
    (an engine run inside a test that captures it)."""
    if sys.stderr is None:  # a windowed launch (pythonw): nowhere to write
        return False
    try:
        faulthandler.dump_traceback_later(STUCK_STEP_DUMP_S, file=sys.stderr)
    except (AttributeError, OSError, RuntimeError, ValueError):  # io.UnsupportedOperation: OSError
        return False
    return True
