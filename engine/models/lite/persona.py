"""Persona scripts: YAML files in assets/personas/ (or any path) loaded into a validated Persona.

Every error names the file and the line (from yaml's node marks), e.g.
`booth.yaml:12: intents[2].answers must be a list of strings, got a number`.

Schema (see assets/personas/booth.yaml for a commented example):
    name: str                  required, the avatar's name
    greeting: str              required, said when a person walks up (or at session start)
    fallback: str | [str]      required, said when no intent matches
    repeat_request: str | [str] required, said when nothing intelligible was heard
    voice: str                 optional voice id ("" = default voice)
    avatar: str                optional avatar id
    description: str           optional, one line for menus
    system_prompt: str         optional, extra instructions for the LLM brain
    intents: [Intent]          optional: {name?, examples: [str], answer: str | answers: [str]}
    small_talk: [Intent]       optional, same shape as intents
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from engine.paths import assets_dir


class PersonaError(ValueError):
    """A persona file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Intent:
    name: str
    examples: tuple[str, ...]
    answers: tuple[str, ...]


@dataclass(frozen=True)
class Persona:
    id: str
    name: str
    greeting: str
    fallback: tuple[str, ...]
    repeat_request: tuple[str, ...]
    voice: str = ""
    avatar: str = ""
    description: str = ""
    system_prompt: str = ""
    intents: tuple[Intent, ...] = ()
    small_talk: tuple[Intent, ...] = ()
    path: str = ""

    def all_intents(self) -> tuple[Intent, ...]:
        return self.intents + self.small_talk

    def llm_system_prompt(self) -> str:
        """The persona as a system prompt for a chat model: who it is plus its script as knowledge."""
        lines = [
            f"You are {self.name}, a friendly talking avatar in a live spoken conversation.",
            "Answer in one to three short spoken sentences, plain words, no lists, no markup.",
        ]
        if self.description:
            lines.append(self.description)
        if self.system_prompt:
            lines.append(self.system_prompt.strip())
        if self.intents:
            lines.append("Facts you know (question -> answer):")
            for it in self.intents:
                lines.append(f"- {it.examples[0]} -> {it.answers[0]}")
        return "\n".join(lines)


def personas_dir() -> Path:
    return assets_dir() / "personas"


def list_personas() -> list[str]:
    return sorted(p.stem for p in personas_dir().glob("*.yaml"))


def resolve_persona_path(persona: str) -> Path:
    """A persona id (assets/personas/<id>.yaml) or a path to a YAML file."""
    if persona.endswith((".yaml", ".yml")) or "/" in persona or "\\" in persona:
        path = Path(persona).expanduser()
    else:
        path = personas_dir() / f"{persona}.yaml"
    if not path.is_file():
        known = ", ".join(list_personas()) or "none"
        raise PersonaError(f"persona {persona!r} not found ({path}); shipped personas: {known}")
    return path


def load_persona(persona: str) -> Persona:
    path = resolve_persona_path(persona)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PersonaError(f"{path}: cannot read persona file: {e}") from None
    return parse_persona(text, str(path))


def parse_persona(text: str, filename: str = "<persona>") -> Persona:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}" if mark is not None else filename
        problem = getattr(e, "problem", None) or str(e)
        hint = " (put texts that contain ':', '?', '#' or commas in \"quotes\")" if mark is not None else ""
        raise PersonaError(f"{where}: invalid YAML: {problem}{hint}") from None
    return _Reader(filename).persona(root)


class _Reader:
    """Walks the composed YAML node tree so every error carries a line number."""

    def __init__(self, filename: str) -> None:
        self.filename = filename

    def fail(self, node: yaml.Node | None, message: str) -> PersonaError:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        return PersonaError(f"{self.filename}{line}: {message}")

    def mapping(self, node: yaml.Node | None, what: str) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping (key: value lines), got {_kind(node)}")
        out: dict[str, yaml.Node] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise self.fail(key, f"{what}: keys must be plain names")
            if key.value in out:
                raise self.fail(key, f"{what}: duplicate key {key.value!r}")
            out[key.value] = value
        return out

    def string(self, node: yaml.Node, what: str, allow_empty: bool = False) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str":
            raise self.fail(node, f"{what} must be text, got {_kind(node)}")
        value = str(node.value).strip()
        if not value and not allow_empty:
            raise self.fail(node, f"{what} must not be empty")
        return value

    def strings(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        """A string or a non-empty list of strings."""
        if isinstance(node, yaml.ScalarNode):
            return (self.string(node, what),)
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{what} must be text or a list of texts, got {_kind(node)}")
        if not node.value:
            raise self.fail(node, f"{what} must not be an empty list")
        return tuple(self.string(item, f"{what}[{i}]") for i, item in enumerate(node.value))

    def require(self, fields: dict[str, yaml.Node], key: str, parent: yaml.Node, what: str) -> yaml.Node:
        if key not in fields:
            raise self.fail(parent, f"{what} is missing the required field {key!r}")
        return fields[key]

    def intents(self, node: yaml.Node, what: str) -> tuple[Intent, ...]:
        if not isinstance(node, yaml.SequenceNode):
            got = _kind(node)
            raise self.fail(node, f"{what} must be a list of intents (lines starting with '-'), got {got}")
        out = []
        for i, item in enumerate(node.value):
            where = f"{what}[{i}]"
            fields = self.mapping(item, where)
            unknown = set(fields) - {"name", "examples", "answer", "answers"}
            if unknown:
                key = sorted(unknown)[0]
                expected = "name, examples, answer(s)"
                raise self.fail(fields[key], f"{where}: unknown field {key!r} (expected {expected})")
            name = self.string(fields["name"], f"{where}.name") if "name" in fields else f"{what}_{i}"
            examples = self.strings(self.require(fields, "examples", item, where), f"{where}.examples")
            if "answer" in fields and "answers" in fields:
                raise self.fail(fields["answers"], f"{where}: give either 'answer' or 'answers', not both")
            key = "answers" if "answers" in fields else "answer"
            answers = self.strings(self.require(fields, key, item, where), f"{where}.{key}")
            out.append(Intent(name=name, examples=examples, answers=answers))
        return tuple(out)

    def persona(self, root: yaml.Node | None) -> Persona:
        if root is None:
            raise PersonaError(f"{self.filename}: the persona file is empty")
        fields = self.mapping(root, "the persona")
        known = {
            "name", "greeting", "fallback", "repeat_request", "voice", "avatar", "description",
            "system_prompt", "intents", "small_talk",
        }  # fmt: skip
        for key, value in fields.items():
            if key not in known:
                raise self.fail(value, f"unknown field {key!r}; known fields: {', '.join(sorted(known))}")
        optional = {
            k: self.string(fields[k], k, allow_empty=True)
            for k in ("voice", "avatar", "description", "system_prompt")
            if k in fields
        }
        stem = Path(self.filename).stem
        return Persona(
            id=stem,
            name=self.string(self.require(fields, "name", root, "the persona"), "name"),
            greeting=self.string(self.require(fields, "greeting", root, "the persona"), "greeting"),
            fallback=self.strings(self.require(fields, "fallback", root, "the persona"), "fallback"),
            repeat_request=self.strings(
                self.require(fields, "repeat_request", root, "the persona"), "repeat_request"
            ),
            intents=self.intents(fields["intents"], "intents") if "intents" in fields else (),
            small_talk=self.intents(fields["small_talk"], "small_talk") if "small_talk" in fields else (),
            path=self.filename,
            **optional,
        )


def _kind(node: yaml.Node | None) -> str:
    if node is None:
        return "nothing"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    tag = node.tag.rsplit(":", 1)[-1]
    names = {"int": "a number", "float": "a number", "bool": "true/false", "null": "an empty value"}
    return names.get(tag, "text" if tag == "str" else tag)


DEFAULT_AVATAR = "ada"


def avatar_of(persona: str, avatar: str = "") -> str:
    """The avatar a session shows: `avatar` when given, else the one the persona's YAML names,
    else DEFAULT_AVATAR (also for a persona that cannot be loaded: its own error comes elsewhere)."""
    if avatar:
        return avatar
    try:
        return load_persona(persona).avatar or DEFAULT_AVATAR
    except PersonaError:
        return DEFAULT_AVATAR
