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

_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s+")  # the end mark, closing quotes, the space after
MIN_SENTENCE_CHARS = 12  # a shorter sentence ("Hi.") is said together with the next one

# a '.' after these is not the end of a sentence ("Ask Dr. Smith", "e.g. this", "on Dec. 5")
_NEVER_END = frozenset([
    "dr", "mr", "mrs", "ms", "prof", "st", "vs", "e.g", "i.e",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
])  # fmt: skip
# these may end one: only when a capital letter follows ("at 10 a.m. on Monday" / "... a.m. See you")
_MAY_END = frozenset(["a.m", "p.m", "etc"])
_DOTTED = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")  # U.S, e.g, a.m: letters with dots between them
_LAST_WORD = re.compile(r"\S*$")
_NAME_BEFORE = re.compile(r"(?:^|[A-Z]\S*)\s*$")  # "John F." / "Mr. J." / "J. R.": an initial follows


def _ends_sentence(text: str, m: re.Match[str]) -> bool | None:
    """Whether the end mark `m` (a _SENTENCE_END match in `text`) ends a sentence: not after an
    abbreviation or an initial. None: it depends on what follows, which is not in `text` yet."""
    if text[m.start()] != ".":
        return True
    found = _LAST_WORD.search(text, max(0, m.start() - 40), m.start())
    word = found.group(0).lstrip("\"'([{") if found else ""
    key = word.lower()
    after = text[m.end() : m.end() + 1]
    if key in _NEVER_END:
        return False
    if re.fullmatch(r"[A-Z]", word):  # an initial ("John F. Kennedy"), unless it ends "in hall B."
        return not _NAME_BEFORE.search(text, max(0, m.start() - 41), m.start() - 1)
    if key in _MAY_END or _DOTTED.fullmatch(word):
        return after.isupper() if after else None
    if key == "no":  # "stand no. 5", but "No. It is free."
        return not after.isdigit() if after else None
    return True


def split_sentences(text: str, min_chars: int = MIN_SENTENCE_CHARS) -> list[str]:
    """'Hi there. How are you today?' -> ['Hi there. How are you today?'], 'It costs 5 dollars.
    Ask Dr. Smith at the desk.' -> two sentences: sentences end at '.', '!' or '?' followed by a
    space, but not after an abbreviation or an initial; one shorter than `min_chars` joins the next
    (the last one stays alone). Empty parts are dropped."""
    text = text.strip()
    out: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        if _ends_sentence(text, m) is False:
            continue
        sentence = text[start : m.end()].strip()
        if len(sentence) < min_chars:
            continue  # too short to say alone: it goes with the next sentence
        out.append(sentence)
        start = m.end()
    rest = text[start:].strip()
    return [*out, rest] if rest else out


class SentenceSplitter:
    """Incremental: feed streamed text deltas, get complete sentences as soon as they end."""

    def __init__(self, min_chars: int = MIN_SENTENCE_CHARS) -> None:
        self._buf = ""
        self.min_chars = min_chars  # very short fragments ("Hi.") wait to join the next sentence

    def feed(self, delta: str) -> list[str]:
        self._buf += delta
        out: list[str] = []
        pos = 0
        while (m := _SENTENCE_END.search(self._buf, pos)) is not None:
            ends = _ends_sentence(self._buf, m)
            if ends is None:
                break  # "... a.m. " at the end so far: the next letter decides
            sentence = self._buf[: m.end()].strip()
            if not ends or len(sentence) < self.min_chars:
                pos = m.end()  # an abbreviation, or too short to say alone: keep it with the next
                continue
            out.append(sentence)
            self._buf = self._buf[m.end() :]
            pos = 0
        return out

    def take_complete(self) -> list[str]:
        """The buffered text if it already ends like a sentence (used when the stream pauses)."""
        rest = self._buf.strip()
        padded = rest + " "  # as if a space followed: "... today." ends, "... Dr." does not
        end = next((m for m in _SENTENCE_END.finditer(padded) if m.end() == len(padded)), None)
        if end is not None and len(rest) >= self.min_chars and _ends_sentence(padded, end) is not False:
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
