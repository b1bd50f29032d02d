"""Validated ingest of dated, georeferenced tiles (folder of GeoTIFFs or STAC).

Public API: :func:`ingest`, :func:`validate_tile`, :class:`IngestConfig`,
:class:`IngestReport`, :class:`Rejection`, :func:`parse_filename`,
:func:`tile_id`, :func:`read_report`, :func:`write_report`.
"""

from pipeline.ingest.checks import FilenameInfo, parse_datetime_text, parse_filename, tile_id
from pipeline.ingest.config import IngestConfig, IngestReport, Rejection
from pipeline.ingest.core import ingest, validate_tile
from pipeline.ingest.store import read_report, write_report

__all__ = [
    "FilenameInfo",
    "IngestConfig",
    "IngestReport",
    "Rejection",
    "ingest",
    "parse_datetime_text",
    "parse_filename",
    "read_report",
    "tile_id",
    "validate_tile",
    "write_report",
]
