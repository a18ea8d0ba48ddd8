"""How the speaker cuts what it says into pieces for synthesis: the first audio comes sooner."""

from __future__ import annotations

from engine.models.lite.speaker import MAX_PART_WORDS, split_first_clause, split_long


def test_a_short_sentence_stays_whole() -> None:
    text = "Yes, just start talking now."
    assert split_first_clause(text) == [text] and split_long(text) == [text]
    assert split_first_clause("Duet is an app, made for talking with an avatar.") == [
        "Duet is an app,",
        "made for talking with an avatar.",
    ]


def test_a_run_on_sentence_is_cut_where_speech_would_pause() -> None:
    words = [f"w{i}" for i in range(70)]
    words[19] += ","  # a comma within reach of the first cut
    words[45] = "because"  # a joining word within reach of the second
    parts = split_long(" ".join(words) + ".")
    assert parts[0].endswith("w19,") and parts[1].split()[-1] == "w44" and parts[2].startswith("because")
    assert " ".join(parts) == " ".join(words) + "."  # nothing lost or added
    assert all(len(p.split()) <= MAX_PART_WORDS for p in parts)


def test_no_pause_in_reach_cuts_at_the_limit() -> None:
    text = " ".join(["word"] * 75)
    parts = split_long(text)
    assert [len(p.split()) for p in parts] == [MAX_PART_WORDS, MAX_PART_WORDS, 15]
    early = " ".join(["a,"] + ["word"] * 40)  # a comma too early to cut at (min 6 words)
    assert len(split_long(early)[0].split()) == MAX_PART_WORDS
