"""Scoring change masks against ground truth (``sitewatch eval change``).

Two kinds of reference data:

* sample tiles: ``<site>_<before>__<after>.change_truth.tif`` beside the tiles
  ``<site>_<before>.tif`` and ``<site>_<after>.tif`` (uint8 on the after grid:
  1 change, 0 none, 255 unknown = ignored); pairs run through the full
  file-level path (:func:`pipeline.change.run.compare_tiles`);
* plain image pairs (LEVIR-CD layout: ``A/NAME.png``, ``B/NAME.png``,
  ``label/NAME.png`` with 255 = change), not georeferenced, run through
  :func:`pipeline.change.engine.detect_change` at an assumed pixel size.

Scores are micro-averaged: confusion counts are summed over pairs before
precision, recall, F1, IoU and kappa are computed.

Every table carries a reference row ``naive-cva``: per-pixel change-vector
magnitude on the raw bands with one global Otsu threshold and nothing else (no
normalisation, smoothing, clean-up or minimum area) -- the baseline any method
must beat. The trained method ``learned`` is scored without leaking its
training pairs: with no model given it is trained in memory on the LEVIR pairs
*not* in the test list and scored on the test list (``levir-test``), and
optionally leave-one-pair-out over all pairs (``levir-lopo``: each pair scored
by a model that never saw it).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.change.engine import ChangeParams, detect_change
from pipeline.change.learned import (
    ChangeModel,
    TrainingPair,
    TrainParams,
    learned_method,
    learned_params,
    train_change_model,
)
from pipeline.change.methods import TRAINED_METHODS
from pipeline.change.metrics import Confusion, confusion
from pipeline.change.thresholds import otsu
from pipeline.errors import TileReadError
from pipeline.io.atomic import write_json_atomic
from pipeline.learn.modelfile import read_model_json

LEVIR_GSD_M = 0.5
#: Name of the reference row (not a registered method).
NAIVE = "naive-cva"


@dataclass(frozen=True)
class PlainPair:
    """One non-georeferenced evaluation pair: images ``(bands, rows, cols)``, truth uint8."""

    name: str
    before: np.ndarray
    after: np.ndarray
    truth: np.ndarray
    gsd_m: float = LEVIR_GSD_M


@dataclass(frozen=True)
class TilePairFiles:
    """A sample-tile pair on disk with its change truth."""

    name: str
    before: Path
    after: Path
    truth: Path


@dataclass(frozen=True)
class MethodScore:
    """Micro-averaged scores of one method over a set of pairs, and per-pair counts."""

    method: str
    dataset: str
    total: Confusion
    per_pair: dict[str, Confusion] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "method": self.method,
            "dataset": self.dataset,
            "pairs": len(self.per_pair),
            "micro": self.total.to_dict(),
            "per_pair": {k: v.to_dict() for k, v in self.per_pair.items()},
        }


# --------------------------------------------------------------------------- loading
def _read_png(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            arr = np.asarray(im)
    except OSError as exc:
        raise TileReadError(f"{path}: cannot read image ({exc})") from exc
    return arr


def load_plain_pairs(
    root: str | os.PathLike[str], names: Sequence[str] | None = None
) -> list[PlainPair]:
    """Load LEVIR-CD-style pairs from ``root/A``, ``root/B``, ``root/label``.

    Parameters
    ----------
    root : path-like
        Folder with ``A/``, ``B/`` and ``label/`` sub-folders of same-named images.
    names : sequence of str, optional
        Image stems to load (default: every image in ``A/``).
    """
    base = Path(root)
    a_dir, b_dir, l_dir = base / "A", base / "B", base / "label"
    for d in (a_dir, b_dir, l_dir):
        if not d.is_dir():
            raise TileReadError(f"{base}: missing {d.name}/ folder of a plain image-pair set")
    files = sorted(p for p in a_dir.iterdir() if p.suffix.lower() in (".png", ".tif", ".jpg"))
    if names is not None:
        wanted = set(names)
        files = [p for p in files if p.stem in wanted]
    out = []
    for fa in files:
        fb, fl = b_dir / fa.name, l_dir / fa.name
        if not fb.exists() or not fl.exists():
            raise TileReadError(f"{fa}: no matching {fb.name} in B/ or label/")
        a, b, lab = _read_png(fa), _read_png(fb), _read_png(fl)
        if lab.ndim == 3:
            lab = lab[..., 0]
        truth = np.where(lab > 127, 1, 0).astype(np.uint8)

        def chw(x: np.ndarray) -> np.ndarray:
            x = x[..., :3] if x.ndim == 3 else x[..., None]
            return np.moveaxis(x, -1, 0)

        out.append(PlainPair(fa.stem, chw(a), chw(b), truth))
    return out


def find_tile_pairs(folder: str | os.PathLike[str]) -> list[TilePairFiles]:
    """Sample-tile pairs that have a ``*.change_truth.tif`` in ``folder``."""
    base = Path(folder)
    out = []
    for t in sorted(base.glob("*.change_truth.tif")):
        stem = t.name[: -len(".change_truth.tif")]
        left, _, after_when = stem.partition("__")
        site, _, before_when = left.rpartition("_")
        fb, fa = base / f"{site}_{before_when}.tif", base / f"{site}_{after_when}.tif"
        if fb.exists() and fa.exists():
            out.append(TilePairFiles(stem, fb, fa, t))
    return out


# --------------------------------------------------------------------------- scoring
def naive_cva_mask(
    before: np.ndarray, after: np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    """The reference baseline: change-vector magnitude on the raw bands > global Otsu.

    ``before``/``after`` ``(bands, rows, cols)`` in any real dtype (not
    normalised, smoothed or cleaned); ``valid`` optional bool. Returns a bool mask.
    """
    d = np.asarray(after, dtype=np.float32) - np.asarray(before, dtype=np.float32)
    mag = np.sqrt(np.sum(d * d, axis=0))
    ok = np.isfinite(mag) if valid is None else valid & np.isfinite(mag)
    if not ok.any():
        return np.zeros(mag.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        return np.asarray(ok & (mag > otsu(mag[ok])), dtype=bool)


Predictor = Callable[[np.ndarray, np.ndarray, np.ndarray | None, float], np.ndarray]


def engine_predictor(params: ChangeParams, model: ChangeModel | None = None) -> Predictor:
    """``predict(before, after, valid, gsd_m) -> bool mask`` running the engine.

    With ``model`` the engine runs the trained method (``params`` adapted by
    :func:`~pipeline.change.learned.learned_params`).
    """
    prm = learned_params(params, model) if model is not None else params
    method = learned_method(model) if model is not None else None

    def predict(
        before: np.ndarray, after: np.ndarray, valid: np.ndarray | None, gsd_m: float
    ) -> np.ndarray:
        cm = detect_change(
            before,
            after,
            valid=valid,
            method=prm.method,
            threshold=prm.threshold,
            threshold_value=prm.threshold_value,
            min_area_m2=prm.min_area_m2,
            gsd_m=gsd_m,
            params=prm,
            change_method=method,
        )
        return cm.mask

    return predict


def naive_predictor() -> Predictor:
    """The :func:`naive_cva_mask` reference as a predictor."""

    def predict(
        before: np.ndarray, after: np.ndarray, valid: np.ndarray | None, gsd_m: float
    ) -> np.ndarray:
        return naive_cva_mask(before, after, valid)

    return predict


def score_plain(
    pairs: Iterable[PlainPair],
    params: ChangeParams,
    *,
    dataset: str = "plain",
    predictor: Predictor | None = None,
    name: str | None = None,
) -> MethodScore:
    """Run ``params.method`` (or ``predictor``) on plain pairs and sum the confusion counts."""
    predict = predictor or engine_predictor(params)
    per: dict[str, Confusion] = {}
    for p in pairs:
        per[p.name] = confusion(predict(p.before, p.after, None, p.gsd_m), p.truth)
    total = sum(per.values(), Confusion())
    return MethodScore(name or params.method, dataset, total, per)


def _align_to_truth(
    mask: np.ndarray, mask_transform: Any, truth_path: Path
) -> tuple[np.ndarray, np.ndarray]:
    """``mask`` (on the common grid) placed on the truth grid (255 outside), and the truth."""
    import rasterio

    with rasterio.open(truth_path) as ds:
        truth = ds.read(1)
        inv = ~ds.transform
    # the mask grid is the after grid clipped to the overlap: integer offset
    col_off, row_off = inv * (mask_transform.c, mask_transform.f)
    r0, c0 = int(round(row_off)), int(round(col_off))
    full = np.full(truth.shape, 255, dtype=np.uint8)
    h = min(mask.shape[0], truth.shape[0] - r0)
    w = min(mask.shape[1], truth.shape[1] - c0)
    full[r0 : r0 + h, c0 : c0 + w] = mask[:h, :w]
    return full, truth


def score_tiles(
    pairs: Iterable[TilePairFiles],
    params: ChangeParams,
    *,
    dataset: str = "sample-tiles",
    tile_loader: Callable[[Path], Any] | None = None,
    predictor: Predictor | None = None,
    name: str | None = None,
) -> MethodScore:
    """Score sample-tile pairs against their truth.

    Without ``predictor`` the full file-level path runs
    (:func:`~pipeline.change.run.compare_tiles`, scoring ``mask.tif``); with
    one, both tiles are read onto the common grid and ``predictor`` is applied
    to the arrays.
    """
    import rasterio

    from pipeline.change.run import RasterPair, common_grid, compare_tiles, tile_from_file
    from pipeline.ingest.checks import ground_pixel_size_m

    load = tile_loader or tile_from_file
    per: dict[str, Confusion] = {}
    for p in pairs:
        before, after = load(p.before), load(p.after)
        if predictor is None:
            with tempfile.TemporaryDirectory() as tmp:
                res = compare_tiles(before, after, tmp, params=params)
                with rasterio.open(res.mask) as ds:
                    mask = ds.read(1)
                    mt = ds.transform
        else:
            grid = common_grid(before, after, min_overlap=params.min_overlap)
            gx, gy = ground_pixel_size_m(grid)
            with RasterPair(before, after, grid) as src:
                b, a, v = src.read(0, 0, grid.height, grid.width)
            mask = predictor(b, a, v, (gx + gy) / 2.0).astype(np.uint8)
            mt = grid.transform
        full, truth = _align_to_truth(mask, mt, p.truth)
        per[p.name] = confusion(full == 1, truth)
    total = sum(per.values(), Confusion())
    return MethodScore(name or params.method, dataset, total, per)


def training_pairs(pairs: Iterable[PlainPair]) -> list[TrainingPair]:
    """Plain labelled pairs as :class:`~pipeline.change.learned.TrainingPair` s."""
    return [TrainingPair(p.name, p.before, p.after, p.truth) for p in pairs]


def train_from_plain(
    roots: Sequence[str | os.PathLike[str]],
    out_path: str | os.PathLike[str],
    *,
    names: Sequence[str] | None = None,
    params: TrainParams | None = None,
) -> ChangeModel:
    """Train a change model on LEVIR-CD-style folders and write the model file (JSON)."""
    pairs = [p for r in roots for p in load_plain_pairs(r, names)]
    if not pairs:
        raise TileReadError(
            f"no labelled pairs under {', '.join(map(str, roots))} (expected A/, B/, label/)"
        )
    model = train_change_model(training_pairs(pairs), params)
    save_change_model(model, out_path)
    return model


def save_change_model(model: ChangeModel, path: str | os.PathLike[str]) -> Path:
    """Write a change model file (JSON, atomic)."""
    return write_json_atomic(path, model.to_dict(), indent=0)


def load_change_model(path: str | os.PathLike[str]) -> ChangeModel:
    """Read and validate a change model file written by :func:`save_change_model`."""
    return ChangeModel.from_dict(read_model_json(path), source=str(Path(path)))


def _split(s: MethodScore, test_names: set[str]) -> list[MethodScore]:
    """``s`` (over all LEVIR pairs) as test-list, other and all rows."""
    if not test_names:
        return [s]
    test = {k: v for k, v in s.per_pair.items() if k in test_names}
    other = {k: v for k, v in s.per_pair.items() if k not in test_names}
    return [
        MethodScore(s.method, "levir-test", sum(test.values(), Confusion()), test),
        MethodScore(s.method, "levir-other", sum(other.values(), Confusion()), other),
        s,
    ]


def evaluate(
    methods: Sequence[str],
    *,
    sample_tiles: str | os.PathLike[str] | None = None,
    levir: str | os.PathLike[str] | None = None,
    params: ChangeParams | None = None,
    levir_test_list: str = "list/demo.txt",
    model: ChangeModel | None = None,
    train_params: TrainParams | None = None,
    lopo: bool = False,
) -> list[MethodScore]:
    """Score each method on the sample tiles and/or LEVIR-CD pairs.

    LEVIR-CD results are reported three ways: the pairs named in
    ``levir_test_list`` (``levir-test``), the remaining pairs
    (``levir-other``) and all pairs (``levir-all``). The ``naive-cva``
    reference rows come first.

    ``learned`` uses ``model`` when given (scored on everything). Without
    one it is trained in memory on the ``levir-other`` pairs and scored on the
    sample tiles and ``levir-test`` only; with ``lopo`` also leave-one-pair-out
    over all LEVIR pairs (``levir-lopo``, one training per pair).
    """
    from pipeline.errors import ConfigError

    base = params or ChangeParams()
    out: list[MethodScore] = []
    tiles = find_tile_pairs(sample_tiles) if sample_tiles else []
    plain = load_plain_pairs(levir) if levir else []
    test_names: set[str] = set()
    if levir:
        lst = Path(levir) / levir_test_list
        if lst.exists():
            test_names = {ln.strip() for ln in lst.read_text().splitlines() if ln.strip()}
            test_names = {Path(n).stem for n in test_names}
    naive = naive_predictor()
    if tiles:
        out.append(score_tiles(tiles, base, predictor=naive, name=NAIVE))
    if plain:
        out += _split(
            score_plain(plain, base, dataset="levir-all", predictor=naive, name=NAIVE), test_names
        )
    for m in methods:
        if m not in TRAINED_METHODS:
            p = replace(base, method=m)
            if tiles:
                out.append(score_tiles(tiles, p))
            if plain:
                out += _split(score_plain(plain, p, dataset="levir-all"), test_names)
            continue
        if model is not None:
            pred = engine_predictor(base, model)
            if tiles:
                out.append(score_tiles(tiles, base, predictor=pred, name=m))
            if plain:
                s = score_plain(plain, base, dataset="levir-all", predictor=pred, name=m)
                out += _split(s, test_names)
            continue
        train = [p for p in plain if p.name not in test_names]
        test = [p for p in plain if p.name in test_names]
        if not train or not test:
            raise ConfigError(
                f"method {m!r} without a model file trains in memory on the LEVIR pairs "
                f"outside {levir_test_list} and scores those in it: give --levir with that "
                "list, or --model FILE"
            )
        trained = train_change_model(training_pairs(train), train_params)
        pred = engine_predictor(base, trained)
        if tiles:
            out.append(score_tiles(tiles, base, predictor=pred, name=m))
        out.append(score_plain(test, base, dataset="levir-test", predictor=pred, name=m))
        if lopo:
            per: dict[str, Confusion] = {}
            for held in plain:
                rest = training_pairs(q for q in plain if q.name != held.name)
                mdl = train_change_model(rest, train_params)
                s = score_plain([held], base, predictor=engine_predictor(base, mdl), name=m)
                per.update(s.per_pair)
            out.append(MethodScore(m, "levir-lopo", sum(per.values(), Confusion()), per))
    return out


def format_table(scores: Sequence[MethodScore]) -> list[tuple[str, ...]]:
    """Rows ``(dataset, method, pairs, P, R, F1, IoU, kappa)`` as strings."""
    rows: list[tuple[str, ...]] = []
    for s in scores:
        t = s.total
        rows.append(
            (
                s.dataset,
                s.method,
                str(len(s.per_pair)),
                f"{t.precision:.3f}",
                f"{t.recall:.3f}",
                f"{t.f1:.3f}",
                f"{t.iou:.3f}",
                f"{t.kappa:.3f}" if not math.isnan(t.kappa) else "nan",
            )
        )
    return rows
