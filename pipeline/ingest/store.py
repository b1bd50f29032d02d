"""Save and load an :class:`IngestReport` as ``<run>/tiles.json`` (atomic write)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pipeline.errors import CatalogError, TileReadError
from pipeline.ingest.config import IngestReport
from pipeline.io.atomic import write_json_atomic


def write_report(report: IngestReport, path: str | os.PathLike[str]) -> Path:
    """Write ``report.to_dict()`` as JSON to ``path`` atomically; returns the path."""
    return write_json_atomic(path, report.to_dict())


def read_report(path: str | os.PathLike[str]) -> IngestReport:
    """Load an ingest report written by :func:`write_report` (e.g. ``<run>/tiles.json``).

    Raises
    ------
    TileReadError
        The file is missing or unreadable.
    CatalogError
        The file is not JSON or not an ingest report; the message names the file.
    """
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TileReadError(f"{p}: cannot read the ingest report ({exc})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{p}: ingest report is not valid JSON ({exc})") from exc
    if not isinstance(raw, dict) or "tiles" not in raw:
        raise CatalogError(f"{p}: not an ingest report (expected an object with 'tiles')")
    try:
        return IngestReport.from_dict(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogError(f"{p}: malformed ingest report ({type(exc).__name__}: {exc})") from exc
