"""Persona scripts: YAML files in assets/personas/ (or any path) loaded into a validated Persona.

Every error names the file and the line (from yaml's node marks), e.g.
`booth.yaml:12: intents[2].answers must be a list of strings, got a number`.

Schema (see assets/personas/booth.yaml for a commented example):
    name: str                  required, the avatar's name
    greeting: str              required, said when a person walks up (or at session start)
    fallback: str | [str]      required, said when no intent matches
    repeat_request: str | [str] required, said when nothing intelligible was heard
    voice: str                 optional voice id (`duet-engine voices`); left out or empty: the
                               avatar's `voice:`, else joe
    avatar: str                optional avatar id (assets/avatars/<id>.yaml); left out or empty: ada
    description: str           optional, one line for menus
    system_prompt: str         optional, extra instructions for the LLM brain
    intents: [Intent]          optional: {name?, examples: [str], answer: str | answers: [str]}
    small_talk: [Intent]       optional, same shape as intents

Texts are read as written: only true/false are YAML booleans here (yes, no, on, off stay words, as
in YAML 1.2), so `answer: Yes` says "Yes". A key given twice, an intent name used twice, a voice
or avatar that does not exist are errors; an empty optional field is the same as leaving it out.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from engine import yamlfile
from engine.paths import assets_dir

# the persona's script in the LLM's system prompt stops here (~1500 tokens): room for the conversation
PROMPT_BUDGET_CHARS = 6000


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
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)  # field -> line

    def where(self, key: str) -> str:
        """`FILE:LINE` of the top-level field `key` (just FILE when it is not in the file)."""
        line = self.lines.get(key)
        return f"{self.path}:{line}" if line else self.path

    def all_intents(self) -> tuple[Intent, ...]:
        return self.intents + self.small_talk

    def llm_system_prompt(self, budget_chars: int = PROMPT_BUDGET_CHARS) -> str:
        """The persona as a system prompt for a chat model: who it is, its script as knowledge
        (each intent's phrasings and every answer), how it greets and what it says when it does
        not know. The facts stop at budget_chars (a small local model has a few thousand tokens of
        context; what is left out is said)."""
        lines = [
            f"You are {self.name}, a friendly talking avatar in a live spoken conversation.",
            "Answer in one to three short spoken sentences, plain words, no lists, no markup.",
        ]
        if self.description:
            lines.append(self.description)
        if self.system_prompt:
            lines.append(self.system_prompt.strip())
        if self.greeting:
            lines.append(f"You greet people like this: {self.greeting}")
        facts = [_fact(it) for it in self.intents]
        if facts:
            lines.append("Facts you know (what people ask -> what you answer):")
            used = sum(len(line) + 1 for line in lines)
            for i, fact in enumerate(facts):
                if used + len(fact) + 1 > budget_chars:
                    lines.append(
                        f"({len(facts) - i} more topics are not listed here: asked about something you"
                        " have no facts for, say you do not know.)"
                    )
                    break
                lines.append(fact)
                used += len(fact) + 1
        if self.fallback:
            lines.append(f"When you do not know, say so briefly, e.g.: {self.fallback[0]}")
        return "\n".join(lines)


def _fact(it: Intent) -> str:
    """One intent as a line of knowledge: up to three phrasings -> its answers."""
    asked = " / ".join(it.examples[:3])
    return f"- {asked} -> {' | '.join(it.answers)}"


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
    if path.is_dir():
        raise PersonaError(f"{path}: is a folder, not a YAML file")
    if not path.is_file():
        known = ", ".join(list_personas()) or "none"
        raise PersonaError(f"persona {persona!r} not found ({path}); shipped personas: {known}")
    return path


def load_persona(persona: str) -> Persona:
    """The persona, parsed and checked: its `voice:` and `avatar:` must exist (PersonaError naming
    the file and the line otherwise), so a typo fails before a session or a file is made."""
    path = resolve_persona_path(persona)
    try:
        text = yamlfile.read_text(path)
    except yamlfile.YamlFileError as e:
        raise PersonaError(str(e)) from None
    loaded = parse_persona(text, str(path))
    check_references(loaded)
    return loaded


def parse_persona(text: str, filename: str = "<persona>") -> Persona:
    try:
        root = yamlfile.compose(text, filename, yamlfile.WordsLoader)
    except yamlfile.YamlFileError as e:
        raise PersonaError(str(e)) from None
    return _Reader(filename).persona(root)


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1) or [k for k in known if k.lower() == name.lower()]
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_references(persona: Persona) -> None:
    """PersonaError (file:line) when the persona's `voice:` is not a voice `duet-engine voices`
    lists, or its `avatar:` is not in assets/avatars. Cheap and torch-free."""
    from engine.models.lite.voice import list_voices

    voices = list_voices()
    if persona.voice and persona.voice not in voices:
        raise PersonaError(
            f"{persona.where('voice')}: unknown voice {persona.voice!r}{_did_you_mean(persona.voice, voices)}"
            f"; available: {', '.join(voices)} (`duet-engine voices`; leave it out to use the avatar's voice)"
        )
    avatars = sorted(p.stem for p in (assets_dir() / "avatars").glob("*.yaml"))
    if persona.avatar and persona.avatar not in avatars:
        raise PersonaError(
            f"{persona.where('avatar')}: unknown avatar {persona.avatar!r}"
            f"{_did_you_mean(persona.avatar, avatars)}; available: {', '.join(avatars) or 'none'}"
            f" (assets/avatars/<id>.yaml)"
        )


class _Reader:
    """Walks the composed YAML node tree so every error carries a line number."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.intent_lines: dict[str, int] = {}  # intent name -> the line that names it

    def fail(self, node: yaml.Node | None, message: str) -> PersonaError:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        return PersonaError(f"{self.filename}{line}: {message}")

    def mapping(self, node: yaml.Node | None, what: str) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping (key: value lines), got {_kind(node)}")
        out: dict[str, yaml.Node] = {}
        first: dict[str, int] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise self.fail(key, f"{what}: keys must be plain names")
            if key.value in out:
                raise self.fail(key, f"{what}: {yamlfile.duplicate_key_problem(key.value, first[key.value])}")
            out[key.value] = value
            first[key.value] = key.start_mark.line + 1
        return out

    def string(self, node: yaml.Node, what: str, allow_empty: bool = False) -> str:
        if allow_empty and isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return ""  # `voice:` with nothing after it: as if it were left out
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str":
            hint = ""
            if isinstance(node, yaml.ScalarNode) and _kind(node) in ("a number", "true/false"):
                hint = f': write it in quotes, e.g. "{node.value}"'
            raise self.fail(node, f"{what} must be text, got {_kind(node)}{hint}")
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
            if "name" in fields:
                line = fields["name"].start_mark.line + 1
                if name in self.intent_lines:
                    raise self.fail(
                        fields["name"],
                        f"{where}: the intent name {name!r} is also used at line "
                        f"{self.intent_lines[name]}: give each intent its own name",
                    )
                self.intent_lines[name] = line
            examples_node = self.require(fields, "examples", item, where)
            if _kind(examples_node) == "an empty value" or (
                isinstance(examples_node, yaml.SequenceNode) and not examples_node.value
            ):
                raise self.fail(examples_node, f"{where}.examples needs at least one example phrase")
            examples = self.strings(examples_node, f"{where}.examples")
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
        lines: dict[str, int] = {}
        for key_node, _ in root.value:
            lines.setdefault(str(key_node.value), key_node.start_mark.line + 1)
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
            lines=lines,
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
DEFAULT_VOICE = "joe"


def voice_of(persona: Persona, avatar: str) -> str:
    """The voice a session speaks with: the persona's `voice:`, else the `voice:` of `avatar` (the
    avatar the session shows; loading it may raise AvatarError), else DEFAULT_VOICE."""
    if persona.voice:
        return persona.voice
    from engine.models.lite.performer.spec import load_avatar

    return load_avatar(avatar).voice or DEFAULT_VOICE


def avatar_of(persona: str, avatar: str = "") -> str:
    """The avatar a session shows: `avatar` when given, else the one the persona's YAML names,
    else DEFAULT_AVATAR (also for a persona that cannot be loaded: its own error comes elsewhere)."""
    if avatar:
        return avatar
    try:
        return load_persona(persona).avatar or DEFAULT_AVATAR
    except PersonaError:
        return DEFAULT_AVATAR
