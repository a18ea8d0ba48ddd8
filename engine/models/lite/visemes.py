"""Visemes: the 15 mouth shapes of real-time lip-sync, piper's IPA -> viseme, and a smooth viseme track.

A `VisemeTrack` holds timed keys (one per phoneme, on the audio timeline in seconds from the start of
the utterance). `pose_at(t)` blends neighbouring keys with a raised-cosine window (half-width
`BLEND_HALF_S`, so a change takes ~80 ms: coarticulation, never a snap) weighted by each viseme's
dominance (lips must close for p/b/m even when short; tongue consonants borrow from their vowels),
and evaluates the track `LEAD_S` ahead of the audio: a transition is complete by the time its sound
is heard, so the mouth never lags.
"""

from __future__ import annotations

import bisect
import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

import numpy as np

VISEMES: tuple[str, ...] = (
    "sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U",
)  # fmt: skip

LEAD_S = 0.040  # the mouth is ahead of the audio by one 25 fps frame
BLEND_HALF_S = 0.040  # half-width of the coarticulation window (full transition ~80 ms)

# piper/espeak-ng IPA (one codepoint per phoneme, as piper splits them) -> viseme
PHONEME_TO_VISEME: dict[str, str] = {
    # bilabials: lips pressed
    **dict.fromkeys("pbmɓʙɸβ", "PP"),
    # labiodentals: upper teeth on lower lip
    **dict.fromkeys("fvɱʋⱱ", "FF"),
    # dentals: tongue between the teeth
    **dict.fromkeys("θð", "TH"),
    # alveolar stops and taps
    **dict.fromkeys("tdɾʈɖɗɽɺ", "DD"),
    # velars, uvulars
    **dict.fromkeys("kgɡŋxɣqɢɠʛχħʕʜʢɧ", "kk"),
    # postalveolars: protruded lips, teeth together
    **dict.fromkeys("ʃʒɕʑçʂʐʝɟʄ", "CH"),
    # sibilants
    **dict.fromkeys("szʦʣ", "SS"),
    # nasals and laterals
    **dict.fromkeys("nlɫɲɳɭʎɬɮʟɴ", "nn"),
    # rhotics and r-coloured vowels
    **dict.fromkeys("ɹrɻʁʀɚɝ˞", "RR"),
    # open vowels
    **dict.fromkeys("aɑæɐʌɒɶ", "aa"),
    # mid front / central vowels
    **dict.fromkeys("eɛəɜɘœɞε", "E"),
    # close front vowels and the palatal glide
    **dict.fromkeys("iɪɨᵻjɯ", "I"),
    # mid back rounded
    **dict.fromkeys("oɔɵøɤ", "O"),
    # close rounded vowels and labial glides
    **dict.fromkeys("uʊʉwʍɥɰyʏ", "U"),
}

# symbols without a mouth shape of their own: stress/length marks and diacritics stick to the
# neighbouring phoneme, h and the glottal stop take the shape of what follows, a space between words
# is shared by its neighbours (connected speech does not close the mouth between words)
MERGE_NEXT: frozenset[str] = frozenset("ˈˌhɦʔ")
MERGE_PREV: frozenset[str] = frozenset("ːˑʰʲˤ̧̩̪̯̃ʷ")
MERGE_BOTH: frozenset[str] = frozenset(" -")
# pauses: punctuation and piper's BOS/EOS/PAD markers close the mouth
PAUSES: frozenset[str] = frozenset(".,;:!?\"'()…—–^$_¡¿«»↓")

UNSTRESSED_STRENGTH = 0.78  # vowels without a preceding primary/secondary stress mark
SCHWA_STRENGTH = 0.62

# how strongly a viseme holds its shape against its neighbours (Cohen-Massaro style dominance)
DOMINANCE: dict[str, float] = {
    "sil": 1.0, "PP": 3.0, "FF": 2.5, "TH": 1.4, "DD": 0.55, "kk": 0.5, "CH": 1.4, "SS": 1.2,
    "nn": 0.55, "RR": 0.9, "aa": 1.0, "E": 1.0, "I": 1.0, "O": 1.2, "U": 1.3,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class MouthPose:
    """A mouth shape; every field is in [0, 1].

    open: jaw/lip opening; wide: corners pulled sideways; round: lips rounded and protruded;
    teeth: how much of the teeth shows; tongue: how visible the tongue is.
    """

    open: float = 0.0
    wide: float = 0.0
    round: float = 0.0
    teeth: float = 0.0
    tongue: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0.0 <= float(v) <= 1.0:
                raise ValueError(f"MouthPose.{f.name} must be a finite number in [0, 1], got {v!r}")
            object.__setattr__(self, f.name, float(v))  # numpy scalars become plain floats

    @classmethod
    def closed(cls) -> MouthPose:
        return cls()

    @classmethod
    def for_viseme(cls, viseme: str) -> MouthPose:
        try:
            return VISEME_POSES[viseme]
        except KeyError:
            raise ValueError(f"unknown viseme {viseme!r}; expected one of {', '.join(VISEMES)}") from None

    def as_array(self) -> np.ndarray:
        """float64 (5,): open, wide, round, teeth, tongue."""
        return np.array([self.open, self.wide, self.round, self.teeth, self.tongue])

    @classmethod
    def from_array(cls, a: Sequence[float] | np.ndarray) -> MouthPose:
        v = np.clip(np.asarray(a, dtype=np.float64), 0.0, 1.0)
        if v.shape != (5,):
            raise ValueError(f"MouthPose.from_array needs 5 values, got shape {v.shape}")
        return cls(*(float(x) for x in v))

    def lerp(self, other: MouthPose, a: float) -> MouthPose:
        """(1 - a) * self + a * other, a in [0, 1]."""
        a = min(1.0, max(0.0, float(a)))
        return MouthPose.from_array(self.as_array() * (1.0 - a) + other.as_array() * a)


VISEME_POSES: dict[str, MouthPose] = {
    "sil": MouthPose(),
    "PP": MouthPose(open=0.0, wide=0.08, round=0.1),
    "FF": MouthPose(open=0.14, wide=0.2, teeth=1.0),
    "TH": MouthPose(open=0.22, wide=0.15, teeth=0.6, tongue=1.0),
    "DD": MouthPose(open=0.3, wide=0.25, teeth=0.6, tongue=0.45),
    "kk": MouthPose(open=0.36, wide=0.2, teeth=0.45, tongue=0.25),
    "CH": MouthPose(open=0.28, round=0.6, teeth=0.9),
    "SS": MouthPose(open=0.16, wide=0.5, teeth=1.0),
    "nn": MouthPose(open=0.24, wide=0.22, teeth=0.5, tongue=0.6),
    "RR": MouthPose(open=0.3, round=0.5, teeth=0.3, tongue=0.2),
    "aa": MouthPose(open=1.0, wide=0.3, teeth=0.35, tongue=0.3),
    "E": MouthPose(open=0.62, wide=0.55, teeth=0.5, tongue=0.2),
    "I": MouthPose(open=0.36, wide=0.75, teeth=0.65, tongue=0.1),
    "O": MouthPose(open=0.72, round=0.85, teeth=0.15, tongue=0.1),
    "U": MouthPose(open=0.34, round=1.0, teeth=0.1),
}


def phoneme_viseme(phoneme: str) -> str | None:
    """The viseme of one piper phoneme; None for marks that merge into a neighbour."""
    if phoneme in PHONEME_TO_VISEME:
        return PHONEME_TO_VISEME[phoneme]
    if phoneme in PAUSES:
        return "sil"
    if phoneme in MERGE_NEXT or phoneme in MERGE_PREV or phoneme in MERGE_BOTH:
        return None
    if len(phoneme) > 1:  # a cluster such as "aɪ" or "tʃ": its first sound
        return phoneme_viseme(phoneme[0])
    return "sil" if not phoneme.strip() else None


@dataclass(frozen=True, slots=True)
class VisemeKey:
    """One viseme held over [start_s, end_s) on the audio timeline; strength in (0, 1] scales it."""

    start_s: float
    end_s: float
    viseme: str
    strength: float = 1.0

    def __post_init__(self) -> None:
        if self.viseme not in VISEME_POSES:
            raise ValueError(f"unknown viseme {self.viseme!r}; expected one of {', '.join(VISEMES)}")
        if not (math.isfinite(self.start_s) and math.isfinite(self.end_s) and self.end_s >= self.start_s):
            raise ValueError(f"VisemeKey needs finite start_s <= end_s, got {self.start_s}..{self.end_s}")
        if not 0.0 < self.strength <= 1.0:
            raise ValueError(f"VisemeKey.strength must be in (0, 1], got {self.strength}")


def _hann_cdf(x: np.ndarray, h: float) -> np.ndarray:
    """CDF of a raised-cosine window of half-width h centred on 0."""
    x = np.clip(x, -h, h)
    return (x + h) / (2.0 * h) + np.sin(np.pi * x / h) / (2.0 * np.pi)


class VisemeTrack:
    """Timed viseme keys -> a smooth mouth pose at any time (seconds on the audio timeline)."""

    def __init__(
        self, keys: Iterable[VisemeKey], lead_s: float = LEAD_S, blend_half_s: float = BLEND_HALF_S
    ) -> None:
        self.keys: tuple[VisemeKey, ...] = tuple(sorted(keys, key=lambda k: k.start_s))
        for a, b in zip(self.keys, self.keys[1:]):
            if b.start_s < a.end_s - 1e-9:
                raise ValueError(f"viseme keys overlap: {a} and {b}")
        if lead_s < 0 or blend_half_s <= 0:
            raise ValueError("lead_s must be >= 0 and blend_half_s > 0")
        self.lead_s = float(lead_s)
        self.blend_half_s = float(blend_half_s)
        self._starts = [k.start_s for k in self.keys]
        self._ends = np.array([k.end_s for k in self.keys])
        self._start_arr = np.array(self._starts)
        self._dom = np.array([DOMINANCE[k.viseme] for k in self.keys])
        # (n, 5) target poses, scaled by strength
        self._poses = np.array([VISEME_POSES[k.viseme].as_array() * k.strength for k in self.keys]).reshape(
            -1, 5
        )

    @property
    def duration_s(self) -> float:
        return float(self._ends[-1]) if self.keys else 0.0

    def __len__(self) -> int:
        return len(self.keys)

    def __repr__(self) -> str:
        return f"VisemeTrack({len(self.keys)} keys, {self.duration_s:.3f} s)"

    def viseme_at(self, t_s: float) -> str:
        """The viseme whose key covers audio time t_s (no lead, no blending); 'sil' outside."""
        i = bisect.bisect_right(self._starts, t_s) - 1
        if 0 <= i < len(self.keys) and t_s < self.keys[i].end_s:
            return self.keys[i].viseme
        return "sil"

    def _pose_array(self, t_s: float) -> np.ndarray:
        tq = t_s + self.lead_s
        h = self.blend_half_s
        lo = bisect.bisect_left(self._starts, tq - h) - 1
        hi = bisect.bisect_right(self._starts, tq + h)
        lo = max(lo, 0)
        if hi <= lo:
            return np.zeros(5)
        ends = self._ends[lo:hi]
        starts = self._start_arr[lo:hi]
        # coverage of each key by the window around tq (sums to 1 inside the track)
        cover = _hann_cdf(tq - starts, h) - _hann_cdf(tq - ends, h)
        # the rest of the window (before the first / after the last key) is silence
        rest = max(0.0, 1.0 - float(cover.sum()))
        w = cover * self._dom[lo:hi]
        total = float(w.sum()) + rest * DOMINANCE["sil"]
        if total <= 1e-12:
            return np.zeros(5)
        return (w[:, None] * self._poses[lo:hi]).sum(axis=0) / total

    def pose_at(self, t_s: float) -> MouthPose:
        """The mouth pose to SHOW while audio time t_s is heard (already includes the lead)."""
        return MouthPose.from_array(self._pose_array(float(t_s)))

    def poses_at(self, times_s: Sequence[float] | np.ndarray) -> np.ndarray:
        """float64 (n, 5) poses (open, wide, round, teeth, tongue) at each time."""
        return np.array([self._pose_array(float(t)) for t in times_s]).reshape(-1, 5)

    def shifted(self, offset_s: float) -> VisemeTrack:
        """The same track moved by offset_s on the timeline."""
        keys = [VisemeKey(k.start_s + offset_s, k.end_s + offset_s, k.viseme, k.strength) for k in self.keys]
        return VisemeTrack(keys, self.lead_s, self.blend_half_s)

    def concat(self, other: VisemeTrack, at_s: float | None = None) -> VisemeTrack:
        """This track followed by `other` starting at at_s (default: where this one ends)."""
        at = self.duration_s if at_s is None else at_s
        return VisemeTrack([*self.keys, *other.shifted(at).keys], self.lead_s, self.blend_half_s)

    @classmethod
    def from_phonemes(
        cls,
        phonemes: Sequence[str],
        durations_s: Sequence[float],
        lead_s: float = LEAD_S,
        blend_half_s: float = BLEND_HALF_S,
    ) -> VisemeTrack:
        """Keys from piper phonemes with their durations (s), as laid out on the audio.

        Marks merge into their neighbours; adjacent keys of the same viseme and strength merge.
        """
        if len(phonemes) != len(durations_s):
            raise ValueError(f"{len(phonemes)} phonemes but {len(durations_s)} durations")
        # pass 1: (viseme | None, duration, phoneme) with stress tracking
        items: list[list] = []  # [viseme | None, dur, phoneme, strength]
        stressed = False
        for ph, dur in zip(phonemes, durations_s):
            if dur < 0 or not math.isfinite(dur):
                raise ValueError(f"phoneme {ph!r} has a bad duration {dur!r}")
            vis = phoneme_viseme(ph)
            strength = 1.0
            if ph in "ˈˌ":
                stressed = True
            elif vis in ("aa", "E", "I", "O", "U"):
                if ph == "ə":
                    strength = SCHWA_STRENGTH
                elif not stressed:
                    strength = UNSTRESSED_STRENGTH
                stressed = False
            elif vis == "sil" or ph == " ":
                stressed = False
            items.append([vis, float(dur), ph, strength])
        # pass 2: give merged marks' time to their neighbours
        n = len(items)
        for i, it in enumerate(items):
            if it[0] is not None:
                continue
            ph = it[2]
            prev_i = next((j for j in range(i - 1, -1, -1) if items[j][0] is not None), None)
            next_i = next((j for j in range(i + 1, n) if items[j][0] is not None), None)
            if ph in MERGE_PREV:
                order = [prev_i, next_i]
            elif ph in MERGE_BOTH and prev_i is not None and next_i is not None:
                # split between the word before and the word after (the gap sits between them)
                half = it[1] / 2.0
                items[prev_i].append(("after", half))
                items[next_i].append(("before", it[1] - half))
                it[1] = 0.0
                continue
            else:
                order = [next_i, prev_i]
            target = next((j for j in order if j is not None), None)
            if target is None:
                it[0] = "sil"
                continue
            items[target].append(("before" if target > i else "after", it[1]))
            it[1] = 0.0
        # pass 3: lay the keys out in time; extra time attaches before/after a key in order
        keys: list[VisemeKey] = []
        t = 0.0
        for it in items:
            vis, dur, _ph, strength = it[:4]
            extra_before = sum(d for side, d in it[4:] if side == "before")
            extra_after = sum(d for side, d in it[4:] if side == "after")
            if vis is None:
                t += dur
                continue
            start = t
            t += dur + extra_before + extra_after
            if t <= start:
                continue
            if keys and keys[-1].viseme == vis and abs(keys[-1].strength - strength) < 1e-9:
                keys[-1] = VisemeKey(keys[-1].start_s, t, vis, strength)
            else:
                keys.append(VisemeKey(start, t, vis, strength))
        return cls(keys, lead_s, blend_half_s)
