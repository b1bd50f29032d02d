"""Pixel-level change-detection scores against ground truth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

IGNORE = 255


@dataclass(frozen=True)
class Confusion:
    """Pixel counts of a binary change mask against truth (ignored pixels excluded)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(
            self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn
        )

    @property
    def total(self) -> int:
        """Number of scored pixels."""
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float:
        """TP / (TP + FP); 0 when nothing was called changed."""
        d = self.tp + self.fp
        return self.tp / d if d else 0.0

    @property
    def recall(self) -> float:
        """TP / (TP + FN); 0 when the truth holds no change."""
        d = self.tp + self.fn
        return self.tp / d if d else 0.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        d = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / d if d else 0.0

    @property
    def iou(self) -> float:
        """Intersection over union of the change class."""
        d = self.tp + self.fp + self.fn
        return self.tp / d if d else 0.0

    @property
    def kappa(self) -> float:
        """Cohen's kappa (agreement beyond chance)."""
        n = self.total
        if n == 0:
            return 0.0
        po = (self.tp + self.tn) / n
        pe = (
            (self.tp + self.fp) * (self.tp + self.fn) + (self.fn + self.tn) * (self.fp + self.tn)
        ) / (n * n)
        return (po - pe) / (1 - pe) if pe < 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of counts and scores."""
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "iou": self.iou,
            "kappa": self.kappa,
        }


def confusion(
    pred: np.ndarray, truth: np.ndarray, *, ignore: np.ndarray | None = None
) -> Confusion:
    """Count TP/FP/FN/TN of a predicted change mask against a truth raster.

    Parameters
    ----------
    pred : ndarray of bool, (rows, cols)
        Predicted change.
    truth : ndarray of uint8, (rows, cols)
        1 (or any non-zero value other than 255) = change, 0 = no change,
        255 = unknown (ignored).
    ignore : ndarray of bool, optional
        Extra pixels to leave out (e.g. nodata in both).
    """
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} != truth shape {truth.shape}")
    keep = truth != IGNORE
    if ignore is not None:
        keep &= ~ignore
    p = pred.astype(bool) & keep
    t = (truth != 0) & keep
    tp = int(np.count_nonzero(p & t))
    fp = int(np.count_nonzero(p & ~t))
    fn = int(np.count_nonzero(~p & t))
    tn = int(np.count_nonzero(keep)) - tp - fp - fn
    return Confusion(tp, fp, fn, tn)
