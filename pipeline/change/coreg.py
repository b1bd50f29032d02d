"""Co-registration: residual sub-pixel shift between two dates by phase correlation.

Shifts are ``(d_row, d_col)`` in pixels of the common grid, with the
:func:`scipy.ndimage.shift` sign convention: ``shift_image(after, s)`` lines the
after image up with the before image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.fft
from scipy import ndimage
from skimage.registration import phase_cross_correlation


@dataclass(frozen=True)
class Shift:
    """Residual shift between dates.

    Attributes
    ----------
    row_px, col_px : float
        Shift in pixels to apply to the after image (``scipy.ndimage.shift`` sense).
    error : float
        skimage's translation-invariant normalised RMS error (0 best, 1 worst).
    peak_ratio : float
        Height of the correlation peak over the mean of the next-highest
        peaks; above ~3 the shift is well determined.
    gsd_m : float
        Pixel size in metres, used for :attr:`metres`.
    """

    row_px: float = 0.0
    col_px: float = 0.0
    error: float = 0.0
    peak_ratio: float = 0.0
    gsd_m: float = 1.0

    @property
    def magnitude_px(self) -> float:
        """Length of the shift in pixels."""
        return float(np.hypot(self.row_px, self.col_px))

    @property
    def metres(self) -> tuple[float, float]:
        """``(d_row, d_col)`` shift in metres (rows grow southwards)."""
        return (self.row_px * self.gsd_m, self.col_px * self.gsd_m)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "row_px": self.row_px,
            "col_px": self.col_px,
            "magnitude_px": self.magnitude_px,
            "row_m": self.metres[0],
            "col_m": self.metres[1],
            "magnitude_m": self.magnitude_px * self.gsd_m,
            "error": self.error,
            "peak_ratio": self.peak_ratio,
        }


def gradient_magnitude(image: np.ndarray, *, sigma: float = 1.0) -> np.ndarray:
    """Gaussian gradient magnitude of the band mean of a ``(bands, rows, cols)`` image."""
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 3:
        img = img.mean(axis=0)
    return np.asarray(ndimage.gaussian_gradient_magnitude(img, sigma=sigma), dtype=np.float32)


def _fill(image: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Replace invalid (and non-finite) pixels by each band's valid mean."""
    img = np.asarray(image, dtype=np.float32).copy()
    for band in img:
        ok = valid & np.isfinite(band)
        band[~ok] = band[ok].mean() if ok.any() else 0.0
    return img


def _prepare(feature: np.ndarray, valid: np.ndarray) -> np.ndarray:
    f = np.asarray(feature, dtype=np.float64).copy()
    # gradients at the edge of invalid areas are artefacts: drop a 2-pixel rim
    valid = ndimage.binary_erosion(valid, iterations=2, border_value=1)
    mean = float(f[valid].mean()) if np.any(valid) else 0.0
    f[~valid] = mean
    f -= mean
    # Taper the borders so the image edge does not dominate the correlation.
    rows, cols = f.shape
    f *= np.outer(np.hanning(rows), np.hanning(cols))
    return f


def _peak_ratio(fr: np.ndarray, fm: np.ndarray) -> float:
    """Phase-correlation peak over the mean of the next ten, from both images' FFTs."""
    cross = fr * fm.conj()
    cross /= np.maximum(np.abs(cross), 1e-12)
    corr = np.abs(scipy.fft.ifft2(cross))
    peak = np.unravel_index(int(np.argmax(corr)), corr.shape)
    top = float(corr[peak])
    masked = corr.copy()
    r, c = peak
    rr = np.arange(r - 2, r + 3) % corr.shape[0]
    cc = np.arange(c - 2, c + 3) % corr.shape[1]
    masked[np.ix_(rr, cc)] = 0.0
    others = np.sort(masked.ravel())[-10:]
    return top / max(float(others.mean()), 1e-12)


def estimate_shift(
    before: np.ndarray,
    after: np.ndarray,
    *,
    valid: np.ndarray | None = None,
    upsample_factor: int = 50,
    gsd_m: float = 1.0,
    max_size: int = 1024,
) -> Shift:
    """Sub-pixel shift that lines ``after`` up with ``before``.

    Phase correlation (:func:`skimage.registration.phase_cross_correlation`)
    on gradient magnitude, which is robust to illumination and haze
    differences. Invalid pixels (nodata, cloud) are filled with the mean and
    the borders are tapered. A central crop of at most ``max_size`` pixels a
    side is used.

    Parameters
    ----------
    before, after : ndarray, (bands, rows, cols) or (rows, cols)
        The two dates on the same grid.
    valid : ndarray of bool, (rows, cols), optional
        Pixels valid in both dates.
    upsample_factor : int
        Sub-pixel precision is ``1 / upsample_factor`` pixels (>= 20).
    gsd_m : float
        Pixel size in metres (only for reporting).
    max_size : int
        Crop size limit in pixels.
    """
    b = before if before.ndim == 3 else before[np.newaxis]
    a = after if after.ndim == 3 else after[np.newaxis]
    rows, cols = b.shape[1:]
    if valid is None:
        valid = np.ones((rows, cols), dtype=bool)
    h, w = min(rows, max_size), min(cols, max_size)
    r0, c0 = (rows - h) // 2, (cols - w) // 2
    sl = (slice(r0, r0 + h), slice(c0, c0 + w))
    v = valid[sl]
    if v.mean() < 0.05 or h < 16 or w < 16:
        return Shift(gsd_m=gsd_m, error=1.0, peak_ratio=0.0)
    ref = _prepare(gradient_magnitude(_fill(b[:, sl[0], sl[1]], v)), v)
    mov = _prepare(gradient_magnitude(_fill(a[:, sl[0], sl[1]], v)), v)
    # both FFTs once, for skimage and for the peak ratio
    fr, fm = scipy.fft.fft2(ref), scipy.fft.fft2(mov)
    shift, error, _ = phase_cross_correlation(
        fr, fm, upsample_factor=upsample_factor, space="fourier"
    )
    ratio = _peak_ratio(fr, fm)
    return Shift(
        row_px=float(shift[0]),
        col_px=float(shift[1]),
        error=float(error),
        peak_ratio=float(ratio),
        gsd_m=gsd_m,
    )


def shift_image(image: np.ndarray, shift: tuple[float, float], *, order: int = 1) -> np.ndarray:
    """Shift a ``(bands, rows, cols)`` or ``(rows, cols)`` image by ``(d_row, d_col)`` pixels.

    Bilinear (``order=1``) interpolation keeps the operation local, so block-wise
    application with a halo of ``ceil(|shift|) + 1`` pixels matches the whole
    array exactly. Edges are extended with the nearest value; use
    :func:`shift_valid` to mark them invalid.
    """
    img = np.asarray(image, dtype=np.float32)
    if shift[0] == 0 and shift[1] == 0:
        return img.copy()
    full = (0.0, *shift) if img.ndim == 3 else tuple(shift)
    return np.asarray(ndimage.shift(img, full, order=order, mode="nearest"), dtype=np.float32)


def shift_valid(valid: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """Validity after shifting: a pixel stays valid only if all pixels it draws from were."""
    if shift[0] == 0 and shift[1] == 0:
        return valid.copy()
    moved = ndimage.shift(valid.astype(np.float32), shift, order=1, mode="constant", cval=0.0)
    return np.asarray(moved > 0.999)
