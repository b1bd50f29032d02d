"""Array-level change detection: known answers on small synthetic pairs."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from scipy import ndimage

from pipeline.change.coreg import estimate_shift
from pipeline.change.engine import (
    MASK_CHANGE,
    ArrayPair,
    ArrayStore,
    ChangeParams,
    clean_mask,
    detect_change,
    run_engine,
)
from pipeline.change.methods import (
    CHANGE_METHODS,
    UNSUPERVISED_METHODS,
    irmad_fit,
    no_change_probability,
)
from pipeline.change.metrics import Confusion, confusion
from pipeline.change.radiometry import fit_normaliser
from pipeline.change.synthetic import make_pair
from pipeline.change.thresholds import THRESHOLDS, choose_threshold
from pipeline.errors import ConfigError

GSD = 0.5


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
@pytest.mark.parametrize("method", sorted(UNSUPERVISED_METHODS))
def test_each_method_finds_painted_change(method: str, dtype: str) -> None:
    p = make_pair((192, 192), seed=11, dtype=dtype, gain=1.2, offset=0.03)
    before, after = p.before.copy(), p.after.copy()
    cm = detect_change(p.before, p.after, method=method, gsd_m=GSD)
    c = confusion(cm.mask, p.truth)
    assert c.recall > 0.6, c.to_dict()
    assert c.f1 > 0.6, c.to_dict()
    assert cm.score.dtype == np.float32
    # the caller's arrays are untouched
    np.testing.assert_array_equal(before, p.before)
    np.testing.assert_array_equal(after, p.after)


def test_default_method_is_accurate() -> None:
    p = make_pair((256, 256), seed=3, gain=0.8, offset=0.1)
    cm = detect_change(p.before, p.after, gsd_m=GSD)
    c = confusion(cm.mask, p.truth)
    assert c.f1 > 0.9, c.to_dict()


@pytest.mark.parametrize("method", sorted(UNSUPERVISED_METHODS))
def test_illumination_change_alone_finds_nothing(method: str) -> None:
    p = make_pair((192, 192), seed=5, n_changes=0, gain=1.3, offset=0.05, noise=0.015)
    cm = detect_change(p.before, p.after, method=method, gsd_m=GSD)
    assert cm.mask.sum() == 0
    assert cm.regions == ()


def test_cloud_is_not_reported() -> None:
    p = make_pair((320, 320), seed=1, cloud=True)
    cm = detect_change(p.before, p.after, gsd_m=GSD)
    assert cm.result.cloud_px > 0.5 * p.cloud.sum()
    # under the cloud and its shadow (opacity > 10 %) only painted change is reported,
    # apart from a thin leak at the faint fringe (< 1 % of the cloudy area)
    near_painted = ndimage.binary_dilation(p.painted, iterations=3)
    leak = cm.mask & p.cloud & ~near_painted
    assert leak.sum() < 0.01 * p.cloud.sum()
    # cloudy pixels are not scored
    assert np.isnan(cm.score[~cm.valid]).all()
    # and changes outside the cloud (and its safety buffer) are still found
    assert confusion(cm.mask, p.truth).recall > 0.7


def test_without_cloud_masking_the_cloud_reads_as_change() -> None:
    p = make_pair((320, 320), seed=1, cloud=True)
    params = ChangeParams()
    params = ChangeParams(cloud=type(params.cloud)(enabled=False))
    cm = detect_change(p.before, p.after, gsd_m=GSD, params=params)
    near_painted = ndimage.binary_dilation(p.painted, iterations=3)
    assert (cm.mask & p.cloud & ~near_painted).sum() > 0.05 * p.cloud.sum()


def test_nodata_is_not_reported() -> None:
    p = make_pair((192, 192), seed=2, nodata_corner=True)
    cm = detect_change(p.before, p.after, valid=p.valid, gsd_m=GSD)
    assert not cm.mask[~p.valid].any()
    assert np.isnan(cm.score[~p.valid]).all()
    assert not cm.valid[~p.valid].any()
    assert confusion(cm.mask, p.truth).f1 > 0.8


def test_nan_pixels_are_nodata() -> None:
    p = make_pair((128, 128), seed=2, dtype="float32")
    after = p.after.copy()
    after[:, :20, :20] = np.nan
    cm = detect_change(p.before, after, gsd_m=GSD)
    assert not cm.mask[:20, :20].any()
    assert np.isnan(cm.score[:20, :20]).all()


@pytest.mark.parametrize("shift", [(0.3, -0.7), (-1.45, 2.2), (0.05, 0.0)])
def test_shift_recovered_to_a_tenth_of_a_pixel(shift: tuple[float, float]) -> None:
    rng = np.random.default_rng(0)
    img = ndimage.gaussian_filter(rng.normal(0, 1, (256, 256)), 2.0).astype(np.float32)
    moved = ndimage.shift(img, (-shift[0], -shift[1]), order=3, mode="nearest")
    est = estimate_shift(img, moved, gsd_m=0.5)
    assert abs(est.row_px - shift[0]) <= 0.1
    assert abs(est.col_px - shift[1]) <= 0.1
    assert est.metres == pytest.approx((est.row_px * 0.5, est.col_px * 0.5))
    assert est.peak_ratio > 3


def test_misregistered_pair_is_coregistered() -> None:
    p = make_pair((256, 256), seed=4, shift=(0.6, -1.3))
    cm = detect_change(p.before, p.after, gsd_m=GSD)
    assert cm.result.shift_applied
    assert abs(cm.shift.row_px - 0.6) < 0.15 and abs(cm.shift.col_px + 1.3) < 0.15
    off = detect_change(p.before, p.after, gsd_m=GSD, params=ChangeParams(coregister=False))
    assert confusion(cm.mask, p.truth).f1 >= confusion(off.mask, p.truth).f1


@pytest.mark.parametrize("method", sorted(UNSUPERVISED_METHODS))
def test_blockwise_equals_whole_array(method: str) -> None:
    p = make_pair((230, 270), seed=7, cloud=True, nodata_corner=True, shift=(0.4, 0.7))
    params = ChangeParams(
        min_area_m2=30.0, cloud=type(ChangeParams().cloud)(min_size_m=20.0, grow_m=15.0)
    )
    whole = detect_change(p.before, p.after, valid=p.valid, method=method, gsd_m=GSD, params=params)
    blocks = detect_change(
        p.before, p.after, valid=p.valid, method=method, gsd_m=GSD, params=params, block_size=64
    )
    assert whole.threshold == blocks.threshold
    np.testing.assert_array_equal(np.isnan(whole.score), np.isnan(blocks.score))
    np.testing.assert_allclose(whole.score, blocks.score, rtol=1e-5, atol=1e-5, equal_nan=True)
    np.testing.assert_array_equal(whole.mask, blocks.mask)
    assert len(whole.regions) == len(blocks.regions)
    for a, b in zip(whole.regions, blocks.regions, strict=True):
        assert a.polygon.equals(b.polygon)
        assert a.area_px == b.area_px
        assert a.mean_score == pytest.approx(b.mean_score, rel=1e-5)
        assert a.max_score == pytest.approx(b.max_score, rel=1e-5)


class _OneThreadSource:
    """A PairSource without ``thread_safe``: records the threads that read it."""

    def __init__(self, inner: ArrayPair, threads: set[int]) -> None:
        self.inner, self.threads = inner, threads

    @property
    def shape(self) -> tuple[int, int]:
        return self.inner.shape

    @property
    def bands(self) -> int:
        return self.inner.bands

    def read(self, row: int, col: int, height: int, width: int) -> tuple[np.ndarray, ...]:
        self.threads.add(threading.get_ident())
        return self.inner.read(row, col, height, width)

    def with_shift(self, shift: tuple[float, float]) -> _OneThreadSource:
        return _OneThreadSource(self.inner.with_shift(shift), self.threads)


def test_source_that_is_not_thread_safe_is_read_by_one_thread() -> None:
    # blocks, fit patches and the cloud texture of a source that does not say
    # it is thread-safe are all read by one thread, and the result is that of
    # the (thread-safe) array source
    p = make_pair((320, 320), seed=1, cloud=True, nodata_corner=True, shift=(0.4, 0.7))
    params = ChangeParams(block_size=64, workers=2)
    threads: set[int] = set()
    src = _OneThreadSource(ArrayPair(p.before, p.after, p.valid), threads)
    score = np.full(src.shape, np.nan, np.float32)
    mask = np.zeros(src.shape, np.uint8)
    res = run_engine(
        src, params, gsd_m=GSD, score_store=ArrayStore(score), mask_store=ArrayStore(mask)
    )
    assert len(threads) == 1
    assert res.cloud_px > 0
    ref = detect_change(p.before, p.after, valid=p.valid, gsd_m=GSD, params=params, block_size=64)
    np.testing.assert_array_equal(mask == MASK_CHANGE, ref.mask)
    assert res.cloud_px == ref.result.cloud_px


@pytest.mark.parametrize("block", [None, 32])
def test_region_scores_are_those_of_its_pixels(block: int | None) -> None:
    # mean and max score over the pixels inside each polygon, also for regions
    # that blocks of 32 px cut into pieces (one with a hole and an island in it)
    from rasterio.features import geometry_mask

    rng = np.random.default_rng(5)
    before = rng.normal(1000, 10, (3, 200, 200)).astype(np.float32)
    after = before + rng.normal(0, 10, before.shape).astype(np.float32)
    jump = rng.uniform(500, 3000, (200, 200)).astype(np.float32)
    ring = np.zeros((200, 200), dtype=bool)
    ring[20:56, 10:46] = True
    ring[28:48, 18:38] = False  # hole
    ring[35:41, 25:31] = True  # island in the hole
    ring[90:110, 95:115] = True
    after[:, ring] += jump[ring]
    cm = detect_change(before, after, gsd_m=1.0, min_area_m2=20.0, block_size=block)
    assert len(cm.regions) == 3
    assert any(len(r.polygon.interiors) == 1 for r in cm.regions)
    for r in cm.regions:
        inside = geometry_mask([r.polygon], out_shape=cm.score.shape, transform=(1, 0, 0, 0, 1, 0))
        vals = cm.score[~inside]
        assert cm.mask[~inside].all() and vals.size == r.area_px
        assert r.mean_score == pytest.approx(float(vals.mean()), rel=1e-5)
        assert r.max_score == float(vals.max())


def test_regions_have_area_and_scores() -> None:
    before = np.full((3, 100, 100), 1000, dtype=np.uint16)
    rng = np.random.default_rng(1)
    before = (before + rng.normal(0, 10, before.shape)).astype(np.uint16)
    after = before.copy()
    after[:, 40:60, 20:50] += 2000
    cm = detect_change(before, after, gsd_m=2.0, min_area_m2=100.0)
    assert len(cm.regions) == 1
    r = cm.regions[0]
    # 20 x 30 px painted; pre-smoothing may widen the edge by up to a pixel
    assert r.area_px == pytest.approx(600, abs=110)
    x0, y0, x1, y1 = r.polygon.bounds
    assert (x0, y0, x1, y1) == pytest.approx((20, 40, 50, 60), abs=1)
    assert r.max_score >= r.mean_score > cm.threshold


def test_min_area_removes_small_regions() -> None:
    before = np.full((80, 80), 100.0, dtype=np.float32)
    rng = np.random.default_rng(2)
    before = before + rng.normal(0, 1, before.shape).astype(np.float32)
    after = before.copy()
    after[10:14, 10:14] += 50  # 16 px = 16 m2 at 1 m
    after[40:60, 40:60] += 50  # 400 m2
    cm = detect_change(before, after, gsd_m=1.0, min_area_m2=50.0)
    assert not cm.mask[10:14, 10:14].any()
    assert cm.mask[45:55, 45:55].all()


def test_clean_mask_keeps_regions_touching_open_sides() -> None:
    m = np.zeros((20, 20), dtype=bool)
    m[0:3, 5:8] = True
    assert not clean_mask(m, open_px=0, close_px=0, min_px=20).any()
    top = (True, False, False, False)
    kept = clean_mask(m, open_px=0, close_px=0, min_px=20, keep_touching=top)
    assert kept.sum() == 9


def _clean_reference(m: np.ndarray, r_open: int, r_close: int, min_px: int) -> np.ndarray:
    """clean_mask by scipy on the whole array: no bounding boxes."""
    sq_o = np.ones((2 * r_open + 1,) * 2, dtype=bool)
    sq_c = np.ones((2 * r_close + 1,) * 2, dtype=bool)
    opened = ndimage.binary_opening(m, structure=sq_o, border_value=0)
    padded = np.pad(opened, r_close, mode="edge")
    closed = ndimage.binary_erosion(
        ndimage.binary_dilation(padded, structure=sq_c), structure=sq_c, border_value=1
    )[r_close:-r_close, r_close:-r_close]
    lab, n = ndimage.label(closed)
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    keep = sizes >= min_px
    keep[0] = False
    return keep[lab]


@pytest.mark.parametrize("seed", range(6))
def test_clean_mask_equals_whole_array_morphology(seed: int) -> None:
    # scattered noise (removed by the opening) around a few blobs, some on the edges
    rng = np.random.default_rng(seed)
    m = rng.random((120, 150)) < 0.04
    for _ in range(4):
        r, c = rng.integers(-5, 115), rng.integers(-5, 145)
        h, w = rng.integers(3, 15, 2)
        m[max(r, 0) : r + h, max(c, 0) : c + w] = True
    got = clean_mask(m, open_px=1, close_px=1, min_px=10)
    np.testing.assert_array_equal(got, _clean_reference(m, 1, 1, 10))


def test_thresholds_split_a_bimodal_sample() -> None:
    rng = np.random.default_rng(0)
    sample = np.concatenate([rng.normal(0, 1, 9000), rng.normal(10, 1, 1000)])
    for name in ("otsu", "kittler-illingworth"):
        t = choose_threshold(sample, name)
        assert 2.5 < t < 8.0, (name, t)
    assert choose_threshold(sample, "fixed", value=3.5) == 3.5
    with pytest.raises(ValueError, match="needs a value"):
        choose_threshold(sample, "fixed")
    with pytest.raises(ValueError, match="unknown threshold"):
        choose_threshold(sample, "nope")
    assert set(THRESHOLDS) == {"otsu", "kittler-illingworth", "fixed"}


def test_unknown_method_is_a_clear_error() -> None:
    p = make_pair((64, 64), seed=0)
    with pytest.raises(ConfigError, match="magic"):
        detect_change(p.before, p.after, method="magic")


def test_fixed_threshold_is_used_as_given() -> None:
    p = make_pair((128, 128), seed=0)
    cm = detect_change(p.before, p.after, threshold="fixed", threshold_value=1e9, gsd_m=GSD)
    assert cm.threshold == 1e9 and not cm.mask.any()


def test_irmad_weights_and_probability() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (3, 5000))
    y = 0.8 * x + rng.normal(0, 0.3, x.shape) + 2.0
    y[:, :200] += 5.0  # changed pixels
    m = irmad_fit(x, y)
    assert np.all(np.diff(m.rho) >= 0) and m.rho[-1] < 1
    xc = (x - m.mean_x[:, None]).T @ m.a
    yc = (y - m.mean_y[:, None]).T @ m.b
    z = np.sum(((xc - yc) / m.sigma) ** 2, axis=1)
    p = no_change_probability(np.sqrt(z), 3)
    assert p.min() >= 0 and p.max() <= 1
    assert np.median(p[:200]) < 1e-6
    # changed pixels stand out far above the no-change chi-square spread
    assert np.percentile(z[:200], 5) > 10 * np.percentile(z[200:], 95)


def test_linear_normalisation_recovers_gain_and_offset() -> None:
    rng = np.random.default_rng(4)
    b = rng.uniform(100, 1000, (2, 20000))
    a = (b - 50) / 1.5 + rng.normal(0, 2, b.shape)
    a[:, :2000] = rng.uniform(100, 1000, (2, 2000))  # 10 % changed pixels
    n = fit_normaliser(b, a, kind="linear")
    assert n.gain == pytest.approx((1.5, 1.5), rel=0.02)
    assert n.offset == pytest.approx((50, 50), abs=10)
    h = fit_normaliser(b, a, kind="histogram")
    mapped = h.apply(a[:, None, 2000:])
    assert np.median(np.abs(mapped[:, 0] - b[:, 2000:])) < 40


def test_linear_normalisation_keeps_unit_gain_between_unrelated_dates() -> None:
    """Dates whose pixels barely correlate get an offset only, never a collapsing gain."""
    rng = np.random.default_rng(5)
    b = rng.uniform(100, 1000, (3, 20000))
    a = rng.uniform(400, 700, (3, 20000))  # no pixel-wise relation (unguarded fit: gain 10-13)
    n = fit_normaliser(b, a, kind="linear")
    assert n.gain == pytest.approx((1.0, 1.0, 1.0))
    assert n.offset == pytest.approx((0.0, 0.0, 0.0), abs=15)
    # the same pairs related by a real gain keep it (see the test above)
    related = fit_normaliser(b, (b - 50) / 1.5 + rng.normal(0, 2, b.shape), kind="linear")
    assert related.gain == pytest.approx((1.5, 1.5, 1.5), rel=0.02)


def test_confusion_scores() -> None:
    pred = np.array([[1, 1, 0, 0]], dtype=bool)
    truth = np.array([[1, 0, 1, 255]], dtype=np.uint8)
    c = confusion(pred, truth)
    assert (c.tp, c.fp, c.fn, c.tn) == (1, 1, 1, 0)
    assert c.precision == c.recall == c.f1 == 0.5
    assert c.iou == pytest.approx(1 / 3)
    total = c + Confusion(tp=1, tn=5)
    assert total.tp == 2 and total.tn == 5
    assert Confusion(tp=5, tn=5).kappa == pytest.approx(1.0)


def test_params_round_trip_and_validation() -> None:
    p = ChangeParams(method="irmad", threshold="fixed", threshold_value=3.0)
    assert ChangeParams.from_dict(p.to_dict()) == p
    with pytest.raises(ConfigError, match="bogus"):
        ChangeParams.from_dict({"bogus": 1})
    with pytest.raises(ConfigError, match="needs threshold_value"):
        ChangeParams(threshold="fixed")
    with pytest.raises(ConfigError, match="normalisation"):
        ChangeParams(normalisation="magic")


def test_registry_splits_trained_and_unsupervised_methods() -> None:
    assert set(UNSUPERVISED_METHODS) | {"learned"} == set(CHANGE_METHODS)
    assert "learned" not in UNSUPERVISED_METHODS
