"""Chat-model text -> clean spoken/captioned sentences (think blocks, markdown, URLs, emoji)."""

from __future__ import annotations

import pytest

from engine.models.lite.llm_text import ReplyText, ThinkFilter, clean_inline, drop_emoji, tidy_sentence

MARKDOWN = (
    "**Sure!** Here are the options:\n\n1. *Lite* model 🚀\n2. `streamer` model\n\n"
    "```python\nprint('hello')\n```\nSee https://example.com/docs?x=1 for details. Price: $1,299.99 😀"
)
MARKDOWN_SAID = [
    "Sure! Here are the options.",
    "Lite model.",
    "streamer model.",
    "See example.com for details.",
    "Price: $1,299.99",
]


def _sentences(text: str, size: int) -> list[str]:
    """The reply's sentences when it streams in pieces of `size` characters."""
    reply = ReplyText()
    out: list[str] = []
    for i in range(0, len(text), size):
        out += reply.feed(text[i : i + size])
    return out + reply.finish()


@pytest.mark.parametrize("size", [1, 2, 3, 5, 6, 7, 11, 1000])
def test_markdown_becomes_plain_sentences_however_it_is_split(size: int) -> None:
    assert _sentences(MARKDOWN, size) == MARKDOWN_SAID


@pytest.mark.parametrize("size", [1, 3, 4, 6, 1000])
def test_think_blocks_are_dropped_however_they_are_split(size: int) -> None:
    text = (
        "<think>\nThe user asks about the booth. Be brief.\n</think>\n\n"
        "Welcome to the booth, we are glad you came."
    )
    assert _sentences(text, size) == ["Welcome to the booth, we are glad you came."]
    unterminated = "Here is the short answer. <think>Wait, let me reconsider everything I said"
    assert _sentences(unterminated, size) == ["Here is the short answer."]


def test_think_filter_keeps_text_that_only_looks_like_a_tag() -> None:
    f = ThinkFilter()
    assert f.feed("a <b> c <th") == "a <b> c "  # "<th" may start a tag: held
    assert f.feed("is is fine") == "<this is fine"
    assert f.finish() == "" and not f.saw_thinking


def test_headings_and_list_items_are_sentences_of_their_own() -> None:
    text = (
        "## Opening hours\nWe open at nine\nand close at five.\n\n"
        "- Monday to Friday\n- Saturday mornings only\n"
    )
    assert _sentences(text, 4) == [
        "Opening hours.",
        "We open at nine and close at five.",
        "Monday to Friday.",
        "Saturday mornings only.",
    ]


def test_paragraphs_without_a_full_stop_still_end_a_sentence() -> None:
    assert _sentences("Thanks for asking\n\nThe booth is on the left", 5) == [
        "Thanks for asking.",
        "The booth is on the left",
    ]


def test_code_blocks_rules_and_tables_are_not_read_aloud() -> None:
    text = (
        "Run this command please:\n```bash\npip install duet\n```\n---\n"
        "| Model | Speed |\n|---|---|\n| lite | fast enough |\nThat is all for now."
    )
    assert _sentences(text, 3) == [
        "Run this command please.",
        "Model, Speed.",
        "lite, fast enough.",
        "That is all for now.",
    ]
    assert _sentences("Look at this code:\n```\nx = 1\n", 2) == ["Look at this code."]  # never closed


def test_inline_marks_links_and_urls() -> None:
    assert clean_inline("**bold** and __strong__ and _it_ and `code` ") == "bold and strong and it and code "
    assert clean_inline("snake_case and 2*3 stay ") == "snake_case and 2*3 stay "
    assert clean_inline("[the docs](https://example.com/x) ") == "the docs "
    assert clean_inline("Visit https://www.duet.example.org/a/b?c=1. ") == "Visit duet.example.org. "
    assert clean_inline("or www.example.com, ") == "or example.com, "


def test_emoji_are_dropped_from_captions_and_speech() -> None:
    assert drop_emoji("Great 👍🏽 job ❤️ 🇫🇷 1️⃣") == "Great  job   1"
    assert tidy_sentence("Nice to meet you 😀!") == "Nice to meet you!"
    assert tidy_sentence("It is 20°C ©") == "It is 20°C ©"  # symbols a caption can show stay
    assert tidy_sentence("🚀 🎉.") == ""  # nothing left to say


def test_a_paused_stream_says_the_complete_sentence() -> None:
    reply = ReplyText()
    assert reply.feed("Hello from the model. And the next one is done.") == ["Hello from the model."]
    assert reply.pause() == ["And the next one is done."]
    assert reply.feed(" More") == [] and reply.finish() == ["More"]


@pytest.mark.parametrize(
    "text",
    [
        MARKDOWN,
        "> A quote here.\n* star item one\n+ plus item two\n3) third item\n\n***\n"
        "Text with ***bold italic*** words and [a link](http://x.io/y).",
        "<think>hmm</think>Plain answer, no marks at all. Second one!  Third?",
    ],
)
def test_the_split_of_the_stream_never_changes_what_is_said(text: str) -> None:
    whole = _sentences(text, len(text))
    assert whole and all(_sentences(text, size) == whole for size in range(1, 25))
    assert not any(mark in s for s in whole for mark in ("*", "`", "#", "[", "](", "<think>", "hmm"))


# ---------------------------------------------------------------------- pauses in the stream
def _with_pauses(tokens: list[str], pauses: set[int]) -> list[str]:
    """The reply's sentences when the stream pauses after each token whose index is in `pauses`."""
    reply = ReplyText()
    out: list[str] = []
    for i, token in enumerate(tokens):
        out += reply.feed(token)
        if i in pauses:
            out += reply.pause()
    return out + reply.finish()


PAUSED_REPLIES = [
    ["Oh,", " sure.", " The", " fair", " opens", " at", " nine."],
    ["Ask Dr.", " Smith", " at", " the desk."],
    ["We open at 9", " a.m.", " Wel", "come!", " See", " you."],
    ["The ticket costs 5", ".", "99 dollars", " today.", " Bye", " now!"],
    ["It was John F.", " Kennedy", " who", " said", " it."],
    ["Bring snacks, e.g.", " fruit", " or", " nuts.", " The", " end."],
    ["Hi.", " How", " are", " you", " today?"],
    ["**Sure!**", " Here", " are the options:", "\n\n1.", " *Lite*", " model\n", "2.", " Streamer", " model"],
]


@pytest.mark.parametrize("tokens", PAUSED_REPLIES, ids=lambda t: "".join(t)[:24])
def test_pauses_anywhere_never_lose_or_glue_text(tokens: list[str]) -> None:
    """A pause may end a sentence sooner, but the words said, and the spaces between them, are the
    same wherever the stream pauses (here: after every subset of its tokens)."""
    whole = " ".join(_with_pauses(tokens, set()))
    assert whole
    for mask in range(1, 1 << len(tokens)):
        pauses = {i for i in range(len(tokens)) if mask >> i & 1}
        assert " ".join(_with_pauses(tokens, pauses)) == whole, sorted(pauses)


def test_a_pause_after_a_number_waits_for_its_decimals_unless_the_stream_broke_off() -> None:
    reply = ReplyText()
    assert reply.feed("The ticket costs 5.") == [] and reply.pause() == []  # "5.99" may follow
    assert reply.pause(final=True) == ["The ticket costs 5."]


def test_a_pause_says_the_sentence_it_completed() -> None:
    """'... 9 a.m.' + pause + 'Welcome!': the capital after a.m. ends the first sentence then."""
    tokens = ["We open at 9", " a.m.", " Wel", "come!", " See", " you."]
    assert _with_pauses(tokens, {3}) == ["We open at 9 a.m.", "Welcome! See you."]
    assert _with_pauses(["Ask Dr.", " Smith", " at", " the desk."], {0}) == ["Ask Dr. Smith at the desk."]


# ---------------------------------------------------------------------- not markdown after all
@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("It runs on .NET 8 and costs .5 dollars.", "It runs on .NET 8 and costs .5 dollars."),
        ("Price: .99 each.", "Price: .99 each."),
        ("Compute 5 * 3 = 15.", "Compute 5 times 3 = 15."),
        ("42. That is the answer.", "42. That is the answer."),
        ("The score was high.\n\n42. That is the answer.", "The score was high. 42. That is the answer."),
    ],
)
def test_dots_stars_and_numbers_that_are_not_markdown_stay(text: str, said: str) -> None:
    for size in (1, 4, 1000):
        assert " ".join(_sentences(text, size)) == said


def test_numbered_lines_are_items_where_a_list_is_plausible() -> None:
    assert _sentences("Two steps:\n\n2. Open it\n\n3. Close it\n", 3) == ["Two steps. Open it.", "Close it."]
    assert _sentences("Hello there friend.\n1. Open it\n2. Close it\n", 3) == [
        "Hello there friend.",
        "Open it. Close it.",
    ]


def test_tidy_keeps_a_space_before_a_mark_that_starts_a_word() -> None:
    assert tidy_sentence("Yes , it runs on .NET now .") == "Yes, it runs on .NET now."
    assert tidy_sentence("Sure!. Price: .99 each.") == "Sure! Price: .99 each."


# ---------------------------------------------------------------------- run-on sentences
def test_a_run_on_sentence_is_cut_where_speech_pauses() -> None:
    reply = ReplyText()
    text = "so we walk along the hall, past the desk and then we turn left and keep going "
    assert reply.feed(text) == [] and reply.waiting_words() == 17
    assert reply.take_clause(30) == ["so we walk along the hall,"]  # the last , ; : or dash
    assert reply.take_clause(30) == ["past the desk and then we turn left"]  # before "and"
    assert reply.take_clause(30) == ["and keep going"]  # no boundary: all of it
    assert reply.waiting_words() == 0 and reply.take_clause(30) == []
    words = [f"word{i}" for i in range(40)]
    assert reply.feed(" ".join(words) + " ") == []
    assert reply.take_clause(30) == [" ".join(words[:30])]  # no boundary: max_words words
    assert reply.waiting_words() == 10
    assert reply.feed("the end. ") == [" ".join(words[30:]) + " the end."]
