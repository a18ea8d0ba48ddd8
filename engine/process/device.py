"""Compute device selection for the engine process. torch is imported only when needed."""

from __future__ import annotations

import re

_VALID = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class DeviceError(ValueError):
    pass


def select_device(requested: str = "auto") -> str:
    """ "auto" -> "cuda" if available, else "mps", else "cpu". An explicit device is checked."""
    requested = (requested or "auto").strip().lower()
    if not _VALID.match(requested):
        raise DeviceError(f"unknown device {requested!r}: use auto, cpu, cuda, cuda:N or mps")
    if requested == "cpu":
        return "cpu"
    try:
        import torch  # lazily: only the engine process pays for it
    except ImportError:
        if requested == "auto":
            return "cpu"
        raise DeviceError(f"device {requested!r} needs torch, which is not installed") from None
    cuda_ok = torch.cuda.is_available()
    mps_backend = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps_backend is not None and mps_backend.is_available())
    if requested == "auto":
        return "cuda" if cuda_ok else "mps" if mps_ok else "cpu"
    if requested.startswith("cuda"):
        if not cuda_ok:
            raise DeviceError(
                f"device {requested!r} requested but CUDA is not available (torch {torch.__version__})"
            )
        index = int(requested.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise DeviceError(
                f"device {requested!r}: only {torch.cuda.device_count()} CUDA device(s) present"
            )
        return requested
    if not mps_ok:
        raise DeviceError("device 'mps' requested but the Apple MPS backend is not available")
    return "mps"
