"""What the pickers offer: personas and avatars (assets/*/*.yaml) and models (engine.registry)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import yaml

from engine import paths, registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Choice:
    id: str
    label: str
    tooltip: str = ""


def _yaml_choices(folder: Path) -> list[Choice]:
    out = []
    if not folder.is_dir():
        return out
    for f in sorted(folder.glob("*.yaml")):
        label = f.stem
        desc = ""
        try:
            data = yaml.safe_load(f.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                label = str(data.get("name") or f.stem)
                desc = str(data.get("description") or data.get("tagline") or "")
        except (OSError, yaml.YAMLError) as e:
            log.warning("cannot read %s: %s", f, e)
        out.append(Choice(f.stem, label, desc))
    return out


def personas() -> list[Choice]:
    return _yaml_choices(paths.assets_dir() / "personas")


def avatars() -> list[Choice]:
    """Avatars; the first entry ("") means "the one the persona names"."""
    persona_own = Choice("", "Persona's own", "the avatar the persona's YAML names")
    return [persona_own, *_yaml_choices(paths.assets_dir() / "avatars")]


def models(include_hidden: bool = False) -> list[Choice]:
    try:
        infos = registry.available(include_hidden=include_hidden)
    except registry.UnknownModelError as e:
        log.warning("model registry: %s", e)
        infos = list(registry.BUILTIN)
    return [Choice(i.name, i.name, i.description) for i in infos]


def with_current(choices: list[Choice], current: str) -> list[Choice]:
    """Keep the saved/commanded value selectable even when it is not in the list."""
    if current and all(c.id != current for c in choices):
        return [*choices, Choice(current, current, "not found in assets")]
    return choices


def icon_path() -> Path | None:
    p = paths.assets_dir() / "icon.png"
    return p if p.is_file() else None
