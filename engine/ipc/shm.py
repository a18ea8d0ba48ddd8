"""Shared-memory segments: created (and unlinked) by the client, attached by name in the engine.

Ownership: exactly one process (the creator, i.e. the client) registers a segment with
multiprocessing's resource_tracker and unlinks it on close. An attaching process must NOT register
it (CPython gh-82300 / bpo-39959: before 3.13 `SharedMemory(name)` registers attached segments too,
so a tracker could unlink a segment that another process still uses, or warn about "leaked"
segments at exit). On 3.13+ we pass `track=False`; before that we suppress the registration call
while attaching.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import threading
from collections.abc import Iterator
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import SharedMemory

_patch_lock = threading.Lock()
SHM_DIR = "/dev/shm"


def new_name(prefix: str) -> str:
    """A short unique segment name (POSIX shm names are limited to ~30 chars on macOS)."""
    return f"duet_{prefix[:6]}_{secrets.token_hex(5)}"


def create(name: str, size: int) -> SharedMemory:
    """Create a zero-filled segment of at least `size` bytes (the creator owns and unlinks it)."""
    if size <= 0:
        raise ValueError(f"shared-memory size must be positive, got {size}")
    _check_space(size)
    return SharedMemory(name=name, create=True, size=size)


def _check_space(size: int) -> None:
    """Linux maps segments from the /dev/shm tmpfs lazily: a full one means SIGBUS on a later write,
    so refuse up front (Docker's default is 64 MB: run containers with --shm-size=256m or more)."""
    if not sys.platform.startswith("linux") or not os.path.isdir(SHM_DIR):
        return
    st = os.statvfs(SHM_DIR)
    free = st.f_bavail * st.f_frsize
    if free < size:
        raise OSError(
            f"not enough shared memory in {SHM_DIR}: {size / 2**20:.1f} MiB needed, "
            f"{free / 2**20:.1f} MiB free (in Docker, raise --shm-size)"
        )


@contextlib.contextmanager
def _untracked() -> Iterator[None]:
    original = resource_tracker.register

    def register(name: str, rtype: str) -> None:
        if rtype != "shared_memory":
            original(name, rtype)

    with _patch_lock:
        resource_tracker.register = register  # type: ignore[assignment]
        try:
            yield
        finally:
            resource_tracker.register = original


def attach(name: str) -> SharedMemory:
    """Attach to an existing segment without registering it with the resource tracker."""
    try:
        if sys.version_info >= (3, 13):
            return SharedMemory(name=name, track=False)  # type: ignore[call-arg]
        with _untracked():
            return SharedMemory(name=name)
    except FileNotFoundError:
        raise FileNotFoundError(f"shared-memory segment {name!r} does not exist (creator gone?)") from None
