"""Object vocabulary for report text, built from the object-type table.

Every canonical type in :func:`pipeline.objects.object_types` is matched by its
designation (with or without hyphen/space: "An-124", "An124", "AN 124"),
aliases (manufacturer names "Antonov An-124", nicknames "Ruslan"), NATO
reporting name ("Condor") and plurals ("An-124s", "An-124's"). Generic
classes (aircraft, helicopter, vehicle, vessel, warship) come from common nouns,
with a ``role`` attribute where the noun says one ("cargo aircraft" ->
``aircraft`` with ``role=transport``).

Class hierarchy used by the linker: a canonical type belongs to its category
(``aircraft``, ``helicopter``, ``vehicle``, ``vessel``) and to a role group
(``transport``, ``combat``, ``warship``...) derived from the table's role.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from pipeline.objects import object_types

GENERIC_CLASSES = ("aircraft", "helicopter", "vehicle", "vessel", "warship")

#: role text in the type table -> role group used in claims ("cargo aircraft")
_ROLE_GROUPS = {
    "strategic airlifter": "transport",
    "heavy transport": "transport",
    "tactical airlifter": "transport",
    "tactical transport": "transport",
    "airliner/freighter": "transport",
    "airliner": "transport",
    "strategic bomber": "combat",
    "bomber": "combat",
    "strike": "combat",
    "strike fighter": "combat",
    "fighter": "combat",
    "interceptor": "combat",
    "attack": "combat",
    "surface combatant": "warship",
    "amphibious": "warship",
    "submarine": "warship",
    "patrol": "warship",
}

#: names in the table that are also ordinary words: matched only when written
#: capitalised AND next to an object noun or designation ("Candid transports").
_AMBIGUOUS = {
    "bear",
    "cub",
    "curl",
    "hip",
    "halo",
    "coot",
    "classic",
    "careless",
    "atlas",
    "jumbo",
    "candid",
    "cock",
    "backfire",
    "alligator",
    "havoc",
    "hind",
    "galaxy",
    "kilo",
    "ural",
    "technical",
    "condor",
    "grach",
    "antheus",
    "mainstay",
    "fencer",
    "foxhound",
    "fulcrum",
    "frogfoot",
    "fullback",
    "blackjack",
    "coaler",
    "krivak",
    "hercules",
    "corvette",
}

# generic nouns: regex -> (class, role or None); "anti-aircraft" is excluded
_GENERIC_NOUNS: tuple[tuple[str, str, str | None], ...] = (
    (
        r"(?:cargo|transport|freight|airlift)\s+(?:aircraft|air\s?planes?|planes?|jets?)",
        "aircraft",
        "transport",
    ),
    (
        r"(?:military\s+)?transports?|airlifters?|cargo\s+flights?|freighters?\s+aircraft",
        "aircraft",
        "transport",
    ),
    (
        r"(?:fighter|combat|strike|attack)\s+(?:aircraft|jets?|planes?)|fighters?|fighter-bombers?|bombers?|warplanes?|combat\s+jets?",
        "aircraft",
        "combat",
    ),
    (r"drones?|UAVs?|unmanned\s+aerial\s+vehicles?|UCAVs?", "aircraft", "uav"),
    (r"aircraft|air\s?planes?|aeroplanes?|planes?|jets?|airliners?", "aircraft", None),
    (
        r"(?:attack\s+|transport\s+)?helicopters?|helos?|choppers?|rotorcraft|gunships?",
        "helicopter",
        None,
    ),
    (r"(?:military\s+|armou?red\s+)?vehicles?|trucks?|lorries|convoys?", "vehicle", None),
    (r"warships?|naval\s+vessels?|combat\s+ships?|frigates?", "warship", None),
    (r"(?:cargo\s+|supply\s+)?(?:ships?|vessels?|boats?)", "vessel", None),
)


@dataclass(frozen=True)
class ObjectMention:
    """One object noun found in text: canonical class, optional role, span."""

    cls: str
    role: str | None
    start: int
    end: int
    text: str
    plural: bool


def role_group(cls: str) -> str | None:
    """Role group of a canonical type (``transport``, ``combat``, ``warship``) or None."""
    t = object_types().get(cls)
    return _ROLE_GROUPS.get(t.role) if t else None


def category_of(cls: str) -> str:
    """Category of a class: the table's category for a type, else the generic class itself.

    ``warship`` is a kind of ``vessel``.
    """
    t = object_types().get(cls)
    if t:
        return t.category
    return "vessel" if cls == "warship" else cls


def class_matches(claim_cls: str, claim_role: str | None, detected_cls: str) -> bool:
    """Hierarchical class match of a detected class against a claimed class.

    * a specific type claim ("An-124") matches only that type;
    * a generic claim ("aircraft") matches its generic class and every typed
      class of that category; with a role ("cargo aircraft") typed detections
      must have that role group, while generic detections of the category still
      count (they cannot be told apart);
    * ``vessel`` includes ``warship``; ``warship`` matches warship-role types.
    """
    types = object_types()
    if claim_cls in types:
        return detected_cls == claim_cls
    det_cat = category_of(detected_cls)
    if claim_cls == "warship":
        return detected_cls == "warship" or role_group(detected_cls) == "warship"
    if det_cat != claim_cls and detected_cls != claim_cls:
        return False
    if claim_role and detected_cls in types:
        return role_group(detected_cls) == claim_role
    return True


def _designation_pattern(name: str) -> str:
    """Regex for a designation allowing hyphen/space/no separator between letters and digits."""
    parts = re.findall(r"[A-Za-z]+|\d+|[^A-Za-z\d]+", name)
    out = []
    prev_kind = ""
    for p in parts:
        kind = "a" if p.isalpha() else "d" if p.isdigit() else "s"
        if kind == "s":
            out.append(r"[\s\-\u2011\u2010]?" if p.strip() in ("-", "") else re.escape(p))
        else:
            if prev_kind and prev_kind != "s" and prev_kind != kind:
                out.append(r"[\s\-\u2011\u2010]?")
            out.append(re.escape(p))
        prev_kind = kind
    return "".join(out)


#: Variant letters written straight after a designation: "Su-24M", "MiG-31BM", "A-50U",
#: "Mi-8AMTSh", "Su-25SM3". Capitals (and the "Sh" of Russian designations) only, so a
#: plural "s" ("Su-34s") stays a plural; digits alone only after a designation that ends
#: in a letter ("Tu-22M3"), so "An-225" is no An-22 and "C-54" no C-5.
_VARIANT_SUFFIX = r"(?:(?:[A-Z]|Sh){1,4}\d{0,2})?"
_VARIANT_DIGITS = r"\d{0,2}"


@lru_cache(maxsize=1)
def _type_regex() -> tuple[re.Pattern[str], tuple[tuple[str, bool], ...]]:
    """One alternation over every type name (longest first) and, per group, (class, ambiguous).

    Ambiguous names (ordinary words) are matched case-sensitively, all others
    case-insensitively (scoped inline flags). At each position the longest
    listed name wins, so "Antonov An-124" beats "An-124".
    """
    entries: list[tuple[str, str, bool, bool]] = []
    for t in object_types().values():
        names = {t.name, *t.aliases}
        if t.nato_name:
            names.add(t.nato_name)
        for nm in names:
            ambiguous = nm.lower() in _AMBIGUOUS
            designation = any(ch.isdigit() for ch in nm)
            if designation:
                pat = _designation_pattern(nm)
            else:
                pat = r"\s+".join(re.escape(w) for w in nm.split())
            entries.append((pat, t.name, ambiguous, designation))
    entries.sort(key=lambda e: -len(e[0]))
    # group alternatives by first character behind a one-character lookahead, so the
    # engine tries only the few names that can start at each position
    by_first: dict[str, list[str]] = {}
    for i, (pat, _, amb, designation) in enumerate(entries):
        first = pat.lstrip("\\")[0].lower()
        # a designation may carry a variant suffix (case-sensitive, outside (?i:))
        tail = ""
        if designation:
            tail = _VARIANT_DIGITS + _VARIANT_SUFFIX if pat[-1].isalpha() else _VARIANT_SUFFIX
        alt = f"(?P<t{i}>{pat}{tail})" if amb else f"(?P<t{i}>(?i:{pat}){tail})"
        by_first.setdefault(first, []).append(alt)
    groups = [
        f"(?=[{re.escape(k)}{re.escape(k.upper())}])(?:{'|'.join(v)})"
        for k, v in sorted(by_first.items())
    ]
    rx = re.compile(
        r"(?<![\w\-])(?:" + "|".join(groups) + r")(?P<pl>(?i:s|es|'s|\u2019s))?(?![\w])"
    )
    return rx, tuple((cls, amb) for _, cls, amb, _ in entries)


_GENERIC_RE = re.compile(
    r"(?<![\w\-])(?:"
    + "|".join(f"(?P<g{i}>{p})" for i, (p, _, _) in enumerate(_GENERIC_NOUNS))
    + r")(?![\w\-])",
    re.IGNORECASE,
)
_CONTEXT_NOUN = re.compile(
    r"^[\s\"'\u201d)]*(?:[\w\-]+\s+){0,1}(?:aircraft|planes?|jets?|transports?|bombers?|"
    r"fighters?|helicopters?|trucks?|ships?|vessels?|submarines?|airlifters?|class)\b",
    re.IGNORECASE,
)


_ABSORB_GAP = re.compile(
    r"[\s\-]*(?:(?:[A-Za-z\-]+\s+){0,2}|(?:including|such as|like|notably|namely|e\.g\.)\s*)",
    re.IGNORECASE,
)
_NUMBERISH = re.compile(
    r"\d|\b(?:and|or|one|two|three|four|five|six|seven|eight|nine|ten|several|few|many|"
    r"near|beside|alongside|with|at|on|in|by|was|were|is|are|no)\b",
    re.IGNORECASE,
)


def _overlaps(a: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(a[0] < e and s < a[1] for s, e in spans)


def find_objects(sentence: str) -> list[ObjectMention]:
    """All object mentions in a sentence, in text order, typed ones absorbing nearby nouns.

    A generic noun right after (or right before) a typed designation in the
    same noun phrase ("An-124 heavy transport aircraft", "cargo aircraft
    including Il-76s") is absorbed into the typed mention.
    """
    found: list[ObjectMention] = []
    taken: list[tuple[int, int]] = []
    rx, meta = _type_regex()
    for m in rx.finditer(sentence):
        key = next(k for k, v in m.groupdict().items() if v is not None and k != "pl")
        cls, amb = meta[int(key[1:])]
        span = (m.start(), m.end())
        if amb:
            before = sentence[max(0, span[0] - 20) : span[0]]
            after = sentence[span[1] :]
            quoted = before.rstrip().endswith(('"', "'", "\u201c", "\u2018"))
            designated = bool(re.search(r"[A-Za-z]{1,3}-?\d+\w*\s*$", before))
            if not (quoted or designated or _CONTEXT_NOUN.match(after)):
                continue
        # bare "747" next to a unit word is a number, not a type
        if cls == "747" and re.match(r"\s*(m|km|metres|meters|ft|feet)\b", sentence[span[1] :]):
            continue
        taken.append(span)
        found.append(ObjectMention(cls, None, span[0], span[1], m.group(0), bool(m.group("pl"))))
    found.sort(key=lambda o: o.start)
    merged: list[ObjectMention] = []
    for o in found:
        if (
            merged
            and merged[-1].cls != o.cls
            and o.text.islower()
            and not any(ch.isdigit() for ch in o.text)
            and _ABSORB_GAP.fullmatch(sentence[merged[-1].end : o.start])
            and not _NUMBERISH.search(sentence[merged[-1].end : o.start])
        ):
            # "Il-76 freighters", "An-26 lorry"? a common noun right after a type is its
            # head noun, not a second object
            p = merged.pop()
            o = ObjectMention(
                p.cls, None, p.start, o.end, sentence[p.start : o.end], p.plural or o.plural
            )
        elif merged and merged[-1].cls == o.cls:
            gap = sentence[merged[-1].end : o.start]
            if _ABSORB_GAP.fullmatch(gap) and not _NUMBERISH.search(gap):
                p = merged.pop()
                o = ObjectMention(
                    o.cls, None, p.start, o.end, sentence[p.start : o.end], p.plural or o.plural
                )
        merged.append(o)
    found = merged
    generics: list[ObjectMention] = []
    for m in _GENERIC_RE.finditer(sentence):
        span = (m.start(), m.end())
        if _overlaps(span, taken):
            continue
        idx = next(i for i, g in enumerate(m.groups()) if g is not None)
        _, cls, role = _GENERIC_NOUNS[idx]
        word = m.group(0).lower()
        plural = bool(re.search(r"(s|ies|craft)$", word)) and not word.endswith(("ss", "aircraft"))
        if word.endswith("aircraft"):
            plural = False
        if word in ("truck", "trucks", "lorries"):
            cls = "truck"
        generics.append(ObjectMention(cls, role, span[0], span[1], m.group(0), plural))
    kept: list[ObjectMention] = []
    for g in generics:
        absorbed = False
        for t in found:
            if category_of(t.cls) != category_of(g.cls) and not (
                g.cls == "warship" and category_of(t.cls) == "vessel"
            ):
                continue
            gap = sentence[t.end : g.start] if t.end <= g.start else sentence[g.end : t.start]
            if _ABSORB_GAP.fullmatch(gap) and not _NUMBERISH.search(gap):
                absorbed = True
                break
        if not absorbed:
            kept.append(g)
    return sorted(found + kept, key=lambda o: o.start)
