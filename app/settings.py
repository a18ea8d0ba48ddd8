"""Persisted user settings: one JSON file in engine.paths.config_dir() (platformdirs).

Plain dataclass; unknown keys in the file are ignored, bad values fall back to defaults (with a log
line), so a hand-edited or older settings file never stops the app from starting.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import paths
from engine.protocol import SessionSpec

log = logging.getLogger(__name__)
FILE_NAME = "settings.json"


@dataclass(frozen=True)
class ModelSource:
    """Where a model's weights come from and how it is built (`duet --weights/--revision/--model-option`)."""

    weights: str = ""  # local folder (absolute) or hub repo id; "" = none
    revision: str = ""  # hub revision (commit or tag) when `weights` is a repo id
    options: Mapping[str, str] = field(default_factory=dict)  # model build options (ModelOptions.extra)

    def is_empty(self) -> bool:
        return not (self.weights or self.revision or self.options)

    def to_json(self) -> dict[str, Any]:
        return {"weights": self.weights, "revision": self.revision, "options": dict(self.options)}

    @classmethod
    def from_json(cls, data: object) -> ModelSource:
        """Lenient: fields of the wrong type are dropped (with a log line), never an exception."""
        if not isinstance(data, dict):
            log.warning("settings: ignoring model source %r (expected an object)", data)
            return cls()
        out: dict[str, Any] = {}
        for key in ("weights", "revision"):
            value = data.get(key, "")
            if isinstance(value, str):
                out[key] = value
            else:
                log.warning("settings: ignoring %s=%r (expected a string)", key, value)
        options = data.get("options", {})
        if isinstance(options, dict):
            out["options"] = {str(k): v for k, v in options.items() if isinstance(v, str)}
        else:
            log.warning("settings: ignoring options=%r (expected an object)", options)
        return cls(**out)


@dataclass
class Settings:
    load_note = ""  # (no annotation: not a field, never saved) why the saved settings were not used
    # (not a field either) the file could not be read at all (permissions, a file locked by another
    # program): it is left as it is, and these defaults are never saved over it
    read_only = False

    model: str = "lite"
    persona: str = "guide"
    avatar: str = ""  # "" = the avatar the persona names
    camera: str = ""  # QCameraDevice id (bytes decoded as latin-1); "" = system default
    camera_enabled: bool = True
    mic_device: str = ""  # sounddevice input device name; "" = default
    speaker_device: str = ""  # sounddevice output device name; "" = default
    push_to_talk: bool = False
    hud: bool = False
    self_view: bool = True
    brain: str = "script"  # "script" (persona YAML) | "llm" (OpenAI-compatible chat server)
    llm_url: str = ""  # e.g. http://127.0.0.1:11434/v1 (Ollama) or http://127.0.0.1:8080/v1 (llama.cpp)
    llm_model: str = ""  # model name the server knows, e.g. llama3.2
    geometry: str = ""  # QWidget.saveGeometry() as hex
    # per model: {"weights": DIR|REPO, "revision": REV, "options": {KEY: VALUE}} (see ModelSource)
    model_sources: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)

    def session_spec(self) -> SessionSpec:
        """The session the engine is opened with, from the persisted pickers and brain settings."""
        return SessionSpec(
            persona=self.persona,
            avatar=self.avatar,
            brain=self.brain if self.llm_url else "script",
            llm_url=self.llm_url,
            llm_model=self.llm_model,
        )

    def source(self, model: str) -> ModelSource:
        """The saved weights/revision/options for `model` (empty when none were given)."""
        return ModelSource.from_json(self.model_sources.get(model, {}))

    def set_source(self, model: str, source: ModelSource) -> None:
        if source.is_empty():
            self.model_sources.pop(model, None)
        else:
            self.model_sources[model] = source.to_json()

    def sources(self) -> dict[str, ModelSource]:
        return {model: self.source(model) for model in self.model_sources}

    @staticmethod
    def path() -> Path:
        return paths.config_dir() / FILE_NAME

    @classmethod
    def load(cls) -> Settings:
        p = cls.path()
        if not p.exists():
            return cls()
        try:
            raw = p.read_bytes()
        except OSError as e:  # not the file's fault: keep it, and do not write defaults over it
            log.warning(
                "settings file %s cannot be read (%s): using defaults, the file is left as it is", p, e
            )
            out = cls()
            out.read_only = True
            why = e.strerror or str(e)
            out.load_note = (
                f"Your saved settings could not be read ({why}), so Duet started with its defaults;"
                f" {p} is left as it is, and changes made now are not saved."
            )
            return out
        try:
            data = json.loads(raw.decode("utf-8"))
        except ValueError as e:  # not JSON, or not UTF-8 (UnicodeDecodeError is one)
            return cls._defaults(p, f"unreadable ({e})")
        if not isinstance(data, dict):
            return cls._defaults(p, "not a JSON object")
        out = cls()
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            value: Any = data[f.name]
            default = getattr(out, f.name)
            if type(value) is not type(default):
                log.warning("settings: ignoring %s=%r (expected %s)", f.name, value, type(default).__name__)
                continue
            setattr(out, f.name, value)
        return out

    @classmethod
    def _defaults(cls, p: Path, why: str) -> Settings:
        kept = _set_aside(p)
        log.warning("settings file %s %s: using defaults; %s", p, why, kept)
        out = cls()
        # not a field: shown once in the window, never saved
        out.load_note = f"Your saved settings could not be read, so Duet started with its defaults ({kept})."
        return out

    def to_text(self) -> str:
        """The settings file's text for these settings."""
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def saved_text(cls) -> str:
        """What the settings file holds now ("" when there is none or it cannot be read)."""
        try:
            return cls.path().read_text(encoding="utf-8")
        except (OSError, ValueError):
            return ""

    def save(self) -> None:
        """Replace the file whole (write a temporary file, then rename): a full disk or a crash
        mid-write leaves the previous file as it was, and no temporary file behind."""
        p = self.path()
        tmp = p.with_suffix(".tmp")
        try:
            tmp.write_text(self.to_text(), encoding="utf-8")
            tmp.replace(p)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise

    @classmethod
    def reset(cls) -> None:
        p = cls.path()
        p.unlink(missing_ok=True)


BROKEN_KEPT = 100  # settings.broken.json, settings.broken-2.json ... settings.broken-100.json


def broken_name(p: Path) -> Path:
    """Where an unusable settings file `p` is set aside: NAME.broken.json, or NAME.broken-N.json
    (the lowest N free) when earlier ones are kept already: a second broken file never replaces
    the first."""
    for n in range(1, BROKEN_KEPT + 1):
        kept = p.with_name(p.stem + (".broken.json" if n == 1 else f".broken-{n}.json"))
        if not kept.exists() and not kept.is_symlink():
            return kept
    return p.with_name(p.stem + f".broken-{BROKEN_KEPT}.json")  # the last one is replaced


def _set_aside(p: Path) -> str:
    """Move a settings file that cannot be used aside (broken_name: the next save would replace
    it, and the user may want what was in it). Says where it went."""
    kept = broken_name(p)
    try:
        p.replace(kept)
    except OSError as e:
        return f"the old file could not be moved aside ({e.strerror or e}): it stays as {p}"
    return f"the old file is kept as {kept}"
