"""What the pickers offer: personas and avatars (assets/*/*.yaml) and models (engine.registry), and
whether a model can start with the weights it was given (checked here, before an engine is spawned)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from engine import paths, registry, yamlfile

from .settings import ModelSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Choice:
    id: str
    label: str
    tooltip: str = ""


def _yaml_choices(folder: Path) -> list[Choice]:
    """One Choice per <id>.yaml. A file that cannot be read (not UTF-8, bad YAML, a folder) is
    still listed, by its id, with the problem as its tooltip and in the log: picking it shows the
    engine's full error, and a bad file never stops the app from starting."""
    out: list[Choice] = []
    if not folder.is_dir():
        return out
    for f in sorted(folder.glob("*.yaml")):
        label = f.stem
        desc = ""
        try:
            data = yamlfile.load(yamlfile.read_text(f), str(f), yamlfile.WordsLoader)
            if isinstance(data, dict):
                label = str(data.get("name") or f.stem)
                desc = str(data.get("description") or data.get("tagline") or "")
        except ValueError as e:  # YamlFileError (one line naming the file), or a value PyYAML refused
            log.warning("%s", e)
            desc = f"cannot be used: {e}"
        out.append(Choice(f.stem, label, desc))
    return out


def personas() -> list[Choice]:
    """Personas, labelled "Ada (guide)": who it is and the id the CLI and the files use (a
    persona's name is often its avatar's, which the avatar picker shows too)."""
    return [
        Choice(c.id, c.label if c.label == c.id else f"{c.label} ({c.id})", c.tooltip)
        for c in _yaml_choices(paths.assets_dir() / "personas")
    ]


def avatars() -> list[Choice]:
    """Avatars; the first entry ("") means "the one the persona names"."""
    persona_own = Choice("", "Persona's own", "the avatar the persona's YAML names")
    return [persona_own, *_yaml_choices(paths.assets_dir() / "avatars")]


def models(current: str = "") -> list[Choice]:
    """The models offered to users (built-in and DUET_EXTRA_MODELS), and `current` too when it is
    a test model (DUET_TEST_MODELS) the app was started with."""
    try:
        infos = [i for i in registry.available(include_hidden=True) if not i.hidden or i.name == current]
    except registry.UnknownModelError as e:  # a malformed DUET_EXTRA_MODELS: the built-in ones
        log.warning("model registry: %s", e)
        infos = list(registry.BUILTIN)
    return [Choice(i.name, i.name, i.description) for i in infos]


def needs_weights(model: str) -> bool:
    """The registry says `model` loads trained weights (`--weights DIR|REPO`)."""
    try:
        return registry.info(model).needs_weights
    except registry.UnknownModelError:
        return False


def takes_weights(model: str) -> bool:
    """`model` may be given weights: one that loads them, or a model of one's own (DUET_EXTRA_MODELS,
    whose options Duet does not know); as `duet-engine run` decides."""
    try:
        entry = registry.info(model)
    except registry.UnknownModelError:
        return False
    return entry.needs_weights or entry.options is None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def runs_untrained(source: ModelSource) -> bool:
    return not source.weights and _truthy(source.options.get("allow_untrained"))


def weights_problem(model: str, source: ModelSource) -> str:
    """Why `model` cannot start with `source` ("" when it can): a model that needs weights got none."""
    if not needs_weights(model) or source.weights or runs_untrained(source):
        return ""
    return (
        f"{model} needs trained weights: start with --weights DIR, or train one with duet-engine train"
        " (--model-option allow_untrained=1 runs it untrained)"
    )


def _looks_like_repo_id(text: str) -> bool:  # as engine.hub.resolve (which imports torch) decides
    if text.startswith((".", "/", "~")) or re.match(r"[A-Za-z]:", text) or "\\" in text:
        return False  # can only be a local path
    return re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", text) is not None and ".." not in text


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")  # as engine.hub (no torch here)


def weights_folder_problem(folder: str | Path) -> str:
    """Why a local folder is not a model checkpoint ("" when it looks like one)."""
    p = Path(folder)
    if not p.is_dir():
        return f"no such folder: {p}"
    has_config, has_weights = (p / "config.json").is_file(), any(p.glob("*.safetensors"))
    pickles = [] if has_weights else sorted(f.name for f in p.iterdir() if f.suffix in PICKLE_SUFFIXES)
    if pickles:  # the engine's own words (engine.hub.pickle_refusal)
        return (
            f"{p / pickles[0]}: pickle-based checkpoints ({', '.join(pickles)}) are refused: they can "
            "run arbitrary code when loaded. Convert them to model.safetensors (safetensors) first."
            + ("" if has_config else " The folder has no config.json either.")
        )
    if not has_config or not has_weights:
        return (
            f"{p} holds no config.json + model.safetensors: not a trained model folder "
            "(duet-engine train --out DIR writes one)"
        )
    return ""


def normalize_weights(text: str) -> tuple[str, str]:
    """(`--weights` value to save, problem): a local folder becomes absolute (the app may start
    elsewhere next time); a hub repo id (org/name) is kept as given; "" stays "" (forget)."""
    text = text.strip()
    if not text:
        return "", ""
    local = Path(text).expanduser()
    if local.is_dir():
        local = local.resolve()
        return str(local), weights_folder_problem(local)
    if local.exists():
        return text, f"{text}: expected a model folder holding config.json + model.safetensors, got a file"
    if not _looks_like_repo_id(text):
        return text, f"no such folder: {text} (a hub repo id looks like org/name)"
    return text, ""


def with_current(choices: list[Choice], current: str) -> list[Choice]:
    """Keep the saved/commanded value selectable even when it is not in the list."""
    if current and all(c.id != current for c in choices):
        if current.endswith((".yaml", ".yml")) or "/" in current or "\\" in current:  # a persona file
            return [*choices, Choice(current, f"{Path(current).stem} (file)", current)]
        return [*choices, Choice(current, current, "not found in assets")]
    return choices


def icon_path() -> Path | None:
    p = paths.assets_dir() / "icon.png"
    return p if p.is_file() else None
