"""Device selection: explicit devices are checked, "auto" prefers cuda, then mps, then cpu."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from engine.process.device import DeviceError, select_device


def fake_torch(cuda: bool, mps: bool, n_cuda: int = 1) -> types.ModuleType:
    torch: Any = types.ModuleType("torch")
    torch.__version__ = "0.fake"
    torch.cuda = types.SimpleNamespace(is_available=lambda: cuda, device_count=lambda: n_cuda if cuda else 0)
    torch.backends = types.SimpleNamespace(mps=types.SimpleNamespace(is_available=lambda: mps))
    return torch


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"), [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")]
)
def test_auto(monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool, expected: str) -> None:
    monkeypatch.setitem(sys.modules, "torch", fake_torch(cuda, mps))
    assert select_device("auto") == expected
    assert select_device("") == expected


def test_explicit_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    assert select_device("cpu") == "cpu"
    monkeypatch.setitem(sys.modules, "torch", fake_torch(cuda=True, mps=False, n_cuda=2))
    assert select_device("CUDA:1") == "cuda:1"
    with pytest.raises(DeviceError, match="only 2 CUDA"):
        select_device("cuda:2")
    with pytest.raises(DeviceError, match="mps"):
        select_device("mps")
    monkeypatch.setitem(sys.modules, "torch", fake_torch(cuda=False, mps=False))
    with pytest.raises(DeviceError, match="CUDA is not available"):
        select_device("cuda")


def test_unknown_device_names() -> None:
    for bad in ("gpu", "cuda:x", "tpu"):
        with pytest.raises(DeviceError, match="unknown device"):
            select_device(bad)
