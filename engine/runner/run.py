"""The headless runner: input file -> engine (EngineClient) -> two-sided session file.

Pacing: `realtime` feeds tick k at start + k * 40 ms; otherwise as fast as possible, keeping at most
`max_ahead_units` units ahead of what the engine has stepped (client.consumed_tick), never more.
Avatar output stamped tick t counts as "played" once the input has passed tick t and the step that
produced it has reported (its Timings event; the engine sends a step's media, then its events,
then Timings): only then is it written to the session and heard by the echo path. A FlushOut(T)
drops not-yet-played output >= T from earlier steps, as a speaker queue would (the step that
yielded is the one after the newest Timings; its own output is kept). With echo on, input tick k
is fed only once the output it echoes has been played; the model's output lag keeps that causal
(EchoPath.check_causal).

After the input, `tail_s` seconds of silence are fed, or with tail_s=None ("auto") silence until
the avatar is done: at least TAIL_MIN_S (room to notice the end of a turn and answer), then while
it is thinking or speaking or was heard less than TAIL_QUIET_S ago, at most TAIL_MAX_S.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.media import MediaError, MediaInput, TickInput
from engine.protocol import (
    AVATAR_SAMPLES_PER_TICK,
    MIC_SAMPLES_PER_TICK,
    TICK_S,
    Closed,
    CloseSession,
    EngineDown,
    ErrorEvent,
    FlushOut,
    PlaybackReport,
    SessionOpened,
    SessionSpec,
    StateChanged,
    Timings,
    UserText,
)
from engine.registry import check_options
from engine.registry import info as model_info
from engine.session import SessionWriteError, SessionWriter, session_meta

from .echo import EchoPath
from .output import reserve_output, unreserve

if TYPE_CHECKING:
    from engine.client import EngineClient


TAIL_MIN_S = 2.0  # auto tail: silence always fed after the input (end of turn + a reply starting)
TAIL_QUIET_S = 1.0  # auto tail: the avatar counts as done after this long without its voice
# the app calls an engine hung when no ping is answered for 1.5 s; its pings go every 0.2 s, so a
# step of 1.3 s can already be one
APP_HANG_MS = 1300.0
TAIL_MAX_S = 30.0  # auto tail: never more than this (a model that never stops talking)
VOICE_PEAK = 1e-3  # avatar audio ticks with a peak above this count as its voice


class RunnerError(RuntimeError):
    """The run could not finish (engine down, engine stalled, fatal model error)."""


class EmptyInputError(MediaError):
    """The input decoded to nothing at all: no audio samples, no video frames."""


@dataclass
class RunConfig:
    model: str
    input: str  # file path or "lavfi:GRAPH"
    output: str  # NAME.mkv
    realtime: bool = False
    max_ahead_units: int = 2  # fast mode: input units fed beyond what the engine has stepped
    echo_delay_ms: float = 0.0
    echo_gain: float = 0.0
    tail_s: float | None = 0.0  # silence fed after the input; None: until the avatar is done
    max_s: float | None = None  # stop the input after this many seconds (needed for lavfi sources)
    camera: bool = True  # feed the input's video as the camera
    persona: str = "guide"
    avatar: str = ""  # "" = the persona's own (engine.models.lite.persona.avatar_of)
    brain: str = "script"
    llm_url: str = ""
    llm_model: str = ""
    device: str = "auto"
    weights: str = ""
    revision: str = ""
    start_timeout_s: float = 120.0
    hang_timeout_s: float = 10.0  # offline runs tolerate slow steps
    stall_timeout_s: float = 60.0  # no engine progress for this long -> RunnerError
    log_path: str | None = None
    overwrite: bool = False  # replace an existing output (else it is an error: nothing is lost)
    options: dict[str, str] = field(default_factory=dict)  # SessionSpec.options (per session)
    model_options: dict[str, str] = field(default_factory=dict)  # ModelOptions.extra (model build)
    # typed user lines (or operator lines, Wizard-of-Oz) sent when the input reaches a time:
    # (seconds, text, operator)
    texts: list[tuple[float, str, bool]] = field(default_factory=list)
    label: str = ""  # a study's label (participant, condition): metadata "label" when given


class _Run:
    def __init__(self, cfg: RunConfig, client: EngineClient, writer: SessionWriter, unit: int, lag: int):
        self.cfg, self.client, self.writer = cfg, client, writer
        self.unit, self.lag = unit, lag
        self.echo = EchoPath(cfg.echo_delay_ms, cfg.echo_gain)
        self.echo.check_causal(unit, lag)
        self.pending_audio: dict[int, np.ndarray] = {}  # output tick -> float32 (960,)
        self.pending_frames: dict[int, np.ndarray] = {}  # output tick -> uint8 (S, S, 3)
        self.out_hi = 0  # 1 + newest output tick received
        self.committed_hi = 0  # 1 + newest output tick written (played)
        self.tick = 0  # next input tick
        self.n_events = 0
        self.last_step = -unit  # input tick of the newest step reported (Timings)
        self.drop_windows: list[tuple[int, int]] = []  # [lo, hi) output ticks a FlushOut cancelled
        self.down: EngineDown | None = None
        self.closed = False
        self.opened = False
        # (tick, text, operator, seconds as given), in time order
        self.texts = sorted((round(sec / TICK_S), text, op, sec) for sec, text, op in cfg.texts)
        self.state = "listening"  # the avatar's state from its latest StateChanged
        self.voice_hi = -1  # newest output tick received with the avatar's voice in it
        self.warnings: list[str] = []  # non-fatal model errors ("llm: the chat server ..."), once each
        self.slow_steps = 0  # steps longer than the app's hang timeout (APP_HANG_MS)

    # -------------------------------------------------------------- engine -> runner
    def pump(self) -> None:
        """Events first (a FlushOut must drop output received before it), then media."""
        for ev in self.client.poll_events():
            self._event(ev)
        for tick, pcm in self.client.read_audio():
            pcm = np.asarray(pcm, np.float32).reshape(-1)
            for i in range(pcm.shape[0] // AVATAR_SAMPLES_PER_TICK):
                self._store(
                    self.pending_audio, tick + i, pcm[i * AVATAR_SAMPLES_PER_TICK :][:AVATAR_SAMPLES_PER_TICK]
                )
        for tick, rgb in self.client.read_frames():
            self._store(self.pending_frames, tick, rgb)
        self.commit()
        if self.down is not None:
            raise RunnerError(
                f"engine {self.down.reason}: {self.down.detail or 'no detail'}"
                + (f" (exit code {self.down.exitcode})" if self.down.exitcode is not None else "")
                + (f"; engine log: {self.down.log_path}" if self.down.log_path else "")
            )

    def _store(self, table: dict[int, np.ndarray], tick: int, data: np.ndarray) -> None:
        if tick >= self.committed_hi and not any(lo <= tick < hi for lo, hi in self.drop_windows):
            table[tick] = data
            if table is self.pending_audio and float(np.max(np.abs(data), initial=0.0)) > VOICE_PEAK:
                self.voice_hi = max(self.voice_hi, tick)
        self.out_hi = max(self.out_hi, tick + 1)

    def _event(self, ev: object) -> None:
        tick = getattr(ev, "tick", None)
        tick = tick if isinstance(tick, int) and tick >= 0 else self.tick
        self.writer.add_event(tick, "client" if isinstance(ev, EngineDown) else "engine", ev)
        self.n_events += 1
        match ev:
            case Timings(tick=t, step_ms=ms):
                self.last_step = max(self.last_step, t)
                if ms > APP_HANG_MS:
                    self.slow_steps += 1
            case FlushOut(from_tick=t):
                # raised by the step after the newest Timings: output of earlier steps from t on is stale
                hi = self.last_step + self.unit + self.lag * self.unit
                self.drop_windows.append((t, hi))
                for table in (self.pending_audio, self.pending_frames):
                    for k in [k for k in table if t <= k < hi]:
                        del table[k]
            case EngineDown():
                self.down = ev
            case ErrorEvent(fatal=True):
                raise RunnerError(f"engine error ({ev.code}): {ev.message}")
            case ErrorEvent(code="session") if not self.opened:
                raise RunnerError(f"the engine could not open the session: {ev.message}")
            case ErrorEvent(code=code, message=message):
                if f"{code}: {message}" not in self.warnings:
                    self.warnings.append(f"{code}: {message}")
            case SessionOpened():
                self.opened = True
            case StateChanged(state=state):
                self.state = state
            case Closed():
                self.closed = True
            case _:
                pass

    def final_hi(self) -> int:
        """Output ticks below this come from steps that have reported (no FlushOut can still cancel them)."""
        return self.last_step + self.unit * (1 + self.lag)

    def played_known(self, tick: int) -> bool:
        """Output up to `tick` has arrived and is final (ticks before the first output are silence)."""
        return tick < self.lag * self.unit or (self.out_hi > tick and self.final_hi() > tick)

    def commit(self) -> None:
        """Output that is played (tick < next input tick) and final: into the file and the echo path."""
        hi = min(self.tick, self.final_hi())
        before = self.committed_hi
        for t in sorted(t for t in {*self.pending_audio, *self.pending_frames} if t < hi):
            pcm = self.pending_audio.pop(t, None)
            if pcm is not None:
                self.writer.add_avatar_audio(t, pcm)
                self.echo.play(t, pcm)
            frame = self.pending_frames.pop(t, None)
            if frame is not None:
                self.writer.add_avatar_frame(t, frame)
            self.committed_hi = t + 1
        if self.committed_hi > before:  # the "speaker" has played up to here (the model aligns yields)
            self.drop_windows = [w for w in self.drop_windows if w[1] > self.committed_hi]
            self.client.send(PlaybackReport(played_tick=self.committed_hi - 1))

    def avatar_busy(self) -> bool:
        """Thinking or speaking, or its voice was in the output less than TAIL_QUIET_S ago."""
        quiet = round(TAIL_QUIET_S / TICK_S)
        return self.state in ("thinking", "speaking") or self.voice_hi >= self.tick - quiet

    def tail_more(self, fed: int) -> bool:
        """With `fed` ticks of tail silence fed so far: feed another? (tail_s=None: auto)."""
        if self.cfg.tail_s is not None:
            return fed < round(self.cfg.tail_s / TICK_S)
        if fed < round(TAIL_MIN_S / TICK_S):
            return True
        return fed < round(TAIL_MAX_S / TICK_S) and self.avatar_busy()

    # -------------------------------------------------------------- runner -> engine
    def wait_until(self, ready: Any, what: str, timeout_s: float | None = None) -> None:
        """Pump until ready() is true; RunnerError if the engine makes no progress for too long."""
        limit = timeout_s if timeout_s is not None else self.cfg.stall_timeout_s
        last = (self.client.consumed_tick, self.out_hi)
        since = time.monotonic()
        while True:
            self.pump()
            if ready():
                return
            now = (self.client.consumed_tick, self.out_hi)
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since > limit:
                raise RunnerError(f"engine made no progress for {limit:.0f} s while waiting for {what}")
            time.sleep(0.002)

    def feed(self, inp: TickInput, t0: float) -> None:
        k = inp.tick
        if self.cfg.realtime:
            self.wait_until(lambda: time.monotonic() >= t0 + k * TICK_S, "the clock")
        else:
            ahead = self.cfg.max_ahead_units * self.unit
            self.wait_until(
                lambda: k - self.client.consumed_tick <= ahead, f"the engine to step tick {k - ahead}"
            )
        self.tick = k  # output ticks < k have been played by now
        if self.echo.enabled:
            need = self.echo.needed_output_tick(k)
            self.wait_until(lambda: self.played_known(need), f"avatar output tick {need} (echo)")
        self.commit()
        while self.texts and self.texts[0][0] <= k:
            _, text, operator, _ = self.texts.pop(0)
            msg = UserText(text=text, tick=k, operator=operator)
            self.client.send(msg)
            self.writer.add_event(k, "runner", msg)
        mic = self.echo.mix(k, inp.mic)
        self.writer.add_user_audio(k, mic)
        self.client.push_mic(k, mic)
        if inp.frame is not None:
            if self.writer.user_video is not None:
                self.writer.add_user_frame(k, inp.frame)
            self.client.push_frame(k, inp.frame)
        self.tick = k + 1
        self.commit()


def _inputs(media: MediaInput, more: Callable[[int], bool], unit: int) -> Iterator[tuple[TickInput, bool]]:
    """(tick, is tail): the input's ticks, then silence while more(ticks of silence so far), padded
    to a whole unit. The camera keeps its last frame through the tail."""
    k = 0
    last_frame: np.ndarray | None = None
    for inp in media.ticks():
        last_frame = inp.frame
        k = inp.tick + 1
        yield inp, False
    if k == 0:
        raise EmptyInputError(f"{media.spec}: no audio samples or video frames in it")
    silence = np.zeros(MIC_SAMPLES_PER_TICK, np.float32)
    t = k
    while more(t - k) or t % unit:
        yield TickInput(tick=t, mic=silence, frame=last_frame), True
        t += 1


def check_weights(model: str, weights: str) -> None:
    """ValueError when `weights` are given to a built-in model that loads none (it would ignore
    them while the session's metadata named them). Models of one's own (DUET_EXTRA_MODELS: their
    options unknown) may take weights."""
    entry = model_info(model)
    if weights and entry.options is not None and not entry.needs_weights:
        raise ValueError(f"model {model!r} takes no --weights")


def weights_for_meta(weights: str) -> str:
    """The weights as the session's metadata names them: a local folder by its absolute path (a
    relative one means nothing once the file is elsewhere), a hub repo id as given."""
    folder = Path(weights).expanduser()
    return str(folder.resolve()) if folder.is_dir() else weights


def run_session(cfg: RunConfig, client: EngineClient | None = None) -> dict[str, Any]:
    """Run `cfg.input` through the engine into `cfg.output`; returns the JSON summary.

    Raises MediaError (bad input), UnknownModelError, EngineStartError, SessionWriteError, RunnerError.
    On RunnerError the partial session file is kept (closed and readable).
    """
    model_info(cfg.model)  # unknown model or option: clear error before anything is spawned
    check_options(cfg.model, cfg.model_options)
    check_weights(cfg.model, cfg.weights)
    if cfg.tail_s is not None and not (cfg.tail_s >= 0 and math.isfinite(cfg.tail_s)):
        raise ValueError(f"tail_s must be a finite number of seconds >= 0 (or None: auto), got {cfg.tail_s}")
    if cfg.max_s is not None and not (cfg.max_s > 0 and math.isfinite(cfg.max_s)):
        raise ValueError(f"max_s must be a finite number of seconds > 0, got {cfg.max_s}")
    EchoPath(cfg.echo_delay_ms, cfg.echo_gain)  # bad echo settings fail before any file is touched
    if cfg.brain == "llm" and not cfg.llm_url:
        raise ValueError(
            "--brain llm needs --llm-url (an OpenAI-compatible server, e.g. http://127.0.0.1:11434/v1)"
        )
    avatar = _persona_and_avatar(cfg.persona, cfg.avatar)  # the file and the engine name the same one
    max_ticks = None if cfg.max_s is None else max(1, round(cfg.max_s / TICK_S))
    reserved = reserve_output(Path(cfg.output), cfg.input, cfg.overwrite)
    own_client = client is None
    media: MediaInput | None = None
    try:  # until the writer opens them, the reserved files are empty and go with any failure
        media = MediaInput(cfg.input, camera=cfg.camera, max_ticks=max_ticks)
        if media.duration_ticks() is None and max_ticks is None:
            # a file that does not say how long it is may simply be empty (a WAV header, no samples)
            if not cfg.input.startswith("lavfi:") and next(iter(media.ticks()), None) is None:
                raise EmptyInputError(f"{cfg.input}: no audio samples or video frames in it")
            raise ValueError(f"{cfg.input}: input has no known length; give a maximum duration (--max-s)")
        if client is None:
            from engine.client import EngineClient

            client = EngineClient(
                model=cfg.model,
                device=cfg.device,
                weights=cfg.weights,
                revision=cfg.revision,
                hang_timeout_s=cfg.hang_timeout_s,
                log_path=cfg.log_path,
                model_options=dict(cfg.model_options),
            )
    except BaseException:
        if media is not None:
            _cleanup([media.close], quiet=True)
        unreserve(reserved)
        raise
    writer: SessionWriter | None = None
    try:
        ready = client.start(timeout_s=cfg.start_timeout_s)
        spec = SessionSpec(
            persona=cfg.persona,
            avatar=avatar,
            brain=cfg.brain,
            llm_url=cfg.llm_url,
            llm_model=cfg.llm_model,
            frame_size=ready.frame_size,
            options=dict(cfg.options),
        )
        writer = SessionWriter(
            cfg.output,
            model=cfg.model,
            persona=cfg.persona,
            avatar=avatar,
            avatar_size=ready.frame_size,
            user_video_size=media.frame_size if media.has_video else None,
            meta=run_meta(cfg, spec, ready.device, ready.unit_ticks, ready.output_lag_units),
        )
        run = _Run(cfg, client, writer, ready.unit_ticks, ready.output_lag_units)
        client.open_session(spec)
        try:
            # the first tick is fed once the session is open: until then the engine keeps only the
            # newest ticks, and a --realtime clock started earlier would lose the input's start
            run.wait_until(lambda: run.opened, "the session to open", timeout_s=cfg.start_timeout_s)
            t0 = time.monotonic()
            tail_ticks = 0
            for inp, tail in _inputs(media, run.tail_more, ready.unit_ticks):
                tail_ticks += tail
                run.feed(inp, t0)
            last_in = run.tick - 1
            last_out = last_in + ready.output_lag_units * ready.unit_ticks
            run.wait_until(lambda: run.played_known(last_out), f"the avatar output of tick {last_out}")
            run.tick = last_out + 1  # the tail of the output plays out
            run.commit()
            client.send(CloseSession())
            # an engine that does not acknowledge CloseSession loses nothing we need
            with contextlib.suppress(RunnerError):
                run.wait_until(lambda: run.closed, "the session to close", timeout_s=3.0)
        except RunnerError as e:
            run.tick = run.last_step = run.out_hi  # keep everything the engine produced
            with contextlib.suppress(RunnerError):
                run.commit()
            raise RunnerError(f"{e}; {_kept(writer)}") from None
        except EmptyInputError:
            with contextlib.suppress(Exception):
                writer.close()  # nothing was fed: the file this run made holds nothing either
            for p in (Path(cfg.output), writer.events_path):
                p.unlink(missing_ok=True)
            raise
        except MediaError as e:  # the input broke off mid-way: what was fed is a session
            raise MediaError(f"{e}; {_kept(writer)}") from None
        except SessionWriteError as e:  # a full disk mid-run: what made it to disk stays readable
            raise SessionWriteError(e.errno, f"{e}; {_kept(writer)}", e.filename) from None
        wall = time.monotonic() - t0
        n_ticks = run.tick
        if run.slow_steps:  # fine here (the runner waits 10 s), but the window would restart it
            steps = "1 model step" if run.slow_steps == 1 else f"{run.slow_steps} model steps"
            run.warnings.append(
                f"{steps} took longer than {APP_HANG_MS / 1000:g} s: in the app (hang timeout 1.5 s)"
                " the engine would be called hung and restarted"
            )
        if run.state in ("thinking", "speaking"):  # the input and its tail ran out mid-answer
            ended = f"--tail-s {cfg.tail_s:g}" if cfg.tail_s is not None else f"the {TAIL_MAX_S:g} s tail"
            run.warnings.append(
                f"the avatar was still {run.state} when {ended} ended: the file cuts its answer short"
                " (give a longer --tail-s)"
            )
        for _, text, operator, sec in run.texts:  # timed past the last tick fed: never sent
            flag = "--operator" if operator else "--say"
            run.warnings.append(
                f"{flag} {sec:g}:{text} was not sent: the input (and its tail) ended at"
                f" {(last_in + 1) * TICK_S:g} s"
            )
        summary: dict[str, Any] = {
            "path": str(Path(cfg.output).resolve()),
            "events_path": str(writer.events_path.resolve()),
            "model": cfg.model,
            "device": ready.device,
            "ticks": n_ticks,
            "input_ticks": last_in + 1,
            "tail_s": round(tail_ticks * TICK_S, 3),
            "duration_s": round(n_ticks * TICK_S, 3),
            "wall_s": round(wall, 3),
            "rtf": round(wall / max((last_in + 1) * TICK_S, 1e-9), 4),
            "events": run.n_events,
            "realtime": cfg.realtime,
            "echo": {"delay_ms": cfg.echo_delay_ms, "gain": cfg.echo_gain},
            "overruns": dict(client.overruns()),
            "warnings": run.warnings,
        }
        try:
            writer.close()
        except SessionWriteError as e:  # the disk filled up while the file was finished
            raise SessionWriteError(e.errno, f"{e}; {_kept(writer)}", e.filename) from None
        summary["late"] = writer.stats()
    except BaseException:
        # the engine and its shared memory go even when closing the file fails (a full disk); the
        # error that stopped the run is the one reported, not a cleanup's echo of it
        _cleanup(_closers(media, writer, client if own_client else None), quiet=True)
        if writer is None:  # stopped before the session opened (the model did not load, Ctrl-C)
            unreserve(reserved)
        raise
    _cleanup(_closers(media, writer, client if own_client else None), quiet=False)
    return summary


def run_meta(
    cfg: RunConfig, spec: SessionSpec, device: str, unit_ticks: int, output_lag_units: int
) -> dict[str, str]:
    """Container metadata of a runner file: session_meta (brain, device, unit, output lag, options,
    persona hash) plus the input's name and the run settings that shape the data: realtime
    ("true"/"false"), max_ahead_units (fast mode's pacing), echo_delay_ms and echo_gain (0: no
    echo), tail_s ("auto" or the seconds asked for), max_s, weights/revision and label when given."""
    meta = {
        "input": Path(cfg.input).name,
        **session_meta(spec, device, unit_ticks, output_lag_units, dict(cfg.model_options)),
        "realtime": "true" if cfg.realtime else "false",
        "echo_delay_ms": f"{cfg.echo_delay_ms:g}",
        "echo_gain": f"{cfg.echo_gain:g}",
        "tail_s": "auto" if cfg.tail_s is None else f"{cfg.tail_s:g}",
    }
    if not cfg.realtime:
        meta["max_ahead_units"] = str(cfg.max_ahead_units)
    if cfg.max_s is not None:
        meta["max_s"] = f"{cfg.max_s:g}"
    if cfg.weights:
        meta["weights"] = weights_for_meta(cfg.weights)
    if cfg.revision:
        meta["revision"] = cfg.revision
    if cfg.label:
        meta["label"] = cfg.label
    return meta


def _persona_and_avatar(persona: str, avatar: str) -> str:
    """The avatar a session shows, after checking that the persona loads, that the `voice:` and
    `avatar:` it names exist, and that the avatar (and its own `voice:`) loads (PersonaError /
    AvatarError, both ValueError, naming the file and line): a typo fails before any file is made.
    Torch-free: YAML, a glob and the voice ids `duet-engine voices` lists."""
    from engine.models.lite.performer.spec import load_avatar
    from engine.models.lite.persona import avatar_of, load_persona

    load_persona(persona)  # checks voice: and avatar:; avatar_of falls back quietly on a bad one
    chosen = avatar_of(persona, avatar)
    load_avatar(chosen)
    return chosen


def _kept(writer: SessionWriter) -> str:
    """After a failed run: close the file (quietly: the failure is what gets reported) and say
    whether the partial session is there."""
    with contextlib.suppress(Exception):
        writer.close()
    path = writer.path
    return f"the partial session is kept in {path}" if path.is_file() else "no session file was written"


def _closers(
    media: MediaInput, writer: SessionWriter | None, client: EngineClient | None
) -> list[Callable[[], object]]:
    steps: list[Callable[[], object]] = [media.close]
    steps += [writer.close] if writer is not None else []
    steps += [client.stop] if client is not None else []
    return steps


def _cleanup(steps: list[Callable[[], object]], quiet: bool) -> None:
    """Run every step; then raise the first failure unless `quiet` (another error is on its way)."""
    first: BaseException | None = None
    for step in steps:
        try:
            step()
        except Exception as e:
            first = first or e
    if first is not None and not quiet:
        raise first
