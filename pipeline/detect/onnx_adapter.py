"""A user-supplied ONNX detector behind the :class:`~pipeline.detect.base.Detector` interface.

I/O contract of the ONNX model
------------------------------
* **Input** -- the model's first input: float32 tensor ``(1, C, H, W)``
  (``N=1``; ``H``/``W`` may be fixed or dynamic). ``C`` is the model's
  declared channel count (the first ``C`` bands of the tile are used; a
  single band is repeated when ``C`` > bands). Values are the tile's pixels
  linearly stretched per band so that its 2nd-98th percentiles map to
  ``[0, 1]`` (clipped).
* **Output** -- the model's first output: float32 objectness heat map
  ``(1, 1, H', W')`` with values in ``[0, 1]``; ``H/H'`` (= ``W/W'``) is the
  output stride (1 for a fully convolutional same-size map).
* The adapter thresholds the map at ``threshold``, labels connected
  components, maps each back to input pixels, measures its oriented extents
  along its mirror-symmetry axis (as the ``measure`` detector does) and
  classifies the dimensions against the type table. The score is the
  component's peak heat. Models with fixed ``H``/``W`` are run on windows of
  that size (zero-padded at the edges); dynamic models on the whole image.

Box models (optional, backward compatible)
------------------------------------------
* **Second output** -- float32 ``(1, 2, H', W')`` or ``(1, 4, H', W')`` on
  the heat map's grid: channels 0 and 1 are ``log`` of the height (rows) and
  width (cols) of an axis-aligned box in **metres**; channels 2 and 3, when
  present, are the object centre's offset from the output cell's centre in
  output cells (row, col). With it the heat map is read as a *centre* map
  (CenterNet style): local maxima (3 x 3) with heat >= ``threshold`` are
  objects, each box is read at its peak, boxes overlapping a better one
  (IoU > ``nms_iou``) are dropped. Detections are axis-aligned boxes with
  class and category ``category`` (default ``aircraft``), the peak heat as
  score and no length/span (the box does not give them). Box models must
  have dynamic ``H``/``W``; they are run on overlapping windows. Boxes are
  clipped to the image.
* **Metadata** ``sitewatch.input_gsd_m`` (in the model's
  ``metadata_props``, optional, any model): the image is resampled to this
  GSD (metres per pixel) before the stretch, so one model serves tiles of any
  GSD; without it the model sees the tile's own pixels.
* **Metadata** ``sitewatch.threshold`` and ``sitewatch.flip_tta`` (optional):
  the heat threshold and flip averaging (``"1"``/``"0"``) the model was
  measured with, used unless the caller sets them.

The model file is only loaded through onnxruntime (no Python code runs).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from pipeline.detect.base import make_detection
from pipeline.detect.classify import classify_dims
from pipeline.detect.geometry import oriented_rect
from pipeline.detect.measure import body_axis, measure_mask
from pipeline.errors import ModelFileError
from pipeline.grid import Grid
from pipeline.model import Detection, Tile

#: Metadata key (ONNX ``metadata_props``) naming the GSD the model expects, metres.
GSD_KEY = "sitewatch.input_gsd_m"
#: Metadata keys for the model's own default heat threshold and flip averaging.
THRESHOLD_KEY = "sitewatch.threshold"
FLIP_TTA_KEY = "sitewatch.flip_tta"


def resample(image: np.ndarray, factor: float) -> np.ndarray:
    """Shrink ``(bands, rows, cols)`` by ``factor`` (>1 coarser) to float32.

    An integer factor is a block mean (edge rows/cols that do not fill a block
    are averaged over what there is); any other factor is a Gaussian prefilter
    (when shrinking) and bilinear resampling on the pixel-area grid.
    """
    arr = np.asarray(image, dtype=np.float32)
    if abs(factor - 1.0) < 1e-6:
        return arr
    k = int(round(factor))
    if k >= 2 and abs(factor - k) < 1e-6:
        b, r, c = arr.shape
        rr, cc = -(-r // k), -(-c // k)
        pad = np.pad(arr, ((0, 0), (0, rr * k - r), (0, cc * k - c)), mode="edge")
        return pad.reshape(b, rr, k, cc, k).mean(axis=(2, 4), dtype=np.float32)
    if factor > 1.0:
        arr = ndimage.gaussian_filter(arr, sigma=(0, 0.5 * factor, 0.5 * factor), mode="nearest")
    shape = (
        arr.shape[0],
        max(1, round(arr.shape[1] / factor)),
        max(1, round(arr.shape[2] / factor)),
    )
    zoom = (1.0, shape[1] / arr.shape[1], shape[2] / arr.shape[2])
    return np.asarray(
        ndimage.zoom(arr, zoom, order=1, mode="nearest", grid_mode=True), dtype=np.float32
    )


def prepare(
    image: np.ndarray,
    *,
    gsd_m: float,
    input_gsd_m: float | None,
    valid: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Model input of one ``(bands, rows, cols)`` image: resampled to ``input_gsd_m``, stretched.

    Returns the float32 ``(bands, rows', cols')`` input and the resampled
    valid mask (a model pixel is valid when all its source pixels are).
    Trainers use this too, so a model sees at inference what it saw in
    training.
    """
    img = image if image.ndim == 3 else image[None]
    factor = 1.0 if not input_gsd_m else float(input_gsd_m) / float(gsd_m)
    small = resample(img, factor)
    vs = None
    if valid is not None:
        vs = resample(valid[None].astype(np.float32), factor)[0] >= 0.999
    return stretch(small, vs), vs


def box_iou_matrix(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``(row0, col0, row1, col1)`` box with each row of ``boxes``."""
    ih = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])
    iw = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])
    inter = np.clip(ih, 0, None) * np.clip(iw, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return np.asarray(inter / np.maximum(area + areas - inter, 1e-9), dtype=np.float64)


def decode_boxes(
    heat: np.ndarray,
    sizes: np.ndarray,
    *,
    stride: float,
    pixel_m: float,
    threshold: float,
    nms_iou: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes from a centre heat map and its size (+ offset) channels.

    Parameters
    ----------
    heat : ndarray
        ``(H', W')`` centre heat in ``[0, 1]``.
    sizes : ndarray
        ``(2 or 4, H', W')``: log box height and width in metres, then
        (optionally) the centre offset from the cell centre in cells (row, col).
    stride : float
        Model input pixels per output cell.
    pixel_m : float
        Metres per model input pixel.
    threshold, nms_iou : float
        Peak heat kept; IoU above which a lower-scoring box is dropped.

    Returns
    -------
    boxes : ndarray
        ``(n, 4)`` float64 ``(row0, col0, row1, col1)`` in model input pixels
        (continuous, from the upper-left corner), best first.
    scores : ndarray
        ``(n,)`` peak heat.
    """
    peak = (heat == ndimage.maximum_filter(heat, size=3, mode="constant")) & (heat >= threshold)
    rr, cc = np.nonzero(peak)
    score = heat[rr, cc].astype(np.float64)
    order = np.argsort(-score, kind="stable")
    rr, cc, score = rr[order], cc[order], score[order]
    off_r = sizes[2, rr, cc] if sizes.shape[0] >= 4 else 0.0
    off_c = sizes[3, rr, cc] if sizes.shape[0] >= 4 else 0.0
    cy = (rr + 0.5 + off_r) * stride
    cx = (cc + 0.5 + off_c) * stride
    h = np.exp(np.clip(sizes[0, rr, cc].astype(np.float64), -5, 8)) / pixel_m
    w = np.exp(np.clip(sizes[1, rr, cc].astype(np.float64), -5, 8)) / pixel_m
    boxes = np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=1).reshape(-1, 4)
    keep: list[int] = []
    for i in range(len(boxes)):
        if not keep or box_iou_matrix(boxes[i], boxes[keep]).max() <= nms_iou:
            keep.append(i)
    return boxes[keep], score[keep]


def stretch(image: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Per-band 2nd-98th percentile stretch of ``(bands, rows, cols)`` to float32 ``[0, 1]``."""
    arr = np.asarray(image, dtype=np.float32)
    out = np.empty_like(arr)
    for b in range(arr.shape[0]):
        vals = arr[b][valid] if valid is not None and valid.any() else arr[b]
        lo, hi = np.percentile(vals, [2, 98]) if vals.size else (0.0, 1.0)
        out[b] = np.clip((arr[b] - lo) / max(float(hi - lo), 1e-6), 0.0, 1.0)
    return out


@dataclass
class OnnxDetector:
    """Run an ONNX heat-map model (see the module docstring for its I/O contract).

    Parameters
    ----------
    path : str or Path
        The ``.onnx`` file.
    threshold : float, optional
        Heat threshold for an object pixel (box models: for a peak). Default:
        the model's ``sitewatch.threshold`` metadata, else 0.5.
    min_area_px : int
        Smallest component kept (input pixels).
    nms_iou : float
        Box models: IoU above which a lower-scoring box is dropped.
    category : str
        Box models: class and category of every detection.
    window_px : int
        Box models: side of the windows (model input pixels, a multiple of
        64) the image is run in; neighbouring windows overlap by 64 pixels.
    flip_tta : bool, optional
        Box models: also run the image flipped left-right, up-down and both,
        and average the four heat and size maps (flipped back; centre offsets
        change sign along a flipped axis) before peaks are read. Four times
        the inference time. Default: the model's ``sitewatch.flip_tta``
        metadata (``"1"``/``"0"``), else off.
    """

    path: str
    threshold: float | None = None
    min_area_px: int = 4
    nms_iou: float = 0.5
    category: str = "aircraft"
    window_px: int = 1024
    flip_tta: bool | None = None
    name: str = "onnx"
    version: str = field(init=False, default="")
    _session: Any = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        p = Path(self.path)
        if not p.is_file():
            raise ModelFileError(f"{p}: ONNX model file not found")
        digest = hashlib.sha256(p.read_bytes()).hexdigest()[:16]
        self.version = f"onnx:{digest}"

    def _sess(self) -> Any:
        if self._session is None:
            import onnxruntime as ort

            try:
                self._session = ort.InferenceSession(
                    os.fspath(self.path), providers=["CPUExecutionProvider"]
                )
            except Exception as exc:  # onnxruntime raises its own exception types
                raise ModelFileError(f"{self.path}: not a loadable ONNX model ({exc})") from exc
        return self._session

    def _meta(self) -> dict[str, str]:
        return dict(self._sess().get_modelmeta().custom_metadata_map)

    def input_gsd_m(self) -> float | None:
        """The GSD (metres) the model expects (``sitewatch.input_gsd_m``), or None."""
        v = self._meta().get(GSD_KEY)
        try:
            return None if v is None else float(v)
        except ValueError as exc:
            raise ModelFileError(f"{self.path}: metadata {GSD_KEY}={v!r} is not a number") from exc

    def heat_threshold(self) -> float:
        """The heat threshold in use: ``threshold``, else the model's metadata, else 0.5."""
        if self.threshold is not None:
            return float(self.threshold)
        v = self._meta().get(THRESHOLD_KEY)
        try:
            t = 0.5 if v is None else float(v)
        except ValueError as exc:
            raise ModelFileError(
                f"{self.path}: metadata {THRESHOLD_KEY}={v!r} is not a number"
            ) from exc
        if not 0.0 < t < 1.0:
            raise ModelFileError(f"{self.path}: metadata {THRESHOLD_KEY}={v!r} is not in (0, 1)")
        return t

    def uses_flip_tta(self) -> bool:
        """Whether maps are averaged over flips: ``flip_tta``, else the model's metadata."""
        if self.flip_tta is not None:
            return bool(self.flip_tta)
        v = self._meta().get(FLIP_TTA_KEY, "0")
        if v not in ("0", "1"):
            raise ModelFileError(f"{self.path}: metadata {FLIP_TTA_KEY}={v!r} is not '0' or '1'")
        return v == "1"

    def is_box_model(self) -> bool:
        """True when the model has the optional box-size output."""
        return len(self._sess().get_outputs()) >= 2

    def box_maps(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Heat ``(H', W')``, sizes ``(k, H', W')`` and stride of a box model on input ``x``.

        ``x`` is the prepared ``(C, rows, cols)`` input; it is run in
        ``window_px`` windows overlapping by 64 pixels, each window's core
        pasted into the full maps. With ``flip_tta`` the maps are the mean
        over the four flips of ``x``.
        """
        if not self.uses_flip_tta():
            return self._box_maps_once(x)
        rows, cols = x.shape[1:]
        # pad to a multiple of 64 so that output cells mirror onto output cells exactly
        pr, pc = -rows % 64, -cols % 64
        xp = np.pad(x, ((0, 0), (0, pr), (0, pc))) if pr or pc else x
        heat_sum: np.ndarray | None = None
        size_sum: np.ndarray | None = None
        stride = 0.0
        for flip_r, flip_c in ((False, False), (False, True), (True, False), (True, True)):
            axes = tuple(a for a, f in ((1, flip_r), (2, flip_c)) if f)
            heat, sizes, stride = self._box_maps_once(np.flip(xp, axes) if axes else xp)
            if axes:
                heat = np.flip(heat, tuple(a - 1 for a in axes))
                sizes = np.flip(sizes, axes).copy()
                if sizes.shape[0] >= 4:
                    if flip_r:
                        sizes[2] *= -1
                    if flip_c:
                        sizes[3] *= -1
            heat_sum = heat if heat_sum is None else heat_sum + heat
            size_sum = sizes if size_sum is None else size_sum + sizes
        assert heat_sum is not None and size_sum is not None
        n_r, n_c = -(-rows // int(stride)), -(-cols // int(stride))
        return heat_sum[:n_r, :n_c] / 4, size_sum[:, :n_r, :n_c] / 4, stride

    def _box_maps_once(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        sess = self._sess()
        inp = sess.get_inputs()[0]
        shape = list(inp.shape)
        if len(shape) != 4 or isinstance(shape[2], int) or isinstance(shape[3], int):
            raise ModelFileError(
                f"{self.path}: a model with a box-size output needs input (1, C, H, W) "
                f"with dynamic H and W, got {shape}"
            )
        c = shape[1] if isinstance(shape[1], int) else x.shape[0]
        if x.shape[0] < c:
            x = np.concatenate([x] + [x[-1:]] * (c - x.shape[0]), axis=0)
        x = x[:c]
        ov = 64
        if self.window_px % ov or self.window_px < 3 * ov:
            raise ValueError(f"window_px={self.window_px} must be a multiple of 64, >= 192")
        step = self.window_px - 2 * ov
        rows, cols = x.shape[1:]
        heat: np.ndarray | None = None
        sizes: np.ndarray | None = None
        stride = 0
        for r0 in range(0, rows, step):
            for c0 in range(0, cols, step):
                wr0, wc0 = max(0, r0 - ov), max(0, c0 - ov)
                wr1, wc1 = min(rows, r0 + step + ov), min(cols, c0 + step + ov)
                chunk = np.zeros((1, c, -(-(wr1 - wr0) // ov) * ov, -(-(wc1 - wc0) // ov) * ov))
                chunk[0, :, : wr1 - wr0, : wc1 - wc0] = x[:, wr0:wr1, wc0:wc1]
                h_out, s_out = sess.run(None, {inp.name: chunk.astype(np.float32)})[:2]
                h_out = np.asarray(h_out, dtype=np.float32)
                s_out = np.asarray(s_out, dtype=np.float32)
                if (
                    h_out.ndim != 4
                    or h_out.shape[:2] != (1, 1)
                    or s_out.ndim != 4
                    or s_out.shape[0] != 1
                    or s_out.shape[1] not in (2, 4)
                    or s_out.shape[2:] != h_out.shape[2:]
                ):
                    raise ModelFileError(
                        f"{self.path}: outputs must be (1, 1, H', W') and (1, 2 or 4, H', W'), "
                        f"got {h_out.shape} and {s_out.shape}"
                    )
                s = chunk.shape[2] // h_out.shape[2]
                if s < 1 or ov % s or s * h_out.shape[2] != chunk.shape[2]:
                    raise ModelFileError(
                        f"{self.path}: output stride {chunk.shape[2] / h_out.shape[2]} "
                        "must be an integer dividing 64"
                    )
                if heat is None or sizes is None:
                    stride = s
                    heat = np.zeros((-(-rows // s), -(-cols // s)), dtype=np.float32)
                    sizes = np.zeros((s_out.shape[1], *heat.shape), dtype=np.float32)
                g0, g1 = r0 // s, -(-min(rows, r0 + step) // s)
                f0, f1 = c0 // s, -(-min(cols, c0 + step) // s)
                lr, lc = (r0 - wr0) // s, (c0 - wc0) // s
                heat[g0:g1, f0:f1] = h_out[0, 0, lr : lr + g1 - g0, lc : lc + f1 - f0]
                sizes[:, g0:g1, f0:f1] = s_out[0, :, lr : lr + g1 - g0, lc : lc + f1 - f0]
        if heat is None or sizes is None:
            raise ValueError("empty image")
        return heat, sizes, float(stride)

    def detect_boxes(
        self, image: np.ndarray, *, gsd_m: float, valid: np.ndarray | None = None
    ) -> list[tuple[tuple[float, float, float, float], float]]:
        """Boxes ``(row0, col0, row1, col1)`` in image pixels and their scores, best first.

        For box models only (see the module docstring); ``gsd_m`` is the
        image's GSD in metres. Boxes are clipped to the image (objects cut by
        the border are boxed by their visible part); boxes whose centre is on
        an invalid pixel are dropped.
        """
        want = self.input_gsd_m()
        x, _ = prepare(image, gsd_m=gsd_m, input_gsd_m=want, valid=valid)
        heat, sizes, stride = self.box_maps(x)
        img_rows, img_cols = image.shape[-2:]
        fr, fc = img_rows / x.shape[1], img_cols / x.shape[2]
        boxes, scores = decode_boxes(
            heat,
            sizes,
            stride=stride,
            pixel_m=gsd_m * fr,
            threshold=self.heat_threshold(),
            nms_iou=self.nms_iou,
        )
        out = []
        for (r0, c0, r1, c1), sc in zip(boxes, scores, strict=True):
            # clip to the image: an object cut by the border is seen (and labelled) only inside
            b = (
                float(np.clip(r0 * fr, 0, img_rows)),
                float(np.clip(c0 * fc, 0, img_cols)),
                float(np.clip(r1 * fr, 0, img_rows)),
                float(np.clip(c1 * fc, 0, img_cols)),
            )
            if b[2] <= b[0] or b[3] <= b[1]:
                continue
            cr, cc = int((b[0] + b[2]) / 2), int((b[1] + b[3]) / 2)
            if valid is not None and not (
                0 <= cr < valid.shape[0] and 0 <= cc < valid.shape[1] and valid[cr, cc]
            ):
                continue
            out.append((b, float(sc)))
        return out

    def heatmap(
        self, image: np.ndarray, valid: np.ndarray | None = None, *, gsd_m: float | None = None
    ) -> np.ndarray:
        """Model heat map resampled to the image's ``(rows, cols)``.

        For models with ``sitewatch.input_gsd_m`` the image is first
        resampled and ``gsd_m`` (the image's GSD, metres) is needed.
        """
        sess = self._sess()
        inp = sess.get_inputs()[0]
        shape = list(inp.shape)
        if len(shape) != 4:
            raise ModelFileError(f"{self.path}: input must be (1, C, H, W), got {shape}")
        want = self.input_gsd_m()
        if want is not None and gsd_m is None:
            raise ValueError(
                f"{self.path}: the model wants {want} m pixels; give the image's gsd_m"
            )
        x, _ = prepare(image, gsd_m=gsd_m or 1.0, input_gsd_m=want, valid=valid)
        x_rows, x_cols = x.shape[1:]
        c = shape[1] if isinstance(shape[1], int) else x.shape[0]
        if x.shape[0] < c:
            x = np.concatenate([x] + [x[-1:]] * (c - x.shape[0]), axis=0)
        x = x[:c]
        rows, cols = x.shape[1:]
        fixed = isinstance(shape[2], int) and isinstance(shape[3], int)
        win_r, win_c = (shape[2], shape[3]) if fixed else (rows, cols)
        heat = np.zeros((rows, cols), dtype=np.float32)
        for r0 in range(0, rows, win_r):
            for c0 in range(0, cols, win_c):
                chunk = np.zeros((1, c, win_r, win_c), dtype=np.float32)
                part = x[:, r0 : r0 + win_r, c0 : c0 + win_c]
                chunk[0, :, : part.shape[1], : part.shape[2]] = part
                out = np.asarray(sess.run(None, {inp.name: chunk})[0], dtype=np.float32)
                if out.ndim != 4 or out.shape[:2] != (1, 1):
                    raise ModelFileError(
                        f"{self.path}: output must be (1, 1, H', W'), got {out.shape}"
                    )
                stride = win_r / out.shape[2]
                up = np.kron(out[0, 0], np.ones((int(round(stride)),) * 2, dtype=np.float32))
                up = up[: part.shape[1], : part.shape[2]]
                heat[r0 : r0 + up.shape[0], c0 : c0 + up.shape[1]] = up
        img_rows, img_cols = image.shape[-2:]
        if (x_rows, x_cols) != (img_rows, img_cols):
            ri = np.minimum((np.arange(img_rows) + 0.5) * x_rows / img_rows, x_rows - 1)
            ci = np.minimum((np.arange(img_cols) + 0.5) * x_cols / img_cols, x_cols - 1)
            heat = heat[ri.astype(np.intp)[:, None], ci.astype(np.intp)[None, :]]
        return heat

    def detect(
        self,
        image: np.ndarray,
        *,
        grid: Grid,
        tile: Tile,
        valid: np.ndarray | None,
    ) -> list[Detection]:
        """Detect objects from the model's heat map (see :class:`pipeline.detect.base.Detector`)."""
        gsd = float(tile.gsd_m)
        if self.is_box_model():
            return self._box_detections(image, grid=grid, tile=tile, valid=valid)
        heat = self.heatmap(image, valid, gsd_m=gsd)
        mask = heat >= self.heat_threshold()
        if valid is not None:
            mask &= valid
        lab, _ = ndimage.label(mask)
        dets: list[Detection] = []
        for i, sl in enumerate(ndimage.find_objects(lab), start=1):
            if sl is None:
                continue
            comp = lab[sl] == i
            if comp.sum() < self.min_area_px:
                continue
            axis, _ = body_axis(comp)
            center, heading, length, width, *_ = measure_mask(comp, axis)
            ring = oriented_rect(
                (center[0] + sl[0].start, center[1] + sl[1].start), length, width, heading
            )
            call = classify_dims(length * gsd, width * gsd, gsd_m=gsd)
            dets.append(
                make_detection(
                    cls=call.cls,
                    category=call.category,
                    score=float(heat[sl][comp].max()),
                    footprint_px=ring,
                    grid=grid,
                    tile=tile,
                    detector=self.name,
                    detector_version=self.version,
                    length_m=length * gsd,
                    wingspan_m=width * gsd,
                    heading_deg=heading,
                    model=self.version,
                )
            )
        return dets

    def _box_detections(
        self, image: np.ndarray, *, grid: Grid, tile: Tile, valid: np.ndarray | None
    ) -> list[Detection]:
        out = []
        for (r0, c0, r1, c1), score in self.detect_boxes(
            image, gsd_m=float(tile.gsd_m), valid=valid
        ):
            out.append(
                make_detection(
                    cls=self.category,
                    category=self.category,
                    score=score,
                    footprint_px=((r0, c0), (r0, c1), (r1, c1), (r1, c0), (r0, c0)),
                    grid=grid,
                    tile=tile,
                    detector=self.name,
                    detector_version=self.version,
                    model=self.version,
                )
            )
        return out
