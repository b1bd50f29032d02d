"""sitewatch: evidence from dated satellite tiles of airbases.

The library is pure: computing modules take arrays and small frozen value
objects and return typed results. File and network access lives in
:mod:`pipeline.io`. Importing any module does no work.
"""

__version__ = "0.1.0"
PIPELINE_VERSION = f"sitewatch-{__version__}"

__all__ = ["__version__", "PIPELINE_VERSION"]
