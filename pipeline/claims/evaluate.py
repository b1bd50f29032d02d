"""Extraction precision/recall per field against labelled texts.

A label file ``<name>.expected.json`` sits beside each text ``<name>.txt|.md|.html``::

    {"reference_date": "2024-12-16" | null,
     "claims": [{"sentence_contains": "...", "checkable": true, "site": "benina",
                 "window": ["2024-12-13", "2024-12-13"], "event": "presence",
                 "objects": [{"class": "An-124", "count_min": 2, "count_max": null,
                              "attributes": {"nose_cone": "open"}}]}]}

Every sentence should be labelled; predicted claims matching no label count
as false positives for ``checkable``. Fields: checkable, site, window, event
(single values, scored on labelled checkable sentences), class, count range,
attribute (sets of tuples per claim).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pipeline.errors import DocumentError
from pipeline.model import Claim

FIELDS = ("checkable", "site", "window", "event", "class", "count", "attribute")


@dataclass
class FieldScore:
    """True positives, predicted and expected totals for one field."""

    tp: int = 0
    predicted: int = 0
    expected: int = 0

    @property
    def precision(self) -> float:
        """Tp / predicted (1.0 when nothing was predicted and nothing expected)."""
        return self.tp / self.predicted if self.predicted else float(self.expected == 0)

    @property
    def recall(self) -> float:
        """Tp / expected (1.0 when nothing was expected)."""
        return self.tp / self.expected if self.expected else 1.0


@dataclass
class EvalTable:
    """Scores per field, overall and per document."""

    overall: dict[str, FieldScore] = field(
        default_factory=lambda: {f: FieldScore() for f in FIELDS}
    )
    per_doc: dict[str, dict[str, FieldScore]] = field(default_factory=dict)


def _obj_sets(objs: Iterable[Mapping[str, Any]]) -> tuple[set[Any], set[Any], set[Any]]:
    cls, cnt, att = set(), set(), set()
    for o in objs:
        c = o["class"]
        cls.add(c)
        cnt.add((c, o.get("count_min"), o.get("count_max")))
        for k, v in (o.get("attributes") or {}).items():
            if k != "role":
                att.add((c, k, v))
    return cls, cnt, att


def score_document(claims: Sequence[Claim], expected: Mapping[str, Any]) -> dict[str, FieldScore]:
    """Field scores of one document's predicted claims against its labels."""
    scores = {f: FieldScore() for f in FIELDS}
    used: set[str] = set()
    for lab in expected["claims"]:
        needle = lab["sentence_contains"]
        pred = next((c for c in claims if needle in c.sentence and c.id not in used), None)
        if pred is not None:
            used.add(pred.id)
        exp_check = bool(lab["checkable"])
        p_check = bool(pred and pred.checkable)
        s = scores["checkable"]
        s.expected += exp_check
        s.predicted += p_check
        s.tp += exp_check and p_check
        if not exp_check:
            continue
        pd = pred.to_dict() if pred is not None else None
        singles = {
            "site": (lab.get("site"), (pd["site"] or {}).get("id") if pd and pd["site"] else None),
            "window": (
                tuple(lab["window"]) if lab.get("window") else None,
                (pd["window"]["start"], pd["window"]["end"]) if pd and pd["window"] else None,
            ),
            "event": (lab.get("event"), pd["event"] if pd else None),
        }
        for f, (e, p) in singles.items():
            s = scores[f]
            s.expected += e is not None
            s.predicted += p is not None and bool(pred and pred.checkable)
            s.tp += e is not None and e == p and bool(pred and pred.checkable)
        ec, en, ea = _obj_sets(lab.get("objects", []))
        pc, pn, pa = _obj_sets(pd["objects"] if pd and pred and pred.checkable else [])
        for f, e2, p2 in (("class", ec, pc), ("count", en, pn), ("attribute", ea, pa)):
            s = scores[f]
            s.expected += len(e2)
            s.predicted += len(p2)
            s.tp += len(e2 & p2)
    for c in claims:
        if c.id not in used and c.checkable:
            scores["checkable"].predicted += 1
    return scores


def evaluate_folder(folder: str | Path) -> EvalTable:
    """Extract claims from every labelled text in ``folder`` and score them."""
    from pipeline.claims.run import claims_from_file

    root = Path(folder)
    labels = sorted(root.glob("*.expected.json"))
    if not labels:
        raise DocumentError(f"{root}: no *.expected.json label files")
    table = EvalTable()
    for lab_path in labels:
        stem = lab_path.name.removesuffix(".expected.json")
        lab = json.loads(lab_path.read_text("utf-8"))
        if lab.get("text"):
            texts = [(root / lab["text"]).resolve()]
        else:
            texts = [p for p in root.glob(stem + ".*") if not p.name.endswith(".expected.json")]
        if not texts or not texts[0].is_file():
            raise DocumentError(f"{lab_path}: no text file {stem}.* beside it")
        ref = lab.get("reference_date")
        _, claims = claims_from_file(
            texts[0], reference_date=date.fromisoformat(ref) if ref else None
        )
        doc_scores = score_document(claims, lab)
        table.per_doc[texts[0].name] = doc_scores
        for f, s in doc_scores.items():
            o = table.overall[f]
            o.tp += s.tp
            o.predicted += s.predicted
            o.expected += s.expected
    return table


def format_table(table: EvalTable) -> str:
    """Plain-text table: overall precision/recall per field, then per-document recall."""
    lines = [f"{'field':<10} {'precision':>9} {'recall':>7} {'tp':>4} {'pred':>5} {'exp':>5}"]
    for f in FIELDS:
        s = table.overall[f]
        lines.append(
            f"{f:<10} {s.precision:>9.2f} {s.recall:>7.2f} {s.tp:>4} {s.predicted:>5} "
            f"{s.expected:>5}"
        )
    lines.append("")
    lines.append("per document (precision/recall): " + " ".join(FIELDS))
    for doc, sc in table.per_doc.items():
        cells = " ".join(f"{sc[f].precision:.2f}/{sc[f].recall:.2f}" for f in FIELDS)
        lines.append(f"{doc:<28} {cells}")
    return "\n".join(lines)
