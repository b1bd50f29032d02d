"""Dates and date ranges in report sentences, resolved to inclusive UTC date windows.

Handles explicit dates ("13 December 2024", "December 13", "Dec. 13, 2024",
"2024-12-13", "13/12/2024", "13. Dezember 2024", "13 décembre"), partial dates
inheriting the year, ranges ("between 10 and 17 December", "10-17 Dec",
"from 10 December to 2 January"), parts of months ("mid-December",
"early December", "late Dec"), whole months ("in December 2024"), weekdays
("on Friday"), relative dates against the document's reference date
("yesterday", "last week", "three days ago") and dates anchored on the previous
date in the text ("two days earlier", "the week before", "the next day").

Month names in other languages come from ``dateparser``'s locale data. All
functions are pure; nothing is read from the clock.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

_EN_MONTHS = {
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "sept": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_LANGS = ("fr", "de", "es", "it", "pt", "ru", "nl", "tr", "ar", "uk", "pl")
_NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fourteen": 14,
    "several": 3,
    "a few": 3,
    "few": 3,
    "couple of": 2,
    "a couple of": 2,
}
_WEEKDAYS = {
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}


@lru_cache(maxsize=1)
def month_names() -> dict[str, int]:
    """Lower-case month name -> month number: English plus dateparser locales."""
    names = dict(_EN_MONTHS)
    try:
        from dateparser.languages.loader import LocaleDataLoader

        loader = LocaleDataLoader()
        keys = [calendar.month_name[i].lower() for i in range(1, 13)]
        for code in _LANGS:
            for loc in loader.get_locale_map(languages=[code]).values():
                for i, key in enumerate(keys, start=1):
                    for nm in loc.info.get(key, []):
                        low = nm.lower().rstrip(".")
                        if len(low) >= 4 and low not in names:
                            names[low] = i
    except (ImportError, KeyError, AttributeError):  # pragma: no cover - dateparser internals
        pass
    names.setdefault("mai", 5)
    return names


@lru_cache(maxsize=1)
def _patterns() -> dict[str, re.Pattern[str]]:
    # month names grouped by first letter behind a lookahead: the engine tries only
    # the names that can start at a position (hundreds of names over 12 languages)
    by_first: dict[str, list[str]] = {}
    for name in sorted(month_names(), key=len, reverse=True):
        by_first.setdefault(name[0], []).append(re.escape(name))
    mon = "|".join(
        f"(?=[{re.escape(k)}{re.escape(k.upper())}])(?:{'|'.join(v)})"
        for k, v in sorted(by_first.items())
    )
    M = rf"(?P<mon>{mon})\.?"
    M2 = rf"(?P<mon2>{mon})\.?"
    D = r"(?P<d1>\d{1,2})(?:st|nd|rd|th|er|e|\.)?"
    D2 = r"(?P<d2>\d{1,2})(?:st|nd|rd|th|er|e|\.)?"
    Y = r"(?:,?\s+(?P<y>(?:19|20)\d{2}))?"
    sep = r"\s*(?:-|\u2013|\u2014|to|and|until|till|through|thru|au|bis|al|y|et|und|и|по)\s*"
    W = r"(?<![\w\-])"
    E = r"(?![\w])"
    parts = (
        r"(?P<part>early|mid|late|the\s+end\s+of|end\s+of|the\s+beginning\s+of|beginning\s+of|"
        r"the\s+start\s+of|start\s+of|the\s+middle\s+of|middle\s+of|the\s+first\s+half\s+of|"
        r"first\s+half\s+of|the\s+second\s+half\s+of|second\s+half\s+of|"
        r"(?:the\s+)?(?:first|second|third|fourth|last|final)\s+week\s+of)"
    )
    flags = re.IGNORECASE
    return {
        "iso": re.compile(
            rf"{W}(?P<y>(?:19|20)\d{{2}})[-/.](?P<m>\d{{1,2}})[-/.](?P<d1>\d{{1,2}})"
            rf"(?:T[\d:.]+Z?)?{E}"
        ),
        "dmy_dash": re.compile(rf"{W}(?P<d1>\d{{1,2}})-{M}-(?P<y>(?:19|20)?\d{{2}}){E}", flags),
        "day_only": re.compile(
            r"(?<![\w\-])(?:on\s+|by\s+|since\s+)?the\s+(?P<d1>\d{1,2})(?:st|nd|rd|th)"
            r"(?!\s+(?:of\s+)?[A-Za-z\u00C0-\u024F]{3,}\.?\s*(?:\d|$))(?![\w])",
            flags,
        ),
        "num": re.compile(
            rf"{W}(?P<a>\d{{1,2}})[/.](?P<b>\d{{1,2}})[/.](?P<y>(?:19|20)?\d{{2}}){E}"
        ),
        "range_dm": re.compile(
            rf"{W}(?:(?P<pre>between|from)\s+)?(?:the\s+)?{D}{sep}(?:the\s+)?{D2}\s+(?:of\s+|de\s+)?{M}{Y}{E}",
            flags,
        ),
        "range_md": re.compile(rf"{W}(?:(?P<pre>between|from)\s+)?{M}\s+{D}{sep}{D2}{Y}{E}", flags),
        "part": re.compile(rf"{W}{parts}[\s\-]*{M}{Y}{E}", flags),
        "dm": re.compile(rf"{W}(?:the\s+)?{D}\s+(?:of\s+|de\s+)?{M}{Y}{E}", flags),
        "md": re.compile(rf"{W}{M}\s+{D}(?!\d){Y}{E}", flags),
        "month": re.compile(
            rf"{W}(?:(?P<pre>in|during|throughout|since|by|over|of|for)\s+)?{M2}(?:\s+(?P<y>(?:19|20)\d{{2}}))?{E}",
            flags,
        ),
        "weekday": re.compile(
            rf"{W}(?:(?P<pre>on|last|this|past|previous)\s+)?(?P<wd>monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?{E}",
            flags,
        ),
        "rel": re.compile(
            rf"{W}(?P<rel>today|yesterday|this\s+year|last\s+year|the\s+day\s+before\s+yesterday|last\s+week|this\s+week|"
            rf"past\s+week|the\s+past\s+week|last\s+month|this\s+month|earlier\s+this\s+month|"
            rf"(?:in\s+)?recent\s+days|(?:over\s+)?the\s+(?:past|last)\s+(?P<n1>\d{{1,2}}|two|three|four|five|six|seven|eight|nine|ten|fourteen|few)\s+days|"
            rf"over\s+the\s+weekend|last\s+weekend|"
            rf"(?P<n2>\d{{1,2}}|a|one|two|three|four|five|six|seven|eight|nine|ten|several|a\s+few)\s+(?P<unit>days?|weeks?)\s+ago){E}",
            flags,
        ),
        "anchored": re.compile(
            rf"{W}(?P<anc>(?P<n3>\d{{1,2}}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fourteen|several|a\s+few)\s+(?P<unit2>days?|weeks?)\s+(?P<dir>earlier|later|before|after|previously)|"
            rf"the\s+(?:previous|next|following)\s+(?P<unit3>day|week)|the\s+(?P<unit4>day|week)\s+(?P<dir2>before|after|earlier|later)|"
            rf"a\s+(?P<unit5>day|week)\s+(?P<dir3>earlier|later|before|after)){E}",
            flags,
        ),
    }


@dataclass(frozen=True)
class DateMention:
    """A date expression in a sentence with its inclusive date range.

    ``kind`` is ``point``, ``range``, ``since`` (open towards the reference
    date), ``by`` or ``relative``; ``start``/``end`` are character offsets.
    """

    start: int
    end: int
    first: date
    last: date
    kind: str
    text: str


def _num(word: str | None) -> int | None:
    if word is None:
        return None
    w = re.sub(r"\s+", " ", word.lower())
    if w.isdigit():
        return int(w)
    return _NUMBER_WORDS.get(w)


def _mk(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _year_for(m: int, d: int, *, default_year: int | None, reference: date | None) -> int | None:
    if default_year is None and reference is None:
        return None
    y = default_year if default_year is not None else reference.year  # type: ignore[union-attr]
    if reference is not None and y == reference.year:
        cand = _mk(y, m, min(d, 28))
        if cand is not None and cand > reference + timedelta(days=31):
            y -= 1
    return y


def _month_end(y: int, m: int) -> int:
    return calendar.monthrange(y, m)[1]


def _overlap(a: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(a[0] < e and s < a[1] for s, e in spans)


def find_dates(
    sentence: str,
    *,
    reference: date | None = None,
    default_year: int | None = None,
    anchor: date | None = None,
) -> list[DateMention]:
    """All date expressions in ``sentence`` resolved to inclusive date ranges.

    Parameters
    ----------
    sentence
        Plain text.
    reference
        The document's reference (publication) date; needed for relative
        dates ("yesterday", "on Friday") and year inference.
    default_year
        Year for partial dates ("December 13"); defaults to the reference year
        (moved one year back when the date would fall well after the reference).
    anchor
        The previous date in the text, for "two days earlier", "the week before".
    """
    pats = _patterns()
    months = month_names()
    out: list[DateMention] = []
    taken: list[tuple[int, int]] = []
    y: int | None

    def add(m: re.Match[str], first: date | None, last: date | None, kind: str) -> None:
        if first is None or last is None or last < first:
            return
        span = (m.start(), m.end())
        if _overlap(span, taken):
            return
        taken.append(span)
        out.append(DateMention(span[0], span[1], first, last, kind, m.group(0)))

    def year_of(m: re.Match[str], mon: int, day: int, key: str = "y") -> int | None:
        ys = m.groupdict().get(key)
        if ys:
            return int(ys)
        return _year_for(mon, day, default_year=default_year, reference=reference)

    for m in pats["iso"].finditer(sentence):
        d = _mk(int(m["y"]), int(m["m"]), int(m["d1"]))
        add(m, d, d, "point")
    for m in pats["dmy_dash"].finditer(sentence):
        mo2 = months.get(m["mon"].lower().rstrip("."))
        if mo2 is not None:
            ys2 = m["y"]
            d = _mk(int(ys2) + (2000 if len(ys2) == 2 else 0), mo2, int(m["d1"]))
            add(m, d, d, "point")
    for m in pats["num"].finditer(sentence):
        na, nb, ys = int(m["a"]), int(m["b"]), m["y"]
        y = int(ys) + (2000 if len(ys) == 2 else 0)
        day, mo = (na, nb) if nb <= 12 else (nb, na)  # day-first unless impossible
        d = _mk(y, mo, day)
        add(m, d, d, "point")
    for key in ("range_dm", "range_md"):
        for m in pats[key].finditer(sentence):
            mon = months.get(m["mon"].lower().rstrip("."))
            if mon is None:
                continue
            d1, d2 = int(m["d1"]), int(m["d2"])
            y = year_of(m, mon, d1)
            if y is None:
                continue
            add(m, _mk(y, mon, d1), _mk(y, mon, d2), "range")
    for m in pats["part"].finditer(sentence):
        mon = months.get(m["mon"].lower().rstrip("."))
        if mon is None:
            continue
        y = year_of(m, mon, 15)
        if y is None:
            continue
        part = re.sub(r"\s+", " ", m["part"].lower()).removeprefix("the ")
        mend = _month_end(y, mon)
        lo, hi = {
            "early": (1, 10),
            "mid": (11, 20),
            "late": (21, mend),
            "end of": (21, mend),
            "beginning of": (1, 10),
            "start of": (1, 10),
            "middle of": (11, 20),
            "first half of": (1, 15),
            "first week of": (1, 7),
            "second week of": (8, 14),
            "third week of": (15, 21),
            "fourth week of": (22, 28),
            "last week of": (mend - 6, mend),
            "final week of": (mend - 6, mend),
            "second half of": (16, mend),
        }.get(part, (1, mend))
        add(m, _mk(y, mon, lo), _mk(y, mon, hi), "range")
    singles: list[DateMention] = []
    for key in ("dm", "md"):
        for m in pats[key].finditer(sentence):
            mon = months.get(m["mon"].lower().rstrip("."))
            if mon is None:
                continue
            if m["mon"].lower() == "may" and not m["mon"][0].isupper():
                continue
            d1 = int(m["d1"])
            y = year_of(m, mon, d1)
            if y is None:
                continue
            before = len(out)
            add(m, _mk(y, mon, d1), _mk(y, mon, d1), "point")
            if len(out) > before:
                singles.append(out[-1])
    for m in pats["month"].finditer(sentence):
        word = m["mon2"]
        mon = months.get(word.lower().rstrip("."))
        if mon is None or not word[0].isupper() or (len(word) <= 4 and not m["pre"] and not m["y"]):
            continue  # bare "Mar"/"May" without context is not a date
        y = year_of(m, mon, 15)
        if y is None:
            continue
        kind = "since" if (m["pre"] or "").lower() == "since" else "range"
        add(m, _mk(y, mon, 1), _mk(y, mon, _month_end(y, mon)), kind)
    if reference is not None:
        for m in pats["weekday"].finditer(sentence):
            wd = _WEEKDAYS[m["wd"].lower()]
            pre = (m["pre"] or "").lower()
            back = (reference.weekday() - wd) % 7
            if pre in ("last", "previous") and back == 0:
                back = 7
            if pre == "this" and back == 0:
                back = 0
            d = reference - timedelta(days=back)
            add(m, d, d, "relative")
        for m in pats["rel"].finditer(sentence):
            rel = re.sub(r"\s+", " ", m["rel"].lower())
            ref = reference
            first: date | None = None
            last: date | None = None
            if rel == "today":
                first = last = ref
            elif rel == "yesterday":
                first = last = ref - timedelta(days=1)
            elif rel == "the day before yesterday":
                first = last = ref - timedelta(days=2)
            elif rel == "last week":
                monday = ref - timedelta(days=ref.weekday() + 7)
                first, last = monday, monday + timedelta(days=6)
            elif rel in ("this week",):
                first, last = ref - timedelta(days=ref.weekday()), ref
            elif rel in ("past week", "the past week"):
                first, last = ref - timedelta(days=7), ref
            elif rel == "this year":
                first, last = date(ref.year, 1, 1), ref
            elif rel == "last year":
                first, last = date(ref.year - 1, 1, 1), date(ref.year - 1, 12, 31)
            elif rel == "last month":
                lm = ref.replace(day=1) - timedelta(days=1)
                first, last = lm.replace(day=1), lm
            elif rel in ("this month", "earlier this month"):
                first, last = ref.replace(day=1), ref
            elif "recent days" in rel:
                first, last = ref - timedelta(days=7), ref
            elif "weekend" in rel:
                sat = ref - timedelta(days=(ref.weekday() - 5) % 7 or 7)
                first, last = sat, sat + timedelta(days=1)
            elif m["n1"]:
                n = _num(m["n1"])
                if n is not None:
                    first, last = ref - timedelta(days=n), ref
            elif m["n2"]:
                n = _num(m["n2"])
                if n is not None:
                    days = n * (7 if m["unit"].lower().startswith("week") else 1)
                    first = last = ref - timedelta(days=days)
            add(m, first, last, "relative")
    # ranges written as two full dates: "from 10 December to 2 January", "between X and Y"
    singles.sort(key=lambda x: x.start)
    for a, b in zip(singles, singles[1:], strict=False):
        gap = sentence[a.end : b.start]
        pre = sentence[max(0, a.start - 9) : a.start].lower()
        if re.fullmatch(r"\s*(?:-|\u2013|to|until|till|through|and)\s*", gap) and (
            gap.strip() in ("-", "\u2013") or re.search(r"(between|from)\s*$", pre)
        ):
            out.remove(a)
            out.remove(b)
            out.append(
                DateMention(
                    a.start,
                    b.end,
                    min(a.first, b.first),
                    max(a.last, b.last),
                    "range",
                    sentence[a.start : b.end],
                )
            )
    # "since X" / "by X" qualifiers on explicit dates
    fixed: list[DateMention] = []
    for dm in out:
        pre = sentence[max(0, dm.start - 12) : dm.start].lower()
        kind = dm.kind
        if re.search(r"\bsince\s*$", pre):
            kind = "since"
        elif re.search(r"\b(by|before|until|till)\s*$", pre) and kind == "point":
            kind = "by"
        fixed.append(DateMention(dm.start, dm.end, dm.first, dm.last, kind, dm.text))
    fixed.sort(key=lambda x: x.start)
    # dates anchored on the previous date ("two days earlier", "the week before")
    for m in pats["anchored"].finditer(sentence):
        if _overlap((m.start(), m.end()), [(x.start, x.end) for x in fixed]):
            continue
        prev = [x for x in fixed if x.end <= m.start()]
        base = prev[-1].first if prev else anchor
        if base is None:
            continue
        unit = (m["unit2"] or m["unit3"] or m["unit4"] or m["unit5"] or "day").lower()
        n = _num(m["n3"]) if m["n3"] else 1
        if n is None:
            continue
        direction = (m["dir"] or m["dir2"] or m["dir3"] or "").lower()
        text = m.group(0).lower()
        sign = -1 if (direction in ("earlier", "before", "previously") or "previous" in text) else 1
        step = timedelta(days=n * (7 if unit.startswith("week") else 1))
        d = base + sign * step
        fixed.append(DateMention(m.start(), m.end(), d, d, "anchored", m.group(0)))
    # "on the 15th": day of the month of the previous date
    for m in pats["day_only"].finditer(sentence):
        if _overlap((m.start(), m.end()), [(x.start, x.end) for x in fixed]):
            continue
        prev = [x for x in fixed if x.end <= m.start()]
        base = prev[-1].first if prev else anchor
        if base is None:
            continue
        d = _mk(base.year, base.month, int(m["d1"]))
        if d is not None:
            fixed.append(DateMention(m.start(), m.end(), d, d, "point", m.group(0)))
    fixed.sort(key=lambda x: x.start)
    return fixed


def window_from(
    mentions: list[DateMention], *, reference: date | None = None
) -> tuple[date, date] | None:
    """Inclusive window covering all mentions.

    ``since X`` runs to the latest other date, or to the reference date when
    there is none.
    """
    if not mentions:
        return None
    first = min(m.first for m in mentions)
    last = max(m.last for m in mentions)
    if any(m.kind == "since" for m in mentions) and last == max(
        m.last for m in mentions if m.kind == "since"
    ):
        if reference is not None and reference > last:
            last = reference
    return first, last


_REF_LINE = re.compile(
    r"(?:^|[\u2014\u2013|(,;:*_]\s*|\s-\s*)\W{0,3}"
    r"(?:first\s+)?(?:published|posted|updated|dated|date|as\s+of|written|report\s+date|"
    r"reference\s+date|issued|stand|datum|publi\u00e9\s+le|publicado|fecha)\s*(?:on)?\s*[:\-]?\s*(?P<rest>.{6,60})",
    re.IGNORECASE | re.MULTILINE,
)


def parse_reference_value(value: str) -> date | None:
    """Parse one metadata/CLI date value ("2024-12-16", "16 December 2024", ISO datetimes)."""
    v = value.strip()
    m = re.match(r"(\d{4}-\d{2}-\d{2})", v)
    if m:
        try:
            return date.fromisoformat(m.group(1))
        except ValueError:
            return None
    found = [x for x in find_dates(v) if x.kind in ("point", "by", "since")]
    if found:
        return found[0].first
    import dateparser

    dt = dateparser.parse(
        v, settings={"STRICT_PARSING": True, "REQUIRE_PARTS": ["day", "month", "year"]}
    )
    return dt.date() if isinstance(dt, datetime) else None


def find_reference_date(
    text: str, meta: Mapping[str, str] | None = None, *, heading_only: bool = False
) -> date | None:
    """The document's reference (publication) date, or ``None``.

    Looks at HTML metadata (``article:published_time``, ``date``, ``dc.date``,
    ``<time datetime>``), then "Published/Updated/Date: ..." lines in the first
    2,000 characters, then a line near the top that is only a full date.
    With ``heading_only`` it returns the first full date (with year) in a short
    line among the first three lines: a weaker guess, used only when neither
    the document nor the caller gives a date.
    """
    if heading_only:
        lines = [ln.strip() for ln in text[:1500].splitlines() if ln.strip()][:3]
        for line in lines:
            if len(line) <= 100:
                for dm in find_dates(line):
                    if dm.kind == "point" and re.search(r"(?:19|20)\d{2}", dm.text):
                        return dm.first
        return None
    for key in (
        "article:published_time",
        "date",
        "dc.date",
        "dcterms.date",
        "pubdate",
        "publish-date",
        "og:published_time",
        "datepublished",
        "time:datetime",
    ):
        if meta and key in meta:
            d = parse_reference_value(meta[key])
            if d is not None:
                return d
    head = text[:2000]
    for m in _REF_LINE.finditer(head):
        d = parse_reference_value(m["rest"])
        if d is not None:
            return d
    for line in head.splitlines()[:6]:
        s = line.strip(" #*_\t")
        if 6 <= len(s) <= 40:
            ds = find_dates(s)
            if len(ds) == 1 and ds[0].kind == "point" and len(ds[0].text) >= len(s) - 12:
                return ds[0].first
    return None
