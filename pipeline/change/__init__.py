"""Change detection between two dated tiles of one site.

Pure array functions live in :mod:`~pipeline.change.engine` (``detect_change``),
:mod:`~pipeline.change.methods` (``CHANGE_METHODS``),
:mod:`~pipeline.change.thresholds` (``THRESHOLDS``), :mod:`~pipeline.change.coreg`,
:mod:`~pipeline.change.radiometry` and :mod:`~pipeline.change.cloud`; file-level
work is in :mod:`~pipeline.change.run` (``compare_tiles``) and
:mod:`~pipeline.change.evaluate`.
"""

from pipeline.change.engine import ChangeMap, ChangeParams, detect_change
from pipeline.change.methods import CHANGE_METHODS
from pipeline.change.thresholds import THRESHOLDS

__all__ = ["CHANGE_METHODS", "THRESHOLDS", "ChangeMap", "ChangeParams", "detect_change"]
