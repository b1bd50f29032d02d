"""Cloud masking is relative to the scene: a hazy or brightened date is not a cloud."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from pipeline.change.cloud import (
    TEXTURE_HALO,
    CloudParams,
    CloudStrips,
    box3,
    cell_counts,
    cell_features,
    cells_to_pixels,
    cloud_mask,
    scene_texture_gain,
)
from pipeline.change.engine import ChangeParams, detect_change
from pipeline.change.evaluate import load_plain_pairs
from pipeline.change.synthetic import make_pair

GSD = 0.5


def _hazy_pair(n: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A textured before date and an after date that is hazy everywhere.

    The after date has 35 % of the contrast, is slightly blurred and carries a
    smooth +-0.15 brightness undulation (land cover, illumination) over the
    whole scene: no cloud anywhere.
    """
    rng = np.random.default_rng(seed)
    tex = ndimage.gaussian_filter(rng.normal(size=(n, n)), 1.0).astype(np.float32)
    tex /= tex.std()
    before = (np.stack([tex, tex * 0.9, tex * 1.1]) * 0.1 + 0.5).astype(np.float32)
    low = ndimage.gaussian_filter(rng.normal(size=(n, n)), 20).astype(np.float32)
    low /= np.abs(low).max()
    after = np.stack([ndimage.gaussian_filter(b, 1.0) for b in before])
    after = ((after - 0.5) * 0.35 + 0.5 + 0.15 * low).astype(np.float32)
    return before, after


def _patches(img: np.ndarray, p: int = 64) -> np.ndarray:
    b, r, c = img.shape
    return img.reshape(b, r // p, p, c // p, p).transpose(1, 3, 0, 2, 4).reshape(-1, b, p, p)


def test_globally_hazy_date_is_not_masked_as_cloud() -> None:
    before, after = _hazy_pair()
    bright = before.mean(axis=0)
    q25, q75 = np.percentile(bright, [25, 75])
    scale = float(q75 - q25)
    gain = scene_texture_gain(_patches(before), _patches(after))
    assert 0.2 < gain < 0.4  # the after date's contrast is 35 % of the before's
    offset = float(np.median(after.mean(axis=0) - bright)) / scale
    absolute = cloud_mask(before, after, scale=scale, gsd_m=GSD)
    relative = cloud_mask(before, after, scale=scale, gsd_m=GSD, texture_gain=gain, offset=offset)
    # judged in absolute terms, the hazy date looks like cloud over much of the scene ...
    assert absolute.mean() > 0.3
    # ... judged against the scene's own statistics it is not a cloud
    assert relative.mean() < 0.01


def test_engine_does_not_mask_a_hazy_date() -> None:
    before, after = _hazy_pair(seed=1)
    for b, a in ((before, after), (after, before)):
        cm = detect_change(b, a, gsd_m=GSD)
        assert cm.result.cloud_px < 0.01 * b.shape[1] * b.shape[2]


def test_implausibly_large_cloud_is_dropped() -> None:
    # a cloud mask covering more than max_fraction of the scene is not applied
    p = make_pair((320, 320), seed=1, cloud=True)
    base = detect_change(p.before, p.after, gsd_m=GSD)
    assert base.result.cloud_px > 0
    frac = base.result.cloud_px / p.cloud.size
    capped = ChangeParams(cloud=CloudParams(max_fraction=frac / 2))
    cm = detect_change(p.before, p.after, gsd_m=GSD, params=capped)
    assert cm.result.cloud_px == 0
    assert cm.valid.all()


@pytest.mark.parametrize("block", [32, 48, 128])
def test_cloud_strips_match_the_whole_scene(block: int) -> None:
    # features computed block by block and analysed in strips give the same
    # cloud as the whole image analysed at once
    p = make_pair((250, 270), seed=3, cloud=True, nodata_corner=True)
    params = CloudParams(min_size_m=20.0, grow_m=15.0)
    b, a = p.before.astype(np.float32), p.after.astype(np.float32)
    scale = float(np.subtract(*np.percentile(b.mean(axis=0), [75, 25])))
    offset = float(np.median(a.mean(axis=0) - b.mean(axis=0))) / scale
    whole = cloud_mask(b, a, scale=scale, gsd_m=GSD, params=params, offset=offset)
    assert 0.05 < whole.mean() < 0.9
    rows, cols = whole.shape
    strips = CloudStrips((rows, cols), params=params, gsd_m=GSD)
    f = strips.factor
    for r in range(0, rows, block):
        for c in range(0, cols, block):
            h, w = min(block, rows - r), min(block, cols - c)
            r0, c0 = max(r - TEXTURE_HALO, 0), max(c - TEXTURE_HALO, 0)
            r1, c1 = min(r + h + TEXTURE_HALO, rows), min(c + w + TEXTURE_HALO, cols)
            feats = cell_features(
                b[:, r0:r1, c0:c1],
                a[:, r0:r1, c0:c1],
                scale=scale,
                factor=f,
                core=(r - r0, c - c0, h, w),
                offset=offset,
            )
            strips.add(r, c, feats, cell_counts(p.valid[r : r + h, c : c + w], f))
    assert strips.complete
    np.testing.assert_array_equal(cells_to_pixels(strips.cells, f, 0, 0, rows, cols), whole)
    assert strips.cloud_px == int(np.count_nonzero(whole & p.valid))
    # any window of the cell mask is the same window of the pixel mask
    np.testing.assert_array_equal(
        cells_to_pixels(strips.cells, f, 37, 5, 101, 90), whole[37:138, 5:95]
    )


def test_cloud_strips_read_texture_only_near_bright_cores() -> None:
    # a cloudy corner in a wide cloud-free scene: the strips ask for texture
    # near the cloud only, and find the same cells as the whole image
    p = make_pair((250, 270), seed=3, cloud=True)
    params = CloudParams(min_size_m=20.0, grow_m=15.0)
    b0, a0 = p.before.astype(np.float32), p.after.astype(np.float32)
    # cloud-free scene to the right: the same ground, unchanged
    b = np.concatenate([b0, b0[:, :, ::-1], b0, b0[:, :, ::-1], b0], axis=2)
    a = np.concatenate([a0, b0[:, :, ::-1], b0, b0[:, :, ::-1], b0], axis=2)
    scale = float(np.subtract(*np.percentile(b.mean(axis=0), [75, 25])))
    whole = cloud_mask(b, a, scale=scale, gsd_m=GSD, params=params)
    assert whole[:, :270].mean() > 0.05 and not whole[:, 600:].any()
    rows, cols = whole.shape
    asked: list[np.ndarray] = []
    f = params.factor(GSD)

    def texture(cell_row: int, cell_rows: int, need: np.ndarray) -> np.ndarray:
        asked.append(need)
        r0 = cell_row * f
        r1 = min(r0 + cell_rows * f, rows)
        e0, e1 = max(r0 - TEXTURE_HALO, 0), min(r1 + TEXTURE_HALO, rows)
        t = cell_features(
            b[:, e0:e1], a[:, e0:e1], scale=scale, factor=f, core=(r0 - e0, 0, r1 - r0, cols)
        )[1:]
        # only the cells asked for may be used
        t[:, :, ~need] = np.nan
        return t

    strips = CloudStrips((rows, cols), params=params, gsd_m=GSD, texture=texture)
    block = 64
    for r in range(0, rows, block):
        for c in range(0, cols, block):
            h, w = min(block, rows - r), min(block, cols - c)
            feats = cell_features(
                b[:, r : r + h, c : c + w], a[:, r : r + h, c : c + w], scale=scale, factor=f
            )
            strips.add(r, c, feats[:1], cell_counts(np.ones((h, w), bool), f))
    np.testing.assert_array_equal(cells_to_pixels(strips.cells, f, 0, 0, rows, cols), whole)
    assert asked and 0 < strips.texture_cells < 0.6 * strips.cells.size
    assert not any(n[-(-1000 // f) :].any() for n in asked)


def test_cloud_strips_need_cell_aligned_blocks() -> None:
    strips = CloudStrips((64, 64), params=CloudParams(), gsd_m=GSD)
    with pytest.raises(ValueError, match="not aligned"):
        strips.add(3, 0, np.zeros((4, 16, 16), np.float32), np.zeros((16, 16), np.int32))


@pytest.mark.parametrize(
    "shape", [(3, 40, 33), (1, 2), (2, 1, 7), (5, 5), (2, 130, 9), (65, 3), (2, 64, 4)]
)
def test_box3_is_scipy_uniform_filter(shape: tuple[int, ...]) -> None:
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    ref = ndimage.uniform_filter(x, [1] * (x.ndim - 2) + [3, 3], mode="reflect")
    np.testing.assert_allclose(box3(x), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.realdata
def test_levir_bright_scene_is_not_cloud(shared_data: Path) -> None:
    root = shared_data / "levir-cd-samples"
    if not (root / "A" / "test_77_0512_0256.png").exists():
        pytest.skip("LEVIR sample pair test_77_0512_0256 not present")
    pair = load_plain_pairs(root, ["test_77_0512_0256"])[0]
    cm = detect_change(pair.before, pair.after, gsd_m=0.5)
    # a bright, high-contrast after date with much construction is not a cloud
    assert cm.result.cloud_px < 0.05 * pair.truth.size
