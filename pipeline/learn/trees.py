"""Gradient-boosted trees as flat JSON-ready node arrays, evaluated without pickles.

A fitted scikit-learn ``HistGradientBoostingClassifier`` or ``...Regressor``
(binary or single-output) is exported by :meth:`TreeEnsemble.from_sklearn` into
plain arrays. A model file holds only these numbers, so loading one cannot
execute code. :meth:`TreeEnsemble.raw` rebuilds scikit-learn's compiled tree
walker from the arrays when that (private) API is importable and otherwise
walks the trees in numpy (:meth:`TreeEnsemble.raw_numpy`); both give the same
numbers (tests check them against scikit-learn).

Feature rows are ``(n_samples, n_features)``, as in scikit-learn.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TreeEnsemble:
    """Boosted trees as flat node arrays (all trees' nodes concatenated).

    Per node ``i``: go to ``left[i]`` when ``x[feature[i]] <= threshold[i]``
    (or ``x`` is NaN and ``missing_left[i]``), else to ``right[i]`` (absolute
    node indices, always after their parent); a ``leaf`` adds ``value[i]``.
    ``roots[t]`` is the first node of tree ``t`` and ``depth`` the deepest
    leaf's depth. The raw score is ``baseline`` plus the reached leaves' values
    (log-odds for a binary classifier).
    """

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    leaf: np.ndarray
    value: np.ndarray
    missing_left: np.ndarray
    roots: np.ndarray
    baseline: float
    depth: int

    @classmethod
    def from_sklearn(cls, est: Any) -> TreeEnsemble:
        """Export a fitted single-output ``HistGradientBoosting{Classifier,Regressor}``.

        Raises ValueError for a multi-class classifier or categorical splits.
        """
        if hasattr(est, "classes_") and len(est.classes_) != 2:
            raise ValueError(
                f"a binary classifier is needed; this one has {len(est.classes_)} classes"
            )
        cols: dict[str, list[np.ndarray]] = {k: [] for k in ("f", "t", "l", "r", "leaf", "v", "m")}
        roots, off, depth = [], 0, 0
        for per_iter in est._predictors:
            n = per_iter[0].nodes
            if np.any(n["is_categorical"]):
                raise ValueError("categorical splits are not supported")
            roots.append(off)
            cols["f"].append(n["feature_idx"].astype(np.int32))
            cols["t"].append(n["num_threshold"].astype(np.float64))
            cols["l"].append(n["left"].astype(np.int32) + off)
            cols["r"].append(n["right"].astype(np.int32) + off)
            cols["leaf"].append(n["is_leaf"].astype(bool))
            cols["v"].append(n["value"].astype(np.float64))
            cols["m"].append(n["missing_go_to_left"].astype(bool))
            depth = max(depth, int(n["depth"].max()))
            off += len(n)
        base = np.asarray(est._baseline_prediction, dtype=np.float64).ravel()
        return cls(
            np.concatenate(cols["f"]),
            np.concatenate(cols["t"]),
            np.concatenate(cols["l"]),
            np.concatenate(cols["r"]),
            np.concatenate(cols["leaf"]),
            np.concatenate(cols["v"]),
            np.concatenate(cols["m"]),
            np.asarray(roots, dtype=np.int32),
            float(base[0]),
            depth,
        )

    @property
    def n_features_used(self) -> int:
        """One more than the highest feature index any split uses (0 for stumps)."""
        inner = self.feature[~self.leaf]
        return int(inner.max()) + 1 if inner.size else 0

    def raw(
        self, x: np.ndarray, *, start: int = 0, stop: int | None = None, baseline: bool = True
    ) -> np.ndarray:
        """Raw scores float64 ``(n,)`` of feature rows ``x`` ``(n, n_features)``.

        Sums trees ``start:stop`` (all by default), plus the baseline when
        ``baseline``.
        """
        try:
            from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
            from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
        except ImportError:  # pragma: no cover - depends on the installed scikit-learn
            return self.raw_numpy(x, start=start, stop=stop, baseline=baseline)
        xx = np.ascontiguousarray(x, dtype=np.float64)
        out = np.full(len(xx), self.baseline if baseline else 0.0, dtype=np.float64)
        ends = [*self.roots[1:].tolist(), len(self.feature)]
        sel = slice(start, stop)
        no_cat = np.zeros((0, 8), dtype=np.uint32)
        f_map = np.zeros(xx.shape[1], dtype=np.uint32)
        empty = np.zeros((0, 8), dtype=np.uint32)
        for a, b in zip(self.roots.tolist()[sel], ends[sel], strict=True):
            nodes = np.zeros(b - a, dtype=PREDICTOR_RECORD_DTYPE)
            nodes["value"] = self.value[a:b]
            nodes["feature_idx"] = self.feature[a:b]
            nodes["num_threshold"] = self.threshold[a:b]
            nodes["missing_go_to_left"] = self.missing_left[a:b]
            nodes["left"] = np.where(self.leaf[a:b], 0, self.left[a:b] - a)
            nodes["right"] = np.where(self.leaf[a:b], 0, self.right[a:b] - a)
            nodes["is_leaf"] = self.leaf[a:b]
            out += TreePredictor(nodes, empty, empty).predict(xx, no_cat, f_map, 2)
        return out

    def raw_numpy(
        self,
        x: np.ndarray,
        *,
        start: int = 0,
        stop: int | None = None,
        baseline: bool = True,
        chunk: int = 8192,
    ) -> np.ndarray:
        """:meth:`raw` in plain numpy (slower: one gather per tree level)."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        n, nf = x.shape
        out = np.full(n, self.baseline if baseline else 0.0, dtype=np.float64)
        roots = self.roots[start:stop]
        flat = x.ravel()
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            base = (np.arange(a, b, dtype=np.int64) * nf)[:, None]
            node = np.broadcast_to(roots, (b - a, len(roots))).copy()
            for _ in range(self.depth):
                v = flat[base + self.feature[node]]
                go_left = np.where(np.isnan(v), self.missing_left[node], v <= self.threshold[node])
                nxt = np.where(go_left, self.left[node], self.right[node])
                node = np.where(self.leaf[node], node, nxt)
            out[a:b] += self.value[node].sum(axis=1)
        return out

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Positive-class probability float64 ``(n,)`` of a binary classifier's rows ``x``."""
        r = np.clip(self.raw(x), -50.0, 50.0)
        return np.asarray(1.0 / (1.0 + np.exp(-r)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of plain numbers (an infinite threshold is written as null)."""
        return {
            "feature": self.feature.tolist(),
            "threshold": [float(t) if np.isfinite(t) else None for t in self.threshold],
            "left": self.left.tolist(),
            "right": self.right.tolist(),
            "leaf": self.leaf.astype(int).tolist(),
            "value": self.value.tolist(),
            "missing_left": self.missing_left.astype(int).tolist(),
            "roots": self.roots.tolist(),
            "baseline": self.baseline,
            "depth": self.depth,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TreeEnsemble:
        """Inverse of :meth:`to_dict`; ``KeyError``/``TypeError``/``ValueError`` on bad input.

        ``depth`` may be absent (change models written before it was stored);
        it is then computed from the node arrays.
        """
        thr = np.asarray([np.inf if t is None else t for t in d["threshold"]], dtype=np.float64)
        feature = np.asarray(d["feature"], dtype=np.int32)
        left = np.asarray(d["left"], dtype=np.int32)
        right = np.asarray(d["right"], dtype=np.int32)
        leaf = np.asarray(d["leaf"], dtype=np.int64).astype(bool)
        value = np.asarray(d["value"], dtype=np.float64)
        miss = np.asarray(d["missing_left"], dtype=np.int64).astype(bool)
        roots = np.asarray(d["roots"], dtype=np.int32)
        n = len(feature)
        if n == 0 or any(a.shape != (n,) for a in (thr, left, right, leaf, value, miss)):
            raise ValueError("tree node arrays differ in length or are empty")
        inner = np.flatnonzero(~leaf)
        kids = np.concatenate([left[inner], right[inner]])
        # children come after their parent, so every walk ends at a leaf
        if (
            roots.size == 0
            or roots.min() < 0
            or roots.max() >= n
            or np.any(kids <= np.concatenate([inner, inner]))
            or np.any(kids >= n)
        ):
            raise ValueError("tree node indices out of range")
        if np.any(feature[inner] < 0):
            raise ValueError("negative feature index in a split")
        depth = int(d["depth"]) if d.get("depth") is not None else _depth(left, right, leaf, roots)
        return cls(feature, thr, left, right, leaf, value, miss, roots, float(d["baseline"]), depth)


def _depth(left: np.ndarray, right: np.ndarray, leaf: np.ndarray, roots: np.ndarray) -> int:
    """Deepest leaf's depth of trees whose children follow their parents."""
    depth = np.zeros(len(leaf), dtype=np.int64)
    for i in np.flatnonzero(~leaf):  # parents first, children later
        depth[left[i]] = depth[right[i]] = depth[i] + 1
    return int(depth[leaf].max(initial=0))
