"""Hearing: the recognizer biased toward the persona's phrases, checked against the general model."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from engine.models.lite.hearing import StreamingAsr
from engine.models.lite.matcher import phone_agreement, tokens
from engine.models.lite.persona import load_persona

from .harness import resample

Speak = Callable[[str], np.ndarray]  # text -> float32 16 kHz speech


@pytest.fixture(scope="module")
def synth() -> Speak:
    """text -> float32 16 kHz speech (piper joe, a little slower, like the user voice fixture)."""
    from .conftest import _piper_user_voice

    voice, cfg = _piper_user_voice()

    def speak(text: str) -> np.ndarray:
        chunks = list(voice.synthesize(text, cfg))
        audio = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        speech = resample(audio, chunks[0].sample_rate, 16000) * 0.5
        return np.concatenate([np.zeros(5600, np.float32), speech, np.zeros(4000, np.float32)])

    return speak


def guide_phrases() -> list[str]:
    return [e for i in load_persona("guide").all_intents() for e in i.examples]


def hear(asr: StreamingAsr, pcm: np.ndarray, step: int = 2560) -> str:
    asr.start()
    for i in range(0, len(pcm), step):  # fed in 160 ms pieces, as the model does
        asr.feed(pcm[i : i + step])
    return asr.finish().text


def test_phone_agreement() -> None:
    assert phone_agreement("what is duet", "what is duet") == 1.0
    assert phone_agreement("what is to us", "what is duet") > 0.6  # sounds alike
    assert phone_agreement("the weather is nice today", "what is this") < 0.4
    assert phone_agreement("", "what is this") == 0.0


def test_persona_phrases_fix_domain_words(synth: Speak) -> None:
    asr = StreamingAsr()
    speech = synth("What is Duet?")
    general = hear(asr, speech)
    assert general and general != "what is duet"  # the general model alone misses the product name
    asr.reset()
    asr.set_phrases(guide_phrases())
    assert "what is duet" in asr.phrases
    assert hear(asr, speech) == "what is duet"


@pytest.mark.parametrize(
    "text", ["My name is Peter.", "The weather is nice today.", "Is it raining outside?"]
)
def test_unrelated_speech_is_not_forced_onto_a_phrase(synth: Speak, text: str) -> None:
    asr = StreamingAsr()
    asr.set_phrases(guide_phrases())
    heard = hear(asr, synth(text))
    assert heard not in asr.phrases
    assert set(tokens(heard)) & set(tokens(text))  # the general model's words stand


def test_reset_makes_sessions_independent(synth: Speak) -> None:
    """The cepstral mean adapts while hearing; reset() starts each session from the same point."""
    asr = StreamingAsr()
    speech = synth("How do you hear me?")
    first = hear(asr, speech)
    for other in ("Does it need the internet?", "Can I interrupt you?", "Wait, stop please."):
        hear(asr, synth(other))
    asr.reset()
    assert hear(asr, speech) == first


def test_unknown_words_leave_their_phrase_out() -> None:
    asr = StreamingAsr()
    asr.set_phrases(["what is duet", "talk to zzqxv please", "Hello, Ada!"])
    assert asr.phrases == ("hello ada", "what is duet")
    asr.set_phrases([])
    assert asr.phrases == ()
