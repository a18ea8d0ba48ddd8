"""Chat-model text -> what the avatar says and captions: streamed, chunk-boundary safe.

A reply streams in as arbitrary text deltas. ReplyText turns them into clean sentences:
  1. ThinkFilter drops reasoning blocks (`<think>…</think>`, also split across deltas; an
     unterminated block at the end is dropped too).
  2. MarkdownCleaner turns markdown into plain text: no **, *, _, backticks or # heading marks;
     headings, list items ("1. ", "- ", "* ") and table rows end as sentences of their own (a
     numbered line only where a list is plausible: "42. That is the answer." keeps its 42); fenced
     code blocks are dropped; a bare URL becomes its host name ("example.com"); [text](url) -> text;
     a lone " * " is "times".
  3. SentenceSplitter (brain.py) cuts complete sentences; tidy_sentence() drops emoji and spaces.
     A pause in the stream may end a sentence early, never drop or glue words. take_clause() cuts
     a run-on sentence (no end in sight) where speech would pause.
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
_NUMBERED = re.compile(r"(\d{1,3})[.)]\s")  # "2. " / "2) ": an item only where a list is plausible
_QUOTE = re.compile(r">\s?")
_TABLE_SEPARATOR = re.compile(r"\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*")

_LINK = re.compile(r"!?\[([^\]]*)\]\([^)\s]*\)")  # [text](url), ![alt](src) -> text
_LINK_REST = re.compile(r"\]\([^)\s]*\)|!?\[|\]")  # pieces of a link split across segments
_URL = re.compile(r"(?:https?://|www\.)[^\s<>()\[\]]+", re.I)
_URL_TAIL = re.compile(r"[.,;:!?'\"]+$")
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_EMPHASIS = re.compile(r"(?<!\w)(?:\*+|_+|~~)|(?:\*+|_+|~~)(?!\w)")  # snake_case keeps its _
_TIMES = re.compile(r"(?<!\S)\*(?=\s)")  # a lone * between spaces: "5 * 3" is "5 times 3"
# "word ," -> "word,", but not before ".NET", ".5", ".99": a letter or digit right after the mark
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?])(?!\w)")
# "Sure!." "options:." "model. ." lose the extra dot (not "..." nor ": .99")
_EXTRA_DOT = re.compile(r"(?<!\.)([!?:;,.])\s*\.(?![.\w])")
_PAUSE_MARKS = ",;:"  # a word ending in one of these ends a clause: a run-on sentence may be cut after it
_DASHES = frozenset(["-", "–", "—"])  # a dash between spaces ends a clause too
_JOINERS = frozenset(["and", "but", "or", "so", "because", "which", "while", "then", "when", "where"])
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
        self._list = False  # may a numbered line be a list item (after an item, a heading or "...:")?

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

    def pause(self, final: bool = False) -> str:
        """The stream paused: pass on the held last word if it ends a sentence (not "5." or "3.":
        a number's decimals may follow, unless the stream is over: `final`)."""
        held = self._line.rstrip()
        decimals = not final and re.search(r"\d\.$", held)
        if self._kind in _SAID and _ENDS_SENTENCE.search(held) and not decimals:
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
        if (m := _HEADING.match(body) or _ITEM.match(body)) and self._is_item(body):
            self._kind, self._line = "item", body[m.end() :]
        elif body.startswith("|"):
            self._kind, self._line = "table", body[1:]  # a row: its cells are said as a list
        elif m := _QUOTE.match(body):
            self._kind, self._line = "text", body[m.end() :]
        else:
            self._kind = "text"

    def _is_item(self, body: str) -> bool:
        """Does a line starting with an item marker start a list item? "- " always; "2. " only where
        a list is plausible (its number is 1, or an item, a heading or "...:" came before), so
        "42. That is the answer." keeps its 42."""
        m = _NUMBERED.match(body)
        return m is None or int(m.group(1)) == 1 or self._list

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
        self._list = kind == "item" or self._last == ":"  # blank lines between items keep it
        if self._last == ":" or (kind != "text" and not self._ended):
            out = out.rstrip() + "."  # "Here are the options:" and each heading, item or row end here
            self._last, self._ended = ".", True
        if self._ended:
            return out + " "  # the sentence may be cut right away
        self._pending = "soft"  # a line break: a space, or a sentence end if an item follows
        return out

    def _emit(self, seg: str) -> str:
        """Clean a run of whole words of the current line; prefix the pending separator."""
        text = clean_inline(seg.replace("|", ",") if self._kind == "table" else seg)
        if not text.strip():
            # the space between two words of this line (the first one went out at a pause): kept,
            # or "sure." + " " + "The" would become "sure.The"
            return " " if text and self._line_text else ""
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
    t = _TIMES.sub("times", t)
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


class _Splitter(SentenceSplitter):
    """A SentenceSplitter whose waiting text (no sentence end yet) can be cut at a clause."""

    def waiting_words(self) -> int:
        return len(self._buf.split())

    def take_clause(self, max_words: int, min_words: int) -> str:
        """The first words of the waiting text, cut where speech would pause: after the last
        , ; : or dash among its first max_words words, else before the last joining word (and,
        but, because ...) there, else after max_words words (all of them if fewer); a cut leaves
        at least min_words words in front of it. The rest keeps waiting."""
        words = list(re.finditer(r"\S+", self._buf))[:max_words]
        if not words:
            return ""
        cut = len(words)  # the piece is words[:cut]
        ends = [i + 1 for i, w in enumerate(words) if w[0][-1] in _PAUSE_MARKS or w[0] in _DASHES]
        joins = [i for i, w in enumerate(words) if w[0].lower() in _JOINERS]  # cut before word i
        for options in (ends, joins):
            if usable := [i for i in options if i >= min_words]:
                cut = usable[-1]
                break
        end = words[cut - 1].end()
        piece, self._buf = self._buf[:end].strip(), self._buf[end:]
        return piece


class ReplyText:
    """Streamed reply deltas -> clean sentences (think blocks, markdown and emoji removed)."""

    def __init__(self) -> None:
        self._think = ThinkFilter()
        self._markdown = MarkdownCleaner()
        self._splitter = _Splitter()

    @property
    def saw_thinking(self) -> bool:
        return self._think.saw_thinking

    def feed(self, delta: str) -> list[str]:
        return _tidy(self._splitter.feed(self._markdown.feed(self._think.feed(delta))))

    def pause(self, final: bool = False) -> list[str]:
        """The stream paused (`final`: it broke off for good): the text so far, if it ends like a
        sentence."""
        done = self._splitter.feed(self._markdown.pause(final))  # "... 9 a.m." + "Welcome!" ends one
        return _tidy(done + self._splitter.take_complete())

    def waiting_words(self) -> int:
        """How many words wait for their sentence to end (a word still arriving not counted)."""
        return self._splitter.waiting_words()

    def take_clause(self, max_words: int, min_words: int = 3) -> list[str]:
        """For a run-on sentence: its first words (at most max_words), cut at the last clause
        boundary (, ; : dash, or before "and", "but" ...) that leaves at least min_words in front,
        else all of them; [] if no word waits (or only emoji and marks did)."""
        return _tidy([self._splitter.take_clause(max_words, min_words)])

    def finish(self) -> list[str]:
        text = self._markdown.feed(self._think.finish()) + self._markdown.finish()
        return _tidy(self._splitter.feed(text) + self._splitter.finish())


def _tidy(sentences: list[str]) -> list[str]:
    return [t for t in map(tidy_sentence, sentences) if t]
