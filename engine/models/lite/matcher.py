"""Intent matching that tolerates speech-recognition errors.

A transcript is scored against every example phrasing of every intent by
- word overlap weighted by rarity (IDF over all examples; stop words count little), where a word
  also matches a differently spelled word that sounds alike (CMU phones from pocketsphinx's
  dictionary, e.g. "duet" ~ "do it") or is spelled alike ("recorded" ~ "record");
- phone-sequence recall: how much of the example's phone string appears, in order, in the
  transcript's phone string (catches word-boundary errors such as "duet" -> "to let").
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import cache
from pathlib import Path

_STOP = (
    "a an the is are was were be am i you me my your it its this that to of in on at for and or "
    "do does did can could would will shall should please so um uh oh well just hey"
)
STOP_WORDS = frozenset(_STOP.split())
_WORD_RE = re.compile(r"[a-z0-9']+")


def tokens(text: str) -> list[str]:
    return _WORD_RE.findall(text.lower().replace("’", "'"))


@cache
def _cmudict() -> dict[str, tuple[str, ...]]:
    """word -> phones without stress (pocketsphinx's bundled en-us dictionary); {} if missing."""
    try:
        import pocketsphinx

        path = Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict"
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except (ImportError, OSError):
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and "(" not in parts[0]:
            out[parts[0]] = tuple(p.rstrip("012") for p in parts[1:])
    return out


def phones(word: str) -> tuple[str, ...]:
    found = _cmudict().get(word)
    if found is not None:
        return found
    return tuple(word)  # unknown word: letters stand in for phones


def known_word(word: str) -> bool:
    """Is `word` in the recognizer's pronunciation dictionary?"""
    return word in _cmudict()


def phone_agreement(a: str, b: str) -> float:
    """0..1: how alike two transcripts sound (ratio of their phone strings; 0 if either is empty)."""
    pa = tuple(p for t in tokens(a) for p in phones(t))
    pb = tuple(p for t in tokens(b) for p in phones(t))
    if not pa or not pb:
        return 0.0
    return SequenceMatcher(None, pa, pb, autojunk=False).ratio()


@cache
def _word_similarity(a: str, b: str) -> float:
    if a == b:
        return 1.0
    pa, pb = phones(a), phones(b)
    sound = SequenceMatcher(None, pa, pb, autojunk=False).ratio()
    spelling = SequenceMatcher(None, a, b, autojunk=False).ratio()
    best = max(sound, spelling)
    return best if best >= 0.75 else 0.0


@dataclass(frozen=True)
class Match:
    index: int  # index into the candidates given to IntentMatcher
    score: float  # 0..1
    example: str


class IntentMatcher:
    """Scores a transcript against candidates, each a list of example phrasings."""

    def __init__(self, candidates: Sequence[Sequence[str]], threshold: float = 0.6) -> None:
        self.threshold = threshold
        self._examples: list[tuple[int, str, list[str], tuple[str, ...]]] = []
        doc_freq: dict[str, int] = {}
        for index, examples in enumerate(candidates):
            for example in examples:
                toks = tokens(example)
                if not toks:
                    continue
                ph = tuple(p for t in toks for p in phones(t))
                self._examples.append((index, example, toks, ph))
                for t in set(toks):
                    doc_freq[t] = doc_freq.get(t, 0) + 1
        n = max(1, len(self._examples))
        self._idf = {t: math.log(1 + n / df) for t, df in doc_freq.items()}

    def _weight(self, word: str) -> float:
        base = self._idf.get(word, math.log(1 + len(self._examples)))
        return base * (0.15 if word in STOP_WORDS else 1.0)

    def scores(self, text: str) -> list[Match]:
        query = tokens(text)
        if not query:
            return []
        q_phones = tuple(p for t in query for p in phones(t))
        out = []
        for index, example, toks, ex_phones in self._examples:
            out.append(Match(index, self._score(query, q_phones, toks, ex_phones), example))
        out.sort(key=lambda m: -m.score)
        return out

    def best(self, text: str) -> Match | None:
        """The best candidate above the threshold, or None."""
        ranked = self.scores(text)
        if not ranked or ranked[0].score < self.threshold:
            return None
        return ranked[0]

    def _score(
        self, query: list[str], q_phones: tuple[str, ...], example: list[str], ex_phones: tuple[str, ...]
    ) -> float:
        weights = [self._weight(t) for t in example]
        matched = [max(_word_similarity(e, q) for q in query) for e in example]
        recall = sum(w * m for w, m in zip(weights, matched)) / sum(weights)
        q_weights = [self._weight(q) for q in query]
        q_matched = [max(_word_similarity(q, e) for e in example) for q in query]
        precision = sum(w * m for w, m in zip(q_weights, q_matched)) / sum(q_weights)
        blocks = SequenceMatcher(None, q_phones, ex_phones, autojunk=False).get_matching_blocks()
        phone_recall = sum(b.size for b in blocks if b.size >= 2) / max(1, len(ex_phones))
        word_score = 0.55 * recall + 0.45 * precision
        return max(word_score, 0.5 * word_score + 0.5 * phone_recall * precision)
