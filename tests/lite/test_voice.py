"""Voice: piper joe -> 24 kHz speech with a viseme track on the same timeline."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from engine.models.lite.voice import SAMPLE_RATE, Voice, list_voices, normalize_text, resample


@pytest.fixture(scope="module")
def joe() -> Voice:
    return Voice("joe")


def _f0_hz(pcm: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    """Median fundamental frequency (YIN) over voiced 40 ms frames."""
    n, lo, hi = int(0.04 * sr), sr // 350, sr // 60
    found = []
    for s in range(0, pcm.size - n, n // 2):
        fr = pcm[s : s + n] - pcm[s : s + n].mean()
        if np.sqrt((fr**2).mean()) < 0.05:
            continue
        d = np.array([np.sum((fr[: n - hi] - fr[lag : lag + n - hi]) ** 2) for lag in range(hi)])
        cm = np.concatenate([[1.0], d[1:] * np.arange(1, hi) / np.maximum(np.cumsum(d[1:]), 1e-9)])
        cand = np.where(cm[lo:] < 0.15)[0]
        if cand.size:
            lag = lo + int(cand[0])
            while lag + 1 < hi and cm[lag + 1] < cm[lag]:
                lag += 1
            found.append(sr / lag)
    assert len(found) > 5
    return float(np.median(found))


def test_speech_is_24k_with_plausible_duration_and_a_covering_track(joe: Voice) -> None:
    text = "Hello there! I'm Duet, your guide. Shall we talk?"
    sp = joe.synthesize(text)
    assert sp.pcm.dtype == np.float32 and sp.pcm.ndim == 1
    assert sp.sample_rate == SAMPLE_RATE == 24000
    assert sp.duration_s == pytest.approx(sp.pcm.size / 24000)
    # ~9 words at a conversational 2-4 words per second, plus pauses
    assert 1.8 < sp.duration_s < 6.0
    assert 0.3 < np.abs(sp.pcm).max() <= 1.0
    assert sp.track.duration_s == pytest.approx(sp.duration_s, abs=0.01)
    assert sp.text == text and sp.phonemes
    # the mouth moves while it speaks, and is shut at the end
    opens = sp.track.poses_at(np.arange(0.0, sp.duration_s, 0.04))[:, 0]
    assert opens.max() > 0.5 and (opens > 0.2).mean() > 0.3
    assert sp.track.pose_at(sp.duration_s + 0.1).open == 0.0


def test_visemes_follow_the_audio(joe: Voice) -> None:
    sp = joe.synthesize("Mama made a pie. Oh, wow!")
    tick = 960
    n = sp.pcm.size // tick
    rms = np.sqrt((sp.pcm[: n * tick].reshape(n, tick) ** 2).mean(axis=1))
    opens = sp.track.poses_at((np.arange(n) + 0.5) * 0.04)[:, 0]
    loud = rms > 0.25 * rms.max()
    quiet = rms < 0.01 * rms.max()
    assert loud.sum() > 5
    assert opens[loud].mean() > 0.3
    assert quiet.sum() > 2  # the pauses between the words and sentences
    assert opens[quiet].mean() < opens[loud].mean() / 2
    # "mama": the lips close for the m's
    vis = [k.viseme for k in sp.track.keys]
    assert vis.count("PP") >= 3


def test_voices_differ(joe: Voice) -> None:
    assert {"joe", "joe-warm", "joe-bright"} <= set(list_voices())
    text = "This is my voice, how do I sound today? I hope you can hear me well, my friend."
    base = joe.synthesize(text)
    warm = Voice("joe-warm").synthesize(text)
    bright = Voice("joe-bright").synthesize(text)
    # pitch: warm ~0.9x, bright ~1.12x of joe's
    f0, fw, fb = (_f0_hz(s.pcm) for s in (base, warm, bright))
    assert fw < 0.97 * f0 and fb > 1.05 * f0, (fw, f0, fb)
    assert warm.duration_s > base.duration_s * 0.98  # the warm voice is not quicker
    for s in (warm, bright):
        assert s.track.duration_s == pytest.approx(s.duration_s, abs=0.01)


def test_synthesis_runs_in_worker_threads(joe: Voice) -> None:
    results: dict[int, float] = {}

    def work(i: int) -> None:
        results[i] = joe.synthesize(f"Sentence number {i + 1}.").duration_s

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == [0, 1, 2] and all(d > 0.4 for d in results.values())


def test_sentences_stream_one_by_one(joe: Voice) -> None:
    parts = list(joe.synthesize_sentences("First sentence. Second one here! And a third?"))
    assert len(parts) == 3
    whole = joe.synthesize("First sentence. Second one here! And a third?")
    # (piper samples its durations: two runs differ slightly)
    assert whole.duration_s == pytest.approx(sum(p.duration_s for p in parts), rel=0.15)
    assert whole.track.duration_s == pytest.approx(whole.duration_s, abs=0.01)


def test_empty_and_bad_input(joe: Voice) -> None:
    sp = joe.synthesize("   ")
    assert sp.pcm.size == 0 and sp.duration_s == 0.0 and len(sp.track) == 0
    with pytest.raises(ValueError, match="unknown voice"):
        Voice("nobody")
    with pytest.raises(TypeError, match="str"):
        joe.synthesize(42)  # type: ignore[arg-type]


def test_text_normalisation() -> None:
    assert normalize_text("**Hi** there 🙂 [docs](http://x.y)") == "Hi there docs"
    assert "ay eye" in normalize_text("I am an AI.")
    assert "see pee you" in normalize_text("on the CPU")
    assert normalize_text("NASA is fine") == "NASA is fine"
    assert "percent" in normalize_text("50% more") and "for example" in normalize_text("e.g. this")
    assert normalize_text("Visit https://duet.example/x.") == "Visit a link."
    assert normalize_text("OK, DUET") == "okay, Duet"


def test_resampler_is_band_limited() -> None:
    sr = 22050
    t = np.arange(sr) / sr
    tone = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    y = resample(tone, sr, 24000)
    assert y.size == 24000
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    f = np.fft.rfftfreq(y.size, 1 / 24000)
    assert abs(f[spec.argmax()] - 1000) < 2
    spur = spec[np.abs(f - 1000) > 50].max() / spec.max()
    assert 20 * np.log10(spur) < -60
    # downsampling (pitch-shifted input): a tone above the new Nyquist must not alias back
    hi = np.sin(2 * np.pi * 13000 * np.arange(26000) / 26000).astype(np.float32)
    z = resample(hi, 26000, 24000)
    assert np.sqrt((z[100:-100] ** 2).mean()) < 0.01


def test_money_is_read_as_money() -> None:
    assert normalize_text("It costs $5.50.") == "It costs 5 dollars 50."
    assert normalize_text("Only $12 or €3") == "Only 12 dollars or 3 euros"


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("It costs $1,299.99.", "It costs 1299 dollars 99."),
        ("From $1 to $12,000, or $5.00.", "From 1 dollar to 12000 dollars, or 5 dollars."),
        ("€1,299 or £3.50 or €3,50", "1299 euros or 3 pounds 50 or 3 euros 50"),
        ("We had 1,299 visitors, then 10,000; 1,2,3.", "We had 1299 visitors, then 10000; 1,2,3."),
        ("Grew 12.5% in 2024-2025.", "Grew 12.5 percent in 2024-2025."),  # not a phone number
    ],
)
def test_amounts_with_thousands_separators(text: str, spoken: str) -> None:
    assert normalize_text(text) == spoken


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("Call +49 30 1234567.", "Call plus four nine, three zero, one two three four five six seven."),
        ("Or (555) 123-4567", "Or five five five, one two three, four five six seven"),
        ("Our line: 030 1234567", "Our line: zero three zero, one two three four five six seven"),
        ("On 2024-05-12 at 10:30", "On 2024-05-12 at 10:30"),  # a date stays a date
        ("In 1999 2000 visitors came", "In 1999 2000 visitors came"),
    ],
)
def test_phone_numbers_are_read_digit_by_digit(text: str, spoken: str) -> None:
    assert normalize_text(text) == spoken


def test_abbreviations_are_said_in_full() -> None:
    assert normalize_text("Ask Dr. Smith at stand no. 5 on Dec. 5.") == (
        "Ask Doctor Smith at stand number 5 on December 5."
    )
    assert normalize_text("Ms. Lee and Prof. Kim") == "Miz Lee and Professor Kim"
    assert normalize_text("No. It is free.") == "No. It is free."  # an answer, not "number"


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        # dates, lists and plain numbers are not phone numbers or thousands
        ("The fair is on 05/12/2024.", "The fair is on 05/12/2024."),
        ("Open 01/03/2025 to 07.03.2025 or 05-12-2024", "Open 01/03/2025 to 07.03.2025 or 05-12-2024"),
        ("Rooms 101,102,103.", "Rooms 101, 102, 103."),
        ("Rooms 101,102 are upstairs.", "Rooms 101, 102 are upstairs."),
        ("Try gates 3,4 or halls 1, 2,12.", "Try gates 3, 4 or halls 1, 2, 12."),
        (
            "It seats 1,200 people; the hall stands 1,500 m high.",
            "It seats 1200 people; the hall stands 1500 m high.",
        ),
        ("Scores 100 200 3000", "Scores 100 200 3000"),
        ("ISBN 978-3-16-148410-0, 1990-2000", "ISBN 978-3-16-148410-0, 1990-2000"),
        # amounts with a scale
        ("It costs $100k.", "It costs 100 thousand dollars."),
        ("A $5M budget", "A 5 million dollars budget"),
        ("£1.5bn or $5.5 million", "1.5 billion pounds or 5.5 million dollars"),
        (
            "$2tn, €3B, $12K or $4 Billion",
            "2 trillion dollars, 3 billion euros, 12 thousand dollars or 4 billion dollars",
        ),
        # what already read well stays so
        ("In 2024 we had 1,200 visitors, then 12,345,678.", "In 2024 we had 1200 visitors, then 12345678."),
        ("Python 3.11 and 3.11.4 at 10:30 on 2024-01-15", "Python 3.11 and 3.11.4 at 10:30 on 2024-01-15"),
        ("Up 5% to 3.5% in the 21st century", "Up 5 percent to 3.5 percent in the 21st century"),
        ("Stand No. 5 on Dec. 5", "Stand number 5 on December 5"),
        ("$1,299.99 or €3,50", "1299 dollars 99 or 3 euros 50"),
        ("Tel +49 30 1234567.", "Tel plus four nine, three zero, one two three four five six seven."),
        ("Or (555) 123-4567", "Or five five five, one two three, four five six seven"),
        ("Or 555-123-4567", "Or five five five, one two three, four five six seven"),
        ("Or 030 1234567", "Or zero three zero, one two three four five six seven"),
    ],
)
def test_numbers_are_read_as_what_they_are(text: str, spoken: str) -> None:
    assert normalize_text(text) == spoken
