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
from pipeline.change.metrics import Confusion, confusion
from pipeline.errors import TileReadError

LEVIR_GSD_M = 0.5


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
def score_plain(
    pairs: Iterable[PlainPair], params: ChangeParams, *, dataset: str = "plain"
) -> MethodScore:
    """Run ``params.method`` on plain pairs and sum the confusion counts."""
    per: dict[str, Confusion] = {}
    for p in pairs:
        cm = detect_change(
            p.before,
            p.after,
            method=params.method,
            threshold=params.threshold,
            min_area_m2=params.min_area_m2,
            gsd_m=p.gsd_m,
            params=params,
        )
        per[p.name] = confusion(cm.mask, p.truth)
    total = sum(per.values(), Confusion())
    return MethodScore(params.method, dataset, total, per)


def score_tiles(
    pairs: Iterable[TilePairFiles],
    params: ChangeParams,
    *,
    dataset: str = "sample-tiles",
    tile_loader: Callable[[Path], Any] | None = None,
) -> MethodScore:
    """Run the file-level path on sample-tile pairs and score ``mask.tif`` against truth."""
    import rasterio

    from pipeline.change.run import compare_tiles, tile_from_file

    load = tile_loader or tile_from_file
    per: dict[str, Confusion] = {}
    for p in pairs:
        before, after = load(p.before), load(p.after)
        with tempfile.TemporaryDirectory() as tmp:
            res = compare_tiles(before, after, tmp, params=params)
            with rasterio.open(res.mask) as ds:
                mask = ds.read(1)
                mt = ds.transform
        with rasterio.open(p.truth) as ds:
            truth = ds.read(1)
            inv = ~ds.transform
        # the mask grid is the after grid clipped to the overlap: integer offset
        col_off, row_off = inv * (mt.c, mt.f)
        r0, c0 = int(round(row_off)), int(round(col_off))
        full = np.full(truth.shape, 255, dtype=np.uint8)
        h = min(mask.shape[0], truth.shape[0] - r0)
        w = min(mask.shape[1], truth.shape[1] - c0)
        full[r0 : r0 + h, c0 : c0 + w] = mask[:h, :w]
        per[p.name] = confusion(full == 1, truth)
    total = sum(per.values(), Confusion())
    return MethodScore(params.method, dataset, total, per)


def evaluate(
    methods: Sequence[str],
    *,
    sample_tiles: str | os.PathLike[str] | None = None,
    levir: str | os.PathLike[str] | None = None,
    params: ChangeParams | None = None,
    levir_test_list: str = "list/demo.txt",
) -> list[MethodScore]:
    """Score each method on the sample tiles and/or LEVIR-CD pairs.

    LEVIR-CD results are reported three ways: the pairs named in
    ``levir_test_list`` (``levir-test``), the remaining pairs
    (``levir-other``) and all pairs (``levir-all``).
    """
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
    for m in methods:
        p = replace(base, method=m)
        if tiles:
            out.append(score_tiles(tiles, p))
        if plain:
            s = score_plain(plain, p, dataset="levir-all")
            if test_names:
                test = {k: v for k, v in s.per_pair.items() if k in test_names}
                other = {k: v for k, v in s.per_pair.items() if k not in test_names}
                out.append(MethodScore(m, "levir-test", sum(test.values(), Confusion()), test))
                out.append(MethodScore(m, "levir-other", sum(other.values(), Confusion()), other))
            out.append(s)
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
