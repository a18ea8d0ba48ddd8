"""Media rings on top of SlotRing: tick-stamped audio blocks and video frames, plus flush filtering.

AudioRing slot: tick = first tick of the block, a = n_ticks, b = n_samples; payload float32
(samples_per_tick * n_ticks,). Blocks longer than `max_block_ticks` are split over several slots.
FrameRing slot: tick = frame tick, a = height, b = width; payload uint8 (h, w, 3) RGB.
Both drop the NEWEST item when full (see ring.py) and count it as an overrun.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .ring import FLUSH_TABLE, Item, SlotRing

_EPOCH_TRIES = 1000  # re-reads of a writer's epoch older than the items read (then: as it is)


class FlushFilter:
    """Reader-side: drops items that a later flush mark (or a local flush) made stale.

    A mark (threshold_epoch, from_tick) drops items written in an epoch < threshold_epoch whose
    ticks reach from_tick (audio blocks are cut at from_tick).

    The writer's marks also tell a reader that HOLDS items from earlier reads what became stale:
    `crossed` collects the from_tick of each writer mark as a read first sees it (see take_crossed).
    """

    def __init__(self) -> None:
        self._seen_epoch = 0
        self._marks: list[tuple[int, int]] = []
        self._crossed: list[int] = []  # from_tick of writer marks seen, not taken yet (oldest first)

    def update(self, ring: SlotRing, items: Sequence[Item] = ()) -> None:
        """Take the writer's new marks, at least up to the epoch of the newest of `items` (just
        read): the writer published those marks before it wrote them, but on a weakly ordered CPU
        (ARM: Apple Silicon) the load of its epoch may still return an older value. A mark seen a
        read late would count as crossed by the next read: what this one returned (the yielding
        step's own output) would then be dropped as if read before it."""
        newest = max((it.epoch for it in items), default=0)
        for attempt in range(_EPOCH_TRIES):
            for epoch, from_tick in ring.flush_marks(self._seen_epoch):
                self._marks.append((epoch, from_tick))
                self._crossed.append(from_tick)
                self._seen_epoch = epoch
            if self._seen_epoch >= newest:
                break
            time.sleep(0 if attempt < 100 else 0.0001)  # the writer's stores are on their way
        del self._crossed[: -4 * FLUSH_TABLE]  # a reader that never takes them: keep the newest

    def take_crossed(self) -> list[int]:
        """from_tick of the writer's flush marks that reads have crossed since the last call, oldest
        first. Items returned by earlier reads with tick >= from_tick are stale; items returned by
        the read that crossed the mark, or later, are not (the mark cut them already)."""
        out, self._crossed = self._crossed, []
        return out

    def local_flush(self, ring: SlotRing, from_tick: int) -> None:
        """The reader itself flushes: everything written up to now with tick >= from_tick is stale."""
        self.update(ring)
        self._marks.append((self._seen_epoch + 1, from_tick))

    def cut(self, item: Item, n_ticks: int) -> int:
        """How many of the item's `n_ticks` ticks survive (0: drop it whole)."""
        keep = n_ticks
        for epoch, from_tick in self._marks:
            if item.epoch < epoch:
                keep = min(keep, max(0, from_tick - item.tick))
        return keep

    def prune(self, last_epoch: int) -> None:
        self._marks = [m for m in self._marks if m[0] > last_epoch]

    def reset(self) -> None:
        self._marks.clear()


@dataclass(frozen=True)
class AudioSpec:
    samples_per_tick: int  # 640 (mic, 16 kHz) or 960 (avatar, 24 kHz)
    max_block_ticks: int = 4
    n_slots: int = 128


class AudioRing:
    def __init__(self, ring: SlotRing, samples_per_tick: int) -> None:
        self.ring = ring
        self.samples_per_tick = samples_per_tick
        self.max_block_ticks = ring.slot_bytes // (4 * samples_per_tick)
        self._filter = FlushFilter()

    @classmethod
    def create(cls, prefix: str, spec: AudioSpec) -> AudioRing:
        ring = SlotRing.create(prefix, spec.n_slots, 4 * spec.samples_per_tick * spec.max_block_ticks)
        return cls(ring, spec.samples_per_tick)

    @classmethod
    def attach(cls, name: str, samples_per_tick: int) -> AudioRing:
        return cls(SlotRing.attach(name), samples_per_tick)

    @property
    def name(self) -> str:
        return self.ring.name

    def write(self, tick: int, pcm: np.ndarray) -> int:
        """Write float32 (samples_per_tick * k,) covering ticks [tick, tick + k). Returns blocks dropped."""
        pcm = np.asarray(pcm)
        spt = self.samples_per_tick
        if pcm.ndim != 1 or pcm.size % spt != 0:
            raise ValueError(f"audio must be 1-D with a multiple of {spt} samples, got shape {pcm.shape}")
        if pcm.dtype != np.float32:
            raise ValueError(f"audio must be float32, got {pcm.dtype}")
        pcm = np.ascontiguousarray(pcm)
        dropped = 0
        n_ticks = pcm.size // spt
        for start in range(0, n_ticks, self.max_block_ticks):
            k = min(self.max_block_ticks, n_ticks - start)
            block = pcm[start * spt : (start + k) * spt]
            if not self.ring.write(tick + start, k, block.size, block):
                dropped += 1
        return dropped

    def mark_flush(self, from_tick: int) -> None:
        self.ring.mark_flush(from_tick)

    def local_flush(self, from_tick: int) -> None:
        self._filter.local_flush(self.ring, from_tick)

    def take_flushes(self) -> list[int]:
        """See FlushFilter.take_crossed (marks seen by read(apply_flush=True))."""
        return self._filter.take_crossed()

    def read(self, apply_flush: bool = True) -> list[tuple[int, np.ndarray]]:
        """(tick, float32 (samples_per_tick * n,)) blocks in order, stale (flushed) audio removed."""
        items = self.ring.read()
        if not apply_flush:
            return [(it.tick, it.payload.view(np.float32)) for it in items]
        self._filter.update(self.ring, items)
        out = []
        for it in items:
            keep = self._filter.cut(it, it.a)
            if keep > 0:
                out.append((it.tick, it.payload.view(np.float32)[: keep * self.samples_per_tick]))
        if items:
            self._filter.prune(items[-1].epoch)
        return out

    def overruns(self) -> int:
        return self.ring.overruns()

    def close(self) -> None:
        self.ring.close()


@dataclass(frozen=True)
class FrameSpec:
    max_h: int
    max_w: int
    n_slots: int = 32


class FrameRing:
    def __init__(self, ring: SlotRing) -> None:
        self.ring = ring
        self._filter = FlushFilter()

    @classmethod
    def create(cls, prefix: str, spec: FrameSpec) -> FrameRing:
        return cls(SlotRing.create(prefix, spec.n_slots, spec.max_h * spec.max_w * 3))

    @classmethod
    def attach(cls, name: str) -> FrameRing:
        return cls(SlotRing.attach(name))

    @property
    def name(self) -> str:
        return self.ring.name

    @property
    def max_pixels(self) -> int:
        return self.ring.slot_bytes // 3

    def write(self, tick: int, rgb: np.ndarray) -> bool:
        """Write one uint8 (h, w, 3) RGB frame. False: ring full, frame dropped (counted)."""
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 (H, W, 3) RGB, got {rgb.dtype} {rgb.shape}")
        h, w = rgb.shape[:2]
        if h * w * 3 > self.ring.slot_bytes:
            raise ValueError(f"frame {w}x{h} is larger than this ring's slots ({self.ring.slot_bytes} bytes)")
        return self.ring.write(tick, h, w, np.ascontiguousarray(rgb))

    def mark_flush(self, from_tick: int) -> None:
        self.ring.mark_flush(from_tick)

    def local_flush(self, from_tick: int) -> None:
        self._filter.local_flush(self.ring, from_tick)

    def take_flushes(self) -> list[int]:
        """See FlushFilter.take_crossed (marks seen by read(apply_flush=True))."""
        return self._filter.take_crossed()

    def read(self, apply_flush: bool = True) -> list[tuple[int, np.ndarray]]:
        """(tick, uint8 (h, w, 3)) frames in order, stale (flushed) frames removed."""
        items = self.ring.read()
        if apply_flush:
            self._filter.update(self.ring, items)
        out = []
        for it in items:
            if apply_flush and self._filter.cut(it, 1) == 0:
                continue
            out.append((it.tick, it.payload.reshape(it.a, it.b, 3)))
        if apply_flush and items:
            self._filter.prune(items[-1].epoch)
        return out

    def overruns(self) -> int:
        return self.ring.overruns()

    def close(self) -> None:
        self.ring.close()
