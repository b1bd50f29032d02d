"""Claims from report text, linked to the detections and changes that support them.

Stages: :mod:`text` (decode, strip markup, sentences) -> :mod:`extract`
(site, window, objects, counts, attributes, event per sentence) ->
:mod:`link` (verdicts with provenance) -> :mod:`ledger` (evidence.json).
"""

from pipeline.claims.extract import ExtractOptions, extract_claims
from pipeline.claims.link import link_claims
from pipeline.claims.text import Document, decode_document

__all__ = ["Document", "ExtractOptions", "decode_document", "extract_claims", "link_claims"]
