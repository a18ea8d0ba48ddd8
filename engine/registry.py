"""Models by name. Entries are import paths so that listing models never imports torch.

Models of one's own are registered through the environment variable DUET_EXTRA_MODELS,
"name=package.module:Factory[,name2=...]": they are listed (`duet-engine models`, the app's picker)
and run like the built-in ones. DUET_TEST_MODELS takes the same form for models that are not
offered to users (the test suite's deterministic test models). A factory is called as
Factory(options: ModelOptions) -> InteractiveModel.
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.ipc.rings import DEFAULT_MAX_FRAME_SIZE

if TYPE_CHECKING:  # the contract lives with the models; importing it here would stay torch-free too
    from engine.models.base import InteractiveModel


@dataclass(frozen=True)
class ModelOptions:
    """How the engine process builds a model."""

    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N" | "mps"
    weights: str = ""  # local folder or hub repo id (models that load weights)
    revision: str = ""  # hub revision (commit/tag) when `weights` is a repo id
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    target: str  # "package.module:Factory"
    description: str
    needs_weights: bool = False
    hidden: bool = False  # not offered to users (test models)
    options: tuple[str, ...] | None = None  # the ModelOptions.extra keys it reads (None: not checked)
    # option -> check of its value: "" when fine, else what is wrong ("must be ..."); options without
    # one are checked by the model when it loads
    option_checks: Mapping[str, Callable[[str], str]] = field(default_factory=dict)
    # options that shape a model built without weights; with weights, the checkpoint decides
    untrained_only: tuple[str, ...] = ()


def whole_number(lo: int, hi: int, unit: str = "") -> Callable[[str], str]:
    """A check for an option that is a whole number in lo..hi ("" is fine: the default)."""

    def check(raw: str) -> str:
        if not raw.strip():
            return ""
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value == int(value) and lo <= value <= hi:
            return ""
        return f"must be whole {unit or 'numbers'} in {lo}..{hi}"

    return check


def one_of(*words: str) -> Callable[[str], str]:
    """A check for an option that is one of `words`, case-insensitive ("" is fine: the default)."""

    def check(raw: str) -> str:
        if not raw.strip() or raw.strip().lower() in {w.lower() for w in words}:
            return ""
        return f"must be one of {', '.join(words)}"

    return check


def on_off(raw: str) -> str:
    """The check for an on/off option: 1/true/yes/on or 0/false/no/off ("" is off)."""
    if raw.strip().lower() in ("", "1", "true", "yes", "on", "0", "false", "no", "off"):
        return ""
    return "is not on/off (use 1 or 0)"


BUILTIN: tuple[ModelInfo, ...] = (
    ModelInfo(
        "lite",
        "engine.models.lite.model:LiteModel",
        "Offline CPU cascade: VAD + speech recognition + persona brain + piper voice + drawn avatar",
        options=("frame_size",),
        # avatar frame side: up to what the engine's frame ring holds (the app and the runner make
        # it DEFAULT_MAX_FRAME_SIZE; larger frames would be dropped)
        option_checks={"frame_size": whole_number(64, DEFAULT_MAX_FRAME_SIZE, "pixels")},
    ),
    ModelInfo(
        "streamer",
        "engine.models.streamer.model:StreamerModel",
        "Native unified block-causal Transformer (needs trained weights: --weights PATH_OR_REPO)",
        needs_weights=True,
        options=("allow_untrained", "cuda_graph", "dtype", "seed", "size", "threads"),
        # the model parses these the same way when it loads; checking here refuses a bad value
        # before an engine starts (and before the app saves it)
        option_checks={
            "allow_untrained": on_off,
            "cuda_graph": on_off,
            "dtype": one_of("float32", "bfloat16", "float16"),
            "seed": whole_number(0, 2**32 - 1),
            "size": one_of("S", "M", "L"),
            "threads": whole_number(1, 256, "threads"),
        },
        untrained_only=("seed", "size"),
    ),
)


class UnknownModelError(LookupError):
    pass


def _env_models(variable: str, hidden: bool) -> list[ModelInfo]:
    spec = os.environ.get(variable, "").strip()
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, target = item.partition("=")
        name, target = name.strip(), target.strip()
        module, _, attr = target.partition(":")
        if not name or not module or not attr:
            raise UnknownModelError(f"{variable} entry {item!r} must look like name=module:Factory")
        if any(name == b.name for b in BUILTIN):
            raise UnknownModelError(f"{variable} entry {item!r}: {name!r} is a built-in model's name")
        out.append(ModelInfo(name, target, f"from {variable}: {target}", hidden=hidden))
    return out


def _extra_models() -> list[ModelInfo]:
    """Models of one's own (DUET_EXTRA_MODELS, listed) and test models (DUET_TEST_MODELS, not)."""
    return [*_env_models("DUET_EXTRA_MODELS", False), *_env_models("DUET_TEST_MODELS", True)]


def available(include_hidden: bool = False) -> list[ModelInfo]:
    infos = [*BUILTIN, *_extra_models()]
    return [i for i in infos if include_hidden or not i.hidden]


def info(name: str) -> ModelInfo:
    for i in available(include_hidden=True):
        if i.name == name:
            return i
    names = ", ".join(i.name for i in available())
    raise UnknownModelError(f"unknown model {name!r}; available: {names}")


def check_options(name: str, extra: dict[str, str]) -> None:
    """ValueError naming an option `name` does not read (a typo would otherwise do nothing), or
    one whose value its check refuses (before any engine starts)."""
    entry = info(name)
    known = entry.options
    if known is None:
        return
    unknown = sorted(set(extra) - set(known))
    if unknown:
        takes = ", ".join(known) if known else "none"
        raise ValueError(f"model {name!r} has no option {unknown[0]!r} (its options: {takes})")
    for key in sorted(extra):
        check = entry.option_checks.get(key)
        problem = check(extra[key]) if check is not None else ""
        if problem:
            raise ValueError(f"model {name!r} option {key}={extra[key]!r} {problem}")


def ignored_with_weights(name: str, extra: Mapping[str, str]) -> list[str]:
    """The options in `extra` that model `name` ignores when it loads weights (sorted)."""
    return sorted(k for k in info(name).untrained_only if extra.get(k, "").strip())


def create(name: str, options: ModelOptions | None = None) -> InteractiveModel:
    """Import and build the model `name` (in the engine process)."""
    entry = info(name)
    check_options(name, (options or ModelOptions()).extra)
    module_name, _, attr = entry.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise UnknownModelError(f"model {name!r} cannot be imported ({entry.target}): {e}") from e
    factory = getattr(module, attr, None)
    if factory is None:
        raise UnknownModelError(f"model {name!r}: {module_name} has no {attr}")
    return factory(options or ModelOptions())
