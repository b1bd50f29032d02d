"""Aircraft detection and measurement, nose-cone state, object-level change.

Public API
----------
* :data:`DETECTORS` -- registry of detector factories keyed by name
  (``measure`` (default, training-free), ``learned`` (needs ``model_path``),
  ``onnx`` (needs ``model_path``), ``dense`` (needs ``model_path``: a model
  from ``sitewatch train --detector dense``)); :func:`get_detector` builds one.
* :class:`~pipeline.detect.base.Detector` -- the interface.
* :func:`~pipeline.detect.match.match_detections` -- object-level change.
* :func:`~pipeline.detect.run.detect_tile`,
  :func:`~pipeline.detect.run.write_object_changes`,
  :func:`~pipeline.detect.run.train_from_labels` -- the I/O edge.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.detect.base import Detector
from pipeline.errors import ConfigError

#: Version of the detection stage's algorithms (bump when outputs change; used as a cache key).
__version__ = "1.12"


def _measure(model_path: str | None = None, **kw: Any) -> Detector:
    from pipeline.detect.detectors import MeasureDetector

    if model_path:
        raise ConfigError("the 'measure' detector takes no model file; use --detector learned")
    return MeasureDetector(**kw)


def _learned(model_path: str | None = None, **kw: Any) -> Detector:
    from pipeline.detect.detectors import MeasureDetector
    from pipeline.detect.learned import LearnedDetector
    from pipeline.detect.run import load_model

    if not model_path:
        raise ConfigError("the 'learned' detector needs a model file (sitewatch train --out ...)")
    return LearnedDetector(load_model(model_path), base=MeasureDetector(**kw))


def _onnx(model_path: str | None = None, **kw: Any) -> Detector:
    from pipeline.detect.onnx_adapter import OnnxDetector

    if not model_path:
        raise ConfigError("the 'onnx' detector needs an .onnx model file")
    return OnnxDetector(model_path, **kw)


def _dense(model_path: str | None = None, **kw: Any) -> Detector:
    from pipeline.detect.dense import DenseDetector
    from pipeline.detect.run import load_dense_model

    if not model_path:
        raise ConfigError(
            "the 'dense' detector needs a model file (sitewatch train --detector dense --out ...)"
        )
    return DenseDetector(load_dense_model(model_path), **kw)


#: Detector factories keyed by name: ``factory(model_path=None, **options) -> Detector``.
DETECTORS: dict[str, Callable[..., Detector]] = {
    "measure": _measure,
    "learned": _learned,
    "onnx": _onnx,
    "dense": _dense,
}


def get_detector(name: str = "measure", *, model_path: str | None = None, **kw: Any) -> Detector:
    """Build a registered detector; raises :class:`ConfigError` for unknown names."""
    if name not in DETECTORS:
        raise ConfigError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")
    return DETECTORS[name](model_path=model_path, **kw)


__all__ = ["DETECTORS", "Detector", "get_detector"]
