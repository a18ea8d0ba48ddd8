"""Byte-level text tokenizer: UTF-8 bytes 0..255 plus a few specials. Ships with the code (no download)."""

from __future__ import annotations

BYTE_VOCAB = 256
PAD = 256  # empty slot
BOS = 257  # start of a text segment
EOS = 258  # end of a text segment
OPERATOR = 259  # the following bytes are an operator line (say verbatim)
VOCAB_SIZE = 260


def encode(text: str) -> list[int]:
    return list(text.encode("utf-8"))


def decode(ids: list[int]) -> str:
    """Bytes back to text for a caption: specials, broken UTF-8 sequences and control characters
    are dropped (an untrained model's random bytes captioned as rows of '\ufffd' boxes)."""
    text = bytes(i for i in ids if 0 <= i < BYTE_VOCAB).decode("utf-8", errors="ignore")
    return "".join(ch if ch.isprintable() else " " if ch.isspace() else "" for ch in text)


def pad_to(ids: list[int], n: int) -> list[int]:
    """Exactly n ids: truncated or padded with PAD."""
    return (ids[:n] + [PAD] * n)[:n]


class TextQueue:
    """Bytes waiting to enter fixed-size per-unit text slots (overflow spills into later units)."""

    def __init__(self) -> None:
        self._ids: list[int] = []

    def push(self, text: str, operator: bool = False) -> None:
        if text:
            self._ids.extend(([OPERATOR] if operator else []) + encode(text) + [EOS])

    def take(self, n: int) -> list[int]:
        head, self._ids = self._ids[:n], self._ids[n:]
        return pad_to(head, n)

    def clear(self) -> None:
        self._ids.clear()

    def __len__(self) -> int:
        return len(self._ids)
