"""File-level change detection between two tiles: :func:`compare_tiles`.

This is the I/O edge of the change stage: it opens both tiles, puts them on one
grid (the after tile's grid clipped to the overlap, other CRSs warped with
:class:`rasterio.vrt.WarpedVRT`), runs the block-wise engine reading windows,
and writes ``score.tif`` (COG float32, NaN = not scored), ``mask.tif`` (COG
uint8: 1 change, 0 none, 255 nodata/cloud), ``changes.geojson``,
``changes.gpkg`` (EPSG:4326), ``regions.json`` (list of
:meth:`ChangeRegion.to_dict`) and ``summary.json`` into ``out_dir``. Every file
is written atomically; re-running replaces the outputs.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import numpy as np
import rasterio
import rasterio.shutil
import shapely
from affine import Affine
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from pipeline.change.engine import (
    ArrayStore,
    ChangeParams,
    EngineResult,
    Progress,
    RegionPx,
    run_engine,
)
from pipeline.errors import ConfigError, OverlapError, TilePairError, TileReadError
from pipeline.grid import Grid
from pipeline.io.atomic import write_json_atomic
from pipeline.io.vector import write_features
from pipeline.model import ChangeRegion, Tile, stable_id

if TYPE_CHECKING:
    from pipeline.change.learned import ChangeModel

#: Pixels above which stores go to disk instead of memory: 100 MP is 500 MB of
#: float32 score and uint8 mask, a third of the 1.5 GB a 400 MP pair may use.
_IN_MEMORY_PX = 100_000_000
#: GDAL block cache while reading/writing, MB (GDAL's default is 5 % of RAM).
_GDAL_CACHE_MB = 128


def tile_from_file(path: str | os.PathLike[str]) -> Tile:
    """Validated :class:`~pipeline.model.Tile` for a raster file (ingest's checks)."""
    from pipeline.ingest import validate_tile

    return validate_tile(path)


# --------------------------------------------------------------------------- grid
def _ground_gsd(grid: Grid) -> tuple[float, float]:
    from pipeline.ingest.checks import ground_pixel_size_m

    return ground_pixel_size_m(grid)


def common_grid(before: Tile, after: Tile, *, min_overlap: float = 0.5) -> Grid:
    """The after tile's grid clipped to the overlap of both footprints.

    Parameters
    ----------
    before, after : Tile
        The two dates.
    min_overlap : float
        Smallest accepted overlap as a fraction of the smaller footprint's area.

    Raises
    ------
    OverlapError
        The footprints overlap less than ``min_overlap`` (naming both files).
    """
    ag = after.grid
    bl, bb, br, bt = transform_bounds(before.grid.crs, ag.crs, *before.grid.bounds, densify_pts=21)
    al, ab, ar, at = ag.bounds
    il, ib, ir, it = max(al, bl), max(ab, bb), min(ar, br), min(at, bt)
    inter = max(ir - il, 0.0) * max(it - ib, 0.0)
    smaller = min((ar - al) * (at - ab), (br - bl) * (bt - bb))
    frac = inter / smaller if smaller > 0 else 0.0
    if frac < min_overlap:
        raise OverlapError(
            f"{before.path} and {after.path} overlap {frac:.1%} of the smaller tile, "
            f"below the minimum {min_overlap:.0%}; pick tiles that image the same ground"
        )
    # clip in the after grid's pixel space (north-up or rotated: use corner rowcol)
    rows, cols = ag.rowcol([il, ir, ir, il], [it, it, ib, ib])
    r0 = max(int(math.floor(float(np.min(rows)) + 1e-6)), 0)
    c0 = max(int(math.floor(float(np.min(cols)) + 1e-6)), 0)
    r1 = min(int(math.ceil(float(np.max(rows)) - 1e-6)), ag.height)
    c1 = min(int(math.ceil(float(np.max(cols)) - 1e-6)), ag.width)
    if r1 - r0 < 2 or c1 - c0 < 2:
        raise OverlapError(f"{before.path} and {after.path} share less than 2 x 2 pixels")
    return ag.window(r0, c0, r1 - r0, c1 - c0)


# --------------------------------------------------------------------------- source
class RasterPair:
    """A :class:`~pipeline.change.engine.PairSource` reading two files by window.

    Both tiles are warped (bilinear) onto ``grid``; the after tile may carry a
    residual shift ``(d_row, d_col)`` in pixels, applied in the warp. Pixels
    outside a tile, nodata or masked count as invalid. Use as a context
    manager (it owns the open datasets). Each thread that reads opens the
    files for itself (GDAL datasets are not to be shared between threads),
    so the engine's block workers read their windows in parallel.
    """

    #: Each reading thread opens the files for itself: any thread may read.
    thread_safe = True

    def __init__(
        self,
        before: Tile,
        after: Tile,
        grid: Grid,
        *,
        bands: int | None = None,
        shift: tuple[float, float] = (0.0, 0.0),
    ) -> None:
        self.before, self.after, self.grid = before, after, grid
        self._bands = bands or min(before.band_count, after.band_count)
        self._shift = shift
        self._stack = ExitStack()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._open = False

    def __enter__(self) -> RasterPair:
        self._open = True
        try:
            self._handles()  # open errors surface here, in the caller's thread
        except BaseException:
            self._open = False
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._open = False
        with self._lock:
            self._stack.close()

    def _handles(self) -> _PairHandles:
        """The calling thread's open datasets (opened on its first read)."""
        if not self._open:
            raise RuntimeError("RasterPair must be used as a context manager")
        handles: _PairHandles | None = getattr(self._local, "handles", None)
        if handles is not None:
            return handles
        stack = ExitStack()
        try:
            # opened inside an Env of this call, so that the datasets own none
            # and the opening thread need not be the one that closes them.
            # GTIFF_DIRECT_IO: windows of uncompressed tiled files are read from
            # the file without GDAL's block cache, which copies every tile a
            # window with a halo cuts (400 MP benchmark pair, 1030 px windows:
            # as fast as GDAL's memory-mapped reading, which counted the
            # mapped file pages in the resident size: peak RSS 1.3-1.7 GB ->
            # 0.6 GB on a kernel that maps the page cache in large folios)
            with rasterio.Env(GTIFF_DIRECT_IO="YES"):
                bsrc = stack.enter_context(rasterio.open(self.before.path))
                asrc = stack.enter_context(rasterio.open(self.after.path))
        except rasterio.errors.RasterioIOError as exc:
            stack.close()
            raise TileReadError(f"cannot open tile pair: {exc}") from exc
        g = self.grid
        common = {
            "crs": g.crs,
            "width": g.width,
            "height": g.height,
            "resampling": Resampling.bilinear,
            "add_alpha": True,
        }
        t = g.transform * Affine.translation(-self._shift[1], -self._shift[0])
        vrts = (
            stack.enter_context(WarpedVRT(bsrc, transform=g.transform, **common)),
            stack.enter_context(WarpedVRT(asrc, transform=t, **common)),
        )
        idx = list(range(1, self._bands + 1))
        # fast path: a tile already on the grid (same CRS and pixel size, integer offset)
        direct: list[_Direct | None] = []
        for src, tr in ((bsrc, g.transform), (asrc, t)):
            off = _integer_offset(src, g.crs, tr)
            if off is None:
                direct.append(None)
                continue
            direct.append(_Direct(src, off, _all_valid(src, idx)))
        handles = _PairHandles(vrts, (direct[0], direct[1]))
        with self._lock:
            self._stack.enter_context(stack)
        self._local.handles = handles
        return handles

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the common grid."""
        return self.grid.shape

    @property
    def bands(self) -> int:
        """Bands compared (the first ``n`` of each tile)."""
        return self._bands

    def with_shift(self, shift: tuple[float, float]) -> RasterPair:
        """An open pair whose after tile is shifted by ``(d_row, d_col)`` pixels."""
        pair = RasterPair(
            self.before,
            self.after,
            self.grid,
            bands=self._bands,
            shift=shift,
        )
        pair.__enter__()
        with self._lock:
            self._stack.push(pair.__exit__)
        return pair

    def _read(
        self, vrt: WarpedVRT, win: Window, direct: _Direct | None
    ) -> tuple[np.ndarray, np.ndarray]:
        idx = list(range(1, self._bands + 1))
        if direct is not None:
            src = direct.src
            r0, c0 = int(win.row_off) + direct.offset[0], int(win.col_off) + direct.offset[1]
            if (
                r0 >= 0
                and c0 >= 0
                and r0 + win.height <= src.height
                and c0 + win.width <= src.width
            ):
                w2 = Window(c0, r0, win.width, win.height)
                # read in the file's own type, converted by numpy: GDAL's conversion
                # while de-interleaving pixel-interleaved uint16 took twice as long
                # (3-band 1030 px window: 5.9 -> 2.6 ms)
                data = src.read(idx, window=w2).astype(np.float32, copy=False)
                if direct.all_valid:
                    return data, np.ones(data.shape[1:], dtype=bool)
                return data, np.all(src.read_masks(idx, window=w2) > 0, axis=0)
        data = vrt.read(idx, window=win, out_dtype=np.float32)
        masks = vrt.read_masks(idx, window=win)
        alpha = vrt.read(vrt.count, window=win)
        full = np.iinfo(alpha.dtype).max if alpha.dtype.kind in "ui" else 1.0
        valid = np.all(masks > 0, axis=0) & (alpha >= full)
        return data, valid

    def read(
        self, row: int, col: int, height: int, width: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Window of both dates (float32 ``(bands, h, w)``) and joint validity."""
        h = self._handles()
        win = Window(col, row, width, height)
        b, vb = self._read(h.vrts[0], win, h.direct[0])
        a, va = self._read(h.vrts[1], win, h.direct[1])
        return b, a, vb & va


@dataclass(frozen=True)
class _Direct:
    """A tile read without warping: its dataset and the grid's ``(row, col)`` in it."""

    src: Any
    offset: tuple[int, int]
    all_valid: bool


@dataclass(frozen=True)
class _PairHandles:
    """One thread's open datasets of a :class:`RasterPair`."""

    vrts: tuple[WarpedVRT, WarpedVRT]
    direct: tuple[_Direct | None, _Direct | None]


def _all_valid(src: Any, idx: list[int]) -> bool:
    """True when the bands have no nodata value, mask band or alpha (every pixel valid)."""
    from rasterio.enums import MaskFlags

    flags = src.mask_flag_enums
    return all(flags[i - 1] == [MaskFlags.all_valid] for i in idx)


def _integer_offset(src: Any, crs: str, transform: Affine) -> tuple[int, int] | None:
    """``(row, col)`` of ``transform``'s origin in ``src`` when the grids differ by whole pixels."""
    from rasterio.crs import CRS

    if src.crs is None or CRS.from_user_input(crs) != src.crs:
        return None
    st = src.transform
    if not all(
        abs(x - y) < 1e-9 * max(1.0, abs(y))
        for x, y in zip(st[:2] + st[3:5], transform[:2] + transform[3:5], strict=True)
    ):
        return None
    col, row = ~st * (transform.c, transform.f)
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return None
    return int(round(row)), int(round(col))


# --------------------------------------------------------------------------- stores
class _FileStore:
    """A one-band block store on ``grid`` in a tiled GeoTIFF at ``path`` (for large scenes).

    Every pixel is written by the engine, so no fill is needed.
    """

    def __init__(self, grid: Grid, dtype: str, nodata: float, path: Path) -> None:
        self.path = path
        self._ds: Any = rasterio.open(
            path,
            "w+",
            driver="GTiff",
            tiled=True,
            blockxsize=256,
            blockysize=256,
            BIGTIFF="IF_SAFER",
            width=grid.width,
            height=grid.height,
            count=1,
            dtype=dtype,
            crs=grid.crs,
            transform=grid.transform,
            nodata=nodata,
        )

    def write(self, row: int, col: int, block: np.ndarray) -> None:
        self._ds.write(block, 1, window=Window(col, row, block.shape[1], block.shape[0]))

    def read(self, row: int, col: int, height: int, width: int) -> np.ndarray:
        return np.asarray(self._ds.read(1, window=Window(col, row, width, height)))

    def freeze(self) -> None:
        """Flush the file and keep it open for reading only (another handle may then read it)."""
        self._ds.close()
        try:
            self._ds = rasterio.open(self.path)
        except rasterio.errors.RasterioIOError as exc:
            raise TileReadError(f"{self.path}: cannot open again ({exc})") from exc

    def close(self) -> None:
        self._ds.close()


def _level_grid(grid: Grid, k: int) -> Grid:
    """``grid``'s overview at factor ``2**k`` (``ceil`` of the halved sides, same origin)."""
    f = 2**k
    shape = (-(-grid.height // f), -(-grid.width // f))
    return Grid(grid.crs, grid.transform * Affine.scale(f), shape)


#: Tile size of the output COGs, pixels.
_COG_BLOCK = 512
_GDAL_TYPES = {np.dtype(np.float32): "Float32", np.dtype(np.uint8): "Byte"}


def _cog_overview_factors(width: int, height: int) -> list[int]:
    """Overview factors the COG driver makes by default: halve until a tile holds the image."""
    factors: list[int] = []
    f = 1
    while width > _COG_BLOCK or height > _COG_BLOCK:
        f *= 2
        width, height = -(-width // 2), -(-height // 2)
        factors.append(f)
    return factors


def _levels_vrt(
    levels: Sequence[np.ndarray | Path], dtype: np.dtype[Any], grid: Grid, nodata: float
) -> str:
    """VRT of ``levels[0]`` on ``grid`` with ``levels[1:]`` as its overviews.

    A level is a one-band GeoTIFF file or a C-contiguous array of ``dtype``,
    which GDAL reads in place (``MEM:::DATAPOINTER``, opened only with
    ``GDAL_MEM_ENABLE_OPEN``): it must stay alive while the VRT is open.
    """
    from rasterio.crs import CRS

    def source(a: np.ndarray | Path) -> str:
        if isinstance(a, Path):
            name = escape(str(a))
        elif not a.flags.c_contiguous:
            raise ValueError("arrays read in place by GDAL must be C-contiguous")
        else:
            name = (
                f"MEM:::DATAPOINTER={a.ctypes.data:#x},PIXELS={a.shape[1]},LINES={a.shape[0]},"
                f"BANDS=1,DATATYPE={_GDAL_TYPES[a.dtype]}"
            )
        band = "<SourceBand>1</SourceBand>"
        return f'<SourceFilename relativeToVRT="0">{name}</SourceFilename>{band}'

    overviews = "".join(f"<Overview>{source(a)}</Overview>" for a in levels[1:])
    srs = escape(CRS.from_user_input(grid.crs).to_wkt())
    gt = ", ".join(repr(float(v)) for v in grid.transform.to_gdal())
    return (
        f'<VRTDataset rasterXSize="{grid.width}" rasterYSize="{grid.height}">'
        f"<SRS>{srs}</SRS><GeoTransform>{gt}</GeoTransform>"
        f'<VRTRasterBand dataType="{_GDAL_TYPES[np.dtype(dtype)]}" band="1">'
        f"<NoDataValue>{'nan' if math.isnan(nodata) else repr(nodata)}</NoDataValue>"
        f"<SimpleSource>{source(levels[0])}</SimpleSource>{overviews}"
        "</VRTRasterBand></VRTDataset>"
    )


def _levels_cog(
    levels: Sequence[np.ndarray | Path],
    dtype: np.dtype[Any],
    grid: Grid,
    nodata: float,
    target: Path,
) -> None:
    """Write a COG at ``target``: ``levels[0]`` on ``grid`` with ``levels[1:]`` as its overviews.

    The levels are the engine's (:func:`~pipeline.change.pyramid.halvings`):
    float32 scores averaged, uint8 masks picked (nearest). See :func:`_levels_vrt`.
    """
    resampling = "nearest" if np.dtype(dtype) == np.uint8 else "average"
    xml = _levels_vrt(levels, dtype, grid, nodata)
    with rasterio.Env(GDAL_CACHEMAX=_GDAL_CACHE_MB, GDAL_MEM_ENABLE_OPEN="YES"):
        rasterio.shutil.copy(
            xml,
            str(target),
            driver="COG",
            # ZSTD level 1 on all cores: the same size as DEFLATE level 1 on the
            # float score in about half the time (lossless; GDAL >= 2.3 reads it)
            compress="ZSTD",
            level=1,
            num_threads="ALL_CPUS",
            # no predictor: the floating-point predictor made the score COG 8 %
            # smaller but its encoding 1.8x slower (100 MP: 4.2 -> 2.3 CPU s);
            # the mask compresses to almost nothing either way
            predictor=1,
            blocksize=_COG_BLOCK,
            overviews="FORCE_USE_EXISTING",
            overview_resampling=resampling,
            BIGTIFF="IF_SAFER",
        )


# --------------------------------------------------------------------------- outputs
@dataclass(frozen=True)
class ChangeOutputs:
    """Paths written by :func:`compare_tiles` and the regions found."""

    out_dir: Path
    score: Path
    mask: Path
    geojson: Path
    gpkg: Path
    regions_json: Path
    summary_json: Path
    regions: tuple[ChangeRegion, ...]
    summary: dict[str, Any]


def regions_to_model(
    regions: tuple[RegionPx, ...],
    grid: Grid,
    *,
    before: Tile,
    after: Tile,
    method: str,
    pixel_area_m2: float,
) -> tuple[ChangeRegion, ...]:
    """Convert pixel-space regions on ``grid`` to :class:`ChangeRegion` (EPSG:4326)."""
    # every vertex of every ring (x = col, y = row) in one coordinate
    # transformation, then cut back into rings (a Python loop over shapely's
    # coordinates, one transformation per ring, took over a second for 400 regions)
    per_region = [[r.polygon.exterior, *r.polygon.interiors] for r in regions]
    rings_px = [ring for rs in per_region for ring in rs]
    lonlat: list[tuple[float, float]] = []
    if rings_px:
        xy = shapely.get_coordinates(rings_px)
        lon, lat = grid.to_lonlat(*grid.xy(xy[:, 1], xy[:, 0], offset="ul"))
        lonlat = list(zip(lon.tolist(), lat.tolist(), strict=True))
    ends = np.cumsum(shapely.get_num_coordinates(rings_px)).tolist() if rings_px else []
    out = []
    k = 0
    for r, rs in zip(regions, per_region, strict=True):
        rings = tuple(
            tuple(lonlat[(ends[i - 1] if i else 0) : ends[i]]) for i in range(k, k + len(rs))
        )
        k += len(rs)
        x0, y0, x1, y1 = r.polygon.bounds
        rid = stable_id(before.sha256, after.sha256, method, x0, y0, x1, y1, r.area_px)
        out.append(
            ChangeRegion(
                id=rid,
                method=method,
                before_tile_id=before.id,
                after_tile_id=after.id,
                before_sha256=before.sha256,
                after_sha256=after.sha256,
                polygon_lonlat=rings,
                area_m2=float(r.area_px * pixel_area_m2),
                mean_score=r.mean_score,
                max_score=r.max_score,
            )
        )
    return tuple(out)


def compare_tiles(
    before: Tile,
    after: Tile,
    out_dir: str | os.PathLike[str],
    *,
    params: ChangeParams | None = None,
    progress: Progress | None = None,
    model: ChangeModel | None = None,
) -> ChangeOutputs:
    """Detect change from ``before`` to ``after`` and write the outputs to ``out_dir``.

    Parameters
    ----------
    before, after : Tile
        Two validated tiles of the same site (``before`` earlier).
    out_dir : path-like
        Output folder (created); the replay uses
        ``<run>/changes/<site>/<before_id>__<after_id>/``.
    params : ChangeParams, optional
        Method, threshold and processing options.
    progress : callable, optional
        ``progress(stage, done, total)``.
    model : ChangeModel, optional
        Trained change model (``sitewatch train-change``): required for, and
        only used by, method ``learned``. Regions and ``summary.json`` name it
        as ``learned:<format>:<version>``.

    Raises
    ------
    TilePairError
        Different sites, or no valid pixels in common.
    OverlapError
        The tiles overlap too little.
    """
    p = params or ChangeParams()
    change_method = None
    method_label = p.method
    if p.method == "learned" or model is not None:
        if model is None or p.method != "learned":
            raise ConfigError(
                "a change model goes with method 'learned' and method 'learned' needs one "
                f"(got method {p.method!r}, model {'given' if model else 'none'})"
            )
        from pipeline.change.learned import learned_method, learned_params

        p = learned_params(p, model)
        change_method = learned_method(model)
        method_label = f"learned:{model.tag}"
    if before.site_id != after.site_id:
        raise TilePairError(
            f"{before.path} (site {before.site_id}) and {after.path} (site {after.site_id}) "
            "are different sites; compare tiles of one site"
        )
    grid = common_grid(before, after, min_overlap=p.min_overlap)
    gx, gy = _ground_gsd(grid)
    gsd_m = (gx + gy) / 2.0
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".work.", dir=out))
    files: list[_FileStore] = []
    try:
        rows, cols = grid.shape
        # the stores hold each output and its COG overviews (factors 2, 4, ...),
        # which the engine computes block by block
        n_levels = len(_cog_overview_factors(cols, rows))
        level_grids = [_level_grid(grid, k) for k in range(1, n_levels + 1)]
        score_stores: list[ArrayStore] | list[_FileStore]
        mask_stores: list[ArrayStore] | list[_FileStore]
        if rows * cols <= _IN_MEMORY_PX:
            # numpy stores: the block workers read them in parallel, and GDAL
            # copies them to COGs in place (no MEM dataset written block by block)
            score_stores = [ArrayStore(np.empty(g.shape, np.float32)) for g in (grid, *level_grids)]
            mask_stores = [ArrayStore(np.empty(g.shape, np.uint8)) for g in (grid, *level_grids)]
        else:
            score_stores = [
                _FileStore(g, "float32", math.nan, work / f"score.{k}.tif")
                for k, g in enumerate((grid, *level_grids))
            ]
            mask_stores = [
                _FileStore(g, "uint8", 255, work / f"mask.{k}.tif")
                for k, g in enumerate((grid, *level_grids))
            ]
            files = [*score_stores, *mask_stores]
        score_store, mask_store = score_stores[0], mask_stores[0]
        score_path, mask_path = out / "score.tif", out / "mask.tif"
        # COGs are written into the work folder and moved into place at the
        # end, so a failed run replaces none of the previous outputs
        score_cog, mask_cog = work / "score.tif.cog", work / "mask.tif.cog"
        # GDAL writes the COGs (GIL released) while the engine's mask pass runs
        # or the vectors are built
        with ThreadPoolExecutor(max_workers=2) as pool:
            jobs: list[Future[None]] = []

            def to_cog(stores: list[ArrayStore] | list[_FileStore], target: Path) -> None:
                levels: list[np.ndarray | Path] = []
                for st in stores:
                    if isinstance(st, ArrayStore):
                        levels.append(st.array)
                    else:
                        # flushed for GDAL's own handle; the mask pass still reads the score
                        st.freeze()
                        levels.append(st.path)
                dtype = np.dtype(np.uint8 if stores is mask_stores else np.float32)
                nodata = 255.0 if stores is mask_stores else math.nan
                jobs.append(pool.submit(_levels_cog, levels, dtype, grid, nodata, target))

            try:
                with (
                    rasterio.Env(GDAL_CACHEMAX=_GDAL_CACHE_MB),
                    RasterPair(before, after, grid) as pair,
                ):
                    res = run_engine(
                        pair,
                        p,
                        gsd_m=gsd_m,
                        score_store=score_store,
                        mask_store=mask_store,
                        progress=progress,
                        change_method=change_method,
                        score_overviews=score_stores[1:],
                        mask_overviews=mask_stores[1:],
                        on_score_final=lambda: to_cog(score_stores, score_cog),
                    )
            except ValueError as exc:
                if "no valid pixels" in str(exc):
                    raise TilePairError(
                        f"{before.path} and {after.path} have no valid pixels in common "
                        "(all nodata or cloud over the overlap)"
                    ) from exc
                raise
            to_cog(mask_stores, mask_cog)
            regions = regions_to_model(
                res.regions,
                grid,
                before=before,
                after=after,
                method=method_label,
                pixel_area_m2=gx * gy,
            )
            gj = write_features(out / "changes.geojson", regions, layer="changes")
            gp = write_features(out / "changes.gpkg", regions, layer="changes")
            for j in jobs:
                j.result()
        os.replace(score_cog, score_path)
        os.replace(mask_cog, mask_path)
        # compact JSON (the C encoder): polygons with pixel-edge vertices are long
        rj = write_json_atomic(out / "regions.json", [r.to_dict() for r in regions], indent=None)
        summary = _summary(res, before, after, grid, gsd_m, regions)
        summary["method"] = method_label
        sj = write_json_atomic(out / "summary.json", summary)
    finally:
        for f in files:
            f.close()
        shutil.rmtree(work, ignore_errors=True)
    return ChangeOutputs(out, score_path, mask_path, gj, gp, rj, sj, regions, summary)


def _summary(
    res: EngineResult,
    before: Tile,
    after: Tile,
    grid: Grid,
    gsd_m: float,
    regions: tuple[ChangeRegion, ...],
) -> dict[str, Any]:
    d = res.to_dict()
    d.update(
        {
            "before": before.provenance() | {"path": before.path},
            "after": after.provenance() | {"path": after.path},
            "site_id": after.site_id,
            "grid": grid.to_dict(),
            "gsd_m": gsd_m,
            "regions": len(regions),
            "changed_area_m2": float(sum(r.area_m2 for r in regions)),
            "outputs": {
                "score": "score.tif",
                "mask": "mask.tif",
                "geojson": "changes.geojson",
                "gpkg": "changes.gpkg",
                "regions": "regions.json",
            },
        }
    )
    return d
