"""The evidence ledger (``evidence.json``) and schema validation.

Schemas are vendored in ``pipeline/data/schemas/`` (copies of
``shared/schemas``) so the product validates its own output at run time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any

from pipeline import PIPELINE_VERSION
from pipeline.errors import LedgerValidationError
from pipeline.model import Claim, EvidenceLink, isoformat_z

__all__ = [
    "LedgerValidationError",
    "build_ledger",
    "claims_json",
    "schemas",
    "summarise",
    "validate",
]


@lru_cache(maxsize=1)
def schemas() -> dict[str, dict[str, Any]]:
    """The vendored JSON schemas keyed by file name."""
    base = resources.files("pipeline.data").joinpath("schemas")
    return {
        name: json.loads(base.joinpath(name).read_text("utf-8"))
        for name in ("claim.schema.json", "evidence.schema.json")
    }


def _validator(name: str) -> Any:
    import jsonschema
    from referencing import Registry, Resource

    sch = schemas()
    registry: Registry[Any] = Registry().with_resources(
        [(n, Resource.from_contents(s)) for n, s in sch.items()]
    )
    cls = jsonschema.validators.validator_for(sch[name])
    return cls(sch[name], registry=registry, format_checker=cls.FORMAT_CHECKER)


def validate(obj: Any, schema_name: str) -> None:
    """Raise :class:`LedgerValidationError` listing the first problems, if any."""
    errors = sorted(_validator(schema_name).iter_errors(obj), key=lambda e: list(e.path))
    if errors:
        msg = "; ".join(
            f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors[:5]
        )
        raise LedgerValidationError(f"output does not match {schema_name}: {msg}")


def claims_json(claims: Sequence[Claim]) -> list[dict[str, Any]]:
    """Claims as JSON dicts, each validated against claim.schema.json."""
    out = [c.to_dict() for c in claims]
    for d in out:
        validate(d, "claim.schema.json")
    return out


def build_ledger(
    claims: Sequence[Claim],
    links: Sequence[EvidenceLink],
    *,
    generated_at: datetime,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``evidence.json`` dict (validated against evidence.schema.json).

    ``generated_at`` is passed in (UTC) so the function stays pure.
    """
    ledger: dict[str, Any] = dict(extra or {})
    ledger.update(
        {
            "pipeline_version": PIPELINE_VERSION,
            "generated_at": isoformat_z(generated_at),
            "claims": [c.to_dict() for c in claims],
            "links": [lk.to_dict() for lk in links],
            "summary": summarise(claims, links),
        }
    )
    validate(ledger, "evidence.schema.json")
    return ledger


def summarise(claims: Sequence[Claim], links: Sequence[EvidenceLink]) -> dict[str, int]:
    """Counts of claims by verdict (uncheckable counted apart)."""
    check = {c.id for c in claims if c.checkable}
    out = {
        "claims": len(claims),
        "checkable": len(check),
        "supports": 0,
        "contradicts": 0,
        "insufficient": 0,
    }
    for lk in links:
        if lk.claim_id in check:
            out[lk.verdict] += 1
    return out
