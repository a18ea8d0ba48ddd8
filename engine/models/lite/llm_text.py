"""Chat-model text -> what the avatar says and captions: streamed, chunk-boundary safe.

A reply streams in as arbitrary text deltas. ReplyText turns them into clean sentences:
  1. ThinkFilter drops reasoning blocks (`<think>…</think>`, also split across deltas; an
     unterminated block at the end is dropped too).
  2. MarkdownCleaner turns markdown into plain text: no **, *, _, backticks or # heading marks;
     headings, list items ("1. ", "- ", "* ") and table rows end as sentences of their own; fenced
     code blocks are dropped; a bare URL becomes its host name ("example.com"); [text](url) -> text.
  3. SentenceSplitter (brain.py) cuts complete sentences; tidy_sentence() drops emoji and spaces.
Captions and speech get the same text (the voice still normalises it further for piper).
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse

from .brain import SentenceSplitter

_OPEN, _CLOSE = "<think>", "</think>"

_ENDS_SENTENCE = re.compile(r"[.!?][\"')\]]*$")
_FENCES = ("```", "~~~")
_RULE = re.compile(r"([-*_])(?:\s*\1){2,}\s*")  # ---, ***, ___ (a horizontal rule)
_HEADING = re.compile(r"#{1,6}(?:\s+|$)")
_ITEM = re.compile(r"(?:[-*+•]|\d{1,3}[.)])\s+")  # "- ", "* ", "+ ", "1. ", "2) "
_QUOTE = re.compile(r">\s?")
_TABLE_SEPARATOR = re.compile(r"\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*")

_LINK = re.compile(r"!?\[([^\]]*)\]\([^)\s]*\)")  # [text](url), ![alt](src) -> text
_LINK_REST = re.compile(r"\]\([^)\s]*\)|!?\[|\]")  # pieces of a link split across segments
_URL = re.compile(r"(?:https?://|www\.)[^\s<>()\[\]]+", re.I)
_URL_TAIL = re.compile(r"[.,;:!?'\"]+$")
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_EMPHASIS = re.compile(r"(?<!\w)(?:\*+|_+|~~)|(?:\*+|_+|~~)(?!\w)")  # snake_case keeps its _
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?])")
_EXTRA_DOT = re.compile(r"(?<!\.)([!?:;,.])\s*\.(?!\.)")  # "Sure!." "options:." "model. ." (not ...)
_SAID = ("text", "item", "table")  # kinds of line that are said
_KEEP_SYMBOLS = frozenset("°©®™№")  # "Other symbol" characters worth keeping in a caption
_INVISIBLE = frozenset("\ufe0e\ufe0f\u200d\u20e3")  # emoji variation selectors, joiner, keycap


class ThinkFilter:
    """Streaming removal of `<think>…</think>` blocks (reasoning models)."""

    def __init__(self) -> None:
        self._buf = ""  # text not yet decided (may end with the start of a tag)
        self._inside = False
        self.saw_thinking = False

    def feed(self, delta: str) -> str:
        self._buf += delta
        out: list[str] = []
        while True:
            tag = _CLOSE if self._inside else _OPEN
            at = self._buf.find(tag)
            if at >= 0:
                if not self._inside:
                    out.append(self._buf[:at])
                    self.saw_thinking = True
                self._buf = self._buf[at + len(tag) :]
                self._inside = not self._inside
                continue
            keep = _partial_tag(self._buf, tag)  # chars that may be the start of the tag
            if not self._inside:
                out.append(self._buf[: len(self._buf) - keep])
            self._buf = self._buf[len(self._buf) - keep :]
            return "".join(out)

    def finish(self) -> str:
        """The rest; an unterminated think block is dropped."""
        rest, self._buf = ("" if self._inside else self._buf), ""
        return rest


def _partial_tag(text: str, tag: str) -> int:
    """Length of the longest end of `text` that is a proper start of `tag` (0 if none)."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


class MarkdownCleaner:
    """Streaming markdown -> plain text, line by line; words are passed on as soon as they end.

    A line's start decides what it is (heading, list item, fence, ...): it is held until that is
    known. Then whole words (up to the last whitespace) go out, so inline marks split across deltas
    (`**bo` + `ld**`) are removed as a whole.
    """

    def __init__(self) -> None:
        self._line = ""  # unprocessed text of the current line (no newline)
        self._kind = ""  # the current line: "" (not known yet) | text | item | table | code | drop
        self._fence = ""  # the open code fence ("```" / "~~~"), "" outside code
        self._pending = ""  # "" | soft (a line break) | hard (a paragraph break) before the next text
        self._last = ""  # the last non-space character passed on ("" before any)
        self._ended = False  # does the text passed on so far end like a sentence ("." "!" "?" ...)?
        self._line_text = False  # has the current line passed on any text?

    def feed(self, delta: str) -> str:
        self._line += delta.replace("\r", "")
        out: list[str] = []
        while "\n" in self._line:
            self._line, rest = self._line.split("\n", 1)
            out.append(self._end_line())
            self._line = rest
        if not self._kind:
            self._classify(complete=False)
        if self._kind in _SAID:
            cut = max(self._line.rfind(" "), self._line.rfind("\t")) + 1  # whole words only
            if cut:
                out.append(self._emit(self._line[:cut]))
                self._line = self._line[cut:]
        return "".join(out)

    def pause(self) -> str:
        """The stream paused: pass on the held last word if it ends a sentence."""
        if self._kind in _SAID and _ENDS_SENTENCE.search(self._line.rstrip()):
            seg, self._line = self._line, ""
            return self._emit(seg)
        return ""

    def finish(self) -> str:
        out = self._end_line() if self._line or self._kind else ""
        self._fence = ""
        return out

    # ------------------------------------------------------------------ lines
    def _classify(self, complete: bool) -> None:
        """Decide what the current line is from its start (sets _kind; strips its marker)."""
        body = self._line.lstrip()
        if self._fence:
            if body.startswith(self._fence):
                self._kind = "drop"  # the closing fence
                self._fence = ""
            elif complete or len(body) >= 3 or not self._fence.startswith(body):
                self._kind = "code"
            return
        if body[:3] in _FENCES:
            self._fence, self._kind = body[:3], "drop"
            if self._pending == "soft":
                self._pending = "hard"
            return
        if not complete and not _decidable(body):
            return
        if _RULE.fullmatch(body) or (_TABLE_SEPARATOR.fullmatch(body) and "-" in body):
            self._kind = "drop"
            return
        if m := _HEADING.match(body) or _ITEM.match(body):
            self._kind, self._line = "item", body[m.end() :]
        elif body.startswith("|"):
            self._kind, self._line = "table", body[1:]  # a row: its cells are said as a list
        elif m := _QUOTE.match(body):
            self._kind, self._line = "text", body[m.end() :]
        else:
            self._kind = "text"

    def _end_line(self) -> str:
        """The current line is complete: pass on its rest and decide how it ends."""
        if not self._kind:
            self._classify(complete=True)
        kind, seg = self._kind, self._line
        self._line = ""
        out = self._emit(seg) if kind in _SAID else ""
        had_text, self._line_text, self._kind = self._line_text, False, ""
        if not had_text:
            if kind == "text" and self._pending == "soft":
                self._pending = "hard"  # a blank line: the paragraph ended
            return out
        if self._last == ":" or (kind != "text" and not self._ended):
            out += "."  # "Here are the options:" and each heading, list item or table row end here
            self._last, self._ended = ".", True
        if self._ended:
            return out + " "  # the sentence may be cut right away
        self._pending = "soft"  # a line break: a space, or a sentence end if an item follows
        return out

    def _emit(self, seg: str) -> str:
        """Clean a run of whole words of the current line; prefix the pending separator."""
        text = clean_inline(seg.replace("|", ",") if self._kind == "table" else seg)
        if not text.strip():
            return ""
        sep = ""
        if self._last and self._pending:
            if self._pending == "hard" or self._kind != "text":
                sep = " " if self._ended else ". "
            else:
                sep = " "
        self._pending = ""
        self._last = text.rstrip()[-1]
        self._ended = bool(_ENDS_SENTENCE.search(text.rstrip()))
        self._line_text = True
        return sep + text


def _decidable(body: str) -> bool:
    """Can the start of an unfinished line already be told apart from a markdown marker?"""
    if len(body) >= 8:
        return not _RULE.match(body[:3])
    return bool(re.match(r"[^\s\-*_|]\S*\s", body)) or bool(re.match(r"(?:[-*+•]|\d{1,3}[.)])\s+\S", body))


def clean_inline(text: str) -> str:
    """Inline markdown of whole words -> plain text (links, URLs, code and emphasis marks)."""
    t = _LINK.sub(r"\1", text)
    t = _URL.sub(_url_name, t)
    t = _LINK_REST.sub("", t)
    t = _HTML_TAG.sub(" ", t)
    t = t.replace("`", "")
    return _EMPHASIS.sub("", t)


def _url_name(m: re.Match[str]) -> str:
    """https://www.example.com/docs?x=1. -> example.com. (a URL is not read letter by letter)"""
    url = m.group(0)
    tail = _URL_TAIL.search(url)
    if tail:
        url = url[: tail.start()]
    full = url if "://" in url else "http://" + url
    host = (urllib.parse.urlsplit(full).hostname or "").removeprefix("www.")
    return (host or "a link") + (tail.group(0) if tail else "")


def drop_emoji(text: str) -> str:
    """Emoji and other pictographs removed (the UI font shows boxes; the voice skips them)."""
    out = []
    for c in text:
        if c in _INVISIBLE or "\U0001f3fb" <= c <= "\U0001f3ff":  # selectors, skin tones
            continue
        if unicodedata.category(c) in ("So", "Cs", "Co", "Cn") and c not in _KEEP_SYMBOLS:
            continue
        out.append(c)
    return "".join(out)


def tidy_sentence(sentence: str) -> str:
    """A sentence as captioned and spoken: no emoji, single spaces ("" if nothing is left)."""
    t = " ".join(drop_emoji(sentence).split())
    t = _SPACE_BEFORE_PUNCT.sub(r"\1", t)
    t = _EXTRA_DOT.sub(lambda m: m.group(1) if m.group(1) in "!?" else ".", t)
    return t if any(c.isalnum() for c in t) else ""


class ReplyText:
    """Streamed reply deltas -> clean sentences (think blocks, markdown and emoji removed)."""

    def __init__(self) -> None:
        self._think = ThinkFilter()
        self._markdown = MarkdownCleaner()
        self._splitter = SentenceSplitter()

    @property
    def saw_thinking(self) -> bool:
        return self._think.saw_thinking

    def feed(self, delta: str) -> list[str]:
        return _tidy(self._splitter.feed(self._markdown.feed(self._think.feed(delta))))

    def pause(self) -> list[str]:
        """The stream paused: the text so far, if it ends like a sentence."""
        self._splitter.feed(self._markdown.pause())
        return _tidy(self._splitter.take_complete())

    def finish(self) -> list[str]:
        text = self._markdown.feed(self._think.finish()) + self._markdown.finish()
        return _tidy(self._splitter.feed(text) + self._splitter.finish())


def _tidy(sentences: list[str]) -> list[str]:
    return [t for t in map(tidy_sentence, sentences) if t]
