"""Reading a run folder and writing the claim/evidence outputs.

Layout (agreed between stages; the replay writes it, ``link`` reads it)::

    <run>/tiles.json                              {"tiles": [Tile...], "rejected": [...]}
    <run>/changes/<site>/<before>__<after>/regions.json   [ChangeRegion...]
    <run>/detections/<tile_id>.json               [Detection...]
    <run>/object_changes/<site>/<before>__<after>.json    [ObjectChange...]
    <run>/annotations/human.json                  [Detection... source="human"]
    <run>/chips/                                  PNG chips + JSON sidecars
    <run>/claims.json, evidence.json, report.html

Every missing part is optional except ``tiles.json``; malformed JSON raises
:class:`~pipeline.errors.RunFolderError` naming the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.annotate.merge import prefer_human
from pipeline.errors import DocumentError, RunFolderError, TileReadError
from pipeline.model import ChangeRegion, Claim, Detection, ObjectChange, Tile

#: bytes of a report file read before refusing it; equals
#: :data:`pipeline.claims.text.MAX_DOCUMENT_BYTES` (tested)
READ_CAP_BYTES = 2 * 1024 * 1024
_READ_CAP = READ_CAP_BYTES


@dataclass(frozen=True)
class RunData:
    """Everything ``link`` needs from one run folder.

    ``detections`` are merged: human annotations first, and a model detection
    that overlaps a human annotation of the same tile (IoU >= 0.3) is dropped,
    so the analyst's box, class and attributes win. ``model_detections`` are
    the detector's own output before that merge (what is pushed to Label Studio
    as pre-annotations). ``chips`` maps detection (or object-change) ids to chip
    PNG paths.
    """

    run_dir: Path | None
    tiles: tuple[Tile, ...] = ()
    detections: tuple[Detection, ...] = ()
    model_detections: tuple[Detection, ...] = ()
    object_changes: tuple[ObjectChange, ...] = ()
    change_regions: tuple[ChangeRegion, ...] = ()
    chips: Mapping[str, str] = field(default_factory=dict)
    chip_windows: tuple[tuple[str, tuple[int, int, int, int], str], ...] = ()

    def chip_for(
        self, tile_id: str, ring_px: Sequence[Sequence[float]]
    ) -> tuple[str, tuple[int, int, int, int]] | None:
        """Smallest existing chip of ``tile_id`` whose pixel window holds the whole ring.

        Returns ``(png path, (row_off, col_off, height, width))`` or ``None``.
        """
        if not ring_px:
            return None
        r0 = min(float(p[0]) for p in ring_px)
        r1 = max(float(p[0]) for p in ring_px)
        c0 = min(float(p[1]) for p in ring_px)
        c1 = max(float(p[1]) for p in ring_px)
        best: tuple[str, tuple[int, int, int, int]] | None = None
        for tid, win, path in self.chip_windows:
            if tid != tile_id:
                continue
            wr, wc, wh, ww = win
            if wr <= r0 and wc <= c0 and r1 <= wr + wh and c1 <= wc + ww:
                if best is None or wh * ww < best[1][2] * best[1][3]:
                    best = (path, win)
        return best

    def tile(self, tile_id: str) -> Tile | None:
        """Tile by id, or ``None``."""
        for t in self.tiles:
            if t.id == tile_id:
                return t
        return None


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFolderError(
            f"{path}: cannot read JSON ({exc}); re-run the stage that writes it"
        ) from exc


def _list_of(path: Path, cls: Any) -> list[Any]:
    raw = _load_json(path)
    if not isinstance(raw, list):
        raise RunFolderError(f"{path}: expected a JSON list of {cls.__name__} records")
    try:
        return [cls.from_dict(d) for d in raw]
    except (KeyError, TypeError, ValueError) as exc:
        raise RunFolderError(f"{path}: malformed {cls.__name__} record ({exc!r})") from exc


def load_run(run_dir: str | os.PathLike[str]) -> RunData:
    """Read a run folder into :class:`RunData` (see module docstring for the layout)."""
    root = Path(run_dir)
    tiles_path = root / "tiles.json"
    if not tiles_path.is_file():
        raise RunFolderError(f"{root}: no tiles.json; is this a sitewatch run folder?")
    raw = _load_json(tiles_path)
    if not isinstance(raw, dict) or not isinstance(raw.get("tiles"), list):
        raise RunFolderError(f"{tiles_path}: expected {{'tiles': [...]}}")
    try:
        tiles = tuple(Tile.from_dict(t) for t in raw["tiles"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RunFolderError(f"{tiles_path}: malformed tile record ({exc!r})") from exc
    model: list[Detection] = []
    det_dir = root / "detections"
    if det_dir.is_dir():
        for p in sorted(det_dir.glob("*.json")):
            model.extend(_list_of(p, Detection))
    human: list[Detection] = []
    hpath = root / "annotations" / "human.json"
    if hpath.is_file():
        human = [
            d if d.source == "human" else Detection.from_dict({**d.to_dict(), "source": "human"})
            for d in _list_of(hpath, Detection)
        ]
    changes: list[ObjectChange] = []
    oc_dir = root / "object_changes"
    if oc_dir.is_dir():
        for p in sorted(oc_dir.glob("*/*.json")):
            changes.extend(_list_of(p, ObjectChange))
    regions: list[ChangeRegion] = []
    ch_dir = root / "changes"
    if ch_dir.is_dir():
        for p in sorted(ch_dir.glob("*/*/regions.json")):
            regions.extend(_list_of(p, ChangeRegion))
    return RunData(
        run_dir=root,
        tiles=tiles,
        detections=tuple(prefer_human(model, human)),
        model_detections=tuple(model),
        object_changes=tuple(changes),
        change_regions=tuple(regions),
        chips=_chip_index(root / "chips"),
        chip_windows=_chip_windows(root / "chips"),
    )


def _chip_index(chips_dir: Path) -> dict[str, str]:
    """Map detection/object ids to chip PNG paths (by sidecar JSON, else by file stem)."""
    out: dict[str, str] = {}
    if not chips_dir.is_dir():
        return out
    for png in sorted(chips_dir.rglob("*.png")):
        out.setdefault(png.stem, str(png))
        side = png.with_suffix(".json")
        if side.is_file():
            try:
                meta = json.loads(side.read_text("utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(meta, dict):
                for key in ("detection_id", "object_id", "id", "annotation_id"):
                    v = meta.get(key)
                    if isinstance(v, str) and v:
                        out.setdefault(v, str(png))
    return out


def _chip_windows(chips_dir: Path) -> tuple[tuple[str, tuple[int, int, int, int], str], ...]:
    """(tile id, pixel window, PNG path) of every chip whose sidecar gives a tile and window."""
    out: list[tuple[str, tuple[int, int, int, int], str]] = []
    if not chips_dir.is_dir():
        return ()
    for side in sorted(chips_dir.rglob("*.json")):
        png = side.with_suffix(".png")
        if not png.is_file():
            continue
        try:
            meta = json.loads(side.read_text("utf-8"))
            win = tuple(int(v) for v in meta["window"])
            tid = str(meta["tile_id"])
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
        if len(win) == 4:
            out.append((tid, (win[0], win[1], win[2], win[3]), str(png)))
    return tuple(out)


def read_document(path: str | os.PathLike[str]) -> bytes:
    """Bytes of a report file; refuses files over 2 MiB with :class:`DocumentError`."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > _READ_CAP:
            raise DocumentError(
                f"{p}: {size} bytes is over the {_READ_CAP} byte limit for a report; "
                "paste only the relevant part"
            )
        return p.read_bytes()
    except OSError as exc:
        raise DocumentError(f"{p}: cannot read report ({exc})") from exc


def read_claims_json(path: str | os.PathLike[str]) -> list[Claim]:
    """Claims from a ``claims.json`` (list of claim dicts) or an ``evidence.json`` ledger."""
    raw = _load_json(Path(path))
    if isinstance(raw, dict) and isinstance(raw.get("claims"), list):
        raw = raw["claims"]
    if not isinstance(raw, list):
        raise RunFolderError(f"{path}: expected a JSON list of claims")
    from pipeline.sites import default_registry

    sites = {s.id: s for s in default_registry()}
    try:
        return [Claim.from_dict(d, sites=sites) for d in raw]
    except (KeyError, TypeError, ValueError) as exc:
        raise RunFolderError(f"{path}: malformed claim record ({exc!r})") from exc


def write_claims(path: str | os.PathLike[str], claims: Sequence[Claim]) -> Path:
    """Write ``claims.json`` atomically (list of claim dicts)."""
    from pipeline.io.atomic import write_json_atomic

    return write_json_atomic(path, [c.to_dict() for c in claims])


def write_evidence(path: str | os.PathLike[str], ledger: Mapping[str, Any]) -> Path:
    """Write ``evidence.json`` atomically."""
    from pipeline.io.atomic import write_json_atomic

    return write_json_atomic(path, dict(ledger))


def resolve_tile_path(tile: Tile, run_dir: Path | None) -> Path | None:
    """The tile's raster file: absolute path, else relative to the run folder, its parent or cwd."""
    p = Path(tile.path)
    cands = [p] if p.is_absolute() else []
    if not p.is_absolute():
        if run_dir is not None:
            cands += [run_dir / p, run_dir.parent / p, run_dir / "tiles" / p.name]
        cands.append(Path.cwd() / p)
    for c in cands:
        if c.is_file():
            return c
    return None


def read_tile_window(
    tile: Tile, window: tuple[int, int, int, int], *, run_dir: Path | None
) -> np.ndarray | None:
    """Pixels ``(bands, rows, cols)`` of ``window`` = (row_off, col_off, height, width).

    The window is clipped to the tile; ``None`` when the file is gone or the
    window falls outside the tile.
    """
    from pipeline.io.rasters import read_array

    path = resolve_tile_path(tile, run_dir)
    if path is None:
        return None
    h, w = tile.grid.shape
    r0, c0, hh, ww = window
    r1, c1 = min(h, r0 + hh), min(w, c0 + ww)
    r0, c0 = max(0, r0), max(0, c0)
    if r1 <= r0 or c1 <= c0:
        return None
    try:
        data, _ = read_array(path, window=(r0, c0, r1 - r0, c1 - c0))
    except TileReadError:
        return None
    return data


def read_png(path: str | os.PathLike[str]) -> bytes | None:
    """Bytes of a chip PNG, or ``None`` when missing."""
    try:
        return Path(path).read_bytes()
    except OSError:
        return None
