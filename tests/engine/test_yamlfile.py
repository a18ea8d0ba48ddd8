"""Hand-written YAML (personas, avatars): one-line errors with the file, the line and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.yamlfile import StrictLoader, WordsLoader, YamlFileError, load, read_text


@pytest.mark.parametrize(
    ("text", "message", "quotes"),
    [
        (
            "a: 1\nb:\n\t- x\n",
            "f.yaml:3: invalid YAML: tabs are not allowed for indentation: use spaces",
            False,
        ),
        ("a:\tx\nb: 2\n", "f.yaml:1: invalid YAML: a tab where YAML does not allow one: use spaces", False),
        ("a: Price: free\n", "f.yaml:1: invalid YAML: a text that contains ': ' must be in \"quotes\"", True),
        ("name: Max\n  greeting: hi\n", "f.yaml:2: invalid YAML: this line is indented more than", False),
        (
            "a:\n    b: 1\n  c: 2\n",
            "f.yaml:3: invalid YAML: the indentation does not fit the lines above",
            False,
        ),
        (
            "a:\n  - x\n  b: 1\n",
            "f.yaml:3: invalid YAML: the indentation does not fit the lines above",
            False,
        ),
        ("name: Max\ngreeting Hello\nx: 1\n", "f.yaml:2: invalid YAML: expected 'key: value' here", False),
        (
            'a: "open\nb: 2\n',
            "f.yaml:1: invalid YAML: a quoted text is never closed: add its closing quote",
            False,
        ),
        ('a: "Hi" there\n', "f.yaml:1: invalid YAML: text goes on after a closing quote", False),
        ("a: [x, y\n", "f.yaml:1: invalid YAML: this '[' is never closed with ']'", False),
        ("a: [is it open?]\n", "f.yaml:1: invalid YAML: a problem inside '[ ]' (opened at line 1)", True),
        (
            "a: @home\n",
            "f.yaml:1: invalid YAML: a text cannot start with '@': put the text in \"quotes\"",
            True,
        ),
        ("a: *free* delivery\n", "f.yaml:1: invalid YAML: a text cannot start with '*' or '&'", True),
        ("a: | x\n", "f.yaml:1: invalid YAML: a text cannot start with '|' or '>'", True),
        ('a: "C:\\path"\n', "f.yaml:1: invalid YAML: found unknown escape character 'p'", False),
        ("a: 1\n---\nb: 2\n", "f.yaml:2: invalid YAML: a second document ('---') in one file", False),
        (
            "a: 1\nb:\n  c: 1\n  c: 2\n",
            "f.yaml:4: duplicate key 'c' (also at line 3): keep one of them",
            False,
        ),
    ],
)
def test_yaml_errors_are_one_line_that_says_what_to_do(text: str, message: str, quotes: bool) -> None:
    with pytest.raises(YamlFileError) as e:
        load(text, "f.yaml")
    assert str(e.value).startswith(message) and "\n" not in str(e.value)
    assert ('"quotes"' in str(e.value)) == quotes  # the quoting hint only where quoting helps


def test_yes_and_no_stay_words_with_the_words_loader() -> None:
    text = "a: yes\nb: No\nc: on\nd: true\ne: [y, n, off]\n"
    assert load(text, "f.yaml", WordsLoader) == {
        "a": "yes",
        "b": "No",
        "c": "on",
        "d": True,
        "e": ["y", "n", "off"],
    }
    assert load(text, "f.yaml", StrictLoader)["a"] is True  # YAML 1.1, as PyYAML reads it


def test_read_text_says_what_is_wrong_with_the_file(tmp_path: Path) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: Ada\n# Grüß Gott\n".encode("latin-1"))
    with pytest.raises(YamlFileError) as e:
        read_text(latin)
    assert str(e.value) == f"{latin}: not UTF-8 text (byte 0xfc at line 2): save it as UTF-8"
    with pytest.raises(YamlFileError, match=r": is a folder, not a YAML file$"):
        read_text(tmp_path)
    with pytest.raises(YamlFileError, match=r"gone\.yaml: cannot read the file: No such file"):
        read_text(tmp_path / "gone.yaml")
    bom = tmp_path / "bom.yaml"
    bom.write_bytes(b"\xef\xbb\xbfname: Ada\n")
    assert read_text(bom) == "name: Ada\n"
