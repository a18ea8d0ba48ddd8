"""A single-producer / single-consumer ring of fixed-size slots in shared memory.

Layout (all little-endian int64, 64-byte aligned):
  header  64 words: [0] magic, [1] n_slots, [2] slot payload bytes,
                    [8] write index (writer only), [16] read index (reader only),
                    [24] overruns (writer only), [25] flush epoch (writer only),
                    [32 + e % 16] from_tick of flush epoch e (writer only)
  slots   n_slots x (64-byte slot header + payload): header words [0] seq (= write index),
          [1] tick, [2] a, [3] b (meaning set by the media wrapper), [4] epoch, [5] payload bytes

Backpressure: the writer never blocks. When all slots are unread it DROPS THE NEW ITEM and counts an
overrun (drop-newest keeps the ring strictly SPSC: only the writer moves the write index, only the
reader moves the read index, so a slot is never overwritten while it is being read).

Memory ordering: the writer fills the payload and the slot header, and only then stores the write
index; the reader loads the write index, copies the slots out, and only then stores the read index.
Aligned 8-byte numpy stores are atomic and x86-64 (TSO) keeps stores in program order, so this is a
correct publish/consume protocol there. On weakly ordered CPUs (ARM) it relies on the interpreter's
own barriers between these Python statements; a slot whose `seq` is not the expected index yet is
left for the next read instead of being returned early.

Flush epochs: the writer may mark "drop everything with tick >= T written so far"
(`mark_flush`); slots carry the epoch they were written in, so a reader drops exactly the stale
ones and keeps what was written after the mark (see FlushFilter).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory

import numpy as np

from . import shm

MAGIC = 0x4455_4554_5249_4E47  # "DUETRING"
HEADER_WORDS = 64
SLOT_HEADER_BYTES = 64
_W, _R, _OVR, _EPOCH, _TABLE = 8, 16, 24, 25, 32
FLUSH_TABLE = 16


def _align(n: int, to: int = 64) -> int:
    return (n + to - 1) // to * to


@dataclass(frozen=True)
class Item:
    seq: int
    tick: int
    a: int
    b: int
    epoch: int
    payload: np.ndarray  # uint8 copy of the slot payload (nbytes,)


class SlotRing:
    """SPSC ring of `n_slots` slots holding up to `slot_bytes` bytes each."""

    def __init__(self, mem: SharedMemory, owner: bool) -> None:
        self._mem = mem
        self._owner = owner
        hdr = np.ndarray((HEADER_WORDS,), np.int64, mem.buf, 0)
        if int(hdr[0]) != MAGIC:
            raise ValueError(f"shared-memory segment {mem.name!r} is not a Duet ring")
        self.name = mem.name
        self.n_slots = int(hdr[1])
        self.slot_bytes = int(hdr[2])
        self._stride = SLOT_HEADER_BYTES + _align(self.slot_bytes)
        base = HEADER_WORDS * 8
        self._hdr: np.ndarray | None = hdr
        self._slot_hdr: np.ndarray | None = np.ndarray(
            (self.n_slots, self._stride // 8), np.int64, mem.buf, base
        )
        self._payload: np.ndarray | None = np.ndarray((self.n_slots, self._stride), np.uint8, mem.buf, base)
        self._read = int(hdr[_R])  # reader's private copy of the read index
        self._epoch = int(hdr[_EPOCH])  # writer's private copy of the epoch

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def create(cls, prefix: str, n_slots: int, slot_bytes: int) -> SlotRing:
        if n_slots < 2 or slot_bytes <= 0:
            raise ValueError(f"ring needs >= 2 slots and positive slot size, got {n_slots}, {slot_bytes}")
        size = HEADER_WORDS * 8 + n_slots * (SLOT_HEADER_BYTES + _align(slot_bytes))
        mem = shm.create(shm.new_name(prefix), size)
        hdr = np.ndarray((HEADER_WORDS,), np.int64, mem.buf, 0)
        hdr[:] = 0
        hdr[1], hdr[2] = n_slots, slot_bytes
        hdr[0] = MAGIC
        del hdr
        return cls(mem, owner=True)

    @classmethod
    def attach(cls, name: str) -> SlotRing:
        return cls(shm.attach(name), owner=False)

    def close(self) -> None:
        """Release the mapping; the owner (creator) also unlinks the segment. Idempotent."""
        if self._hdr is None:
            return
        self._hdr = self._slot_hdr = self._payload = None
        with contextlib.suppress(BufferError):  # a view still alive elsewhere: unmapped when it dies
            self._mem.close()
        if self._owner:
            with contextlib.suppress(FileNotFoundError):
                self._mem.unlink()

    @property
    def closed(self) -> bool:
        return self._hdr is None

    def _header(self) -> np.ndarray:
        if self._hdr is None:
            raise ValueError(f"ring {self.name} is closed")
        return self._hdr

    # ------------------------------------------------------------------ writer side
    def write(self, tick: int, a: int, b: int, data: np.ndarray) -> bool:
        """Copy `data` (any dtype, C-contiguous) into the next slot. False: ring full, item dropped."""
        hdr = self._header()
        raw = data.reshape(-1).view(np.uint8)
        if raw.size > self.slot_bytes:
            raise ValueError(
                f"ring {self.name}: item of {raw.size} bytes exceeds slot size {self.slot_bytes}"
            )
        w = int(hdr[_W])
        if w - int(hdr[_R]) >= self.n_slots:
            hdr[_OVR] += 1
            return False
        i = w % self.n_slots
        assert self._payload is not None and self._slot_hdr is not None
        self._payload[i, SLOT_HEADER_BYTES : SLOT_HEADER_BYTES + raw.size] = raw
        sh = self._slot_hdr[i]
        sh[1], sh[2], sh[3], sh[4], sh[5] = tick, a, b, self._epoch, raw.size
        sh[0] = w
        hdr[_W] = w + 1  # publish after the payload and slot header are written
        return True

    def mark_flush(self, from_tick: int) -> int:
        """Writer: items written so far with tick >= from_tick are stale. Returns the new epoch."""
        hdr = self._header()
        epoch = self._epoch + 1
        hdr[_TABLE + epoch % FLUSH_TABLE] = from_tick
        hdr[_EPOCH] = epoch  # publish after the table entry
        self._epoch = epoch
        return epoch

    def count_overrun(self, n: int = 1) -> None:
        self._header()[_OVR] += n

    # ------------------------------------------------------------------ reader side
    def read(self, max_items: int | None = None) -> list[Item]:
        """Copy out all published items (oldest first) and free their slots."""
        hdr = self._header()
        w = int(hdr[_W])
        end = w if max_items is None else min(w, self._read + max_items)
        out: list[Item] = []
        assert self._payload is not None and self._slot_hdr is not None
        for idx in range(self._read, end):
            i = idx % self.n_slots
            sh = self._slot_hdr[i]
            seq, tick, a, b, epoch, nbytes = (int(v) for v in sh[:6])
            if seq != idx:  # slot header not visible yet (weakly ordered CPU): read it next time
                end = idx
                break
            payload = self._payload[i, SLOT_HEADER_BYTES : SLOT_HEADER_BYTES + nbytes].copy()
            out.append(Item(seq, tick, a, b, epoch, payload))
        if end > self._read:
            self._read = end
            hdr[_R] = end  # free the slots only after they were copied
        return out

    def pending(self) -> int:
        """Items published but not read yet."""
        hdr = self._header()
        return int(hdr[_W]) - int(hdr[_R])

    def overruns(self) -> int:
        return int(self._header()[_OVR]) if self._hdr is not None else 0

    def flush_marks(self, after_epoch: int) -> list[tuple[int, int]]:
        """(epoch, from_tick) of flush marks newer than `after_epoch` (the last FLUSH_TABLE at most)."""
        hdr = self._header()
        epoch = int(hdr[_EPOCH])
        first = max(after_epoch + 1, epoch - FLUSH_TABLE + 1)
        return [(e, int(hdr[_TABLE + e % FLUSH_TABLE])) for e in range(first, epoch + 1)]
