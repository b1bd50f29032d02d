"""Report text: decoding bytes, stripping markup, and splitting sentences.

All functions are pure (bytes/str in, values out). Offsets are character
offsets into the decoded, markup-free text returned by :func:`decode_document`.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from pipeline.claims.dates import month_names
from pipeline.errors import DocumentError

#: Documents larger than this many bytes are refused (2 MiB, some 300 pages):
#: a report an analyst pastes is a few kilobytes; anything bigger is almost
#: surely a dump, and extraction costs about 1-2 ms per sentence.
MAX_DOCUMENT_BYTES = 2 * 1024 * 1024

#: longer "sentences" (tables, dumps without punctuation) are cut at a space so
#: every per-sentence step stays bounded
MAX_SENTENCE_CHARS = 2000

_BLOCK_TAGS = {
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "tr",
    "table",
    "section",
    "article",
    "header",
    "footer",
    "blockquote",
    "pre",
    "title",
    "hr",
    "dd",
    "dt",
}
_SKIP_TAGS = {"script", "style", "noscript", "template", "svg", "head"}


@dataclass(frozen=True)
class Document:
    """A decoded report.

    ``text`` is plain text (markup removed); ``meta`` holds HTML ``<meta>``
    name/property -> content pairs (e.g. ``article:published_time``).
    """

    name: str
    text: str
    meta: dict[str, str]


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.meta: dict[str, str] = {}
        self._skip = 0
        self._title = False
        self.title = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            a = {k.lower(): (v or "") for k, v in attrs}
            key = a.get("name") or a.get("property") or a.get("itemprop")
            if key and "content" in a:
                self.meta[key.lower()] = a["content"]
            return
        if tag == "time":
            a = {k.lower(): (v or "") for k, v in attrs}
            if a.get("datetime") and "time:datetime" not in self.meta:
                self.meta["time:datetime"] = a["datetime"]
        if tag in _SKIP_TAGS and tag != "head":
            self._skip += 1
        if tag == "title":
            self._title = True
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS and tag != "head" and self._skip:
            self._skip -= 1
        if tag == "title":
            self._title = False
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._title:
            self.title += data
            return
        self.parts.append(data)


def looks_like_html(text: str) -> bool:
    """True when ``text`` starts like an HTML document or fragment."""
    head = text.lstrip()[:1000].lower()
    return head.startswith(("<!doctype html", "<html", "<?xml")) or bool(
        re.search(r"<(p|div|body|article|h[1-6]|span|br)\b[^>]*>", head)
    )


def strip_html(text: str) -> tuple[str, dict[str, str]]:
    """Plain text and ``<meta>`` pairs of an HTML string (stdlib ``html.parser``)."""
    parser = _TextExtractor()
    parser.feed(text)
    parser.close()
    out = "".join(parser.parts)
    out = re.sub(r"[ \t\r\f\v]+", " ", out)
    out = re.sub(r" *\n[ \n]*", "\n\n", out).strip()
    return out, parser.meta


def strip_markdown(text: str) -> str:
    """Remove the Markdown markup that would disturb sentence splitting.

    Keeps the text length-neutral where cheap (emphasis markers become spaces)
    so offsets stay close to the source; links keep only their text.
    """
    t = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", text)
    t = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", t)
    t = re.sub(r"(?m)^\s{0,3}#{1,6}\s*", "", t)
    t = re.sub(r"(?m)^\s*[-*+]\s+", "", t)
    t = re.sub(r"(\*\*|__|(?<![\w*])\*(?![\s*])|`)", "", t)
    return t


def decode_bytes(data: bytes, *, name: str = "<document>") -> str:
    """Decode report bytes to ``str`` robustly.

    Tries a BOM, then UTF-8, then cp1252 and latin-1. Raises
    :class:`DocumentError` when the bytes look binary (NUL bytes or many
    control characters) or exceed :data:`MAX_DOCUMENT_BYTES`.
    """
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentError(
            f"{name}: {len(data)} bytes is over the {MAX_DOCUMENT_BYTES} byte limit for a "
            "report; split the document or paste only the relevant part"
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    sample = data[:65536]
    if b"\x00" in sample:
        raise DocumentError(f"{name}: looks like a binary file (NUL bytes), not report text")
    ctrl = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    if sample and ctrl / len(sample) > 0.05:
        raise DocumentError(f"{name}: looks like a binary file (control bytes), not report text")
    for enc in ("utf-8", "cp1252"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def decode_document(data: bytes | str, *, name: str = "<document>") -> Document:
    """Decode a .txt/.md/.html report into a :class:`Document` of plain text.

    HTML is detected by content (or a ``.htm(l)`` name) and stripped with the
    standard-library parser; Markdown markup is removed from other text.
    """
    text = data if isinstance(data, str) else decode_bytes(data, name=name)
    if isinstance(data, str) and len(text) > MAX_DOCUMENT_BYTES:
        raise DocumentError(f"{name}: {len(text)} characters is over the report size limit")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    meta: dict[str, str] = {}
    if name.lower().endswith((".html", ".htm")) or looks_like_html(text):
        text, meta = strip_html(text)
    else:
        text = strip_markdown(html.unescape(text) if "&#" in text or "&amp;" in text else text)
    return Document(name=name, text=text, meta=meta)


# --------------------------------------------------------------------------- sentences
_ABBREV = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "gen",
    "col",
    "lt",
    "maj",
    "capt",
    "cpt",
    "sgt",
    "adm",
    "st",
    "jr",
    "sr",
    "approx",
    "ca",
    "c",
    "vs",
    "etc",
    "e.g",
    "i.e",
    "eg",
    "ie",
    "no",
    "nos",
    "fig",
    "figs",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "mon",
    "tue",
    "tues",
    "wed",
    "thu",
    "thur",
    "thurs",
    "fri",
    "sat",
    "sun",
    "km",
    "m",
    "ft",
    "est",
    "incl",
    "al",
    "u.s",
    "u.k",
    "u.n",
    "p",
    "pp",
    "vol",
    "gov",
    "sq",
    "mt",
    "cf",
    "resp",
    "dept",
    "govt",
    "corp",
    "inc",
    "ltd",
    "co",
    "a.m",
    "p.m",
}
_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*")


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the period at ``dot`` ends an abbreviation or initial, not a sentence."""
    m = re.search(r"(?<![\w\-])([A-Za-z][A-Za-z.]*)$", text[max(0, dot - 12) : dot])
    if not m:
        return False
    word = m.group(1).lower().rstrip(".")
    if word in _ABBREV:
        return True
    # single capital initial ("J. Smith") or dotted acronym ("U.S.", "U.A.E.")
    return bool(re.fullmatch(r"[a-z](\.[a-z])*", word)) and len(word) <= 5


def _is_ordinal_date(text: str, dot: int) -> bool:
    """True for the period of a German-style day ordinal: "5. Februar", "13. Dez."."""
    if not re.search(r"(?<!\d)\d{1,2}$", text[max(0, dot - 3) : dot]):
        return False
    m = re.match(r"\s+([^\W\d_]{3,12})", text[dot + 1 : dot + 16])
    if not m:
        return False
    return m.group(1).lower().rstrip(".") in month_names()


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Split plain text into sentences; returns ``(start, end)`` character offsets.

    Survives abbreviations ("Mr.", "approx.", "U.S.", "Dec. 13"), decimal
    numbers ("2.5"), designations ("An-124s") and blank-line paragraph breaks
    (a paragraph break always ends a sentence; a heading line is its own
    sentence). Linear in the text length.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    n = len(text)

    def push(a: int, b: int) -> None:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        while b - a > MAX_SENTENCE_CHARS:  # run-on text (tables, dumps): cut at a space
            cut = text.rfind(" ", a + 1, a + MAX_SENTENCE_CHARS)
            cut = cut if cut > a else a + MAX_SENTENCE_CHARS
            spans.append((a, cut))
            a = cut
            while a < b and text[a].isspace():
                a += 1
        if b > a:
            spans.append((a, b))

    i = 0
    while i < n:
        ch = text[i]
        if ch == "\n":
            # paragraph break: blank line, or a single newline after a line with no
            # final punctuation (heading / list item)
            j = i + 1
            while j < n and text[j] in " \t":
                j += 1
            blank = j < n and text[j] == "\n"
            prev = text[start:i].rstrip()
            if blank or (prev and prev[-1] not in ".!?,;:" and "\n" not in text[start:i]):
                push(start, i)
                start = i + 1
            i += 1
            continue
        if ch in ".!?":
            m = _END.match(text, i)
            end = m.end() if m else i + 1
            nxt = text[end : end + 2]
            if ch == "." and (
                (i + 1 < n and text[i + 1].isdigit())  # decimal 2.5 / 13.12.2024
                or _is_abbreviation(text, i)
                or _is_ordinal_date(text, i)
            ):
                # an abbreviation still ends the sentence when a capitalised word
                # follows that does not look like a name/number continuation; keep it
                # simple: only a paragraph break ends it
                i = end
                continue
            if end >= n or nxt[:1].isspace() or nxt[:1] in "\"'\u201c":
                push(start, end)
                start = end
            i = end
            continue
        i += 1
    push(start, n)
    return spans
