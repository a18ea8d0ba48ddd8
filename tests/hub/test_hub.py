"""engine.hub: one loader for local folders and hub repos; safetensors only; clear errors."""

from __future__ import annotations

import json
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from engine import hub
from engine.hub import CheckpointError

REV = "0123456789abcdef0123456789abcdef01234567"


@dataclass(frozen=True)
class TinyConfig:
    d_in: int = 4
    d_hidden: int = 8
    scale: float = 1.0
    name: str = "tiny"
    layers: tuple[int, ...] = (1, 2)
    tag: str | None = None

    def __post_init__(self) -> None:
        if self.d_hidden < 1:
            raise ValueError("d_hidden must be >= 1")


class Tiny(nn.Module):
    def __init__(self, cfg: TinyConfig) -> None:
        super().__init__()
        self.a = nn.Linear(cfg.d_in, cfg.d_hidden)
        self.b = nn.Linear(cfg.d_hidden, 2)
        self.register_buffer("running", torch.arange(3.0))


def load(path_or_repo: str, revision: str | None = None) -> tuple[Tiny, TinyConfig, dict[str, str], Path]:
    """The one code path: resolve -> config -> module -> weights."""
    folder = hub.resolve(path_or_repo, revision)
    cfg = hub.load_config(folder, TinyConfig)
    module = Tiny(cfg)
    meta = hub.load_weights(module, folder)
    return module, cfg, meta, folder


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, Tiny, TinyConfig]:
    torch.manual_seed(0)
    cfg = TinyConfig(d_hidden=6, scale=0.5, tag="x")
    module = Tiny(cfg)
    folder = hub.save_pretrained(module, cfg, tmp_path / "tiny", metadata={"duet_trained": "true"})
    return folder, module, cfg


def assert_same(a: nn.Module, b: nn.Module) -> None:
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb
        torch.testing.assert_close(va, vb)


def fake_hub_repo(hf_home: Path, repo: str, source: Path, revision: str = REV, ref: str = "main") -> Path:
    """The huggingface_hub cache layout: hub/models--org--name/{refs/<ref>, snapshots/<rev>/...}."""
    org, name = repo.split("/")
    root = hf_home / "hub" / f"models--{org}--{name}"
    snap = root / "snapshots" / revision
    snap.mkdir(parents=True)
    for f in source.iterdir():
        shutil.copy(f, snap / f.name)
    (root / "refs").mkdir()
    (root / "refs" / ref).write_text(revision)
    return snap


# ---------------------------------------------------------------- round trips
def test_local_folder_round_trip(saved: tuple[Path, Tiny, TinyConfig]) -> None:
    folder, module, cfg = saved
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    loaded, cfg2, meta, where = load(str(folder))
    assert cfg2 == cfg and where == folder.resolve()
    assert meta["duet_trained"] == "true"
    assert_same(module, loaded)


def test_hub_repo_from_offline_cache_uses_same_path(
    saved: tuple[Path, Tiny, TinyConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, module, cfg = saved
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    snap = fake_hub_repo(tmp_path / "hf", "duet-test/tiny", folder)
    for revision in (None, "main", REV):
        loaded, cfg2, _, where = load("duet-test/tiny", revision)
        assert where == snap and cfg2 == cfg
        assert_same(module, loaded)


def test_hub_cache_dir_env_is_read_at_call_time(
    saved: tuple[Path, Tiny, TinyConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _, _ = saved
    cache = tmp_path / "elsewhere"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    snap = fake_hub_repo(tmp_path / "tmp-home", "duet-test/other", folder)
    shutil.move(str(tmp_path / "tmp-home" / "hub"), str(cache))
    assert hub.resolve("duet-test/other") == cache / snap.relative_to(tmp_path / "tmp-home" / "hub")


def test_missing_repo_offline_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(CheckpointError, match=r"duet-test/absent.*HF_HUB_OFFLINE"):
        hub.resolve("duet-test/absent", "v1")


def test_unknown_revision_offline(
    saved: tuple[Path, Tiny, TinyConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _, _ = saved
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    fake_hub_repo(tmp_path / "hf", "duet-test/tiny", folder)
    with pytest.raises(CheckpointError, match="not found in cache"):
        hub.resolve("duet-test/tiny", "v9")


@pytest.mark.parametrize("bad", ["", "   ", "no/such/thing/here", "./missing-dir"])
def test_bad_names(bad: str) -> None:
    with pytest.raises(CheckpointError):
        hub.resolve(bad)


def never_download(**kwargs: object) -> str:
    raise AssertionError(f"the hub was asked for a local path: {kwargs}")


@pytest.mark.parametrize(
    "name",
    ["./streamer-s", "../streamer-s", ".hidden/x", "models/streamer/s", "~/no-such-duet-model", "/abs/x"],
)
def test_a_missing_local_path_is_no_such_folder_without_asking_the_hub(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", never_download)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    name = name.replace("/abs", str(tmp_path / "abs"))
    with pytest.raises(CheckpointError) as info:
        hub.resolve(name)
    message = str(info.value)
    assert message.startswith(f"no such folder: {name}")
    expected = Path(name).expanduser().absolute()
    assert str(expected) in message  # where it was looked for
    assert "hub repo" not in message


def test_a_windows_path_is_a_path(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", never_download)
    monkeypatch.setattr(hub.os, "sep", "\\")  # as on Windows
    for name in ("models\\streamer-s", "C:models"):
        with pytest.raises(CheckpointError, match=r"^no such folder: "):
            hub.resolve(name)


def test_an_owner_name_that_is_neither_a_folder_nor_cached_says_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`models/streamer-s` may be a folder relative to the current one or a hub repo id."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError) as info:
        hub.resolve("models/streamer-s")
    message = str(info.value)
    assert message.startswith(f"no such folder: models/streamer-s ({tmp_path / 'models' / 'streamer-s'})")
    assert "hub repo 'models/streamer-s'" in message and "not found in cache" in message
    assert str(tmp_path / "hf" / "hub") in message


def test_an_owner_name_missing_on_the_hub_says_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx2  # huggingface_hub's HTTP client: its errors carry the response
    import huggingface_hub
    from huggingface_hub.errors import RepositoryNotFoundError

    url = "https://huggingface.co/api/models/models/streamer-s"
    response = httpx2.Response(404, request=httpx2.Request("GET", url))

    def not_there(**kwargs: object) -> str:
        raise RepositoryNotFoundError(
            f"404 Client Error. Repository Not Found for url: {url}.\nmore", response=response
        )

    monkeypatch.setattr(huggingface_hub, "snapshot_download", not_there)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError) as info:
        hub.resolve("models/streamer-s")
    message = str(info.value)
    assert message.startswith("no such folder: models/streamer-s")
    assert "hub repo 'models/streamer-s' (revision 'main') is not found on the hub: 404" in message
    assert "\n" not in message


def test_an_existing_owner_name_folder_wins_over_the_hub(
    saved: tuple[Path, Tiny, TinyConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    folder, module, _ = saved
    monkeypatch.setattr(huggingface_hub, "snapshot_download", never_download)
    monkeypatch.chdir(folder.parent.parent)
    relative = f"{folder.parent.name}/{folder.name}"  # looks like owner/name, and is a folder
    loaded, _, _, where = load(relative)
    assert where == folder.resolve()
    assert_same(module, loaded)


def test_a_file_is_not_a_model_folder(saved: tuple[Path, Tiny, TinyConfig]) -> None:
    folder, _, _ = saved
    with pytest.raises(CheckpointError, match="got a file"):
        hub.resolve(folder / "model.safetensors")


# ---------------------------------------------------------------- pickles are refused, never loaded
class _Trap:
    """Unpickling this touches a marker file: proof that a loader ran pickle code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "model.pth", "last.ckpt"])
def test_pickle_checkpoints_are_refused(
    saved: tuple[Path, Tiny, TinyConfig], tmp_path: Path, name: str
) -> None:
    folder, module, _ = saved
    (folder / "model.safetensors").unlink()
    torch.save(module.state_dict(), folder / name)
    with pytest.raises(CheckpointError, match=rf"{name}.*pickle.*refused"):
        load(str(folder))


def test_pickle_renamed_to_safetensors_is_detected_and_never_run(
    saved: tuple[Path, Tiny, TinyConfig], tmp_path: Path
) -> None:
    folder, _, _ = saved
    marker = tmp_path / "pwned"
    (folder / "model.safetensors").write_bytes(pickle.dumps(_Trap(marker), protocol=4))
    with pytest.raises(CheckpointError, match=r"model\.safetensors.*pickle"):
        load(str(folder))
    assert not marker.exists()


def test_torch_zip_renamed_to_safetensors_is_refused(saved: tuple[Path, Tiny, TinyConfig]) -> None:
    folder, module, _ = saved
    torch.save(module.state_dict(), folder / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"model\.safetensors.*torch\.save"):
        load(str(folder))


# ---------------------------------------------------------------- truncated, mismatched, malformed
@pytest.mark.parametrize("keep", [0, 5, 40, -20])
def test_truncated_weights(saved: tuple[Path, Tiny, TinyConfig], keep: int) -> None:
    folder, _, _ = saved
    path = folder / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[:keep])
    with pytest.raises(CheckpointError, match=r"model\.safetensors.*(truncated|corrupt)"):
        load(str(folder))


@pytest.mark.parametrize("offsets", [[0, None], [0, "x"], [0, 1.5], [8, 4], [-1, 4], "0-4", [True, 4]])
def test_a_corrupt_tensor_entry_in_the_header_names_the_file(
    saved: tuple[Path, Tiny, TinyConfig], offsets: object
) -> None:
    """A header that parses as JSON but holds nonsense offsets: a clear CheckpointError, never a
    TypeError from deep inside."""
    import struct

    folder, _, _ = saved
    path = folder / "model.safetensors"
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    name = next(k for k in header if k != "__metadata__")
    header[name]["data_offsets"] = offsets
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])
    with pytest.raises(CheckpointError, match=rf"model\.safetensors: corrupt entry for tensor '{name}'"):
        load(str(folder))


def test_config_that_does_not_match_weights(saved: tuple[Path, Tiny, TinyConfig]) -> None:
    folder, _, _ = saved
    cfg = json.loads((folder / "config.json").read_text())
    cfg["d_hidden"] = 7
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"model\.safetensors.*does not match.*config\.json.*shape"):
        load(str(folder))


def test_weights_with_missing_and_extra_tensors(tmp_path: Path) -> None:
    cfg = TinyConfig()
    module = Tiny(cfg)
    module.extra = nn.Linear(2, 2)
    folder = hub.save_pretrained(module, cfg, tmp_path / "m")
    with pytest.raises(CheckpointError, match=r"unexpected tensors.*extra"):
        load(str(folder))
    del module.extra
    del module.b
    hub.save_pretrained(module, cfg, folder)
    with pytest.raises(CheckpointError, match=r"missing tensors.*b\.weight"):
        load(str(folder))


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        ({"d_hidden": "8"}, r"config\.json: field 'd_hidden': expected an integer"),
        ({"d_hidden": True}, r"field 'd_hidden': expected an integer"),
        ({"scale": "big"}, r"field 'scale': expected a number"),
        ({"layers": [1, "x"]}, r"field 'layers'\[1\]"),
        ({"tag": 3}, r"field 'tag'"),
        ({"color": "red"}, r"config\.json: unknown field\(s\) \['color'\]"),
        ({"d_hidden": 0}, r"config\.json: d_hidden must be >= 1"),
    ],
)
def test_config_validation(saved: tuple[Path, Tiny, TinyConfig], edit: dict, pattern: str) -> None:
    folder, _, _ = saved
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(edit)
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=pattern):
        hub.load_config(folder, TinyConfig)


@dataclass(frozen=True)
class Required:
    width: int


def test_missing_field_and_bad_json(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match=r"config\.json: missing field 'width'"):
        hub.load_config(tmp_path, Required)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"config\.json: not valid JSON"):
        hub.load_config(tmp_path, Required)
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="must be a JSON object"):
        hub.load_config(tmp_path, Required)
    (tmp_path / "config.json").unlink()
    with pytest.raises(CheckpointError, match=r"config\.json: missing"):
        hub.load_config(tmp_path, Required)


def test_no_weights_at_all(tmp_path: Path) -> None:
    hub.save_pretrained(Tiny(TinyConfig()), TinyConfig(), tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"model\.safetensors: missing"):
        hub.load_state_dict(tmp_path)


def test_sharded_weights_load(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    torch.manual_seed(1)
    cfg = TinyConfig()
    module = Tiny(cfg)
    hub.save_pretrained(module, cfg, tmp_path)
    (tmp_path / "model.safetensors").unlink()
    state = {k: v.contiguous() for k, v in module.state_dict().items()}
    keys = sorted(state)
    save_file({k: state[k] for k in keys[:2]}, str(tmp_path / "model-00001-of-00002.safetensors"))
    save_file({k: state[k] for k in keys[2:]}, str(tmp_path / "model-00002-of-00002.safetensors"))
    loaded, _, _, _ = load(str(tmp_path))
    assert_same(module, loaded)


def test_online_resolve_asks_only_for_config_and_safetensors(
    saved: tuple[Path, Tiny, TinyConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the hub reachable, snapshot_download gets the pinned revision, the standard cache and
    allow_patterns that can never fetch a pickle; offline mode turns into local_files_only."""
    import huggingface_hub

    folder, module, _ = saved
    calls: list[dict] = []

    def fake_download(**kwargs: object) -> str:
        calls.append(kwargs)
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    loaded, _, _, where = load("duet-test/online", REV)
    assert where == folder
    assert_same(module, loaded)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.resolve("duet-test/online")
    first, second = calls
    assert first["repo_id"] == "duet-test/online" and first["revision"] == REV
    assert first["allow_patterns"] == ["config.json", "*.safetensors"]
    assert first["cache_dir"] == str(tmp_path / "hf" / "hub")
    assert first["local_files_only"] is False and second["local_files_only"] is True
    assert second["revision"] is None
