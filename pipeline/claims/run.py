"""Run functions (file I/O at the edges) behind ``sitewatch claims`` and ``sitewatch link``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from pipeline import PIPELINE_VERSION
from pipeline.claims.extract import ExtractOptions, extract_claims
from pipeline.claims.ledger import build_ledger, claims_json
from pipeline.claims.link import link_claims
from pipeline.claims.text import Document, decode_document
from pipeline.io.atomic import write_text_atomic
from pipeline.io.run_store import (
    load_run,
    read_claims_json,
    read_document,
    write_claims,
    write_evidence,
)
from pipeline.model import Claim


def claims_from_file(
    path: str | os.PathLike[str], *, reference_date: date | None = None
) -> tuple[Document, list[Claim]]:
    """Read a .txt/.md/.html report and extract its claims."""
    p = Path(path)
    doc = decode_document(read_document(p), name=p.name)
    return doc, extract_claims(doc, options=ExtractOptions(reference_date=reference_date))


def _is_claims_json(path: Path) -> bool:
    if path.suffix.lower() != ".json":
        return False
    try:
        head = path.read_text("utf-8")[:200].lstrip()
    except (OSError, UnicodeDecodeError):
        return False
    return head.startswith(("[", "{"))


@dataclass(frozen=True)
class LinkOutputs:
    """Paths written by :func:`link_run` and the verdict summary."""

    claims: Path
    evidence: Path
    report: Path
    summary: dict[str, int]


def link_run(
    claims_file: str | os.PathLike[str],
    run_dir: str | os.PathLike[str],
    *,
    tolerance_days: int = 1,
    reference_date: date | None = None,
    now: datetime | None = None,
) -> LinkOutputs:
    """Build ``claims.json``, ``evidence.json`` and ``report.html`` in ``run_dir``.

    ``claims_file`` is a report text (.txt/.md/.html) or an extracted claims
    JSON. Re-running overwrites the three files atomically (no duplicates).
    """
    from pipeline.report.build import render_run_report

    cpath, rdir = Path(claims_file), Path(run_dir)
    text: str | None = None
    if _is_claims_json(cpath):
        claims = read_claims_json(cpath)
    else:
        doc, claims = claims_from_file(cpath, reference_date=reference_date)
        text = doc.text
    run = load_run(rdir)
    links = link_claims(claims, run, tolerance_days=tolerance_days)
    when = now or datetime.now(UTC)
    ledger = build_ledger(
        claims,
        links,
        generated_at=when,
        extra={"document": cpath.name, "tolerance_days": tolerance_days},
    )
    claims_json(claims)  # validates each claim
    out_claims = write_claims(rdir / "claims.json", claims)
    out_ev = write_evidence(rdir / "evidence.json", ledger)
    page = render_run_report(
        claims,
        links,
        run,
        document_text=text,
        generated_at=ledger["generated_at"],
        pipeline_version=PIPELINE_VERSION,
        title=f"sitewatch: {cpath.name}",
    )
    out_html = write_text_atomic(rdir / "report.html", page)
    return LinkOutputs(out_claims, out_ev, out_html, dict(ledger["summary"]))


def claims_to_json_text(claims: list[Claim]) -> str:
    """Schema-validated JSON array text of the claims."""
    return json.dumps(claims_json(claims), indent=2, ensure_ascii=False)
