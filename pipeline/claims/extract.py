"""Claim extraction: report text -> one :class:`~pipeline.model.Claim` per sentence.

Each sentence is kept (nothing is dropped); it is ``checkable`` when it names
(or refers back to) a resolvable site and an object or event that overhead
imagery could confirm or refute. Statements about intentions, talks or
comments are kept with ``checkable=False`` and a ``reason``.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from pipeline.claims.dates import find_dates, find_reference_date, window_from
from pipeline.claims.text import Document, split_sentences
from pipeline.claims.vocab import ObjectMention, class_matches, find_objects
from pipeline.model import Claim, ClaimObject, Event, Site, stable_id
from pipeline.objects import object_types
from pipeline.sites import SiteRegistry, default_registry, normalise_name

# --------------------------------------------------------------------------- sites
_ICAO_STOP = {
    "NATO",
    "TASS",
    "DPRK",
    "USSR",
    "RUSI",
    "NASA",
    "ESRI",
    "NOTE",
    "JPEG",
    "HTML",
    "UNSC",
    "ICAO",
    "IATA",
    "OSCE",
    "IAEA",
    "UNHCR",
    "EUCOM",
    "WION",
    "SDF",
    "USAF",
    "RAAF",
    "ROKAF",
}
_FIELD_WORDS = (
    r"(?:International\s+)?(?:Airport|Air\s*Base|Airbase|Air\s*Field|Airfield|Aerodrome|"
    r"Air\s+Station|Air\s+Force\s+Base|Naval\s+Air\s+Station|Naval\s+Base|Air\s+Strip|Airstrip)"
)
_FIELD_PHRASE = re.compile(
    rf"(?P<name>(?:[A-Z\u00C0-\u024F][\w'\u2019\-]*\s+){{1,4}})(?i:{_FIELD_WORDS})\b", re.UNICODE
)
_FIELD_OF = re.compile(
    r"\b(?:airport|air\s*base|airbase|airfield)\s+(?:of|at|in|near)\s+"
    r"(?P<name>[A-Z\u00C0-\u024F][\w'\u2019\-]*(?:\s+[A-Z\u00C0-\u024F][\w'\u2019\-]*){0,2})",
    re.IGNORECASE,
)
_BACKREF = re.compile(
    r"\b(?:there|the\s+(?:same\s+)?(?:[A-Za-z\-]+\s+){0,2}?(?:air\s?base|base|airfield|airport|"
    r"site|facility|port|"
    r"harbou?r|apron|runway|ramp|installation|field|location)|(?:its|this|that)\s+(?:apron|"
    r"runway|ramp|base|airfield|airport))\b",
    re.IGNORECASE,
)


def _fold(text: str) -> str:
    t = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in t if not unicodedata.combining(ch))


@lru_cache(maxsize=8)
def _alias_regex(registry: SiteRegistry) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """One case-insensitive alternation over all registry names (longest first)."""
    pairs: list[tuple[str, str]] = []
    for s in registry:
        for nm in (s.name, *s.aliases):
            words = re.findall(r"[A-Za-z0-9]+", _fold(nm))
            if words:
                pairs.append((r"[\s\-'\u2019]*".join(re.escape(w) for w in words), s.id))
    pairs.sort(key=lambda p: -len(p[0]))
    alts = "|".join(f"(?P<s{i}>{p})" for i, (p, _) in enumerate(pairs))
    rx = re.compile(rf"(?<![\w\-])(?:{alts})(?![\w])", re.IGNORECASE)
    return rx, tuple(sid for _, sid in pairs)


@lru_cache(maxsize=1)
def _airfield_names() -> dict[str, str]:
    """Normalised airport name -> ICAO code (airportsdata, read once)."""
    import airportsdata

    out: dict[str, str] = {}
    for code, rec in airportsdata.load("ICAO").items():
        key = normalise_name(rec["name"])
        if len(key) >= 4:
            out.setdefault(key, code)
    return out


@lru_cache(maxsize=1)
def _airfield_cities() -> dict[str, str]:
    """Normalised city -> ICAO code of its only airport with an IATA code.

    Cities with several such airports are left out, so "Tobruk airport"
    resolves but "London airport" or "Adana airport" (two airfields) do not.
    """
    import airportsdata

    seen: dict[str, list[str]] = {}
    for code, rec in airportsdata.load("ICAO").items():
        if rec.get("iata") and rec.get("city"):
            key = normalise_name(rec["city"])
            if len(key) >= 4:
                seen.setdefault(key, []).append(code)
    return {k: v[0] for k, v in seen.items() if len(v) == 1}


def find_sites(sentence: str, registry: SiteRegistry) -> list[tuple[int, Site]]:
    """Sites named in a sentence as ``(position, site)`` in text order.

    Registry names and aliases first (accent-insensitive), then ICAO codes
    written in capitals (in brackets, after "ICAO", or with an airfield word
    nearby), then "X airport / X air base / airport of X" phrases resolved
    against ``airportsdata`` by exact airport name.
    """
    folded = _fold(sentence)
    found: dict[str, tuple[int, Site]] = {}
    rx, ids = _alias_regex(registry)
    for m in rx.finditer(folded):
        sid = ids[int(str(m.lastgroup)[1:])]
        if sid not in found:
            found[sid] = (m.start(), registry.get(sid))
    words = re.findall(r"[A-Za-z]{2,}", sentence)
    shouting = bool(words) and sum(w.isupper() for w in words) > len(words) / 2
    for m in re.finditer(r"(?<![\w\-])([A-Z]{2}[A-Z0-9]{2})(?![\w\-])", sentence):
        code = m.group(1)
        if code in _ICAO_STOP or shouting:
            continue
        site = registry.find(code)
        if site is not None and site.id not in found:
            found[site.id] = (m.start(), site)
    names = _airfield_names()
    for rx in (_FIELD_PHRASE, _FIELD_OF):
        for m in rx.finditer(folded):
            words = m.group("name").split()
            for k in range(len(words)):
                phrase = " ".join(words[k:])
                if phrase.lower() in ("the", "at", "in", "of", "near", "from"):
                    continue
                key = normalise_name(phrase)
                if not key or len(key) < 3:
                    continue
                site = None
                if key in registry.aliases():
                    site = registry.get(registry.aliases()[key])
                elif key in names:
                    site = registry.find(names[key])
                elif key in _airfield_cities():
                    site = registry.find(_airfield_cities()[key])
                if site is not None:
                    if site.id not in found:
                        found[site.id] = (m.start(), site)
                    break
    return sorted(found.values(), key=lambda p: p[0])


# --------------------------------------------------------------------------- counts
#: number words of a few other languages (2-10), for counts in quoted or mixed text
_FOREIGN_NUM = {
    "deux": 2,
    "trois": 3,
    "quatre": 4,
    "cinq": 5,
    "sept": 7,
    "huit": 8,
    "neuf": 9,
    "dix": 10,
    "zwei": 2,
    "drei": 3,
    "vier": 4,
    "f\u00fcnf": 5,
    "sechs": 6,
    "sieben": 7,
    "acht": 8,
    "neun": 9,
    "zehn": 10,
    "dos": 2,
    "tres": 3,
    "cuatro": 4,
    "cinco": 5,
    "seis": 6,
    "siete": 7,
    "ocho": 8,
    "nueve": 9,
    "diez": 10,
}
_NUM = {
    **_FOREIGN_NUM,
    "zero": 0,
    "no": 0,
    "none": 0,
    "one": 1,
    "a": 1,
    "an": 1,
    "single": 1,
    "a single": 1,
    "two": 2,
    "both": 2,
    "a pair of": 2,
    "a couple of": 2,
    "pair of": 2,
    "couple of": 2,
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
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "a dozen": 12,
    "dozen": 12,
}
_VAGUE = {
    "several": (3, None),
    "a few": (2, None),
    "few": (2, None),
    "multiple": (2, None),
    "many": (3, None),
    "numerous": (3, None),
    "dozens of": (24, None),
    "a number of": (2, None),
    "some": (1, None),
}
_NUMWORD = (
    r"\d{1,3}\s?[x\u00d7]|\d{1,3}|(?:twenty|thirty|forty|fifty)[\s\-](?:one|two|three|four|five|six|seven|eight|nine)|a\s+single|single|a\s+pair\s+of|a\s+couple\s+of|a\s+dozen|dozens\s+of|a\s+few|"
    r"a\s+number\s+of|zero|none|no|one|two|three|four|five|six|seven|eight|nine|ten|eleven|"
    + "|".join(_FOREIGN_NUM)
    + r"|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|"
    r"fifty|both|several|few|multiple|many|numerous|some|an|a"
)
_QUAL = (
    r"at\s+least|no\s+fewer\s+than|no\s+less\s+than|not\s+less\s+than|more\s+than|over|"
    r"upwards\s+of|in\s+excess\s+of|at\s+most|no\s+more\s+than|not\s+more\s+than|up\s+to|"
    r"fewer\s+than|less\s+than|under|about|around|approximately|approx\.|roughly|some|"
    r"nearly|almost|an\s+estimated|estimated|exactly|only|just|as\s+many\s+as"
)
_ADJ = r"(?:(?!(?:and|or|with|at|on|in|near|were|was|is|are)\b)[A-Za-z][\w\-/]*,?\s+){0,3}?"
_COUNT_BEFORE = re.compile(
    rf"(?:(?P<between>between)\s+(?P<lo>{_NUMWORD})\s+(?:and|to|-)\s+(?P<hi>{_NUMWORD})|"
    rf"(?:(?P<q>{_QUAL})\s+)?(?P<n>{_NUMWORD})(?P<ormore>\s+or\s+(?:more|fewer|less))?)"
    rf"\s+(?:of\s+(?:the|these|those|its|their)\s+|of\s+)?{_ADJ}$",
    re.IGNORECASE,
)
_FROM_TO = re.compile(
    rf"\bfrom\s+(?P<a>{_NUMWORD})\s+(?:to|down\s+to|up\s+to)\s+(?P<b>{_NUMWORD})\b", re.IGNORECASE
)
_DELTA = re.compile(
    rf"\b(?P<d>{_NUMWORD})\s+(?P<dir>more|fewer|less)\s+than\s+(?:on\s+|in\s+|at\s+)?"
    r"(?:the\s+)?(?:week|day|month|before|previous|earlier|last|prior|a\s+week|\d)",
    re.IGNORECASE,
)


def _num_value(word: str) -> int | None:
    w = re.sub(r"(?<=\d)\s?[x\u00d7]$", "", re.sub(r"\s+", " ", word.strip().lower()))
    if w.isdigit():
        return int(w)
    tens = re.fullmatch(r"(twenty|thirty|forty|fifty)[\s\-](\w+)", w)
    if tens:
        unit = _NUM.get(tens.group(2))
        return _NUM[tens.group(1)] + unit if unit is not None else None
    return _NUM.get(w)


def count_range(
    qualifier: str | None, word: str, *, or_more: str | None = None
) -> tuple[int | None, int | None]:
    """Count range ``(min, max)`` for a number word and qualifier (None = unbounded)."""
    w = re.sub(r"(?<=\d)\s?[x\u00d7]$", "", re.sub(r"\s+", " ", word.strip().lower()))
    if w in _VAGUE and not qualifier:
        return _VAGUE[w]
    n = _num_value(w)
    if n is None:
        return (1, None)
    q = re.sub(r"\s+", " ", (qualifier or "").lower())
    if or_more:
        return (n, None) if "more" in or_more.lower() else (None, n)
    if w in ("a", "an", "some"):
        return (1, None)  # an article asserts presence, not an exact count
    if q in ("at least", "no fewer than", "no less than", "not less than"):
        return (n, None)
    if q in ("more than", "over", "upwards of", "in excess of"):
        return (n + 1, None)
    if q in ("at most", "no more than", "not more than", "up to", "as many as"):
        return (None, n)
    if q in ("fewer than", "less than", "under"):
        return (None, max(n - 1, 0))
    if q in (
        "about",
        "around",
        "approximately",
        "approx.",
        "roughly",
        "some",
        "an estimated",
        "estimated",
    ):
        return (max(0, min(n - 1, math.floor(0.8 * n))), max(n + 1, math.ceil(1.2 * n)))
    if q in ("nearly", "almost"):
        return (max(0, min(n - 1, math.floor(0.8 * n))), max(n - 1, 0))
    return (n, n)


def _count_for(
    sentence: str, obj: ObjectMention, floor: int
) -> tuple[int | None, int | None, bool]:
    """Count range for one object mention, and whether a count was stated."""
    prefix = sentence[max(floor, obj.start - 80) : obj.start]
    m = _COUNT_BEFORE.search(prefix)
    if m:
        if m.group("between"):
            lo, hi = _num_value(m.group("lo")), _num_value(m.group("hi"))
            if lo is not None and hi is not None:
                return min(lo, hi), max(lo, hi), True
        elif m.group("n"):
            n_word = m.group("n")
            lo2, hi2 = count_range(m.group("q"), n_word, or_more=m.group("ormore"))
            explicit = n_word.lower() not in ("a", "an", "some")
            return lo2, hi2, explicit
    return 1, None, False


# --------------------------------------------------------------------------- attributes/events
_NOSE_OPEN = re.compile(
    r"\b(?:noses?(?:\s+(?:cones?|sections?|doors?|visors?|ramps?))?|visors?)\s+(?:\w+\s+){0,2}?"
    r"(?:open(?:ed)?|raised|up|lifted|swung\s+up|hinged\s+up)\b|"
    r"\b(?:open(?:ed)?|raised|lifted)\s+(?:(?:their|its|the)\s+)?(?:nose|visor)|\bnose[-\s]up\b|"
    r"\bnoses?\s+(?:were\s+|was\s+)?open",
    re.IGNORECASE,
)
_NOSE_CLOSED = re.compile(
    r"\b(?:noses?(?:\s+(?:cones?|sections?|doors?|visors?))?|visors?)\s+(?:\w+\s+){0,2}?"
    r"(?:closed|shut|down|lowered)\b|\b(?:closed|lowered|shut)\s+(?:(?:their|its|the)\s+)?(?:nose|visor)",
    re.IGNORECASE,
)
_EVENTS: tuple[tuple[Event, re.Pattern[str]], ...] = (
    (
        "departure",
        re.compile(
            r"\b(?:left|depart(?:ed|ing|ure|s)?|fl(?:ew|own)\s+(?:out|away|off)|took\s+off|taken\s+off|"
            r"no\s+longer|gone|withdr[ae]wn?|withdrawal|pulled\s+out|evacuat\w+|relocated\s+from|"
            r"redeployed\s+from|moved\s+out|sailed\s+(?:out|away|from)|(?:have|has)\s+left|leaving|"
            r"vacated|disappeared)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "arrival",
        re.compile(
            r"\b(?:arriv(?:ed|al|als|ing|es)|landed|landing|flew\s+in(?:to)?|touched\s+down|"
            r"appeared|newly|returned|made\s+(?:a\s+)?stops?|stopped\s+(?:over|at)|stopovers?|"
            r"visited|called\s+at|deployed\s+to|redeployed\s+to|relocated\s+to|moved\s+(?:in|to)|"
            r"came\s+in|sailed\s+(?:in|into)|reached)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "increase",
        re.compile(
            r"\b(?:increas\w+|grew|grown|rose|risen|more\s+than\s+(?:the\s+)?(?:week|day|month|before|"
            r"previous|earlier)|build-?up|reinforc\w+|additional|doubled|tripled|up\s+from)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "decrease",
        re.compile(
            r"\b(?:decreas\w+|fell|fallen|drop|drops|dropped|declin\w+|reduc\w+|fewer\s+than\s+(?:the\s+)?"
            r"(?:week|day|month|before|previous|earlier)|thinned|down\s+from|drawdown|draw-down|"
            r"halved)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "activity",
        re.compile(
            r"\b(?:traffic|activit\w+|come\s+and\s+go|coming\s+and\s+going|operations|sorties|flights|movements?|(?:being\s+)?"
            r"(?:un)?load(?:ed|ing)|busy|construction|refuel\w*|taxi\w*|work\s+on)\b",
            re.IGNORECASE,
        ),
    ),
)
_MOVEMENT = re.compile(
    r"\b(?:depart\w*|left|arriv\w+|gone|landed|withdr\w+|moved|relocated|increas\w+|"
    r"decreas\w+|grew|fell|rose|dropped|no\s+longer|flew|flown)\b",
    re.IGNORECASE,
)
_OBSERVED = re.compile(
    r"\b(?:seen|observed|visible|spotted|parked|shows?|showed|shown|imaged|captured|"
    r"identified|counted|landed|arrived|departed|left|were\s+at|was\s+at)\b",
    re.IGNORECASE,
)
_PRESENCE = re.compile(
    r"\b(?:parked|seen|visible|present|at\s+berth|berthed|moored|stationed|based|sitting|"
    r"lined\s+up|remained|remain|observed|spotted|identified|counted)\b",
    re.IGNORECASE,
)
_ABSENCE = re.compile(
    r"\b(?:absent|empty|no\s+(?:\w+\s+){0,2}?(?:were|was|are|is)\s+(?:visible|seen|present|parked)|"
    r"(?:were|was|are|is)\s+not\s+(?:visible|seen|present|there)|missing|"
    r"none\s+(?:were|was|remained))\b",
    re.IGNORECASE,
)
_INTENT = re.compile(
    r"\b(?:plans?\s+to|planned\s+to|planning\s+to|intends?\s+to|intention|will\s+(?!be\s+seen)"
    r"\w+|would\s+\w+|could\s+\w+|might\s+\w+|may\s+(?:be\s+)?(?:send|deploy|move|leave|"
    r"withdraw|return|use|keep|seek)|expected\s+to|is\s+set\s+to|are\s+set\s+to|aims?\s+to|"
    r"threaten\w*|propos\w+|consider\w*\s+(?:sending|moving|withdrawing)|hopes?\s+to|"
    r"wants?\s+to|seeks?\s+to|negotiat\w+|talks\b|agreement|deal\b|expect(?:s|ed)?\b|"
    r"in\s+the\s+coming\s+(?:days|weeks|months)|next\s+(?:week|month|year))",
    re.IGNORECASE,
)
_SPEECH = re.compile(
    r"\b(?:comment\w*|said|says|stated|statement|announc\w+|denied|denies|claimed|spokes\w+|"
    r"minister\w*|officials?|diplomat\w*|told\s+reporters|press\s+conference|rumou?r\w*)\b",
    re.IGNORECASE,
)


def classify_event(sentence: str, objects: list[ClaimObject], *, has_delta: bool) -> Event:
    """Event of a sentence by keyword priority.

    Order: absence, departure, arrival, increase, decrease, activity, presence.
    """
    if objects and all(o.count_max == 0 for o in objects):
        return "absence"
    stated_positive = any(
        (o.count_min or 0) > 1 or (o.count_min == o.count_max and (o.count_min or 0) >= 1)
        for o in objects
    )
    if (
        _ABSENCE.search(sentence)
        and not stated_positive  # "largely empty, with just one frigate" is a count
        and not re.search(r"\bno\s+longer\b", sentence, re.IGNORECASE)
    ):
        return "absence"
    for ev, rx in _EVENTS:
        if rx.search(sentence):
            if ev == "activity" and (
                any(o.count_min and o.count_min > 1 for o in objects) or _PRESENCE.search(sentence)
            ):
                return "presence"
            return ev
    if has_delta:
        return "presence"  # direction decided from the before/after counts by the caller
    return "presence" if objects else "other"


# --------------------------------------------------------------------------- extraction
@dataclass(frozen=True)
class ExtractOptions:
    """Options for :func:`extract_claims`.

    ``reference_date`` is used when the document states none (publication
    date in a heading/metadata wins).
    """

    reference_date: date | None = None
    registry: SiteRegistry | None = None


def _sentence_objects(sentence: str, masked: str) -> tuple[list[ClaimObject], dict[str, object]]:
    """Objects of a sentence; ``masked`` is the sentence with date spans blanked out."""
    original = sentence
    sentence = masked
    mentions = find_objects(sentence)
    extra: dict[str, object] = {}
    objs: list[tuple[ObjectMention, ClaimObject, bool]] = []
    floor = 0
    for mn in mentions:
        lo, hi, explicit = _count_for(sentence, mn, floor)
        if not explicit and lo == 1 and hi is None and not mn.plural:
            pass
        attrs: dict[str, str] = {}
        if mn.role:
            attrs["role"] = mn.role
        objs.append((mn, ClaimObject(mn.cls, lo, hi, attrs), explicit))
        floor = mn.end
    # drop generic mentions already covered by a typed one ("transport traffic ... Il-76")
    types = object_types()
    typed = [o for _, o, _ in objs if o.cls in types]
    kept: list[tuple[ObjectMention, ClaimObject, bool]] = []
    for mn, o, explicit in objs:
        if (
            o.cls not in types
            and not explicit
            and any(class_matches(o.cls, o.attributes.get("role"), t.cls) for t in typed)
        ):
            continue
        kept.append((mn, o, explicit))
    # merge repeated mentions of one class (keep the first stated count)
    merged: dict[tuple[str, str | None], ClaimObject] = {}
    for _, o, _ in kept:
        key = (o.cls, o.attributes.get("role"))
        if key not in merged:
            merged[key] = o
    out = list(merged.values())
    # before/after counts and deltas
    ft = _FROM_TO.search(original)
    if ft and out:
        a, b = _num_value(ft.group("a")), _num_value(ft.group("b"))
        if a is not None and b is not None:
            o = out[0]
            out[0] = ClaimObject(o.cls, b, b, o.attributes)
            extra["count_before"] = a
    dm = _DELTA.search(original)
    if dm and out and "count_before" not in extra:
        d = _num_value(dm.group("d"))
        o = out[0]
        if d is not None and o.count_min is not None and o.count_min == o.count_max:
            before = o.count_min - d if dm.group("dir").lower() == "more" else o.count_min + d
            if before >= 0:
                extra["count_before"] = before
    # attributes: nose visor open/closed
    state = (
        "open"
        if _NOSE_OPEN.search(sentence)
        else "closed"
        if _NOSE_CLOSED.search(sentence)
        else None
    )
    if state:
        visor = [i for i, o in enumerate(out) if o.cls in types and types[o.cls].visor_nose]
        targets = visor or [i for i, o in enumerate(out) if o.cls in types][:1]
        for i in targets:
            o = out[i]
            out[i] = ClaimObject(
                o.cls, o.count_min, o.count_max, {**o.attributes, "nose_cone": state}
            )
    return out, extra


_CLAUSE_BREAK = re.compile(r"[;,]\s*|\s+(?:and|while|whereas|but|as\s+well\s+as)\s+", re.IGNORECASE)


def site_segments(sentence: str, sites: list[tuple[int, Site]]) -> list[tuple[int, int, Site]]:
    """Split a sentence naming several sites into one clause span per site.

    Each site's clause starts at the last clause break (comma, semicolon,
    "and", "while", "but") before its name and after the previous site's name.
    """
    cuts = [m.start() for m in _CLAUSE_BREAK.finditer(sentence)]
    out: list[tuple[int, int, Site]] = []
    starts: list[int] = []
    prev_pos = -1
    for k, (pos, _) in enumerate(sites):
        if k == 0:
            starts.append(0)
        else:
            cands = [c for c in cuts if prev_pos < c <= pos]
            starts.append(cands[-1] if cands else pos)
        prev_pos = pos
    for k, (_, site) in enumerate(sites):
        end = starts[k + 1] if k + 1 < len(starts) else len(sentence)
        out.append((starts[k], end, site))
    return out


def extract_claims(doc: Document, *, options: ExtractOptions | None = None) -> list[Claim]:
    """Claims of ``doc``: one per sentence (checkable or not, none dropped).

    A sentence naming several sites with objects for each ("two An-124 at
    Khmeimim and three Il-76 at Benina") gives one claim per site clause,
    all pointing at the same sentence. The reference date is the document's
    own (publication line or HTML metadata), else ``options.reference_date``,
    else a full date in the heading, else none (then relative dates stay
    unresolved). Ids are stable: a hash of the document text, the sentence
    offsets and the sentence (plus the site id for extra site clauses).
    """
    opts = options or ExtractOptions()
    registry = opts.registry or default_registry()
    text = doc.text
    reference = (
        find_reference_date(text, doc.meta)
        or opts.reference_date
        or find_reference_date(text, doc.meta, heading_only=True)
    )
    doc_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
    claims: list[Claim] = []
    last_site: Site | None = None
    last_window: tuple[date, date] | None = None
    last_date: date | None = None
    default_year: int | None = None
    prev_end = 0
    for start, end in split_sentences(text):
        sentence = text[start:end]
        if "\n\n" in text[prev_end:start]:
            last_window = None  # a new paragraph does not inherit the previous window
        prev_end = end
        years = re.findall(r"\b((?:19|20)\d{2})\b", sentence)
        last_date_before = last_date
        mentions = find_dates(
            sentence, reference=reference, default_year=default_year, anchor=last_date
        )
        if years:
            default_year = int(years[-1])
        base_window = window_from(mentions, reference=reference)
        base_extra: dict[str, object] = {}
        if mentions:
            base_extra["dates"] = [m.text for m in mentions]
            last_date = max(m.last for m in mentions)
        if reference is not None:
            base_extra["reference_date"] = reference.isoformat()
        sites = find_sites(sentence, registry)
        masked = sentence
        for dmn in mentions:
            masked = masked[: dmn.start] + " " * (dmn.end - dmn.start) + masked[dmn.end :]
        parts: list[tuple[int, int, Site | None]] = [
            (0, len(sentence), sites[0][1] if sites else None)
        ]
        if len(sites) > 1:
            segs = site_segments(sentence, sites)
            with_objects = [sg for sg in segs if find_objects(masked[sg[0] : sg[1]])]
            if len(with_objects) > 1:
                parts = [(a, b, st) for a, b, st in segs]
        sentence_claims: list[Claim] = []
        for a, b, seg_site in parts:
            seg_text = sentence[a:b]
            extra = dict(base_extra)
            window = base_window
            site = seg_site
            if len(parts) > 1:
                extra["clause"] = seg_text.strip(" ,;")
            if site is None and last_site is not None and _BACKREF.search(sentence):
                site = last_site
                extra["site_from"] = "previous sentence"
            objects, obj_extra = _sentence_objects(seg_text, masked[a:b])
            extra.update(obj_extra)
            if site is None and last_site is not None and objects:
                # reports discuss one site over several sentences: keep the context site
                site = last_site
                extra["site_from"] = "document context"
            if (
                mentions
                and all(m.kind in ("by", "anchored") for m in mentions)
                and window is not None
                and _MOVEMENT.search(sentence)
                and last_date_before is not None
                and last_date_before < window[0]
            ):
                # "by 15 December X had left": from the last stated date up to 15 December
                window = (last_date_before, window[1])
            ev_text = seg_text if len(parts) > 1 and _has_event_word(seg_text) else sentence
            event = classify_event(ev_text, objects, has_delta="count_before" in obj_extra)
            if "count_before" in obj_extra and event in (
                "presence",
                "increase",
                "decrease",
                "activity",
                "other",
            ):
                before = int(obj_extra["count_before"])  # type: ignore[call-overload]
                now = objects[0].count_min or 0
                event = "increase" if now > before else "decrease" if now < before else event
            if (
                event in ("increase", "decrease")
                and window is not None
                and len({(m.first, m.last) for m in mentions}) == 1
                and last_date_before is not None
            ):
                # a trend compares two times; with one date stated, the other is the
                # previous date in the text ("Compared with 20 February, ... doubled")
                window = (min(window[0], last_date_before), max(window[1], last_date_before))
            if (
                window is None
                and objects
                and last_window is not None
                and (site is None or site == last_site)
            ):
                window = last_window
                extra["window_from"] = "previous sentence"
            reason = _uncheckable_reason(sentence, objects, event, site)
            if reason is not None:
                extra["reason"] = reason
            if len(sites) > 1:
                extra["sites"] = [st.id for _, st in sites]
            cid = (
                stable_id(doc_hash, start, end, sentence)
                if not sentence_claims
                else stable_id(doc_hash, start, end, sentence, site.id if site else a)
            )
            sentence_claims.append(
                Claim(
                    id=cid,
                    document=doc.name,
                    sentence=sentence,
                    char_start=start,
                    char_end=end,
                    checkable=reason is None,
                    site=site,
                    window=window,
                    event=event,
                    objects=tuple(objects),
                    extra=extra,
                )
            )
        claims.extend(sentence_claims)
        if sites:
            last_site = sites[-1][1]
        elif sentence_claims[-1].site is not None:
            last_site = sentence_claims[-1].site
        if sentence_claims[-1].window is not None:
            last_window = sentence_claims[-1].window
    return claims


def _has_event_word(text: str) -> bool:
    return (
        any(rx.search(text) for _, rx in _EVENTS)
        or bool(_ABSENCE.search(text))
        or bool(_PRESENCE.search(text))
    )


def _uncheckable_reason(
    sentence: str, objects: list[ClaimObject], event: Event, site: Site | None
) -> str | None:
    """Why a sentence cannot be checked against imagery, or ``None`` when it can."""
    if len(re.findall(r"[^\W\d_]{2,}", sentence)) < 4:
        return "heading or fragment, not a statement"
    if _SPEECH.search(sentence) and not objects:
        return "statement about talks, comments or intentions, not something imagery shows"
    if _INTENT.search(sentence) and not (objects and _OBSERVED.search(sentence)):
        if objects:
            return "intention, speculation or negotiation, not an observation"
        return "statement about talks, comments or intentions, not something imagery shows"
    if not objects and event != "activity":
        return "no observable object or event"
    if site is None:
        return "no resolvable site"
    return None
