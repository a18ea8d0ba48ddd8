"""Persona scripts: the shipped ones load; broken ones fail with the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.models.lite.persona import PersonaError, avatar_of, list_personas, load_persona, parse_persona

GOOD = """\
name: Test
greeting: Hello there.
fallback: I don't know.
repeat_request: ["Say again?"]
intents:
  - name: hours
    examples: [when are you open]
    answer: Nine to five.
"""


def test_shipped_personas_load() -> None:
    assert {"guide", "booth"} <= set(list_personas())
    guide = load_persona("guide")
    assert guide.name and guide.greeting and len(guide.intents) >= 5
    assert all(i.examples and i.answers for i in guide.all_intents())
    booth = load_persona("booth")
    assert booth.intents and booth.fallback and booth.repeat_request


def test_persona_by_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD)
    p = load_persona(str(path))
    assert p.id == "mine" and p.intents[0].answers == ("Nine to five.",)
    assert p.repeat_request == ("Say again?",)


def _error(text: str, name: str = "p.yaml") -> str:
    with pytest.raises(PersonaError) as e:
        parse_persona(text, name)
    return str(e.value)


def test_missing_field_names_file_and_line() -> None:
    msg = _error(GOOD.replace("greeting: Hello there.\n", ""))
    assert msg.startswith("p.yaml:1:") and "greeting" in msg


def test_missing_field_in_intent() -> None:
    text = GOOD.replace("    answer: Nine to five.\n", "")
    msg = _error(text)
    assert msg.startswith("p.yaml:6:") and "intents[0]" in msg and "answer" in msg


def test_bad_types_name_the_line() -> None:
    msg = _error(GOOD.replace("name: Test", "name: 42"))
    assert msg.startswith("p.yaml:1:") and "name must be text" in msg and "number" in msg
    msg = _error(GOOD.replace("examples: [when are you open]", "examples: {a: b}"))
    assert msg.startswith("p.yaml:7:") and "examples" in msg and "mapping" in msg
    msg = _error(GOOD.replace("fallback: I don't know.", "fallback: []"))
    assert msg.startswith("p.yaml:3:") and "empty" in msg
    msg = _error(GOOD + "small_talk: yes\n")
    assert msg.startswith("p.yaml:9:") and "small_talk" in msg


def test_unknown_field_and_invalid_yaml() -> None:
    msg = _error(GOOD + "gretting: typo\n")
    assert msg.startswith("p.yaml:9:") and "gretting" in msg
    msg = _error(GOOD + "intents:\n  - [unclosed\n")
    assert msg == "p.yaml:10: invalid YAML: this '[' is never closed with ']'"
    msg = _error(GOOD + "small_talk:\n  - examples: [is it open?]\n    answer: Yes\n")
    assert msg.startswith("p.yaml:10: invalid YAML:") and '"quotes"' in msg
    assert "empty" in _error("")
    assert "mapping" in _error("- just a list\n")


def test_missing_persona_lists_shipped() -> None:
    with pytest.raises(PersonaError, match="guide"):
        load_persona("nope")


def test_avatar_of_a_persona(tmp_path: Path) -> None:
    assert avatar_of("booth") == "max" and avatar_of("guide") == "ada"  # each YAML names its own
    assert avatar_of("booth", "ada") == "ada"  # a chosen avatar wins
    plain = tmp_path / "plain.yaml"
    plain.write_text("name: Plain\ngreeting: Hi.\nfallback: Sorry?\n", encoding="utf-8")
    assert avatar_of(str(plain)) == "ada"  # names none: the default
    assert avatar_of("no-such-persona") == "ada"  # its own error comes when the model loads it


def test_yaml_mistakes_get_the_hint_that_fits() -> None:
    """A tab, a line indented off, a ':' in a text: each says what is wrong on which line, and only
    the errors that quoting fixes suggest quotes."""
    tab = _error(GOOD.replace("    answer: Nine", "\tanswer: Nine"))
    assert tab == "p.yaml:8: invalid YAML: tabs are not allowed for indentation: use spaces"
    indent = _error(GOOD.replace("    answer: Nine", "      answer: Nine"))
    assert (
        indent.startswith("p.yaml:8: invalid YAML: the indentation does not fit") and "quotes" not in indent
    )
    indent = _error(GOOD.replace("    examples:", "   examples:"))
    assert indent.startswith("p.yaml:7: invalid YAML: the indentation") and "quotes" not in indent
    colon = _error(GOOD.replace("answer: Nine to five.", "answer: Hours: nine to five."))
    assert (
        colon
        == 'p.yaml:8: invalid YAML: a text that contains \': \' must be in "quotes", e.g. "Price: free."'
    )
    unclosed = _error(GOOD + 'small_talk:\n  - examples: ["hi]\n    answer: Hello.\n')
    assert unclosed.startswith("p.yaml:10: invalid YAML: a quoted text is never closed")
    assert "\n" not in tab + indent + colon + unclosed


def test_duplicate_keys_and_intent_names_name_both_lines() -> None:
    msg = _error(GOOD + "greeting: Hi again.\n")
    assert msg == "p.yaml:9: the persona: duplicate key 'greeting' (also at line 2): keep one of them"
    msg = _error(GOOD.replace("    answer: Nine to five.", "    answer: Nine to five.\n    answer: Ten."))
    assert msg.startswith("p.yaml:9: intents[0]: duplicate key 'answer' (also at line 8)")
    twice = GOOD + "  - name: hours\n    examples: [what time do you close]\n    answer: At five.\n"
    msg = _error(twice)
    assert msg.startswith("p.yaml:9: intents[1]: the intent name 'hours' is also used at line 6")
    msg = _error(GOOD + "small_talk:\n  - name: hours\n    examples: [hi]\n    answer: Hello.\n")
    assert msg.startswith("p.yaml:10: small_talk[0]: the intent name 'hours' is also used at line 6")


def test_texts_are_read_as_written_and_true_false_say_how_to_quote() -> None:
    p = parse_persona(GOOD.replace("answer: Nine to five.", "answer: Yes") + "small_talk:\n"
                      "  - examples: [yes, no, on, off, ok]\n    answer: 'true'\n")  # fmt: skip
    assert p.intents[0].answers == ("Yes",)
    assert p.small_talk[0].examples == ("yes", "no", "on", "off", "ok") and p.small_talk[0].answers == (
        "true",
    )
    msg = _error(GOOD.replace("answer: Nine to five.", "answer: true"))
    assert msg == 'p.yaml:8: intents[0].answer must be text, got true/false: write it in quotes, e.g. "true"'
    msg = _error(GOOD.replace("answer: Nine to five.", "answer: 42"))
    assert msg.endswith('got a number: write it in quotes, e.g. "42"')


def test_empty_optional_fields_and_empty_examples() -> None:
    p = parse_persona(GOOD + "voice:\navatar:\ndescription:\n")
    assert (p.voice, p.avatar, p.description) == ("", "", "")  # empty = left out
    for empty in ("examples:", "examples: []"):
        msg = _error(GOOD.replace("examples: [when are you open]", empty))
        assert msg == "p.yaml:7: intents[0].examples needs at least one example phrase"


def test_unreadable_persona_files_say_what_to_do(tmp_path: Path) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(GOOD.replace("Hello there.", "Grüß Gott.").encode("latin-1"))
    with pytest.raises(PersonaError) as e:
        load_persona(str(latin))
    assert str(e.value) == f"{latin}: not UTF-8 text (byte 0xfc at line 2): save it as UTF-8"
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    with pytest.raises(PersonaError, match=r"folder\.yaml: is a folder, not a YAML file$"):
        load_persona(str(folder))
    bom = tmp_path / "bom.yaml"
    bom.write_text("\ufeff" + GOOD, encoding="utf-8")
    assert load_persona(str(bom)).name == "Test"


def test_voice_and_avatar_must_exist_named_with_the_persona_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(GOOD + "voice: joe-warmm\n", encoding="utf-8")
    with pytest.raises(PersonaError) as e:
        load_persona(str(path))
    assert str(e.value).startswith(
        f"{path}:9: unknown voice 'joe-warmm' (did you mean 'joe-warm'?); available: joe,"
    )
    path.write_text(GOOD + "avatar: maxx\n", encoding="utf-8")
    with pytest.raises(PersonaError) as e:
        load_persona(str(path))
    assert str(e.value).startswith(
        f"{path}:9: unknown avatar 'maxx' (did you mean 'max'?); available: ada, max"
    )
    path.write_text(GOOD + "voice: joe-bright\navatar: max\n", encoding="utf-8")
    p = load_persona(str(path))
    assert (p.voice, p.avatar, p.where("avatar")) == ("joe-bright", "max", f"{path}:10")


def test_the_voice_is_the_personas_else_the_avatars_else_joe(tmp_path: Path) -> None:
    """An avatar's `voice:` is what a persona without one speaks with (ada: joe-bright)."""
    from engine.models.lite.performer import load_avatar
    from engine.models.lite.persona import voice_of

    assert load_avatar("ada").voice == "joe-bright" and load_avatar("max").voice == "joe"
    named = parse_persona(GOOD + "voice: joe-warm\n")
    assert voice_of(named, "ada") == "joe-warm"
    for text in (GOOD, GOOD + "voice:\n", GOOD + 'voice: ""\n'):
        assert voice_of(parse_persona(text), "ada") == "joe-bright"
        assert voice_of(parse_persona(text), "max") == "joe"


def test_the_chat_models_prompt_holds_the_whole_script_within_a_budget() -> None:
    from dataclasses import replace

    from engine.models.lite.persona import Intent

    booth = load_persona("booth")
    prompt = booth.llm_system_prompt()
    assert f"You greet people like this: {booth.greeting}" in prompt
    assert f"When you do not know, say so briefly, e.g.: {booth.fallback[0]}" in prompt
    for it in booth.intents:  # every topic, up to three phrasings and every answer
        line = next(x for x in prompt.splitlines() if x.startswith(f"- {it.examples[0]}"))
        assert all(a in line for a in it.answers) and " / ".join(it.examples[:3]) in line
    topics = tuple(Intent(f"t{i}", (f"question {i}",), ("x" * 200,)) for i in range(100))
    many = replace(booth, intents=topics)
    big = many.llm_system_prompt(budget_chars=3000)
    assert len(big) < 3500 and "more topics are not listed here" in big
    kept = sum(line.startswith("- question") for line in big.splitlines())
    assert 5 < kept < 100 and f"({100 - kept} more topics" in big
