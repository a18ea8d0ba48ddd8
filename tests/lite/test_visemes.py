"""Visemes: the phoneme map covers piper's English IPA, tracks blend and lead the audio."""

from __future__ import annotations

import numpy as np
import pytest

from engine.models.lite.visemes import (
    LEAD_S,
    MERGE_BOTH,
    MERGE_NEXT,
    MERGE_PREV,
    PAUSES,
    PHONEME_TO_VISEME,
    VISEME_POSES,
    VISEMES,
    MouthPose,
    VisemeKey,
    VisemeTrack,
    phoneme_viseme,
)

ENGLISH = (
    "The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs! "
    "She sells sea shells by the sea shore; judge the measure of her voice. Thirty three thin "
    "thieves thought that they thrilled the throne. Would you like a cup of tea, or coffee? "
    "Button, bottle, water, butter, church, hedge, vision, yellow, ring, singing, behind, uh-oh."
)


def test_fifteen_visemes_each_with_a_pose() -> None:
    assert len(VISEMES) == 15 and set(VISEMES) == set(VISEME_POSES)
    assert VISEME_POSES["sil"] == MouthPose.closed()
    assert VISEME_POSES["aa"].open > VISEME_POSES["E"].open > VISEME_POSES["PP"].open == 0.0
    assert VISEME_POSES["U"].round > 0.8 and VISEME_POSES["FF"].teeth > 0.8


def test_map_covers_every_symbol_piper_uses_for_english() -> None:
    from engine.models.lite.voice import _piper_voice

    piper = _piper_voice()
    symbols: set[str] = set()
    for sentence in piper.phonemize(ENGLISH + " 1, 2, 3 and 2026 at 10:30 for $5.50."):
        symbols.update(sentence)
    assert len(symbols) > 30
    uncovered = {
        s
        for s in symbols
        if s not in PHONEME_TO_VISEME and s not in PAUSES | MERGE_NEXT | MERGE_PREV | MERGE_BOTH
    }
    assert not uncovered, f"phonemes without a viseme: {sorted(uncovered)}"
    # and every mapped vowel/consonant of the voice's inventory maps into the 15-viseme set
    assert set(PHONEME_TO_VISEME.values()) <= set(VISEMES)
    assert phoneme_viseme("m") == "PP" and phoneme_viseme("f") == "FF" and phoneme_viseme("ɑ") == "aa"
    assert phoneme_viseme("ˈ") is None and phoneme_viseme(".") == "sil"


def _track(*keys: tuple[float, float, str]) -> VisemeTrack:
    return VisemeTrack([VisemeKey(a, b, v) for a, b, v in keys])


def test_track_leads_the_audio_and_never_lags() -> None:
    tr = _track((0.0, 1.0, "sil"), (1.0, 1.5, "aa"), (1.5, 2.5, "sil"))
    aa = VISEME_POSES["aa"].open
    # the mouth is fully open by the time the vowel is heard, and already opening a frame before
    assert tr.pose_at(1.0).open == pytest.approx(aa, abs=1e-6)
    assert tr.pose_at(1.0 - LEAD_S).open > 0.4 * aa
    assert tr.pose_at(1.0 - 2.5 * LEAD_S).open == pytest.approx(0.0, abs=1e-9)
    # closing: shut by the time the silence is heard
    assert tr.pose_at(1.5).open == pytest.approx(0.0, abs=1e-6)
    assert tr.pose_at(1.5 - LEAD_S).open > 0.4 * aa
    # the opening's midpoint comes LEAD_S before the audio boundary
    t = np.arange(0.8, 1.1, 0.001)
    opens = tr.poses_at(t)[:, 0]
    mid = t[np.argmax(opens >= aa / 2)]
    assert mid == pytest.approx(1.0 - LEAD_S, abs=0.003)


def test_track_blends_instead_of_snapping() -> None:
    rng = np.random.default_rng(3)
    keys, t = [], 0.0
    for _ in range(60):
        d = float(rng.uniform(0.03, 0.2))
        keys.append(VisemeKey(t, t + d, VISEMES[int(rng.integers(len(VISEMES)))]))
        t += d
    tr = VisemeTrack(keys)
    poses = tr.poses_at(np.arange(-0.1, t + 0.1, 0.005))
    step = np.abs(np.diff(poses, axis=0)).max()
    assert step < 0.3, f"a 5 ms step changed the pose by {step:.2f}: snapping"
    # between two 25 fps frames a full swing (closed -> aa) is spread over at least two frames
    tr2 = _track((0.0, 0.5, "PP"), (0.5, 1.0, "aa"))
    frames = tr2.poses_at(np.arange(0.0, 1.0, 0.04))[:, 0]
    assert np.abs(np.diff(frames)).max() < 0.9 * VISEME_POSES["aa"].open


def test_short_bilabial_still_closes_the_lips() -> None:
    tr = _track((0.0, 0.3, "aa"), (0.3, 0.36, "PP"), (0.36, 0.7, "aa"))
    # (shown a frame early: the closure is centred LEAD_S before the "p" is heard)
    assert tr.pose_at(0.33 - LEAD_S).open < 0.1 * VISEME_POSES["aa"].open
    assert tr.poses_at(np.arange(0.25, 0.36, 0.005))[:, 0].min() < 0.1


def test_from_phonemes_merges_marks_and_keeps_time() -> None:
    phones = ["^", "h", "ə", "l", "ˈ", "o", "ʊ", " ", "w", "ˈ", "ɜ", "ː", "l", "d", "!", "$"]
    durs = [0.03, 0.04, 0.05, 0.04, 0.03, 0.06, 0.04, 0.03, 0.05, 0.02, 0.07, 0.03, 0.05, 0.04, 0.1, 0.08]
    tr = VisemeTrack.from_phonemes(phones, durs)
    assert tr.duration_s == pytest.approx(sum(durs))
    vis = [k.viseme for k in tr.keys]
    assert vis[0] == "sil" and vis[-1] == "sil"
    assert "O" in vis and "U" in vis and "nn" in vis
    starts = [k.start_s for k in tr.keys]
    assert starts == sorted(starts)
    for a, b in zip(tr.keys, tr.keys[1:]):
        assert a.end_s == pytest.approx(b.start_s)
    assert tr.viseme_at(-1.0) == "sil" and tr.viseme_at(99.0) == "sil"


def test_concat_and_shift() -> None:
    a = _track((0.0, 0.2, "aa"))
    b = _track((0.0, 0.3, "O"))
    c = a.concat(b)
    assert c.duration_s == pytest.approx(0.5)
    assert c.viseme_at(0.1) == "aa" and c.viseme_at(0.3) == "O"
    assert a.shifted(1.0).viseme_at(1.1) == "aa"


def test_bad_inputs_have_clear_errors() -> None:
    with pytest.raises(ValueError, match="open"):
        MouthPose(open=1.5)
    with pytest.raises(ValueError, match="unknown viseme"):
        VisemeKey(0, 1, "zz")
    with pytest.raises(ValueError, match="overlap"):
        _track((0.0, 0.5, "aa"), (0.4, 0.6, "O"))
    with pytest.raises(ValueError, match="durations"):
        VisemeTrack.from_phonemes(["a"], [])
    assert VisemeTrack([]).pose_at(0.3) == MouthPose.closed()
