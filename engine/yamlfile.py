"""The YAML files people write by hand (personas, avatars): read as UTF-8 text, parsed with
duplicate keys refused, and every problem said in one line that names the file, the line and
what to do, e.g. `booth.yaml:47: tabs are not allowed for indentation: use spaces`.

Torch-free and GUI-free: the app (its pickers) and the engine (loading) both use it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml


class YamlFileError(ValueError):
    """A hand-written YAML file that cannot be read; the message is one line naming the file."""


def read_text(path: Path) -> str:
    """The file as text: UTF-8 (a BOM is dropped); a folder, an unreadable file or other bytes are
    a YamlFileError that says what to do."""
    if path.is_dir():
        raise YamlFileError(f"{path}: is a folder, not a YAML file")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise YamlFileError(f"{path}: cannot read the file: {e.strerror or e}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise YamlFileError(
            f"{path}: not UTF-8 text (byte 0x{data[e.start]:02x} at line {line}): save it as UTF-8"
        ) from None


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A key given twice in one mapping (PyYAML would silently keep the last)."""


def duplicate_key_problem(key: str, first_line: int) -> str:
    return f"duplicate key {key!r} (also at line {first_line}): keep one of them"


class StrictLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice in one mapping."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, _ in node.value:
                if not isinstance(key, yaml.ScalarNode):
                    continue
                if key.value in seen:
                    problem = duplicate_key_problem(key.value, seen[key.value])
                    raise DuplicateKeyError(None, None, problem, key.start_mark)
                seen[key.value] = key.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


class WordsLoader(StrictLoader):
    """StrictLoader where only true/false (any case) are booleans, as in YAML 1.2: yes, no, on,
    off, y and n stay the words the author wrote (YAML 1.1 reads them as true/false)."""


WordsLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
WordsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load(text: str, filename: str, loader: type[Any] = StrictLoader) -> Any:
    """yaml.load(text) with `loader`; a YAML error becomes a one-line YamlFileError (see describe)."""
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as e:
        raise YamlFileError(describe(e, filename, text)) from None


def compose(text: str, filename: str, loader: type[Any] = WordsLoader) -> Any:
    """The node tree of `text` (marks give every value's line); errors as in load()."""
    try:
        return yaml.compose(text, Loader=loader)
    except yaml.YAMLError as e:
        raise YamlFileError(describe(e, filename, text)) from None


_QUOTE_IT = 'put the text in "quotes"'


def describe(e: yaml.YAMLError, filename: str, text: str) -> str:
    """One line for a PyYAML error: `FILE:LINE: invalid YAML: problem: what to do` (a duplicate
    key: `FILE:LINE: duplicate key ...`). PyYAML's own message spans
    several lines (context, the source line, a caret) and often names tokens, not mistakes."""
    problem_mark = getattr(e, "problem_mark", None)
    context_mark = getattr(e, "context_mark", None)
    problem = str(getattr(e, "problem", None) or "").strip()
    context = str(getattr(e, "context", None) or "").strip()
    if problem_mark is None:
        first = (problem or str(e)).strip().splitlines() or ["unknown error"]
        return f"{filename}: invalid YAML: {first[0]}"
    if isinstance(e, DuplicateKeyError):
        return f"{filename}:{problem_mark.line + 1}: {problem}"
    lines = text.splitlines()
    line_no, what = _explain(problem, context, problem_mark, context_mark, lines)
    return f"{filename}:{line_no}: invalid YAML: {what}"


def _explain(problem: str, context: str, mark: Any, context_mark: Any, lines: list[str]) -> tuple[int, str]:
    """(line number, message) for a marked PyYAML error."""
    line_no = mark.line + 1
    src = lines[mark.line] if mark.line < len(lines) else ""
    before = src[: mark.column]
    indent = src[: len(src) - len(src.lstrip(" \t"))]
    context_line = context_mark.line + 1 if context_mark is not None else line_no

    if "\t" in indent or "'\\t'" in problem or "tab" in problem:
        if "\t" in indent:
            return line_no, "tabs are not allowed for indentation: use spaces"
        return line_no, "a tab where YAML does not allow one: use spaces"
    if "quoted scalar" in context and "end of stream" in problem:
        return context_line, "a quoted text is never closed: add its closing quote"
    if "unknown escape character" in problem:
        return line_no, (
            f'{problem} (a backslash in "..." starts an escape): '
            "write \\\\ for a backslash, or use 'single quotes'"
        )
    if context.startswith("while parsing a flow"):
        opener = "[" if "sequence" in context else "{"
        closer = "]" if opener == "[" else "}"
        if "<stream end>" in problem:
            return context_line, f"this '{opener}' is never closed with '{closer}'"
        return line_no, (
            f"a problem inside '{opener} {closer}' (opened at line {context_line}): close it with "
            f"'{closer}', and put a text that contains ',', ':', '?' or '#' in \"quotes\" (or write "
            "the list one '- item' per line)"
        )
    if problem == "mapping values are not allowed here":
        if re.search(r":\s", before):
            return line_no, 'a text that contains \': \' must be in "quotes", e.g. "Price: free."'
        return line_no, "this line is indented more than the lines above it: line it up (use spaces)"
    if "but found '<scalar>'" in problem and re.search(r"[\"']\s*$", before):
        return line_no, "text goes on after a closing quote: put the whole text in quotes"
    if (
        problem.startswith("expected <block end>")
        or problem.startswith("did not find expected")
        or context.startswith("while parsing a block")
    ):
        return line_no, (
            "the indentation does not fit the lines above: line up keys and '- ' items of the same "
            "level in the same column (use spaces)"
        )
    if problem == "could not find expected ':'":
        return context_line, (
            "expected 'key: value' here (is a ':' missing? a text that goes on over several lines "
            "must be indented more than its key)"
        )
    start = re.search(r"found character '(.)' that cannot start any token", problem)
    if start:
        return line_no, f"a text cannot start with '{start.group(1)}': {_QUOTE_IT}"
    if context in ("while scanning an alias", "while scanning an anchor") or "undefined alias" in problem:
        return line_no, f"a text cannot start with '*' or '&': {_QUOTE_IT}"
    if context == "while scanning a block scalar":
        return line_no, f"a text cannot start with '|' or '>': {_QUOTE_IT}"
    if "could not determine a constructor for the tag" in problem:
        return line_no, f"a text cannot start with '!': {_QUOTE_IT}"
    if problem == "mapping keys are not allowed here":
        return line_no, f"a text cannot start with '? ': {_QUOTE_IT}"
    if "another document" in problem:
        return line_no, "a second document ('---') in one file: remove the '---' line"
    return line_no, problem
