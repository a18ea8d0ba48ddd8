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
    assert msg.startswith("p.yaml:") and "invalid YAML" in msg
    msg = _error(GOOD + "small_talk:\n  - examples: [is it open?]\n    answer: Yes\n")
    assert msg.startswith("p.yaml:10:") and "quotes" in msg
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
