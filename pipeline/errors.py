"""Exception and warning classes.

Every error raised by sitewatch derives from :class:`SitewatchError` and also
from the matching built-in, so callers can catch either. Messages name the file
or object at fault and say how to fix it.
"""

from __future__ import annotations


class SitewatchError(Exception):
    """Root of all sitewatch errors."""


class TileReadError(SitewatchError, OSError):
    """A tile could not be opened or read (missing, truncated, not a raster)."""


class TileValidationError(SitewatchError, ValueError):
    """A tile opened but fails a check (no CRS, no acquisition time, too large...)."""


class CRSMismatchError(SitewatchError, ValueError):
    """Two rasters or geometries are in incompatible coordinate reference systems."""


class GridError(SitewatchError, ValueError):
    """A grid (CRS + affine + shape) is invalid or two grids cannot be combined."""


class OverlapError(SitewatchError, ValueError):
    """Two tiles overlap too little (or not at all) to be compared."""


class SiteError(SitewatchError, LookupError):
    """A site name, alias or ICAO code could not be resolved."""


class CatalogError(SitewatchError, ValueError):
    """A STAC catalog or item is malformed."""


class ConfigError(SitewatchError, ValueError):
    """Configuration is missing or invalid."""


class LabelStudioError(SitewatchError, RuntimeError):
    """Label Studio refused a request or could not be reached."""


class DocumentError(SitewatchError, ValueError):
    """A report document could not be read as text."""


class ModelFileError(SitewatchError, ValueError):
    """A model file (classifier, ONNX detector) is missing or malformed."""


class SitewatchWarning(UserWarning):
    """Root of sitewatch warnings."""


class TileSkippedWarning(SitewatchWarning):
    """A tile was rejected during ingest; the run continues without it."""


class LowQualityWarning(SitewatchWarning):
    """A result was computed but its quality figure is poor (e.g. weak co-registration)."""


class RunFolderError(SitewatchError, ValueError):
    """A run folder (tiles.json, detections, changes...) is missing or malformed."""


class TilePairError(SitewatchError, ValueError):
    """Two tiles cannot be compared (different sites, no valid pixels in common)."""


class LedgerValidationError(SitewatchError, ValueError):
    """Claims or the evidence ledger do not validate against their JSON schema."""
