"""Brains: turn what the user said into sentences to speak, streamed one sentence at a time.

ScriptBrain answers from the persona's YAML script (intents matched robustly to ASR errors).
LlmBrain (llm.py) streams from an OpenAI-compatible server and falls back to the script.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Protocol

from .matcher import IntentMatcher, tokens
from .persona import Intent, Persona

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")


def split_sentences(text: str) -> list[str]:
    """'Hi there. How are you?' -> ['Hi there.', 'How are you?'] (empty parts dropped)."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


class SentenceSplitter:
    """Incremental: feed streamed text deltas, get complete sentences as soon as they end."""

    def __init__(self, min_chars: int = 12) -> None:
        self._buf = ""
        self.min_chars = min_chars  # very short fragments ("Hi.") wait to join the next sentence

    def feed(self, delta: str) -> list[str]:
        self._buf += delta
        out: list[str] = []
        pos = 0
        while (m := _SENTENCE_END.search(self._buf, pos)) is not None:
            sentence = self._buf[: m.start()].strip()
            if len(sentence) < self.min_chars:
                pos = m.end()  # too short to say alone: keep it with the next sentence
                continue
            out.append(sentence)
            self._buf = self._buf[m.end() :]
            pos = 0
        return out

    def take_complete(self) -> list[str]:
        """The buffered text if it already ends like a sentence (used when the stream pauses)."""
        rest = self._buf.strip()
        if len(rest) >= self.min_chars and rest[-1] in ".!?":
            self._buf = ""
            return [rest]
        return []

    def finish(self) -> list[str]:
        rest, self._buf = self._buf.strip(), ""
        return [rest] if rest else []


class Brain(Protocol):
    name: str

    def reply(self, text: str, cancel: threading.Event) -> Iterator[str]:
        """Sentences to say in answer to `text`; stops early once `cancel` is set."""
        ...


class ScriptBrain:
    """Answers from the persona script; round-robins through each intent's answers."""

    name = "script"

    def __init__(self, persona: Persona) -> None:
        self.persona = persona
        self._intents: tuple[Intent, ...] = persona.all_intents()
        self._matcher = IntentMatcher([i.examples for i in self._intents])
        self._turns: dict[str, int] = {}
        self.last_intent = ""

    def _pick(self, key: str, options: tuple[str, ...]) -> str:
        n = self._turns.get(key, 0)
        self._turns[key] = n + 1
        return options[n % len(options)]

    def _choose(self, text: str) -> tuple[str, str, tuple[str, ...]]:
        """(intent name, round-robin key, options) for `text`."""
        if not tokens(text):
            return "repeat_request", "repeat_request", self.persona.repeat_request
        match = self._matcher.best(text)
        if match is None:
            return "fallback", "fallback", self.persona.fallback
        intent = self._intents[match.index]
        return intent.name, f"intent:{intent.name}", intent.answers

    def answer(self, text: str) -> str:
        """The whole scripted answer for `text` (fallback or repeat request when nothing matches)."""
        name, key, options = self._choose(text)
        self.last_intent = name
        return self._pick(key, options)

    def peek(self, text: str) -> str:
        """What answer(text) would say now, without moving on to the next variant."""
        _, key, options = self._choose(text)
        return options[self._turns.get(key, 0) % len(options)]

    def greeting(self) -> str:
        return self.persona.greeting

    def reply(self, text: str, cancel: threading.Event) -> Iterator[str]:
        for sentence in split_sentences(self.answer(text)):
            if cancel.is_set():
                return
            yield sentence
