"""Learning from analysts: a classifier on chip features that refines type and nose state.

Training examples are labelled footprints on tiles (Label Studio exports or
synthetic truth). Each example is measured by the ``measure`` detector's
candidate finder where a candidate overlaps the labelled footprint (so the
features at training and at detection time come from the same measurement),
else from the footprint ring alone. Two scikit-learn models are fitted on
:func:`pipeline.detect.features.object_features`:

* ``type``: multinomial logistic regression over the labelled classes;
* ``nose``: logistic regression over ``open``/``closed`` for visor-nose types
  (fitted only when both states are labelled).

The fitted models are stored as plain JSON numbers (coefficients,
intercepts, scaling, imputation means) -- never pickled -- so loading a
model file cannot execute code. The file carries a format tag, a format
version and the model ``version``: the first 16 hex digits of the SHA-256 of
the training features, labels and parameters. :class:`LearnedDetector`
records ``"<format>:<version>"`` in :attr:`pipeline.model.Detection.model`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from pipeline.detect.detectors import MeasureDetector, blob_to_call
from pipeline.detect.features import feature_names, object_features
from pipeline.detect.measure import Blob, to_gray
from pipeline.errors import ModelFileError
from pipeline.grid import Grid
from pipeline.learn.modelfile import check_header
from pipeline.model import Detection, Tile
from pipeline.objects import object_types

MODEL_FORMAT = "sitewatch-detect-classifier"
MODEL_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Example:
    """One labelled object: its feature vector, class and optional nose state."""

    features: np.ndarray
    cls: str
    nose: str | None = None


@dataclass(frozen=True)
class LinearModel:
    """A fitted multinomial linear classifier stored as plain numbers."""

    classes: tuple[str, ...]
    coef: np.ndarray
    intercept: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    impute: np.ndarray

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n, len(classes))`` for feature rows ``x``."""
        xx = np.where(np.isfinite(x), x, self.impute)
        z = (xx - self.mean) / self.scale
        if len(self.classes) == 1:
            return np.ones((len(xx), 1))
        logits = z @ self.coef.T + self.intercept
        if logits.shape[1] == 1:  # binary: sklearn stores one row for classes[1]
            p1 = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            return np.stack([1.0 - p1, p1], axis=1)
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return np.asarray(e / e.sum(axis=1, keepdims=True))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "classes": list(self.classes),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "impute": self.impute.tolist(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LinearModel:
        """Inverse of :meth:`to_dict`."""
        return cls(
            classes=tuple(str(c) for c in d["classes"]),
            coef=np.asarray(d["coef"], dtype=np.float64),
            intercept=np.asarray(d["intercept"], dtype=np.float64),
            mean=np.asarray(d["mean"], dtype=np.float64),
            scale=np.asarray(d["scale"], dtype=np.float64),
            impute=np.asarray(d["impute"], dtype=np.float64),
        )


def fit_linear(x: np.ndarray, y: Sequence[str], *, c: float = 1.0) -> LinearModel:
    """Fit a standardised multinomial logistic regression (NaNs imputed by column means)."""
    impute = np.nanmean(np.where(np.isfinite(x), x, np.nan), axis=0)
    impute = np.where(np.isfinite(impute), impute, 0.0)
    xx = np.where(np.isfinite(x), x, impute)
    mean = xx.mean(axis=0)
    scale = xx.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    classes = sorted(set(y))
    if len(classes) == 1:
        return LinearModel(
            (classes[0],), np.zeros((1, x.shape[1])), np.zeros(1), mean, scale, impute
        )
    clf = LogisticRegression(C=c, max_iter=2000)
    clf.fit((xx - mean) / scale, list(y))
    return LinearModel(
        tuple(str(k) for k in clf.classes_),
        clf.coef_.copy(),
        clf.intercept_.copy(),
        mean,
        scale,
        impute,
    )


@dataclass(frozen=True)
class ClassifierModel:
    """The refinement model: a type classifier and an optional nose-state classifier."""

    version: str
    type_model: LinearModel
    nose_model: LinearModel | None
    params: Mapping[str, Any] = field(default_factory=dict)
    n_examples: int = 0

    @property
    def tag(self) -> str:
        """Identifier recorded on detections: ``"<format>:<version>"``."""
        return f"{MODEL_FORMAT}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the model file's content)."""
        return {
            "format": MODEL_FORMAT,
            "format_version": MODEL_FORMAT_VERSION,
            "version": self.version,
            "params": dict(self.params),
            "n_examples": self.n_examples,
            "feature_names": feature_names(),
            "type_model": self.type_model.to_dict(),
            "nose_model": self.nose_model.to_dict() if self.nose_model else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, source: str = "<dict>") -> ClassifierModel:
        """Validate and load a model dict; raises :class:`ModelFileError` naming ``source``."""
        check_header(
            d,
            format_tag=MODEL_FORMAT,
            format_version=MODEL_FORMAT_VERSION,
            what="detection model",
            train_hint="sitewatch train",
            source=source,
        )
        if list(d.get("feature_names", [])) != feature_names():
            raise ModelFileError(f"{source}: model was trained on different features; retrain it")
        try:
            return cls(
                version=str(d["version"]),
                type_model=LinearModel.from_dict(d["type_model"]),
                nose_model=LinearModel.from_dict(d["nose_model"]) if d.get("nose_model") else None,
                params=dict(d.get("params", {})),
                n_examples=int(d.get("n_examples", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{source}: malformed model file ({exc})") from exc


def train_classifier(examples: Sequence[Example], *, c: float = 1.0) -> ClassifierModel:
    """Fit the type and nose models on labelled examples.

    The model version hashes the feature matrix, labels and parameters, so the
    same training data always gives the same version.
    """
    if not examples:
        raise ValueError("no labelled examples to train on")
    x = np.stack([e.features for e in examples])
    y = [e.cls for e in examples]
    type_model = fit_linear(x, y, c=c)
    nose_idx = [i for i, e in enumerate(examples) if e.nose in ("open", "closed")]
    nose_model = None
    if len({examples[i].nose for i in nose_idx}) == 2:
        nose_model = fit_linear(x[nose_idx], [str(examples[i].nose) for i in nose_idx], c=c)
    params = {"c": c, "model": "logistic-regression", "features": "hog32+dims+type-loglik"}
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(np.nan_to_num(x, nan=-9999.0)).round(6).tobytes())
    h.update(json.dumps([y, [e.nose for e in examples], params], sort_keys=True).encode())
    return ClassifierModel(h.hexdigest()[:16], type_model, nose_model, params, len(examples))


@dataclass(frozen=True)
class LearnedDetector:
    """``measure`` candidates refined by a trained :class:`ClassifierModel`.

    The type is the classifier's choice when its probability is at least
    ``min_proba``, else the measurement call; the nose state of visor-nose
    types comes from the nose model when one was trained.
    """

    model: ClassifierModel
    base: MeasureDetector = field(default_factory=MeasureDetector)
    min_proba: float = 0.5
    name: str = "learned"
    version: str = "1.0"

    def detect(
        self,
        image: np.ndarray,
        *,
        grid: Grid,
        tile: Tile,
        valid: np.ndarray | None,
    ) -> list[Detection]:
        """Detect with the measurement detector, then refine type and nose state."""
        blobs, gsd = self.base.blobs(image, tile=tile, valid=valid)
        gray = to_gray(image, valid)
        base = MeasureDetector(
            self.base.params, self.base.gate, self.base.gsd_m, name=self.name, version=self.version
        )
        return [self._refine(base, b, gray=gray, gsd=gsd, grid=grid, tile=tile) for b in blobs]

    def _refine(
        self,
        base: MeasureDetector,
        blob: Blob,
        *,
        gray: np.ndarray,
        gsd: float,
        grid: Grid,
        tile: Tile,
    ) -> Detection:
        f = object_features(gray, gsd_m=gsd, blob=blob, gray=gray)[None, :]
        proba = self.model.type_model.predict_proba(f)[0]
        k = int(np.argmax(proba))
        call, length_m, _ = blob_to_call(blob, gsd_m=gsd)
        cls, score = call.cls, call.score
        if proba[k] >= self.min_proba:
            cls, score = self.model.type_model.classes[k], float(proba[k])
        nose = None
        ref = object_types().get(cls)
        if ref is not None and ref.visor_nose and self.model.nose_model is not None:
            if blob.touches_edge:
                nose = "unknown"
            else:
                pn = self.model.nose_model.predict_proba(f)[0]
                j = int(np.argmax(pn))
                nose = self.model.nose_model.classes[j] if pn[j] >= 0.6 else "unknown"
        return base.to_detection(
            blob,
            gsd_m=gsd,
            grid=grid,
            tile=tile,
            model=self.model.tag,
            cls=cls,
            nose=nose,
            score=score,
        )
