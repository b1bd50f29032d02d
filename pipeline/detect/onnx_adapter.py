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
    threshold : float
        Heat threshold for an object pixel.
    min_area_px : int
        Smallest component kept (input pixels).
    """

    path: str
    threshold: float = 0.5
    min_area_px: int = 4
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

    def heatmap(self, image: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        """Model heat map resampled to the image's ``(rows, cols)``."""
        sess = self._sess()
        inp = sess.get_inputs()[0]
        shape = list(inp.shape)
        if len(shape) != 4:
            raise ModelFileError(f"{self.path}: input must be (1, C, H, W), got {shape}")
        x = stretch(image if image.ndim == 3 else image[None], valid)
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
        heat = self.heatmap(image, valid)
        mask = heat >= self.threshold
        if valid is not None:
            mask &= valid
        lab, _ = ndimage.label(mask)
        gsd = float(tile.gsd_m)
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
