"""The one model loader: config.json + model.safetensors from a local folder or a hub repo.

`resolve()` turns a local folder or a hub repo id (+ revision) into a local folder; a repo goes
through huggingface_hub.snapshot_download (standard cache, HF_HUB_OFFLINE honoured, only
config.json and *.safetensors fetched). Everything after resolve() is the same code path.

Weights are read from safetensors ONLY: pickle-based checkpoints (.bin/.pt/.pth/.ckpt/.pkl, or a
pickle renamed to .safetensors) are refused and never unpickled. Truncated files, configs that do
not match the weights and malformed configs raise CheckpointError naming the file and the problem.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import struct
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from engine.protocol.typed import from_json

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
ALLOW_PATTERNS = ["config.json", "*.safetensors"]
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
_SHARD_RE = re.compile(r"^model-\d{5}-of-\d{5}\.safetensors$")
_MAX_HEADER = 100 * 1024 * 1024  # safetensors caps its JSON header at 100 MB

T = TypeVar("T")


class CheckpointError(ValueError):
    """A model folder, config or weights file that cannot be used (the message names the file)."""


# ---------------------------------------------------------------- resolve
def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def hub_cache_dir() -> Path:
    """The standard huggingface_hub cache, read from the environment now (not at import time)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HUGGINGFACE_HUB_CACHE"):
        return Path(os.environ["HUGGINGFACE_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface"
    )
    return Path(home).expanduser() / "hub"


def offline() -> bool:
    return _truthy(os.environ.get("HF_HUB_OFFLINE")) or _truthy(os.environ.get("TRANSFORMERS_OFFLINE"))


def _looks_like_repo_id(text: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", text) is not None and ".." not in text


def _clearly_a_path(text: str) -> bool:
    """`text` can only mean a local folder: ./x, ../x, /abs, ~/x, C:..., a/b/c, or an OS separator
    other than the one "/" of an owner/name repo id (a Windows backslash)."""
    if text.startswith((".", "/", "~")) or re.match(r"[A-Za-z]:", text):
        return True
    if text.count("/") > 1:
        return True
    return any(sep in text for sep in (os.sep, os.altsep) if sep and sep != "/")


def _no_folder(text: str, local: Path) -> str:
    """ "no such folder: TEXT (/the/absolute/path)"; the path is left out when TEXT already is it."""
    full = str(local.absolute())
    return f"no such folder: {text}" + ("" if full == text else f" ({full})")


def resolve(path_or_repo: str | os.PathLike[str], revision: str | None = None) -> Path:
    """A local model folder for `path_or_repo`: an existing folder as is, else a hub repo snapshot.

    Hub repos are fetched with snapshot_download into the standard cache (HF_HOME / HF_HUB_CACHE),
    only config.json and *.safetensors; with HF_HUB_OFFLINE=1 only the cache is consulted.
    Pin `revision` (a commit hash or tag) for reproducible loads; None/"" means "main".
    A missing folder that can only be a path (./x, ../x, /x, ~/x, a/b/c, a\\b on Windows) raises
    CheckpointError "no such folder: ..." without asking the hub; an owner/name that is neither a
    folder nor a hub repo (online) / cached repo (offline) raises one naming both.
    """
    text = os.fspath(path_or_repo).strip()
    if not text:
        raise CheckpointError("no model given: pass a local folder or a hub repo id (org/name)")
    local = Path(text).expanduser()
    if local.is_dir():
        return local.resolve()
    if local.is_file():
        raise CheckpointError(
            f"{local}: expected a model folder holding {CONFIG_NAME} + {WEIGHTS_NAME}, got a file"
        )
    if _clearly_a_path(text):
        raise CheckpointError(_no_folder(text, local))
    if not _looks_like_repo_id(text):
        raise CheckpointError(
            f"{_no_folder(text, local)}, and {text!r} is not a hub repo id of the form org/name"
        )
    # owner/name: not a local folder, so a hub repo; every failure below names both places looked in
    nothing_here = _no_folder(text, local)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    is_offline = offline()
    try:
        folder = snapshot_download(
            repo_id=text,
            revision=revision or None,
            allow_patterns=ALLOW_PATTERNS,
            cache_dir=str(hub_cache_dir()),
            local_files_only=is_offline,
        )
    except LocalEntryNotFoundError as e:
        hint = (
            "HF_HUB_OFFLINE is set, so only the local cache was searched"
            if is_offline
            else "the hub could not be reached and the cache has no copy"
        )
        raise CheckpointError(
            f"{nothing_here}, and hub repo {text!r} (revision {revision or 'main'!r}) is not found in "
            f"cache {hub_cache_dir()}: {hint}. Download it once with network access, or pass a local "
            "folder."
        ) from e
    except (HfHubHTTPError, OSError, ValueError) as e:
        missing = isinstance(e, RepositoryNotFoundError | RevisionNotFoundError) and not isinstance(
            e, GatedRepoError
        )
        what = "is not found on the hub" if missing else "could not be fetched from the hub"
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"{nothing_here}, and hub repo {text!r} (revision {revision or 'main'!r}) {what}: {reason}"
        ) from e
    return Path(folder)


def _not_a_file(path: Path) -> str | None:
    """What `path` is when it is not a regular file that can be opened (a folder, a symbolic link
    loop or one that points nowhere), or None (a file, or nothing at all)."""
    if path.is_file():
        return None
    if path.is_dir():
        return f"{path}: is a folder, not a file"
    if path.is_symlink():
        try:
            path.resolve(strict=True)
        except RuntimeError:
            return f"{path}: is a symbolic link loop, not a file"
        except OSError:
            return f"{path}: is a symbolic link to {os.readlink(path)}, which does not exist"
        return f"{path}: is not a regular file"
    if path.exists():
        return f"{path}: is not a regular file"
    return None


# ---------------------------------------------------------------- config
def config_from_dict(cls: type[T], data: Mapping[str, Any], source: str) -> T:
    """Validate `data` into the dataclass `cls`: unknown or ill-typed fields are errors, and so are
    missing ones that have no default (a field added later with a default keeps older files loading;
    a missing field that sizes a tensor still fails on the weights' shapes)."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    if not isinstance(data, Mapping):
        raise CheckpointError(f"{source}: the config must be a JSON object")
    return from_json(cls, dict(data), source, CheckpointError, field_fmt="{where}: field {name!r}")


def load_config(directory: str | os.PathLike[str], cls: type[T]) -> T:
    path = Path(directory) / CONFIG_NAME
    odd = _not_a_file(path)
    if odd:
        raise CheckpointError(f"{odd} (a model folder needs {CONFIG_NAME} + {WEIGHTS_NAME})")
    if not path.is_file():
        raise CheckpointError(f"{path}: missing (a model folder needs {CONFIG_NAME} + {WEIGHTS_NAME})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from e
    return config_from_dict(cls, data, str(path))


# ---------------------------------------------------------------- weights
def _is_pickle_like(head: bytes) -> str | None:
    """Why the first bytes look like a pickle / torch.save file, or None."""
    if head[:4] == b"PK\x03\x04":
        return "a zip archive (torch.save format, which holds a pickle)"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return f"a Python pickle (protocol {head[1]})"
    return None


def pickle_files(folder: Path) -> list[str]:
    """The names of pickle-based checkpoint files (.bin, .pt, ...) in `folder`."""
    try:
        return sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    except OSError:
        return []


def pickle_refusal(folder: Path, pickles: list[str]) -> str:
    """The one wording (engine and app) for a folder that holds only pickle-based weights."""
    return (
        f"{folder / pickles[0]}: pickle-based checkpoints ({', '.join(pickles)}) are refused: they can "
        f"run arbitrary code when loaded. Convert them to {WEIGHTS_NAME} (safetensors) first."
    )


def weights_files(directory: str | os.PathLike[str]) -> list[Path]:
    """The safetensors weight files of a model folder; refuses pickle checkpoints."""
    folder = Path(directory)
    single = folder / WEIGHTS_NAME
    if single.is_file():
        return [single]
    shards = sorted(p for p in folder.iterdir() if _SHARD_RE.match(p.name)) if folder.is_dir() else []
    if shards:
        return shards
    odd = _not_a_file(single)
    if odd:
        raise CheckpointError(f"{odd} (expected the safetensors weights)")
    pickles = pickle_files(folder)
    if pickles:
        raise CheckpointError(pickle_refusal(folder, pickles))
    raise CheckpointError(f"{single}: missing (no safetensors weights in {folder})")


def check_safetensors_file(path: Path) -> dict[str, Any]:
    """Validate the header and sizes of one .safetensors file; returns the parsed header."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            why = _is_pickle_like(head)
            if why:
                raise CheckpointError(
                    f"{path}: this file is {why}, not safetensors; refusing to unpickle it. "
                    "Convert the checkpoint to safetensors."
                )
            if len(head) < 8:
                raise CheckpointError(f"{path}: truncated ({size} bytes; no safetensors header)")
            (n,) = struct.unpack("<Q", head)
            if n > _MAX_HEADER or n > size - 8:
                raise CheckpointError(
                    f"{path}: truncated or not safetensors (header claims {n} bytes, file has {size})"
                )
            raw = f.read(n)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e})") from e
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: corrupt safetensors header ({e})") from e
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupt safetensors header (not an object)")
    data_size = size - 8 - n
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)
            and offsets[0] <= offsets[1]
        ):
            raise CheckpointError(f"{path}: corrupt entry for tensor {name!r} (data_offsets {offsets!r:.40})")
        end = max(end, offsets[1])
    if end > data_size:
        raise CheckpointError(
            f"{path}: truncated (tensor data needs {end} bytes, only {data_size} present); "
            "re-download or re-save the checkpoint"
        )
    return header


def load_metadata(directory: str | os.PathLike[str]) -> dict[str, str]:
    """The string metadata stored in the weights header (e.g. duet_trained, duet_steps)."""
    meta: dict[str, str] = {}
    for path in weights_files(directory):
        header = check_safetensors_file(path)
        found = header.get("__metadata__") or {}
        if isinstance(found, dict):
            meta.update({str(k): str(v) for k, v in found.items()})
    return meta


def load_state_dict(
    directory: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> dict[str, torch.Tensor]:
    """All tensors of a model folder's safetensors weights (never unpickles anything)."""
    out: dict[str, torch.Tensor] = {}
    for path in weights_files(directory):
        check_safetensors_file(path)
        try:
            with safe_open(str(path), framework="pt", device=str(device)) as f:
                for key in f.keys():  # noqa: SIM118 - safe_open has no __iter__
                    if key in out:
                        raise CheckpointError(f"{path}: tensor {key!r} appears in two shards")
                    out[key] = f.get_tensor(key)
        except CheckpointError:
            raise
        except Exception as e:  # safetensors raises its own SafetensorError
            raise CheckpointError(f"{path}: cannot read safetensors ({e})") from e
    return out


CONFIG_META = "duet_config"  # the config the weights were saved with (JSON), in their metadata


def check_config(directory: str | os.PathLike[str], config: Any, meta: Mapping[str, str]) -> None:
    """CheckpointError when `config` (read from config.json) differs from the config the weights
    were saved with: a change that keeps every tensor's shape (n_heads, window_units, rope_theta)
    would otherwise load silently and compute something else. Weights saved without it, and keys
    one side lacks (a field added later), are not checked."""
    raw = meta.get(CONFIG_META)
    if raw is None or not dataclasses.is_dataclass(config) or isinstance(config, type):
        return
    try:
        saved = json.loads(raw)
    except json.JSONDecodeError:
        return  # metadata we did not write
    if not isinstance(saved, dict):
        return
    now = dataclasses.asdict(config)
    differ = [
        f"{k} {now[k]!r} (saved with {saved[k]!r})" for k in sorted(now) if k in saved and saved[k] != now[k]
    ]
    if differ:
        config_path = Path(directory) / CONFIG_NAME
        raise CheckpointError(
            f"{config_path}: does not match the config the weights were saved with: {', '.join(differ[:4])}"
            + (f" (+{len(differ) - 4} more)" if len(differ) > 4 else "")
            + f"; restore {CONFIG_NAME} or use the folder it came with"
        )


def header_tensors(directory: str | os.PathLike[str]) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (safetensors dtype, shape) of every tensor, read from the headers alone."""
    out: dict[str, tuple[str, tuple[int, ...]]] = {}
    for path in weights_files(directory):
        for name, entry in check_safetensors_file(path).items():
            if name == "__metadata__" or not isinstance(entry, dict):
                continue
            shape = entry.get("shape")
            dims = tuple(shape) if isinstance(shape, list) and all(isinstance(d, int) for d in shape) else ()
            out[name] = (str(entry.get("dtype", "")), dims)
    return out


def _mismatch(
    directory: str | os.PathLike[str],
    expected: Mapping[str, tuple[int, ...]],
    found: Mapping[str, tuple[int, ...]],
) -> None:
    """CheckpointError "WEIGHTS: does not match config.json: ..." for missing, unexpected or
    differently shaped tensors; nothing when the two agree."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = [
        f"{k}: weights {found[k]} vs config {shape}"
        for k, shape in expected.items()
        if k in found and found[k] != shape
    ]
    if not (missing or unexpected or wrong):
        return
    parts = []
    if wrong:
        parts.append(f"shape mismatch {wrong[:4]}" + (f" (+{len(wrong) - 4} more)" if len(wrong) > 4 else ""))
    if missing:
        parts.append(
            f"missing tensors {missing[:4]}" + (f" (+{len(missing) - 4})" if len(missing) > 4 else "")
        )
    if unexpected:
        parts.append(
            f"unexpected tensors {unexpected[:4]}"
            + (f" (+{len(unexpected) - 4})" if len(unexpected) > 4 else "")
        )
    names = ", ".join(str(f) for f in weights_files(directory))
    config = Path(directory) / CONFIG_NAME  # else the config came from elsewhere (train --size)
    against = config if config.is_file() else "the model's config"
    raise CheckpointError(f"{names}: does not match {against}: " + "; ".join(parts))


def check_before_build(
    directory: str | os.PathLike[str], config: Any, build: Callable[[], torch.nn.Module]
) -> None:
    """Check `config` against the weights before building the real module: against the config
    saved in their metadata (check_config), then every tensor's shape in the safetensors headers
    against `build()` run on the meta device (no memory). An edited config.json (d_model 16384)
    gets the "does not match" CheckpointError instead of allocating gigabytes first."""
    check_config(directory, config, load_metadata(directory))
    with torch.device("meta"):
        module = build()
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    _mismatch(directory, expected, {k: shape for k, (_, shape) in header_tensors(directory).items()})


def _bad_values(directory: str | os.PathLike[str], state: Mapping[str, torch.Tensor], expected: Any) -> None:
    """CheckpointError naming the first tensor that holds integers where the module has floats, or
    NaN/Inf values: such weights load without complaint and then output black frames and silence."""
    names = ", ".join(str(f) for f in weights_files(directory))
    for key, value in expected.items():
        got = state[key]
        if value.dtype.is_floating_point and not got.dtype.is_floating_point:
            raise CheckpointError(
                f"{names}: tensor {key!r} holds {str(got.dtype).removeprefix('torch.')} values where the "
                "model has floating point weights; the file was not saved from this model, re-save it"
            )
        if got.dtype.is_floating_point and not bool(torch.isfinite(got).all()):
            n_bad = int((~torch.isfinite(got)).sum())
            raise CheckpointError(
                f"{names}: tensor {key!r} holds {n_bad} NaN/Inf value(s) of {got.numel()}: the weights are "
                "corrupt or training diverged; use an earlier checkpoint or retrain"
            )


def load_weights(
    module: torch.nn.Module, directory: str | os.PathLike[str], config: Any = None
) -> dict[str, str]:
    """Load weights strictly into `module`; a key or shape mismatch names the file, and so does a
    `config` that differs from the one saved with the weights (check_config), integer tensors
    where the module has floats and NaN/Inf values (the first bad tensor named). Returns metadata."""
    weights_files(directory)
    if config is not None:
        check_config(directory, config, load_metadata(directory))
    state = load_state_dict(directory)
    expected = module.state_dict()
    _mismatch(
        directory,
        {k: tuple(v.shape) for k, v in expected.items()},
        {k: tuple(v.shape) for k, v in state.items()},
    )
    _bad_values(directory, state, expected)
    with torch.no_grad():
        for key, value in expected.items():
            value.copy_(state[key].to(dtype=value.dtype))
    return load_metadata(directory)


def save_pretrained(
    module: torch.nn.Module,
    config: Any,
    directory: str | os.PathLike[str],
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write config.json + model.safetensors (contiguous CPU tensors, shared storage de-duplicated)."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError("config must be a dataclass instance")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()}
    config_json = json.dumps(dataclasses.asdict(config), sort_keys=True)
    meta = {"format": "pt", CONFIG_META: config_json, **{str(k): str(v) for k, v in (metadata or {}).items()}}
    tmp = folder / (WEIGHTS_NAME + ".tmp")
    save_file(state, str(tmp), metadata=meta)
    os.replace(tmp, folder / WEIGHTS_NAME)
    cfg_tmp = folder / (CONFIG_NAME + ".tmp")
    cfg_tmp.write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n", encoding="utf-8")
    os.replace(cfg_tmp, folder / CONFIG_NAME)
    return folder
