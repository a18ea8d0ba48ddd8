"""LiteModel: the offline CPU cascade behind the engine contract.

Per unit (4 ticks = 160 ms): echo suppression against what the avatar emitted -> VAD (32 ms
chunks) -> turn detection (onset / pause / end of turn) -> streaming ASR while the user speaks ->
on end of turn the brain + voice run in a worker thread (speaker.py) -> the output clock lays the
synthesised sentences out tick by tick (960 samples each) -> the performer draws one frame per
tick with the mouth pose of the viseme track. Camera frames feed face presence and gaze.

Model options (ModelOptions.extra): frame_size (default 512) — what Ready announces.
Session options (SessionSpec.options, all strings):
  eot_ms          end-of-turn silence, default 300 (doubled while only one word was heard)
  tts_wait_ms     how long a step may wait for the worker's next sentence, default 100
                  (offline runs and tests may set it high for fully deterministic output)
  greet_at_start  "1": say the greeting when the session opens (default: greet faces only)
  llm_first_s     seconds the LLM brain may take to the first text of a reply (default 4; then
                  up to 8 s more for the first whole sentence) before the script answers
  llm_idle_s      seconds a streaming LLM reply may go without text before it is cut off (default 3)
The LLM brain's API key comes from the environment: DUET_LLM_API_KEY, else OPENAI_API_KEY.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.protocol import (
    MIC_RATE,
    MIC_SAMPLES_PER_TICK,
    TICK_S,
    Decision,
    DecisionChanged,
    ErrorEvent,
    FlushOut,
    Presence,
    SessionSpec,
    StateChanged,
    Transcript,
    UnitIn,
    UnitOut,
)
from engine.registry import ModelOptions

from .brain import ScriptBrain, split_sentences
from .echo import EchoSuppressor
from .hearing import VAD_CHUNK, StreamingAsr, StreamingVad
from .output import OutputQueue
from .parts import frame_size_option, make_performer, make_voice, opt_float
from .persona import Persona, load_persona, voice_of
from .seeing import FaceWatcher
from .speaker import Speaker
from .turn import TurnConfig, TurnDetector, TurnEvent
from .visits import Greeter, SpeechCache

log = logging.getLogger(__name__)

_PRE_ROLL = int(0.35 * MIC_RATE)  # audio before a confirmed onset handed to the recognizer
_LISTEN_HOLD_S = 6.0  # stay "listening" this long after the last exchange, then "idle"


class LiteModel:
    unit_ticks = 4
    output_lag_units = 1
    trained = True

    def __init__(
        self,
        options: ModelOptions | None = None,
        *,
        voice_factory: Callable[[str], Any] | None = None,
        performer_factory: Callable[[str, int], Any] | None = None,
    ) -> None:
        self.options = options or ModelOptions()
        # one core for the whole cascade: cv2's worker threads only add contention (drawing ~4x slower)
        cv2.setNumThreads(1)
        self.frame_size = frame_size_option(self.options.extra)  # Ready.frame_size
        self._voice_factory = voice_factory
        self._performer_factory = performer_factory
        # loaded once per model (process): VAD ~10 ms, recognizer ~0.5 s, face cascade ~50 ms
        self._vad = StreamingVad()
        self._asr = StreamingAsr()
        self._faces = FaceWatcher()
        self._speaker: Speaker | None = None
        self._voice_cache: dict[str, Any] = {}
        self._warm: set[str] = set()
        self._lines: dict[str, SpeechCache] = {}  # voice id -> its synthesised greeting
        self._opened = False

    # ------------------------------------------------------------------ contract
    def open(self, session: SessionSpec) -> None:
        if self._opened:
            self.close()
        opts = dict(session.options)
        persona = load_persona(session.persona)
        self.persona: Persona = persona
        self.frame_size = int(session.frame_size)
        if not 64 <= self.frame_size <= 2048:
            raise ValueError(f"frame_size must be in 64..2048, got {self.frame_size}")
        self.avatar_id = session.avatar or persona.avatar or "ada"
        # the persona's voice, else the avatar's own, else joe
        self.voice_id = session.voice or voice_of(persona, self.avatar_id)
        if self.voice_id not in self._voice_cache:
            self._voice_cache[self.voice_id] = make_voice(self.voice_id, persona, self._voice_factory)
        self.voice = self._voice_cache[self.voice_id]
        self.performer = make_performer(self.avatar_id, self.frame_size, self._performer_factory)
        from engine.models.lite.performer import PerformCue
        from engine.models.lite.visemes import MouthPose

        self._cue_cls, self._mouth_closed = PerformCue, MouthPose.closed()
        self.script = ScriptBrain(persona)
        self.brain: Any = self.script
        self._notices: list[Any] = []  # events to send with the first step
        self._brain_error_said = ""  # the chat-server error last reported (see _brain_notice)
        if session.brain == "llm":
            from .llm import LlmBrain, api_key_from_env

            first_s, idle_s = opt_float(opts, "llm_first_s", 4.0), opt_float(opts, "llm_idle_s", 3.0)
            try:
                self.brain = LlmBrain(
                    session.llm_url,
                    session.llm_model,
                    persona,
                    fallback=self.script,
                    first_token_timeout_s=first_s,
                    idle_timeout_s=idle_s,
                    api_key=api_key_from_env(),
                )
            except ValueError as e:  # unusable settings: talk from the script, and say why
                self._notices.append(ErrorEvent("llm_settings", f"{e}; answering from the persona script"))
        elif session.brain != "script":
            raise ValueError(f"unknown brain {session.brain!r}: use 'script' or 'llm'")
        self.greet = session.greet
        self._tts_wait_s = opt_float(opts, "tts_wait_ms", 100.0) / 1000
        self._eot_ms = opt_float(opts, "eot_ms", 300.0)
        self._turns = TurnDetector(TurnConfig(eot_ms=self._eot_ms))
        self._vad.reset()
        self._asr.reset()  # each session hears from the same starting point
        self._asr.set_phrases(e for intent in persona.all_intents() for e in intent.examples)
        self._echo = EchoSuppressor(VAD_CHUNK)
        self._out = OutputQueue()
        if self.voice_id not in self._warm:  # the first synthesis of a voice is slow (onnx warm-up)
            self.voice.synthesize("Hello.")
            self._warm.add(self.voice_id)
        if self.voice_id not in self._lines:  # the greeting, synthesised once per voice
            self._lines[self.voice_id] = SpeechCache(self.voice.synthesize)
        self._speaker = Speaker(self._lines[self.voice_id].synthesize)
        self._turn = -1  # current reply turn id in the speaker (-1: none)
        self._spec_turn = -1  # a speculative reply being synthesised during a pause (-1: none)
        self._spec_answer = ""
        self._answering = -1  # speaker turn answering the latest user turn
        self._turn_started = False  # has the current reply emitted audio yet?
        self._decision = Decision.LISTEN
        self._state = ""
        self._pending_texts: list[tuple[str, bool]] = []
        self._carry = ""  # user words of a turn that was interrupted before we answered
        self._partial = ""
        self._history = np.zeros(0, np.float32)  # last _PRE_ROLL residual samples
        self._gate_log: deque[tuple[float, float, float]] = deque(maxlen=6)  # (residual, bound, vad)
        self._dump: list[tuple[Any, ...]] | None = [] if os.environ.get("DUET_ECHO_DUMP") else None
        self._greeter = Greeter()
        self._nod_until = -1.0
        self._last_exchange_s = -1e9
        self._faces = FaceWatcher()
        self._tick = -1
        self.last_final = ""  # for tests and logs: the latest final user transcript
        self._opened = True
        if opts.get("greet_at_start", "") == "1":
            self._say(persona.greeting)
            self._greeter.greeted_at_start()

    def step(self, unit: UnitIn) -> UnitOut:
        if not self._opened:
            raise RuntimeError("LiteModel.step() before open()")
        t_step = time.perf_counter()
        timings: dict[str, float] = {}
        events: list[Any] = list(self._notices)
        self._notices.clear()
        self._tick = unit.tick
        end_s = (unit.tick + unit.n_ticks) * TICK_S
        out_tick = unit.tick + self.output_lag_units * self.unit_ticks
        yielded = False

        # typed text / operator lines
        texts = [(t, False) for t in unit.texts] + self._pending_texts
        self._pending_texts = []
        for text, operator in texts:
            if operator:
                self._say(text)
            elif text.strip():
                events.append(Transcript(unit.tick, "user", text.strip(), True))
                self._reply(text.strip())

        # hearing: echo -> VAD -> turns -> ASR
        t0 = time.perf_counter()
        self._echo.note_played(unit.played_tick, unit.mic_lag_ticks, unit.lag_from_tick)
        mic = unit.mic.astype(np.float32, copy=False)
        residual, echo_bound = self._echo.process(unit.tick, mic, learn=not self._turns.in_turn)
        t1 = time.perf_counter()
        probs = self._vad.process(residual)
        t2 = time.perf_counter()
        timings["echo"], timings["vad"] = (t1 - t0) * 1000, (t2 - t1) * 1000
        asr_ms = turn_ms = 0.0
        n_chunks = len(probs)
        start_sample = unit.tick * MIC_SAMPLES_PER_TICK
        for i in range(n_chunks):
            chunk = residual[i * VAD_CHUNK : (i + 1) * VAD_CHUNK]
            prob = float(probs[i])
            if i < len(echo_bound) and echo_bound[i] > 0:
                rms = float(np.sqrt(np.mean(chunk**2)))
                self._gate_log.append((round(rms, 4), round(float(echo_bound[i]), 4), round(prob, 2)))
                if rms <= echo_bound[i]:
                    prob = 0.0  # could be the avatar's own voice coming back
                else:  # over the avatar's voice one chunk alone never starts a turn (a leak spike)
                    prob = min(prob, self._turns.config.strong_threshold - 0.01)
            chunk_start_s = (start_sample + i * VAD_CHUNK) / MIC_RATE
            self._history = np.concatenate([self._history, chunk])[-_PRE_ROLL:]
            update = self._turns.update(chunk_start_s, prob)
            if self._spec_turn >= 0 and self._turns.user_speaking:
                self._cancel_speculation()  # the user went on talking
            ta = time.perf_counter()
            if self._asr.active:
                self._asr.feed(chunk)
            tb = time.perf_counter()
            asr_ms += (tb - ta) * 1000
            if update is not None:  # ASR finish, intent matching, replies, barge-in
                ev, t_ev = update.event, update.t_s
                yielded |= self._on_turn_event(ev, t_ev, chunk_start_s, unit, out_tick, events)
                turn_ms += (time.perf_counter() - tb) * 1000
        if self._asr.active:
            ta = time.perf_counter()
            partial = self._asr.partial()
            asr_ms += (time.perf_counter() - ta) * 1000
            if partial and partial != self._partial:
                self._partial = partial
                events.append(Transcript(unit.tick, "user", partial, False))
            # a lone word is rarely a whole turn ("Front ... center"): wait longer before answering
            short = len(self._partial.split()) < 2
            self._turns.config.eot_ms = self._eot_ms * (2.0 if short else 1.0)
        timings["asr"], timings["turn"] = asr_ms, turn_ms

        # seeing
        t0 = time.perf_counter()
        if len(unit.frames):
            for change in self._faces.update(unit.frames, unit.frame_ticks):
                face = change.face
                events.append(
                    Presence(
                        change.tick,
                        change.present,
                        face.x if face else 0.5,
                        face.y if face else 0.5,
                        face.size if face else 0.0,
                    )
                )
                if change.present:
                    self._last_exchange_s = end_s
                    self._greeter.arrive(change, end_s)
                else:
                    self._greeter.leave()
                    if self._turn >= 0 and self._turn == self._greeter.turn:  # greeting nobody
                        self._end_after_sentence()
            if self.greet and self._faces.seeing_someone:
                self._lines[self.voice_id].prefetch(self.persona.greeting)
        if self.greet and self._greeter.due(end_s, self._busy(), self._turns.in_turn):
            self._say(self.persona.greeting)
            self._greeter.said(self._turn)
        timings["face"] = (time.perf_counter() - t0) * 1000

        # output clock: audio + mouth per tick
        t0 = time.perf_counter()
        ticks = self._fill_output(unit.n_ticks, out_tick, events)
        timings["wait"] = (time.perf_counter() - t0) * 1000
        pcm = np.concatenate([t.pcm for t in ticks])
        voiced = [t.voiced for t in ticks]
        if any(voiced):
            self._echo.add_reference(out_tick, pcm)
            self._last_exchange_s = end_s
        text = " ".join(t.started for t in ticks if t.started)

        speaking = any(voiced) or (self._turn >= 0 and self._turn_started)  # pauses between sentences too
        decision = Decision.YIELD if yielded else (Decision.SPEAK if speaking else Decision.LISTEN)
        if decision != self._decision:
            self._decision = decision
            events.append(DecisionChanged(out_tick, decision))  # on the output clock, like the media
        self._set_state(self._visible_state(speaking), out_tick, events)

        # performing
        t0 = time.perf_counter()
        frames = np.empty((unit.n_ticks, self.frame_size, self.frame_size, 3), np.uint8)
        gaze = self._faces.gaze()
        mode = self._state
        for i, tick_out in enumerate(ticks):
            next_voiced = voiced[i + 1] if i + 1 < len(ticks) else tick_out.voiced
            sounding = tick_out.voiced or next_voiced  # the track leads the audio by about a frame
            mouth = tick_out.mouth if sounding and tick_out.mouth is not None else self._mouth_closed
            t_s = (out_tick + i) * TICK_S
            nod = mode == "listening" and t_s <= self._nod_until
            cue = self._cue_cls(mode=mode, mouth=mouth, gaze=gaze, nod=nod, user_present=self._faces.present)
            frames[i] = self.performer.frame(t_s, cue)
        timings["render"] = (time.perf_counter() - t0) * 1000

        if self._speaker is not None:
            brain_ms, tts_ms = self._speaker.take_stats()
            timings["tts"] = tts_ms  # worker thread time since the last step
            if brain_ms:
                timings["brain"] = brain_ms  # a reply's time to its first sentence (worker thread)
            if self._speaker.error:
                events.append(ErrorEvent("lite_speaker", self._speaker.error))
                self._speaker.error = ""
        self._brain_notice(events)
        if self._dump is not None:  # DUET_ECHO_DUMP: what the echo canceller saw, for a bug report
            self._dump.append(
                (
                    unit.tick,
                    mic.copy(),
                    out_tick,
                    pcm.copy(),
                    unit.played_tick,
                    unit.mic_lag_ticks,
                    unit.lag_from_tick,
                )
            )
        timings["step"] = (time.perf_counter() - t_step) * 1000
        return UnitOut(
            tick=out_tick,
            n_ticks=unit.n_ticks,
            pcm=pcm if any(voiced) else None,
            frames=frames,
            decision=decision,
            text=text,
            events=tuple(events),
            timings=timings,
        )

    def flush(self, from_tick: int) -> None:
        """Client/operator stop: drop everything queued and stop the current reply."""
        self._stop_reply()
        self._echo.drop_reference(from_tick)

    def user_text(self, text: str, operator: bool) -> None:
        self._pending_texts.append((text, operator))

    def close(self) -> None:
        if self._speaker is not None:
            self._speaker.close()
            self._speaker = None
        self._asr.cancel()
        self._opened = False
        self._save_dump()

    def _save_dump(self) -> None:
        """DUET_ECHO_DUMP=FOLDER: each session's mic, avatar output and playback reports as .npz."""
        dump, self._dump = getattr(self, "_dump", None), None
        folder = os.environ.get("DUET_ECHO_DUMP", "")
        if not dump or not folder:
            return
        path = Path(folder) / f"echo-{os.getpid()}-{time.time_ns()}.npz"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(
                path,
                in_ticks=np.array([d[0] for d in dump]),
                mic=np.concatenate([d[1] for d in dump]),
                out_ticks=np.array([d[2] for d in dump]),
                out=np.concatenate([d[3] for d in dump]),
                played=np.array([d[4] for d in dump]),
                lag=np.array([np.nan if d[5] is None else d[5] for d in dump]),
                lag_from=np.array([d[6] for d in dump]),
            )
            log.info("echo dump written: %s", path)
        except OSError as e:
            log.warning("cannot write the echo dump %s: %s", path, e)

    # ------------------------------------------------------------------ turns
    def _on_turn_event(
        self, event: TurnEvent, t_s: float, chunk_start_s: float, unit: UnitIn, out_tick: int, events: list
    ) -> bool:
        """Returns True if the avatar yielded (barge-in)."""
        tick = int(t_s / TICK_S + 1e-9)
        if event is TurnEvent.ONSET:
            self._cancel_speculation()
            self._asr.start(self._history)
            self._partial = ""
            self._last_exchange_s = t_s
            if self._busy():
                return self._yield(unit, out_tick, chunk_start_s, events)
            return False
        if event is TurnEvent.PAUSE:
            self._nod_until = t_s + 0.5 if (int(t_s * 10) % 3 == 0) else self._nod_until
            self._speculate()
            return False
        if event is TurnEvent.DISCARD:
            self._cancel_speculation()
            self._asr.cancel()
            if self._partial:  # withdraw the partial caption: it was not a turn (a cough, a click)
                events.append(Transcript(tick, "user", "", True))
                self._partial = ""
            return False
        # END of the user's turn: final transcript, then answer
        hyp = self._asr.finish()
        text = f"{self._carry} {hyp.text}".strip()
        self._carry = ""
        self.last_final = text
        self._last_exchange_s = t_s
        events.append(Transcript(tick, "user", text, True))
        if self.brain is self.script:
            answer = self.script.answer(text)
            if self._spec_turn >= 0 and answer == self._spec_answer:
                self._turn, self._turn_started = self._spec_turn, False  # already being synthesised
                self._spec_turn = -1
                self._out.clear()
            else:
                self._say(answer)
        else:
            self._reply(text)
        self._answering = self._turn  # the reply turn that answers the user's words in last_final
        return False

    def _speculate(self) -> None:
        """At a pause in the user's turn, start synthesising the scripted answer to what was heard
        so far; if the turn ends here with the same answer, it plays at once (else it is dropped)."""
        if self.brain is not self.script or self._busy() or self._speaker is None or not self._asr.active:
            return
        text = f"{self._carry} {self._asr.partial()}".strip()
        if not text:
            return
        answer = self.script.peek(text)
        if self._spec_turn >= 0 and answer == self._spec_answer:
            return
        parts = split_sentences(answer)
        self._spec_turn = self._speaker.submit(lambda cancel: iter(parts))
        self._spec_answer = answer

    def _cancel_speculation(self) -> None:
        if (
            self._spec_turn >= 0
            and self._speaker is not None
            and self._speaker.current_turn == self._spec_turn
        ):
            self._speaker.cancel()
        self._spec_turn = -1

    def _yield(self, unit: UnitIn, out_tick: int, chunk_start_s: float, events: list) -> bool:
        # the onset was confirmed at the end of this chunk: output from that tick on must not be heard
        detect_tick = math.ceil((chunk_start_s + VAD_CHUNK / MIC_RATE) / TICK_S - 1e-9)
        from_tick = min(out_tick, max(detect_tick, unit.played_tick + 1))
        if not self._turn_started and self._turn >= 0 and self._turn == self._answering:
            self._carry = f"{self._carry} {self.last_final}".strip()  # unanswered: keep the words
        echo = self._echo
        log.info(
            "barge-in at %.2f s; last chunks over the echo (residual, bound, vad): %s; echo delay %d "
            "(+%.2f) gain %.2f leak %.2f",
            chunk_start_s,
            list(self._gate_log),
            echo.delay,
            echo.frac,
            echo.gain,
            echo.leak,
        )
        self._stop_reply()
        self._echo.drop_reference(from_tick)
        events.append(FlushOut(from_tick, "barge_in"))
        return True

    def _brain_notice(self, events: list) -> None:
        """The chat server failed (the persona script answered) or stopped mid-answer: say so once
        (until the server answers well again), so the user knows why the answers are the script's
        or why one stopped short."""
        source, error = getattr(self.brain, "outcome", ("", ""))  # (one read: set by another thread)
        if source == "llm" and not error:
            self._brain_error_said = ""  # it works (again): a later failure is news
            return
        if not error or source not in ("llm", "script"):
            return
        if source == "script":
            message = f"the chat server did not answer ({error}); the persona script answered instead"
        else:
            message = f"the chat server stopped in the middle of an answer ({error}); the rest was dropped"
        if message != self._brain_error_said:
            self._brain_error_said = message
            events.append(ErrorEvent("llm", message))

    def _busy(self) -> bool:
        """Is the avatar speaking or about to speak?"""
        if self._out.playing:
            return True
        return self._speaker is not None and self._turn >= 0 and self._speaker.pending(self._turn)

    def _reply(self, text: str) -> None:
        brain = self.brain

        def sentences(cancel: threading.Event) -> Iterator[str]:
            return brain.reply(text, cancel)

        self._start_turn(sentences)

    def _say(self, text: str) -> None:
        parts = split_sentences(text)
        self._start_turn(lambda cancel: iter(parts))

    def _start_turn(self, sentences: Callable[[threading.Event], Iterator[str]]) -> None:
        assert self._speaker is not None
        self._spec_turn = -1  # submitting cancels any speculation
        self._out.clear()
        self._turn = self._speaker.submit(sentences)
        self._turn_started = False

    def _end_after_sentence(self) -> None:
        """Stop the current reply after the sentence being said."""
        if self._speaker is not None:
            self._speaker.cancel()
        self._out.finish_current()
        self._turn = -1
        self._turn_started = False

    def _stop_reply(self) -> None:
        if self._speaker is not None:
            self._speaker.cancel()
        self._out.clear()
        self._turn = -1
        self._turn_started = False

    # ------------------------------------------------------------------ output
    def _fill_output(self, n_ticks: int, out_tick: int, events: list) -> list:
        ticks = []
        deadline = time.monotonic() + self._tts_wait_s  # one wait budget for the whole step
        for i in range(n_ticks):
            self._pull(deadline)
            tick_out = self._out.next_tick()
            if tick_out.started:
                self._turn_started = True
                events.append(Transcript(out_tick + i, "avatar", tick_out.started, True))
            ticks.append(tick_out)
        return ticks

    def _pull(self, deadline: float) -> None:
        """Move ready sentences of the current turn into the output queue.

        When nothing is left to play but the worker is still producing, wait for it until
        `deadline` (time.monotonic()); past it the tick stays silent and the next step retries.
        """
        if self._speaker is None or self._turn < 0:
            return
        while True:
            pending = self._speaker.pending(self._turn)  # before take(): see Speaker.pending
            need = not self._out.playing and pending
            utt = self._speaker.take(self._turn, deadline - time.monotonic() if need else 0.0)
            if utt is None:
                if not pending and not self._out.playing:
                    self._turn = -1  # the reply is complete
                return
            self._out.push(utt)

    def _visible_state(self, voiced: bool) -> str:
        if voiced or self._out.playing:
            return "speaking"
        if self._turns.in_turn:
            return "listening"
        if self._turn >= 0:
            return "thinking"
        if self._faces.present or (self._tick * TICK_S - self._last_exchange_s) < _LISTEN_HOLD_S:
            return "listening"
        return "idle"

    def _set_state(self, state: str, tick: int, events: list) -> None:
        if state != self._state:
            self._state = state
            events.append(StateChanged(tick, state))
