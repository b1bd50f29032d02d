"""A dense learned aircraft detector: per-pixel filter-bank features and boosted trees.

Trained from (image, axis-aligned boxes) pairs -- analysts' Label Studio
labels or a benchmark's annotations -- with no pretrained weights. Like a
CenterNet, it predicts where object centres are and how large the objects
are, but with gradient-boosted trees on hand-made features instead of a
network, so it trains on a CPU in minutes:

1. :func:`pixel_features` -- an ilastik-style filter bank on a grid of
   ``work_m`` metres (Gaussian smoothing, gradient magnitude, Laplacian of
   Gaussian, Hessian and structure-tensor eigenvalues, local standard
   deviation at scales given in **metres**, so one model serves any GSD),
   on brightness normalised per image (median and inter-quartile range).
2. ``centre`` -- a binary classifier: is this grid cell within
   ``centre_frac`` of a box centre (distance normalised by the box's half
   height and half width)? Cells between ``centre_frac`` and ``ignore_frac``
   are left out of training; everything further away is background.
3. ``height`` / ``width`` -- regressors of log box height and width in
   metres, fitted on centre cells.
4. Detection: peaks of the smoothed centre probability (>= ``threshold``,
   at least ``min_gap_m`` apart) become boxes of the regressed size centred
   on the probability-weighted peak position; overlapping boxes are reduced
   by non-maximum suppression.

The trees (scikit-learn ``HistGradientBoosting*``) are exported as plain
arrays of nodes and evaluated with numpy, so a model file is JSON only --
loading it cannot execute code. The file has a format tag and a ``version``:
the first 16 hex digits of the SHA-256 of the training samples and
parameters. Detections record ``model="<format>:<version>"``.

Coordinates: pixel ``(row, col)`` of the input image; box sizes in metres.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from pipeline.detect.base import make_detection
from pipeline.errors import ModelFileError
from pipeline.grid import Grid
from pipeline.learn.modelfile import check_header
from pipeline.learn.trees import TreeEnsemble
from pipeline.model import Detection, Tile

MODEL_FORMAT = "sitewatch-dense-detector"
MODEL_FORMAT_VERSION = 2

#: A box ``(row0, col0, row1, col1)`` in continuous pixel coordinates (row0 < row1, col0 < col1).
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class DenseParams:
    """Features, training and detection settings (lengths in metres).

    Attributes
    ----------
    work_m : float
        Grid spacing of features and the centre map, metres.
    scales_m : tuple of float
        Filter-bank scales (Gaussian sigma), metres.
    centre_frac, ignore_frac : float
        Normalised distance from a box centre below which a cell is a
        centre (positive) and below which a non-centre cell is left out.
    negatives : int
        Background cells sampled per training image (plus as many again
        within two box sizes of an object).
    max_iter, max_leaf_nodes : int
        Boosting rounds and leaves per tree (centre classifier; regressors
        use half the rounds).
    learning_rate : float
        Boosting learning rate.
    threshold : float
        Minimum score of a detection: the verifier's probability with the
        second stage, else the centre probability. 0.4 maximised F1 on the
        airport-grouped development fold 0 (benchmarks/dense_airbus_cv.py).
    min_gap_m : float
        Minimum distance between two peaks, metres.
    nms_iou : float
        Boxes overlapping a better box by more than this IoU are dropped.
    smooth_cells : float
        Gaussian sigma (work cells) applied to the centre map before peak finding.
    cascade_trees, cascade_raw : int, float
        Soft cascade: cells scoring below ``cascade_raw`` (log-odds) after
        the first ``cascade_trees`` trees skip the remaining trees.
    verify : bool
        Train and use the second stage: a classifier of candidate boxes
        (peaks >= ``candidate_threshold``) on HOG of the box chip, box size
        and the centre cell's features; its probability becomes the score
        compared with ``threshold``.
    candidate_threshold : float
        Minimum centre probability of a candidate for the second stage.
    verify_iter : int
        Boosting rounds of the second stage.
    box_scales : tuple of float
        Each centre-map peak becomes one candidate box per factor here
        applied to the regressed size; the second stage picks among them.
    context : bool
        Auto-context: a second centre classifier on the filter bank plus the
        first map smoothed at several scales (:func:`context_features`). Its
        training maps are cross-fitted: each training image's first map comes
        from a classifier that did not see that image.
    context_folds : int
        Number of image groups the first maps are cross-fitted over.
    seed : int
        Seed of the pixel sampling and the boosting.
    """

    work_m: float = 2.0
    scales_m: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
    centre_frac: float = 0.3
    ignore_frac: float = 0.6
    negatives: int = 4000
    max_iter: int = 100
    max_leaf_nodes: int = 31
    learning_rate: float = 0.1
    threshold: float = 0.4
    min_gap_m: float = 8.0
    nms_iou: float = 0.4
    smooth_cells: float = 0.7
    cascade_trees: int = 25
    cascade_raw: float = -6.0
    verify: bool = True
    candidate_threshold: float = 0.1
    verify_iter: int = 150
    box_scales: tuple[float, ...] = (0.75, 1.0, 1.33)
    context: bool = True
    context_folds: int = 2
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = asdict(self)
        d["scales_m"] = list(self.scales_m)
        d["box_scales"] = list(self.box_scales)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DenseParams:
        """Inverse of :meth:`to_dict` (unknown keys are an error)."""
        kw = dict(d)
        if "scales_m" in kw:
            kw["scales_m"] = tuple(float(s) for s in kw["scales_m"])
        if "box_scales" in kw:
            kw["box_scales"] = tuple(float(s) for s in kw["box_scales"])
        return cls(**kw)


# --------------------------------------------------------------------------- features
def _gray(image: np.ndarray) -> np.ndarray:
    """Mean of the first three bands (or the only band) as float32."""
    img = np.asarray(image)
    if img.ndim == 2:
        return img.astype(np.float32)
    return img[: min(3, img.shape[0])].astype(np.float32).mean(axis=0)


def _block_mean(a: np.ndarray, k: int) -> np.ndarray:
    """Mean over ``k x k`` blocks (edge rows/cols that do not fill a block are dropped)."""
    if k <= 1:
        return a
    r, c = (a.shape[0] // k) * k, (a.shape[1] // k) * k
    return np.asarray(a[:r, :c].reshape(r // k, k, c // k, k).mean(axis=(1, 3)), dtype=np.float32)


def feature_names(params: DenseParams) -> list[str]:
    """Names of the rows of :func:`pixel_features`."""
    per = ["gauss", "gradmag", "log", "hess_hi", "hess_lo", "st_hi", "st_lo", "std"]
    names = [f"{n}_{s:g}m" for s in params.scales_m for n in per]
    names += ["chroma_2m", "chroma_8m", "dog_2_16m"]
    return names


def context_names() -> list[str]:
    """Names of the rows of :func:`context_features`."""
    return ["ctx_p", "ctx_s2m", "ctx_s4m", "ctx_s8m", "ctx_s16m", "ctx_max10m", "ctx_max30m"]


def context_features(prob: np.ndarray, *, cell_m: float) -> np.ndarray:
    """Auto-context features ``(7, rows, cols)`` float32 of a centre map.

    Parameters
    ----------
    prob : ndarray
        Centre probability ``(rows, cols)`` on the work grid.
    cell_m : float
        Work-grid spacing, metres.

    Returns
    -------
    ndarray
        The map, the map smoothed with Gaussian sigmas of 2, 4, 8 and 16 m,
        and its maximum over square windows 10 m and 30 m wide (rows as
        :func:`context_names`): they let the second classifier join the two
        wing lobes of an aircraft into one centre and see crowded aprons.
    """
    p = np.asarray(prob, dtype=np.float32)
    out = [p]
    out += [ndi.gaussian_filter(p, s_m / cell_m) for s_m in (2.0, 4.0, 8.0, 16.0)]
    out += [
        ndi.maximum_filter(p, size=max(1, int(round(w_m / cell_m))) | 1) for w_m in (10.0, 30.0)
    ]
    return np.stack(out).astype(np.float32)


def _eig2(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (high, low) of the symmetric 2x2 matrices ``[[a, b], [b, c]]``."""
    m = (a + c) / 2
    d = np.sqrt(((a - c) / 2) ** 2 + b**2)
    return m + d, m - d


def work_shape(shape: tuple[int, int], *, gsd_m: float, params: DenseParams) -> tuple[int, int]:
    """``(rows, cols)`` of the feature grid for an image of ``shape`` pixels at ``gsd_m``."""
    k = _factor(gsd_m, params)
    return shape[0] // k, shape[1] // k


def _factor(gsd_m: float, params: DenseParams) -> int:
    if gsd_m <= 0:
        raise ValueError(f"ground sample distance must be positive, got {gsd_m}")
    return max(1, int(round(params.work_m / gsd_m)))


def pixel_features(image: np.ndarray, *, gsd_m: float, params: DenseParams) -> np.ndarray:
    """Filter-bank features ``(n_features, rows, cols)`` float32 on the work grid.

    Parameters
    ----------
    image : ndarray
        ``(bands, rows, cols)`` or ``(rows, cols)`` pixels (any numeric dtype).
    gsd_m : float
        Ground sample distance of ``image``, metres.
    params : DenseParams
        ``work_m`` (grid spacing) and ``scales_m`` (sigmas, metres).

    Returns
    -------
    ndarray
        One row per :func:`feature_names` entry; cell ``(i, j)`` covers image
        pixels ``[i*k, (i+1)*k) x [j*k, (j+1)*k)`` with ``k = round(work_m / gsd_m)``.
    """
    k = _factor(gsd_m, params)
    gray = _gray(image)
    lo, med, hi = np.percentile(gray[:: max(1, k), :: max(1, k)], [25, 50, 75])
    spread = max(float(hi - lo) / 1.349, 1.0)
    g = _block_mean((gray - float(med)) / spread, k)
    cell = gsd_m * k  # metres per work cell
    out: list[np.ndarray] = []
    for s_m in params.scales_m:
        s = max(s_m / cell, 0.5)
        sm = ndi.gaussian_filter(g, s)
        gr = ndi.gaussian_filter(g, s, order=(0, 1))
        gc = ndi.gaussian_filter(g, s, order=(1, 0))
        grr = ndi.gaussian_filter(g, s, order=(2, 0)) * s**2
        gcc = ndi.gaussian_filter(g, s, order=(0, 2)) * s**2
        grc = ndi.gaussian_filter(g, s, order=(1, 1)) * s**2
        h_hi, h_lo = _eig2(grr, grc, gcc)
        st_s = max(s, 1.0)
        t_hi, t_lo = _eig2(
            ndi.gaussian_filter(gr * gr, st_s) * s**2,
            ndi.gaussian_filter(gr * gc, st_s) * s**2,
            ndi.gaussian_filter(gc * gc, st_s) * s**2,
        )
        var = ndi.gaussian_filter(g * g, s) - sm * sm
        out += [sm, np.hypot(gr, gc) * s, grr + gcc, h_hi, h_lo, t_hi, t_lo]
        out.append(np.sqrt(np.maximum(var, 0.0)))
    if np.asarray(image).ndim == 3 and np.asarray(image).shape[0] >= 3:
        rgb = np.asarray(image)[:3].astype(np.float32)
        chroma = _block_mean((rgb.max(axis=0) - rgb.min(axis=0)) / spread, k)
    else:
        chroma = np.zeros_like(g)
    out.append(ndi.gaussian_filter(chroma, max(2.0 / cell, 0.5)))
    out.append(ndi.gaussian_filter(chroma, max(8.0 / cell, 0.5)))
    out.append(ndi.gaussian_filter(g, max(2.0 / cell, 0.5)) - ndi.gaussian_filter(g, 16.0 / cell))
    return np.stack(out).astype(np.float32)


CHIP = 32


def _norm_gray(image: np.ndarray, k: int) -> np.ndarray:
    """Brightness normalised per image (median 0, robust spread 1), ``k x k`` block means."""
    gray = _gray(image)
    lo, med, hi = np.percentile(gray[:: max(1, 2 * k), :: max(1, 2 * k)], [25, 50, 75])
    return _block_mean((gray - float(med)) / max(float(hi - lo) / 1.349, 1.0), k)


def box_features(
    gray: np.ndarray, box_px: Box, *, cell_px: float, centre_feats: np.ndarray
) -> np.ndarray:
    """Second-stage features of one candidate box.

    Parameters
    ----------
    gray : ndarray
        Normalised brightness (:func:`_norm_gray`), one value per ``cell_px`` image pixels.
    box_px : Box
        Candidate ``(row0, col0, row1, col1)`` in image pixels.
    cell_px : float
        Image pixels per ``gray`` cell.
    centre_feats : ndarray
        :func:`pixel_features` column at the candidate's centre cell.

    Returns
    -------
    ndarray
        HOG of the 32 x 32 chip of the box enlarged by 15 % (summed over the
        four mirror images: heading-agnostic), chip brightness statistics
        (centre, rim, spread, bright share), box height and width in image
        pixels / ``cell_px`` and their ratio, then ``centre_feats``.
    """
    from skimage.feature import hog

    r0, c0, r1, c1 = (v / cell_px for v in box_px)
    mh, mw = 0.15 * (r1 - r0), 0.15 * (c1 - c0)
    rr = np.linspace(r0 - mh, r1 + mh, CHIP) - 0.5
    cc = np.linspace(c0 - mw, c1 + mw, CHIP) - 0.5
    grid = np.meshgrid(rr, cc, indexing="ij")
    chip = ndi.map_coordinates(gray, grid, order=1, mode="nearest")
    h: np.ndarray = np.zeros(0)
    for ch in (chip, chip[::-1], chip[:, ::-1], chip[::-1, ::-1]):
        v = np.asarray(
            hog(ch, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2)),
            dtype=np.float64,
        )
        h = v if len(h) == 0 else h + v
    q = CHIP // 4
    inner = chip[q:-q, q:-q]
    rim = np.concatenate(
        [chip[:3].ravel(), chip[-3:].ravel(), chip[:, :3].ravel(), chip[:, -3:].ravel()]
    )
    stats = [
        float(inner.mean()),
        float(rim.mean()),
        float(chip.std()),
        float((chip > rim.mean() + 1.5).mean()),
        float((chip < rim.mean() - 1.5).mean()),
        r1 - r0,
        c1 - c0,
        (r1 - r0) / max(c1 - c0, 1e-6),
    ]
    return np.concatenate([h / 4, stats, centre_feats]).astype(np.float64)


# --------------------------------------------------------------------------- model
@dataclass(frozen=True)
class DenseModel:
    """A trained dense detector: centre classifier(s), log-size regressors, box verifier.

    ``centre`` gives the first centre map from the filter bank; ``context``
    (with ``params.context``) the final one from the filter bank plus
    :func:`context_features` of the first.
    """

    version: str
    params: DenseParams
    centre: TreeEnsemble
    height: TreeEnsemble
    width: TreeEnsemble
    verify: TreeEnsemble | None = None
    context: TreeEnsemble | None = None
    n_images: int = 0
    n_boxes: int = 0
    meta: Mapping[str, Any] = field(default_factory=dict)

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
            "params": self.params.to_dict(),
            "feature_names": feature_names(self.params),
            "n_images": self.n_images,
            "n_boxes": self.n_boxes,
            "meta": dict(self.meta),
            "centre": self.centre.to_dict(),
            "height": self.height.to_dict(),
            "width": self.width.to_dict(),
            "verify": None if self.verify is None else self.verify.to_dict(),
            "context": None if self.context is None else self.context.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Any, *, source: str = "<dict>") -> DenseModel:
        """Validate and load a model dict; raises :class:`ModelFileError` naming ``source``."""
        check_header(
            d,
            format_tag=MODEL_FORMAT,
            format_version=MODEL_FORMAT_VERSION,
            what="dense detector model",
            train_hint="sitewatch train --detector dense",
            source=source,
        )
        try:
            params = DenseParams.from_dict(d["params"])
            if list(d["feature_names"]) != feature_names(params):
                raise ValueError("feature names differ from this version's filter bank")
            model = cls(
                version=str(d["version"]),
                params=params,
                centre=TreeEnsemble.from_dict(d["centre"]),
                height=TreeEnsemble.from_dict(d["height"]),
                width=TreeEnsemble.from_dict(d["width"]),
                verify=TreeEnsemble.from_dict(d["verify"]) if d.get("verify") else None,
                context=TreeEnsemble.from_dict(d["context"]) if d.get("context") else None,
                n_images=int(d.get("n_images", 0)),
                n_boxes=int(d.get("n_boxes", 0)),
                meta=dict(d.get("meta", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{source}: malformed dense model file ({exc})") from exc
        nf = len(feature_names(params))
        if params.verify and model.verify is None:
            raise ModelFileError(f"{source}: model has no second stage but its params ask for one")
        if params.context != (model.context is not None):
            raise ModelFileError(f"{source}: auto-context tree and params.context disagree")
        trees = [(model.centre, nf), (model.height, nf), (model.width, nf)]
        if model.context is not None:
            trees.append((model.context, nf + len(context_names())))
        for t, n in trees:
            if t.n_features_used > n:
                raise ModelFileError(f"{source}: a tree uses a feature this model does not have")
        return model


# --------------------------------------------------------------------------- training
@dataclass(frozen=True)
class TrainingImage:
    """One training image: pixels, GSD (metres) and its object boxes in pixel (row, col)."""

    image: np.ndarray
    gsd_m: float
    boxes: Sequence[Box]


def _targets(
    shape: tuple[int, int], cell_m: float, boxes_m: np.ndarray, params: DenseParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell: label (1 centre, 0 background, -1 ignored), log height and width (metres)."""
    rows, cols = shape
    lab = np.zeros(shape, dtype=np.int8)
    best = np.full(shape, np.inf)
    lh = np.zeros(shape)
    lw = np.zeros(shape)
    near = np.zeros(shape, dtype=bool)
    for y0, x0, y1, x1 in boxes_m:
        cy, cx, hh, hw = (y0 + y1) / 2, (x0 + x1) / 2, (y1 - y0) / 2, (x1 - x0) / 2
        r0 = max(0, int((cy - 2 * hh) / cell_m))
        r1 = min(rows, int((cy + 2 * hh) / cell_m) + 1)
        c0 = max(0, int((cx - 2 * hw) / cell_m))
        c1 = min(cols, int((cx + 2 * hw) / cell_m) + 1)
        if r0 >= r1 or c0 >= c1:
            continue
        yy = (np.arange(r0, r1) + 0.5)[:, None] * cell_m
        xx = (np.arange(c0, c1) + 0.5)[None, :] * cell_m
        d = np.sqrt(((yy - cy) / hh) ** 2 + ((xx - cx) / hw) ** 2)
        win = (slice(r0, r1), slice(c0, c1))
        near[win] = True
        ign = d <= params.ignore_frac
        lab[win] = np.where(ign & (lab[win] == 0), -1, lab[win])
        closer = (d <= params.centre_frac) & (d < best[win])
        lab[win] = np.where(closer, 1, lab[win])
        lh[win] = np.where(closer, np.log(2 * hh), lh[win])
        lw[win] = np.where(closer, np.log(2 * hw), lw[win])
        best[win] = np.where(closer, d, best[win])
    return np.where(near & (lab == 0), 2, lab).astype(np.int8), lh, lw


@dataclass(frozen=True)
class _Sampled:
    """One training image's feature grid and its sampled cells (flat indices) with targets."""

    feats: np.ndarray
    cell_m: float
    idx: np.ndarray
    y: np.ndarray
    log_h: np.ndarray
    log_w: np.ndarray


def _sample_image(ti: TrainingImage, params: DenseParams, rng: np.random.Generator) -> _Sampled:
    """All centre cells, ``params.negatives`` random background cells and as many near objects."""
    feats = pixel_features(ti.image, gsd_m=ti.gsd_m, params=params)
    cell = ti.gsd_m * _factor(ti.gsd_m, params)
    boxes_m = np.asarray(ti.boxes, dtype=np.float64).reshape(-1, 4) * ti.gsd_m
    lab, lh, lw = _targets(feats.shape[1:], cell, boxes_m, params)
    flat = lab.ravel()
    pick = [np.flatnonzero(flat == 1)]
    for pool in (np.flatnonzero(flat == 0), np.flatnonzero(flat == 2)):
        if len(pool):
            pick.append(rng.choice(pool, min(len(pool), params.negatives), replace=False))
    idx = np.sort(np.concatenate(pick))
    y = (flat[idx] == 1).astype(np.int8)
    return _Sampled(feats, cell, idx, y, lh.ravel()[idx], lw.ravel()[idx])


def _rows(s: _Sampled, extra: np.ndarray | None = None) -> np.ndarray:
    """Feature rows ``(n_samples, n_features)`` of ``s`` (plus ``extra`` grids stacked after)."""
    f = s.feats if extra is None else np.concatenate([s.feats, extra])
    return np.asarray(f.reshape(f.shape[0], -1)[:, s.idx].T)


def sample_training_cells(
    images: Sequence[TrainingImage], params: DenseParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Feature rows and targets ``(x, is_centre, log_h_m, log_w_m)`` sampled from ``images``.

    All centre cells are kept; background cells are sampled at random
    (``params.negatives`` per image) and as many again near objects.
    """
    rng = np.random.default_rng(params.seed)
    ss = [_sample_image(ti, params, rng) for ti in images]
    return (
        np.concatenate([_rows(s) for s in ss]),
        np.concatenate([s.y for s in ss]),
        np.concatenate([s.log_h for s in ss]),
        np.concatenate([s.log_w for s in ss]),
    )


def _fit_centre(x: np.ndarray, y: np.ndarray, p: DenseParams) -> TreeEnsemble:
    from sklearn.ensemble import HistGradientBoostingClassifier

    clf = HistGradientBoostingClassifier(
        max_iter=p.max_iter,
        learning_rate=p.learning_rate,
        max_leaf_nodes=p.max_leaf_nodes,
        random_state=p.seed,
        early_stopping=False,
    )
    return TreeEnsemble.from_sklearn(clf.fit(x, y))


def _first_map(centre: TreeEnsemble, feats: np.ndarray, p: DenseParams) -> np.ndarray:
    """First centre probability ``(rows, cols)`` of a feature grid (soft cascade)."""
    x = feats.reshape(feats.shape[0], -1).T
    return _cascade_prob(centre, x, p).reshape(feats.shape[1:])


def _cascade_prob(trees: TreeEnsemble, x: np.ndarray, p: DenseParams) -> np.ndarray:
    """Probability of rows ``x``; rows below ``cascade_raw`` after ``cascade_trees`` trees stop."""
    raw = trees.raw(x, stop=p.cascade_trees)
    go = np.flatnonzero(raw >= p.cascade_raw)
    if len(go):
        raw[go] += trees.raw(x[go], start=p.cascade_trees, baseline=False)
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(raw, -50.0, 50.0))))


def _fit_context(ss: Sequence[_Sampled], p: DenseParams) -> TreeEnsemble:
    """Auto-context classifier on cross-fitted first maps.

    Training cells are split into ``context_folds`` groups -- by image when
    there are at least that many images (so a first map never comes from a
    classifier that saw its image), else by vertical stripes of each image.
    Each group's context features come from a first classifier fitted on
    the other groups.
    """
    folds = max(2, p.context_folds)
    by_image = len(ss) >= folds
    fold_of = []
    for i, s in enumerate(ss):
        cols = s.feats.shape[2]
        fold_of.append(
            np.full(len(s.idx), i % folds) if by_image else (s.idx % cols) * folds // cols
        )
    ctx = [np.zeros((len(s.idx), len(context_names())), dtype=np.float32) for s in ss]
    for k in range(folds):
        x = np.concatenate([_rows(s)[f != k] for s, f in zip(ss, fold_of, strict=True)])
        y = np.concatenate([s.y[f != k] for s, f in zip(ss, fold_of, strict=True)])
        if y.sum() == 0:
            raise ValueError("an auto-context fold has no box centres; add labelled images")
        first = _fit_centre(x, y, p)
        for s, f, c in zip(ss, fold_of, ctx, strict=True):
            if np.any(f == k):
                cf = context_features(_first_map(first, s.feats, p), cell_m=s.cell_m)
                c[f == k] = cf.reshape(cf.shape[0], -1)[:, s.idx[f == k]].T
    x = np.concatenate(
        [np.concatenate([_rows(s), c], axis=1) for s, c in zip(ss, ctx, strict=True)]
    )
    return _fit_centre(x, np.concatenate([s.y for s in ss]), p)


def train_dense(
    images: Sequence[TrainingImage], *, params: DenseParams | None = None
) -> DenseModel:
    """Fit the centre classifier and size regressors on labelled images.

    Raises ``ValueError`` when the images hold no object boxes.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    p = params or DenseParams()
    n_boxes = sum(len(t.boxes) for t in images)
    if not images or n_boxes == 0:
        raise ValueError("no labelled boxes to train the dense detector on")
    rng = np.random.default_rng(p.seed)
    ss = [_sample_image(ti, p, rng) for ti in images]
    x = np.concatenate([_rows(s) for s in ss])
    y = np.concatenate([s.y for s in ss])
    lh = np.concatenate([s.log_h for s in ss])
    lw = np.concatenate([s.log_w for s in ss])
    if y.sum() == 0:
        raise ValueError("no box centre falls on the feature grid; boxes too small or misplaced")
    common = {
        "learning_rate": p.learning_rate,
        "max_leaf_nodes": p.max_leaf_nodes,
        "random_state": p.seed,
        "early_stopping": False,
    }
    centre = _fit_centre(x, y, p)
    context = _fit_context(ss, p) if p.context else None
    del ss
    pos = y == 1
    regs = []
    for target in (lh, lw):
        reg = HistGradientBoostingRegressor(max_iter=max(1, p.max_iter // 2), **common)
        reg.fit(x[pos], target[pos])
        regs.append(TreeEnsemble.from_sklearn(reg))
    stage1 = DenseModel("", p, centre, regs[0], regs[1], context=context)
    verify = None
    hashed = [x, y, lh, lw]
    if p.verify:
        vx, vy = _verify_samples(stage1, images)
        vclf = HistGradientBoostingClassifier(max_iter=p.verify_iter, **common)
        vclf.fit(vx, vy)
        verify = TreeEnsemble.from_sklearn(vclf)
        hashed += [vx, vy]
    if context is not None:
        hashed.append(context.value)
    h = hashlib.sha256()
    for a in hashed:
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(json.dumps(p.to_dict(), sort_keys=True).encode())
    meta = {"samples": int(len(y)), "centre_samples": int(pos.sum()), "trees": "sklearn-hgb"}
    return DenseModel(
        h.hexdigest()[:16],
        p,
        stage1.centre,
        regs[0],
        regs[1],
        verify=verify,
        context=context,
        n_images=len(images),
        n_boxes=n_boxes,
        meta=meta,
    )


def _verify_samples(
    stage1: DenseModel, images: Sequence[TrainingImage]
) -> tuple[np.ndarray, np.ndarray]:
    """Second-stage rows and labels: stage-1 candidates on the training images.

    A candidate is true when its box has IoU >= 0.5 with a labelled box. Added
    to the candidates: each labelled box (true), a copy shifted by 0.6 of its
    size and copies scaled by 0.5 and 1.8 (false unless they overlap another
    box), and random background boxes of labelled sizes (labelled by overlap).
    """
    xs, ys = [], []
    p = stage1.params
    rng = np.random.default_rng(p.seed)
    for ti in images:
        prob, feats = centre_map(stage1, ti.image, gsd_m=ti.gsd_m)
        cands = _candidates(
            stage1,
            prob,
            feats,
            gsd_m=ti.gsd_m,
            threshold=p.candidate_threshold,
            scales=p.box_scales,
        )
        k = _factor(ti.gsd_m, p)
        fk = max(1, k // 2)
        gray = _norm_gray(ti.image, fk)
        for b, _, f in cands:
            xs.append(box_features(gray, b, cell_px=fk, centre_feats=f))
            ys.append(int(max((_iou(b, t) for t in ti.boxes), default=0.0) >= 0.5))
        extra: list[Box] = []
        for t in ti.boxes:
            h, w = t[2] - t[0], t[3] - t[1]
            extra.append((float(t[0]), float(t[1]), float(t[2]), float(t[3])))
            ang = float(rng.uniform(0, 2 * np.pi))
            dr, dc = 0.6 * h * float(np.sin(ang)), 0.6 * w * float(np.cos(ang))
            extra.append((t[0] + dr, t[1] + dc, t[2] + dr, t[3] + dc))  # shifted: IoU < 0.3
            cy, cx = (t[0] + t[2]) / 2, (t[1] + t[3]) / 2
            for sc in (0.5, 1.8):  # too small / too large, same centre
                extra.append((cy - sc * h / 2, cx - sc * w / 2, cy + sc * h / 2, cx + sc * w / 2))
        rows, cols = np.asarray(ti.image).shape[-2:]
        sizes = [(t[2] - t[0], t[3] - t[1]) for t in ti.boxes]
        for _ in range(2 * len(ti.boxes)):  # background boxes of aircraft sizes
            h, w = sizes[int(rng.integers(len(sizes)))]
            r0 = float(rng.uniform(0, max(1.0, rows - h)))
            c0 = float(rng.uniform(0, max(1.0, cols - w)))
            extra.append((r0, c0, r0 + h, c0 + w))
        for b in extra:
            r = int(np.clip((b[0] + b[2]) / 2 / k, 0, prob.shape[0] - 1))
            c = int(np.clip((b[1] + b[3]) / 2 / k, 0, prob.shape[1] - 1))
            xs.append(box_features(gray, b, cell_px=fk, centre_feats=feats[:, r, c]))
            ys.append(int(max((_iou(b, t) for t in ti.boxes), default=0.0) >= 0.5))
    return np.stack(xs), np.asarray(ys, dtype=np.int8)


# --------------------------------------------------------------------------- detection
def centre_map(
    model: DenseModel, image: np.ndarray, *, gsd_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Centre probability ``(rows, cols)`` on the work grid and the features it came from.

    With auto-context (``model.context``) the first map's
    :func:`context_features` join the filter bank for the final map. A soft
    cascade saves time: cells whose raw score after the first
    ``cascade_trees`` trees is below ``cascade_raw`` keep that partial score
    (their probability stays far below any useful threshold).
    """
    p = model.params
    f = pixel_features(image, gsd_m=gsd_m, params=p)
    prob = _first_map(model.centre, f, p)
    if model.context is not None:
        c = context_features(prob, cell_m=gsd_m * _factor(gsd_m, p))
        x = np.concatenate([f, c]).reshape(f.shape[0] + c.shape[0], -1).T
        prob = _cascade_prob(model.context, x, p).reshape(f.shape[1:])
    return prob, f


def _iou(a: Box, b: Box) -> float:
    ih = min(a[2], b[2]) - max(a[0], b[0])
    iw = min(a[3], b[3]) - max(a[1], b[1])
    if ih <= 0 or iw <= 0:
        return 0.0
    inter = ih * iw
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _candidates(
    model: DenseModel,
    prob: np.ndarray,
    feats: np.ndarray,
    *,
    gsd_m: float,
    threshold: float,
    scales: Sequence[float] = (1.0,),
) -> list[tuple[Box, float, np.ndarray]]:
    """Peaks of the centre map >= ``threshold``: (box in image pixels, score, centre features).

    One box per peak and factor in ``scales`` (applied to the regressed size).
    """
    p = model.params
    k = _factor(gsd_m, p)
    cell = gsd_m * k
    sm = ndi.gaussian_filter(prob, p.smooth_cells) if p.smooth_cells > 0 else prob
    size = max(3, int(round(p.min_gap_m / cell)) | 1)
    peaks = np.argwhere((sm >= ndi.maximum_filter(sm, size=size)) & (sm >= threshold))
    if len(peaks) == 0:
        return []
    x = feats[:, peaks[:, 0], peaks[:, 1]].T
    hm = np.exp(model.height.raw(x))
    wm = np.exp(model.width.raw(x))
    rows, cols = prob.shape
    cand: list[tuple[Box, float, np.ndarray]] = []
    for (r, c), h, w, f in zip(peaks, hm, wm, x, strict=True):
        r0, r1 = max(0, r - 1), min(rows, r + 2)
        c0, c1 = max(0, c - 1), min(cols, c + 2)
        wgt = prob[r0:r1, c0:c1]
        rr, cc = np.mgrid[r0:r1, c0:c1]
        cy = (float((wgt * rr).sum() / wgt.sum()) + 0.5) * k
        cx = (float((wgt * cc).sum() / wgt.sum()) + 0.5) * k
        for sc in scales:
            hp, wp = sc * h / gsd_m / 2, sc * w / gsd_m / 2
            cand.append(((cy - hp, cx - wp, cy + hp, cx + wp), float(sm[r, c]), f))
    return cand


def boxes_from_map(
    model: DenseModel,
    prob: np.ndarray,
    feats: np.ndarray,
    *,
    gsd_m: float,
    gray: np.ndarray | None = None,
    threshold: float | None = None,
) -> list[tuple[Box, float]]:
    """Boxes in image pixels with their score, best first, from a :func:`centre_map`.

    With a second stage (``model.verify``) candidates are peaks >=
    ``candidate_threshold``, one box per ``box_scales`` factor, scored by the
    verifier on ``gray`` (the best-scored size of each peak is kept)
    (:func:`_norm_gray` at half the work-grid factor); else the peak value is
    the score. Boxes scoring below ``threshold`` (default
    ``model.params.threshold``) are dropped, then non-maximum suppression.
    """
    p = model.params
    thr = p.threshold if threshold is None else threshold
    k = _factor(gsd_m, p)
    if model.verify is None or not p.verify:
        scored = [(b, s) for b, s, _ in _candidates(model, prob, feats, gsd_m=gsd_m, threshold=thr)]
    else:
        if gray is None:
            raise ValueError("a two-stage model needs the normalised image (gray) to verify boxes")
        cands = _candidates(
            model,
            prob,
            feats,
            gsd_m=gsd_m,
            threshold=p.candidate_threshold,
            scales=p.box_scales,
        )
        if not cands:
            return []
        fk = max(1, k // 2)
        x = np.stack([box_features(gray, b, cell_px=fk, centre_feats=f) for b, _, f in cands])
        v = 1.0 / (1.0 + np.exp(-np.clip(model.verify.raw(x), -50.0, 50.0)))
        # the boxes of one peak are consecutive: keep each peak's best-verified size
        n_sc = len(p.box_scales)
        best = np.arange(0, len(cands), n_sc) + v.reshape(-1, n_sc).argmax(axis=1)
        scored = [(cands[i][0], float(v[i])) for i in best if v[i] >= thr]
    scored.sort(key=lambda t: -t[1])
    kept: list[tuple[Box, float]] = []
    for b, s in scored:
        if all(_iou(b, kb) <= p.nms_iou for kb, _ in kept):
            kept.append((b, s))
    return kept


def detect_boxes(
    model: DenseModel, image: np.ndarray, *, gsd_m: float, threshold: float | None = None
) -> list[tuple[Box, float]]:
    """Boxes ``(row0, col0, row1, col1)`` in image pixels with their score, best first.

    ``threshold`` overrides ``model.params.threshold``.
    """
    prob, feats = centre_map(model, image, gsd_m=gsd_m)
    gray = _norm_gray(image, max(1, _factor(gsd_m, model.params) // 2))
    return boxes_from_map(model, prob, feats, gsd_m=gsd_m, gray=gray, threshold=threshold)


@dataclass(frozen=True)
class DenseDetector:
    """Aircraft as axis-aligned boxes from a trained :class:`DenseModel`.

    Detections have class ``aircraft`` (no type: the boxes carry no
    length/span), the centre probability as score, and the model tag.
    ``gsd_m`` overrides the tile's GSD (for non-georeferenced images).
    """

    model: DenseModel
    gsd_m: float | None = None
    name: str = "dense"
    version: str = "1.0"

    def detect(
        self,
        image: np.ndarray,
        *,
        grid: Grid,
        tile: Tile,
        valid: np.ndarray | None,
    ) -> list[Detection]:
        """Detect aircraft boxes; boxes whose centre is on invalid pixels are dropped."""
        gsd = self.gsd_m or tile.gsd_m or grid.gsd
        out = []
        for (r0, c0, r1, c1), score in detect_boxes(self.model, image, gsd_m=gsd):
            cr, cc = int((r0 + r1) / 2), int((c0 + c1) / 2)
            if valid is not None and not (
                0 <= cr < valid.shape[0] and 0 <= cc < valid.shape[1] and valid[cr, cc]
            ):
                continue
            ring = ((r0, c0), (r0, c1), (r1, c1), (r1, c0), (r0, c0))
            out.append(
                make_detection(
                    cls="aircraft",
                    category="aircraft",
                    score=score,
                    footprint_px=ring,
                    grid=grid,
                    tile=tile,
                    detector=self.name,
                    detector_version=self.version,
                    model=self.model.tag,
                )
            )
        return out
