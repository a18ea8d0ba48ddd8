"""The mouth's worker thread: thinks (brain) and synthesises (voice) ahead of playback.

step() must never stall on a language model or on piper, so answers are produced here: a job is
"reply to this text" (or "say these words"); the worker pulls sentences from the brain as they
stream and synthesises each one as soon as it is complete, first sentence first. Finished
sentences wait in a queue for the model's output clock. Cancelling a turn (barge-in, flush) makes
the worker drop everything of that turn at the next sentence boundary.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .brain import split_sentences

log = logging.getLogger(__name__)


@dataclass
class Utterance:
    """One synthesised sentence of a turn. speech: engine.models.lite.voice.Speech."""

    turn: int
    text: str
    speech: Any


@dataclass
class _Job:
    turn: int
    sentences: Callable[[threading.Event], Iterator[str]]  # called in the worker


class Speaker:
    def __init__(self, synthesize: Callable[[str], Any]) -> None:
        self._synthesize = synthesize
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._ready: queue.Queue[Utterance] = queue.Queue()
        self._lock = threading.Lock()
        self._turn = 0  # the current turn; older turns are cancelled
        self._cancel = threading.Event()
        self._busy_turn = -1  # turn the worker is producing, -1 when idle
        self._done_turns: set[int] = set()
        self.brain_ms = 0.0  # time to the first sentence of the latest turn
        self.tts_ms = 0.0  # synthesis time accumulated since the last take_stats()
        self.error = ""
        self._thread = threading.Thread(target=self._run, name="duet-lite-speaker", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ model side
    def submit(self, sentences: Callable[[threading.Event], Iterator[str]]) -> int:
        """Start a new turn (cancelling any previous one); returns its turn id."""
        with self._lock:
            self._cancel.set()
            self._turn += 1
            turn = self._turn
            self._cancel = threading.Event()
        self._jobs.put(_Job(turn, sentences))
        return turn

    def cancel(self) -> None:
        with self._lock:
            self._cancel.set()
            self._turn += 1
        self._drain()

    @property
    def current_turn(self) -> int:
        with self._lock:
            return self._turn

    def pending(self, turn: int) -> bool:
        """Is the worker still (or not yet) producing sentences for `turn`?

        Check this BEFORE take(): pending() False and then take() None means the turn is over.
        """
        with self._lock:
            return turn == self._turn and turn not in self._done_turns

    def take(self, turn: int, timeout_s: float = 0.0) -> Utterance | None:
        """The next ready sentence of `turn` (waiting up to timeout_s); stale turns are dropped."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            try:
                item = self._ready.get(timeout=remaining) if remaining > 0 else self._ready.get_nowait()
            except queue.Empty:
                return None
            if item.turn == turn:
                return item
            # a cancelled turn's sentence: drop it and keep looking

    def take_stats(self) -> tuple[float, float]:
        """(brain ms to the first sentence of a turn that started since the last call, else 0;
        tts ms spent since the last call)."""
        with self._lock:
            tts, self.tts_ms = self.tts_ms, 0.0
            brain, self.brain_ms = self.brain_ms, 0.0
            return brain, tts

    def close(self) -> None:
        self.cancel()
        self._jobs.put(None)
        self._thread.join(timeout=5)

    def _drain(self) -> None:
        while True:
            try:
                self._ready.get_nowait()
            except queue.Empty:
                return

    # ------------------------------------------------------------------ worker
    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            with self._lock:
                if job.turn != self._turn:
                    continue
                cancel = self._cancel
            try:
                self._produce(job, cancel)
            except Exception as e:  # a broken brain or voice must not kill the worker
                log.exception("lite speaker: turn %d failed", job.turn)
                self.error = f"{type(e).__name__}: {e}"
            finally:
                with self._lock:
                    self._done_turns.add(job.turn)
                    self._done_turns = {t for t in self._done_turns if t > self._turn - 8}

    def _produce(self, job: _Job, cancel: threading.Event) -> None:
        t0 = time.perf_counter()
        first = True
        for sentence in job.sentences(cancel):
            if cancel.is_set():
                return
            if first:
                with self._lock:
                    self.brain_ms = (time.perf_counter() - t0) * 1000
            parts = sentence_parts(sentence, first)
            first = False
            for part in parts:
                t1 = time.perf_counter()
                speech = self._synthesize(part)
                with self._lock:
                    self.tts_ms += (time.perf_counter() - t1) * 1000
                if cancel.is_set():
                    return
                self._ready.put(Utterance(job.turn, part, speech))


# a sentence longer than this many words is synthesised in pieces: piper takes ~10 ms a word here,
# so a run-on answer (an LLM's, without punctuation) would otherwise keep the avatar silent for
# seconds before its first word
MAX_PART_WORDS = 30
_JOINERS = frozenset({"and", "but", "or", "so", "because", "which", "while", "then", "when", "where"})


def split_long(text: str, max_words: int = MAX_PART_WORDS, min_words: int = 6) -> list[str]:
    """`text` in pieces of at most max_words words, each cut where speech would pause: after the
    last , ; : or dash in reach, else before a joining word (and, but, because ...), else at
    max_words; no piece but the last shorter than min_words."""
    words = text.split()
    out: list[str] = []
    while len(words) > max_words:
        cut = 0
        for i in range(max_words, min_words - 1, -1):  # a pause mark ends word i-1
            if words[i - 1][-1] in ",;:" or words[i - 1] in ("-", "–", "—"):
                cut = i
                break
        if not cut:
            for i in range(max_words, min_words - 1, -1):  # a joining word starts word i
                if words[i].lower() in _JOINERS:
                    cut = i
                    break
        cut = cut or max_words
        out.append(" ".join(words[:cut]))
        words = words[cut:]
    out.append(" ".join(words))
    return out if len(out) > 1 else [text]


def sentence_parts(sentence: str, first: bool) -> list[str]:
    """The pieces a turn's sentence is synthesised in (the first sentence's head alone: its audio
    comes sooner)."""
    parts = split_first_clause(sentence) if first else [sentence]
    return [piece for part in parts for piece in split_long(part)]


def speech_parts(line: str) -> list[str]:
    """The pieces a said line (Speaker.submit of its sentences) is synthesised in."""
    return [p for i, s in enumerate(split_sentences(line)) for p in sentence_parts(s, i == 0)]


def split_first_clause(sentence: str, min_words: int = 3) -> list[str]:
    """'Yes, just start talking now.' stays whole; a long sentence splits at its first comma when
    both sides have >= min_words words: synthesis of the short head finishes sooner."""
    head, sep, tail = sentence.partition(", ")
    if not sep or len(head.split()) < min_words or len(tail.split()) < min_words:
        return [sentence]
    return [head + ",", tail]
