"""Hearing: streaming voice activity detection (silero-vad, ONNX) and speech recognition (pocketsphinx).

Both run on 16 kHz mono float32 audio fed as it arrives. The VAD works in 512-sample chunks
(32 ms) and keeps its recurrent state and 64-sample context between calls; the recognizer is fed
only while the user is speaking (an utterance), which keeps it cheap.
start()/feed()/partial()/finish() bracket one utterance.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from .matcher import known_word, phone_agreement, tokens

VAD_CHUNK = 512  # samples at 16 kHz = 32 ms
_VAD_CONTEXT = 64


class StreamingVad:
    """Silero VAD v5/v6 via onnxruntime (one thread): speech probability per 32 ms chunk."""

    def __init__(self) -> None:
        import onnxruntime as ort

        path = resources.files("silero_vad.data").joinpath("silero_vad.onnx")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        self._sr = np.array(16000, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), np.float32)
        self._context = np.zeros(_VAD_CONTEXT, np.float32)
        self._pending = np.zeros(0, np.float32)

    def process(self, pcm: np.ndarray) -> np.ndarray:
        """Feed float32 (n,) audio; returns one probability per completed 512-sample chunk."""
        buf = np.concatenate([self._pending, np.asarray(pcm, np.float32)])
        n = len(buf) // VAD_CHUNK
        probs = np.zeros(n, np.float32)
        for i in range(n):
            chunk = buf[i * VAD_CHUNK : (i + 1) * VAD_CHUNK]
            x = np.concatenate([self._context, chunk])[None, :]
            out, self._state = self._session.run(None, {"input": x, "state": self._state, "sr": self._sr})
            self._context = chunk[-_VAD_CONTEXT:]
            probs[i] = float(out[0, 0])
        self._pending = buf[n * VAD_CHUNK :]
        return probs


@dataclass(frozen=True)
class Hypothesis:
    text: str
    confidence: float  # 0..1 (posterior probability of the best path; 0 when unknown)


PHRASE_AGREEMENT = 0.6  # phone-string agreement needed to take the persona's phrase (see finish())


class StreamingAsr:
    """pocketsphinx with its bundled en-us acoustic model, dictionary and language model.

    start() begins an utterance (optionally with pre-roll audio), feed() adds audio, partial()
    returns the current partial hypothesis text, finish() ends the utterance and returns the final
    hypothesis.

    Persona bias (set_phrases): a second decoder searches only the persona's example phrasings (a
    JSGF grammar) over the same audio. The general language model misses domain words ("what is
    duet" -> "what is to us"); the grammar always answers with one of its phrases, even for
    unrelated speech. So the phrase is taken only when its phone string agrees with the general
    hypothesis (SequenceMatcher ratio >= PHRASE_AGREEMENT); otherwise the general text stands.
    Both decoders start every session from the same cepstral mean (reset()), so a session's
    recognition does not depend on what earlier sessions heard.
    """

    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self._decoder = Decoder(samprate=16000, loglevel="FATAL")
        self._initial_cmn = self._decoder.get_cmn()
        self._grammar: Decoder | None = None  # persona phrases only (None: no bias)
        self._phrases: tuple[str, ...] = ()
        self._active = False

    @property
    def active(self) -> bool:
        return self._active

    @property
    def phrases(self) -> tuple[str, ...]:
        """The phrases the grammar decoder searches (lowercase words known to the dictionary)."""
        return self._phrases

    def set_phrases(self, phrases: Iterable[str]) -> None:
        """Bias recognition toward these phrases (persona examples); an empty list removes the bias.

        Phrases with a word the dictionary does not know are left out (the general model still
        hears them)."""
        from pocketsphinx import Decoder

        self.cancel()
        usable = sorted({p for p in (" ".join(tokens(x)) for x in phrases) if p and _known(p)})
        if tuple(usable) == self._phrases:
            return
        self._phrases = tuple(usable)
        if not usable:
            self._grammar = None
            return
        if self._grammar is None:
            self._grammar = Decoder(samprate=16000, loglevel="FATAL", lm=None)
            self._grammar.set_cmn(self._initial_cmn)
        jsgf = "#JSGF V1.0;\ngrammar persona;\npublic <utt> = " + " | ".join(usable) + " ;\n"
        self._grammar.add_jsgf_string("persona", jsgf)
        self._grammar.activate_search("persona")

    def reset(self) -> None:
        """Forget the utterance and the adapted cepstral mean (a new session starts afresh)."""
        self.cancel()
        for dec in self._decoders():
            dec.set_cmn(self._initial_cmn)

    def _decoders(self) -> list[Any]:
        return [self._decoder] if self._grammar is None else [self._decoder, self._grammar]

    def start(self, pre_roll: np.ndarray | None = None) -> None:
        self.cancel()
        for dec in self._decoders():
            dec.start_utt()
        self._active = True
        if pre_roll is not None and len(pre_roll):
            self.feed(pre_roll)

    def feed(self, pcm: np.ndarray) -> None:
        if not self._active:
            return
        data = (np.clip(pcm, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        for dec in self._decoders():
            dec.process_raw(data, False, False)

    def partial(self) -> str:
        """The current best hypothesis of the utterance so far ("" if none), persona-checked."""
        if not self._active:
            return ""
        return self._choose(self._decoder.hyp(), self._grammar.hyp() if self._grammar else None)

    def finish(self) -> Hypothesis:
        if not self._active:
            return Hypothesis("", 0.0)
        for dec in self._decoders():
            dec.end_utt()
        self._active = False
        hyp = self._decoder.hyp()
        text = self._choose(hyp, self._grammar.hyp() if self._grammar else None)
        if not text:
            return Hypothesis("", 0.0)
        try:
            conf = float(self._decoder.get_logmath().exp(hyp.prob)) if hyp is not None else 0.0
        except (AttributeError, OverflowError, ValueError):
            conf = 0.0
        return Hypothesis(text, conf)

    def cancel(self) -> None:
        if self._active:
            for dec in self._decoders():
                dec.end_utt()
            self._active = False

    def _choose(self, general: Any, phrase: Any) -> str:
        text = _clean(general.hypstr) if general is not None else ""
        bias = _clean(phrase.hypstr) if phrase is not None else ""
        # only a whole phrase counts (the grammar search reports a prefix when it reached no end)
        if bias in self._phrases and text and phone_agreement(text, bias) >= PHRASE_AGREEMENT:
            return bias
        return text


def _known(phrase: str) -> bool:
    return all(known_word(w) for w in phrase.split())


def _clean(text: str) -> str:
    """Drop pocketsphinx fillers (<sil>, [noise], ++garbage++) and alternates markers."""
    words = [w for w in text.split() if not w.startswith(("<", "[", "+"))]
    return " ".join(w.split("(")[0] for w in words)
