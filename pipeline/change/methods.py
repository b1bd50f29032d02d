"""Change-score methods, in a registry keyed by name (:data:`CHANGE_METHODS`).

Each method is split in two so that block-wise processing equals whole-array
processing: ``fit`` computes the method's global parameters once from a
sample of patches, and ``score`` maps one block of both dates to a float32
score per pixel using only local context (``halo`` pixels). Inputs to both are
float32 ``(bands, rows, cols)`` images already co-registered and with the after
date normalised to the before date's radiometry. Larger scores mean more change.

Score units
-----------
``cva``         change-vector magnitude in units of per-band noise sigma
``log-ratio``   mean absolute natural-log ratio over bands
``ssim``        1 - structural similarity (0 identical ... 2)
``irmad``       square root of the IR-MAD chi-square statistic (Nielsen 2007), i.e. the
                MAD-variate distance in sigmas; :func:`no_change_probability` gives the
                chi-square no-change probability
``pca-kmeans``  distance to the no-change centroid minus distance to the change
                centroid in PCA feature space (Celik 2009); > 0 is change
``learned``     change probability (0..1) of a trained classifier; needs a model
                (:mod:`pipeline.change.learned`), so the registry entry only
                explains how to get one
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from pipeline.errors import ConfigError


@dataclass(frozen=True)
class Sample:
    """Patches used to fit global parameters.

    ``before``/``after``: ``(n, bands, P, P)`` float32; ``valid``: ``(n, P, P)`` bool.
    """

    before: np.ndarray
    after: np.ndarray
    valid: np.ndarray

    def pixels(self) -> tuple[np.ndarray, np.ndarray]:
        """Valid pixels of both dates as ``(bands, n)`` arrays."""
        return valid_pixels(self.before, self.valid), valid_pixels(self.after, self.valid)


def valid_pixels(patches: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Pixels of ``(n, bands, P, P)`` patches where ``valid`` ``(n, P, P)``, as ``(bands, m)``.

    One band at a time: a boolean index of the band-first view
    (``np.moveaxis(patches, 1, 0)[:, valid]``) took 7 ms for 100 patches of
    64 x 64 x 3, this 0.8 ms.
    """
    if patches.shape[1] == 0:
        return np.zeros((0, int(np.count_nonzero(valid))), dtype=patches.dtype)
    return np.stack([patches[:, i][valid] for i in range(patches.shape[1])])


@dataclass(frozen=True)
class ChangeMethod:
    """A registered change method: ``fit(sample) -> model``, ``score(b, a, model)``.

    ``halo`` is the context (pixels) ``score`` needs around a block; ``floor`` the
    smallest data-driven threshold accepted, in score units, so that a pair with
    no change is not split into two classes of noise by Otsu or
    Kittler-Illingworth (a ``fixed`` threshold is used as given).

    ``diff_score(after - before, model)``, when given, equals ``score`` but
    depends on the dates only through their difference. Pre-smoothing (a box
    mean) is linear, so the engine then smooths the difference once instead of
    each date and scores it with this.
    """

    name: str
    fit: Callable[[Sample], Any]
    score: Callable[[np.ndarray, np.ndarray, Any], np.ndarray]
    halo: int
    units: str
    floor: float = -np.inf
    diff_score: Callable[[np.ndarray, Any], np.ndarray] | None = None


#: Sample pixels the noise spread is estimated on (a robust spread from 100k
#: pixels is within ~0.5 % of the full sample's; 410k pixels took 0.1 s).
_SIGMA_PIXELS = 100_000


def _noise_sigma(sample: Sample) -> np.ndarray:
    b, a = sample.pixels()
    step = max(1, b.shape[1] // _SIGMA_PIXELS)
    b, a = b[:, ::step], a[:, ::step]
    d = (a - b).astype(np.float64)
    if d.shape[1] == 0:
        return np.ones(d.shape[0], dtype=np.float32)
    mad = 1.4826 * np.median(np.abs(d - np.median(d, axis=1, keepdims=True)), axis=1)
    spread = np.percentile(b, 99, axis=1) - np.percentile(b, 1, axis=1)
    floor = np.maximum(spread * 1e-3, 1e-6)
    return np.maximum(mad, floor).astype(np.float32)


# --------------------------------------------------------------------------- cva
def _cva_fit(sample: Sample) -> np.ndarray:
    return _noise_sigma(sample)


def _cva_score(before: np.ndarray, after: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    return _cva_diff_score(np.subtract(after, before, dtype=np.float32), sigma)


def _cva_diff_score(diff: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    # sqrt(mean_i (d_i / sigma_i)^2), one band at a time in float32 (no 3-band temporaries)
    w = (1.0 / (np.asarray(sigma, dtype=np.float64) * np.sqrt(diff.shape[0]))).astype(np.float32)
    out = np.multiply(diff[0], w[0], dtype=np.float32)
    np.square(out, out=out)
    t = np.empty_like(out)
    for i in range(1, diff.shape[0]):
        np.multiply(diff[i], w[i], out=t)
        np.square(t, out=t)
        out += t
    return np.sqrt(out, out=out)


# --------------------------------------------------------------------------- log-ratio
def _logratio_fit(sample: Sample) -> np.ndarray:
    b, a = sample.pixels()
    if b.shape[1] == 0:
        return np.ones(b.shape[0], dtype=np.float32)
    lo = np.minimum(np.percentile(b, 0.1, axis=1), np.percentile(a, 0.1, axis=1))
    hi = np.maximum(np.percentile(b, 99.9, axis=1), np.percentile(a, 99.9, axis=1))
    # shift so values are positive, plus 5 % of the range to tame dark pixels
    return (np.maximum(-lo, 0.0) + 0.05 * np.maximum(hi - lo, 1e-6)).astype(np.float32)


def _logratio_score(before: np.ndarray, after: np.ndarray, off: np.ndarray) -> np.ndarray:
    o = off[:, None, None]
    tiny = np.float32(1e-6)
    r = np.log(np.maximum(after + o, tiny)) - np.log(np.maximum(before + o, tiny))
    return np.mean(np.abs(r), axis=0).astype(np.float32)


# --------------------------------------------------------------------------- ssim
_SSIM_SIGMA = 1.5


def _ssim_fit(sample: Sample) -> np.ndarray:
    b, a = sample.pixels()
    if b.shape[1] == 0:
        return np.ones(b.shape[0], dtype=np.float32)
    rng = np.percentile(b, 99.5, axis=1) - np.percentile(b, 0.5, axis=1)
    return np.maximum(rng, 1e-6).astype(np.float32)


def _ssim_score(before: np.ndarray, after: np.ndarray, rng: np.ndarray) -> np.ndarray:
    out = np.zeros(before.shape[1:], dtype=np.float32)
    g = _SSIM_SIGMA
    for i in range(before.shape[0]):
        x, y = before[i], after[i]
        c1 = np.float32((0.01 * rng[i]) ** 2)
        c2 = np.float32((0.03 * rng[i]) ** 2)
        mx = ndimage.gaussian_filter(x, g)
        my = ndimage.gaussian_filter(y, g)
        vx = ndimage.gaussian_filter(x * x, g) - mx * mx
        vy = ndimage.gaussian_filter(y * y, g) - my * my
        cxy = ndimage.gaussian_filter(x * y, g) - mx * my
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        out += s.astype(np.float32)
    return (1.0 - out / before.shape[0]).astype(np.float32)


# --------------------------------------------------------------------------- irmad
@dataclass(frozen=True)
class IrmadModel:
    """Fitted IR-MAD transform: centred X·a - Y·b, divided by sigma, squared and summed."""

    mean_x: np.ndarray
    mean_y: np.ndarray
    a: np.ndarray
    b: np.ndarray
    sigma: np.ndarray
    rho: np.ndarray
    iterations: int


def irmad_fit(x: np.ndarray, y: np.ndarray, *, max_iter: int = 50, tol: float = 1e-5) -> IrmadModel:
    """Iteratively reweighted MAD (Nielsen 2007) on ``(bands, n)`` pixel samples.

    Each iteration solves the canonical correlation problem with weights equal
    to the previous iteration's chi-square no-change probability.
    """
    from scipy.stats import chi2  # about a second to import: only IR-MAD needs it

    p, n = x.shape
    xf = x.astype(np.float64)
    yf = y.astype(np.float64)
    w = np.ones(n)
    rho_old = np.zeros(p)
    scale = float(np.mean(np.var(xf, axis=1)) + np.mean(np.var(yf, axis=1))) / 2.0
    eye = np.eye(p) * max(scale, 1e-12) * 1e-9
    a = b = np.eye(p)
    sigma = np.ones(p)
    rho = np.zeros(p)
    iterations = 0
    mx = xf.mean(axis=1)
    my = yf.mean(axis=1)
    for it in range(1, max_iter + 1):
        iterations = it
        ws = w.sum()
        if ws < 1e-6 * n:
            break
        mx = (xf * w).sum(axis=1) / ws
        my = (yf * w).sum(axis=1) / ws
        xc = xf - mx[:, None]
        yc = yf - my[:, None]
        sxx = (xc * w) @ xc.T / ws + eye
        syy = (yc * w) @ yc.T / ws + eye
        sxy = (xc * w) @ yc.T / ws
        # generalised symmetric eigenproblems via Cholesky whitening
        lx = np.linalg.cholesky(sxx)
        ly = np.linalg.cholesky(syy)
        lxi = np.linalg.inv(lx)
        lyi = np.linalg.inv(ly)
        m = lxi @ sxy @ lyi.T
        u, s, vt = np.linalg.svd(m)
        a = lxi.T @ u
        b = lyi.T @ vt.T
        rho = np.clip(s, 0.0, 1.0 - 1e-9)
        # ascending correlation order (MAD variate 1 has the lowest correlation)
        order = np.argsort(rho)
        a, b, rho = a[:, order], b[:, order], rho[order]
        sigma = np.sqrt(np.maximum(2.0 * (1.0 - rho), 1e-12))
        mad = (a.T @ xc - b.T @ yc) / sigma[:, None]
        z = np.sum(mad * mad, axis=0)
        w = chi2.sf(z, p)
        if np.max(np.abs(rho - rho_old)) < tol:
            break
        rho_old = rho
    return IrmadModel(mx, my, a, b, sigma, rho, iterations)


_IRMAD_FIT_PIXELS = 100_000


def _irmad_fit(sample: Sample) -> IrmadModel:
    b, a = sample.pixels()
    step = max(1, b.shape[1] // _IRMAD_FIT_PIXELS)
    return irmad_fit(b[:, ::step], a[:, ::step])


def _irmad_score(before: np.ndarray, after: np.ndarray, m: IrmadModel) -> np.ndarray:
    p = before.shape[0]
    xb = before.reshape(p, -1) - m.mean_x[:, None].astype(np.float32)
    ya = after.reshape(p, -1) - m.mean_y[:, None].astype(np.float32)
    mad = (m.a.T.astype(np.float32) @ xb - m.b.T.astype(np.float32) @ ya) / m.sigma[:, None].astype(
        np.float32
    )
    z = np.sum(mad * mad, axis=0).reshape(before.shape[1:])
    return np.sqrt(z).astype(np.float32)


def no_change_probability(score: np.ndarray, bands: int) -> np.ndarray:
    """No-change probability of an IR-MAD score (``sqrt`` of chi-square, ``bands`` dof)."""
    from scipy.stats import chi2

    s = np.asarray(score, dtype=np.float64)
    return np.asarray(chi2.sf(s * s, bands), dtype=np.float32)


# --------------------------------------------------------------------------- pca-kmeans
_PCA_H = 5


@dataclass(frozen=True)
class PcaKmeansModel:
    """Celik (2009) PCA-k-means: noise sigmas, PCA of h x h difference blocks, 2 centroids."""

    sigma: np.ndarray
    mean: np.ndarray
    vectors: np.ndarray
    centroid_nochange: np.ndarray
    centroid_change: np.ndarray


def _diff_image(before: np.ndarray, after: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    return _cva_score(before, after, sigma)


def _features(diff: np.ndarray, m: PcaKmeansModel) -> np.ndarray:
    h = _PCA_H
    feats = np.empty((m.vectors.shape[1], *diff.shape), dtype=np.float32)
    for s in range(m.vectors.shape[1]):
        k = m.vectors[:, s].reshape(h, h).astype(np.float32)
        feats[s] = ndimage.correlate(diff, k, mode="reflect") - np.float32(m.mean @ m.vectors[:, s])
    return feats


def _pcakm_fit(sample: Sample) -> PcaKmeansModel:
    sigma = _noise_sigma(sample)
    h = _PCA_H
    blocks = []
    for i in range(sample.before.shape[0]):
        d = _diff_image(sample.before[i], sample.after[i], sigma)
        r, c = (d.shape[0] // h) * h, (d.shape[1] // h) * h
        if r == 0 or c == 0:
            continue
        v = sample.valid[i][:r, :c].reshape(r // h, h, c // h, h).all(axis=(1, 3)).ravel()
        bl = d[:r, :c].reshape(r // h, h, c // h, h).transpose(0, 2, 1, 3).reshape(-1, h * h)
        blocks.append(bl[v])
    data = np.concatenate(blocks).astype(np.float64) if blocks else np.zeros((0, h * h))
    if data.shape[0] < h * h:
        data = np.vstack([data, np.zeros((h * h, h * h))])
    mean = data.mean(axis=0)
    cov = np.cov(data - mean, rowvar=False)
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1]
    vals, vecs = np.maximum(vals[order], 0), vecs[:, order]
    frac = np.cumsum(vals) / max(vals.sum(), 1e-12)
    s = min(max(int(np.searchsorted(frac, 0.9)) + 1, 1), 6)
    vecs = vecs[:, :s]
    # fix eigenvector signs so the first is positive on average (deterministic)
    vecs = vecs * np.where(vecs.sum(axis=0) < 0, -1.0, 1.0)
    model = PcaKmeansModel(sigma, mean, vecs, np.zeros(s), np.zeros(s))
    feats = []
    means = []
    for i in range(sample.before.shape[0]):
        d = _diff_image(sample.before[i], sample.after[i], sigma)
        f = _features(d, model)
        v = sample.valid[i]
        feats.append(f[:, v].T)
        means.append(d[v])
    x = np.concatenate(feats).astype(np.float64) if feats else np.zeros((0, s))
    dm = np.concatenate(means) if means else np.zeros(0)
    if x.shape[0] < 2:
        return model
    # k-means, k=2, seeded deterministically at the low and high ends of the diff image
    c0 = x[dm <= np.percentile(dm, 50)].mean(axis=0)
    c1 = x[dm >= np.percentile(dm, 99)].mean(axis=0)
    for _ in range(50):
        d0 = np.sum((x - c0) ** 2, axis=1)
        d1 = np.sum((x - c1) ** 2, axis=1)
        lab = d1 < d0
        if lab.all() or not lab.any():
            break
        n0, n1 = x[~lab].mean(axis=0), x[lab].mean(axis=0)
        if np.allclose(n0, c0) and np.allclose(n1, c1):
            break
        c0, c1 = n0, n1
    # the change cluster is the one with the larger mean difference
    lab = np.sum((x - c1) ** 2, axis=1) < np.sum((x - c0) ** 2, axis=1)
    if lab.any() and (~lab).any() and dm[lab].mean() < dm[~lab].mean():
        c0, c1 = c1, c0
    return PcaKmeansModel(sigma, mean, vecs, c0, c1)


_PCA_MIN_DIFF = 1.5


def _pcakm_score(before: np.ndarray, after: np.ndarray, m: PcaKmeansModel) -> np.ndarray:
    diff = _diff_image(before, after, m.sigma)
    f = _features(diff, m)
    c0 = m.centroid_nochange.astype(np.float32)[:, None, None]
    c1 = m.centroid_change.astype(np.float32)[:, None, None]
    d0 = np.sqrt(np.sum((f - c0) ** 2, axis=0))
    d1 = np.sqrt(np.sum((f - c1) ** 2, axis=0))
    score = d0 - d1
    # k-means always splits in two: a pixel whose h x h mean difference is under
    # _PCA_MIN_DIFF noise sigmas is never called changed (pairs without change)
    local = ndimage.uniform_filter(diff, _PCA_H, mode="reflect")
    weak = local < _PCA_MIN_DIFF
    score[weak] = np.minimum(score[weak], -1e-3)
    return score.astype(np.float32)


def _needs_model(*_: Any) -> Any:
    raise ConfigError(
        "change method 'learned' needs a trained change model: train one with "
        "`sitewatch train-change`, score it with `sitewatch eval change --method learned "
        "--model FILE`, or pass pipeline.change.learned.learned_method(model) to the engine"
    )


CHANGE_METHODS: dict[str, ChangeMethod] = {
    # cva: 1.5 x the typical (median-absolute) difference, chosen on the 4 non-test LEVIR
    # pairs and synthetic no-change pairs; log-ratio: 15 %; ssim: 0.3;
    # irmad: sqrt of chi-square 30 (p < 1e-6)
    "cva": ChangeMethod(
        "cva", _cva_fit, _cva_score, 0, "noise sigma", 1.5, diff_score=_cva_diff_score
    ),
    "log-ratio": ChangeMethod(
        "log-ratio", _logratio_fit, _logratio_score, 0, "|ln ratio|", float(np.log(1.15))
    ),
    "ssim": ChangeMethod("ssim", _ssim_fit, _ssim_score, int(4 * _SSIM_SIGMA + 1), "1 - SSIM", 0.3),
    "irmad": ChangeMethod("irmad", _irmad_fit, _irmad_score, 0, "sqrt chi-square", 5.5),
    "pca-kmeans": ChangeMethod(
        "pca-kmeans", _pcakm_fit, _pcakm_score, _PCA_H // 2 + 1, "centroid distance", 0.0
    ),
    "learned": ChangeMethod("learned", _needs_model, _needs_model, 0, "change probability", 0.5),
}
#: Methods that need a trained model (everything else works on the pair alone).
TRAINED_METHODS = ("learned",)
#: Methods that need no training data.
UNSUPERVISED_METHODS = tuple(m for m in CHANGE_METHODS if m not in TRAINED_METHODS)


def get_method(name: str) -> ChangeMethod:
    """The registered method called ``name``, or a ValueError listing the choices."""
    try:
        return CHANGE_METHODS[name]
    except KeyError:
        raise ValueError(
            f"unknown change method {name!r}; choose one of {sorted(CHANGE_METHODS)}"
        ) from None
