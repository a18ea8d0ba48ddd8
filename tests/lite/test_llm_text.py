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
