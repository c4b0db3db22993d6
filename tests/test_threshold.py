"""Tests of lineageflow.threshold (ilastik-style thresholding, headless)."""

import warnings

import numpy as np
from scipy import ndimage as ndi
import pytest

from lineageflow.errors import ConfigError, InputError
from lineageflow.threshold import (EmptyFrameWarning, relabel_segmentation, sigma_pixels, split_touching,
                                   threshold_frame, threshold_from_config)


def _two_class(p):
    """Stack (background, foreground) channels, channel-last, float32."""
    p = np.asarray(p, dtype=np.float32)
    return np.stack([1 - p, p], axis=-1)


@pytest.fixture
def tail_scene():
    """A bright core with a faint tail attached, and a separate faint-only blob."""
    p = np.full((60, 80), 0.05, dtype=np.float32)
    p[10:20, 10:20] = 0.9  # bright core, 100 px
    p[13:17, 20:40] = 0.5  # faint tail attached to the core, 80 px
    p[40:50, 50:60] = 0.5  # faint-only blob, 100 px
    return p


def test_simple_vs_hysteresis(tail_scene):
    probs = _two_class(tail_scene)
    simple = threshold_frame(probs, channel=1, method="simple", threshold=0.45, sigma=0, min_size=0)
    assert simple.max() == 2
    assert np.count_nonzero(simple == 1) == 180  # core + tail
    assert np.count_nonzero(simple == 2) == 100  # faint blob

    hyst = threshold_frame(probs, channel=1, method="hysteresis", low=0.4, high=0.7, sigma=0, min_size=0)
    assert hyst.max() == 1
    assert np.count_nonzero(hyst) == 180  # tail kept with its core
    assert hyst[45, 55] == 0  # faint-only blob dropped

    # simple at the high level loses the tail
    core_only = threshold_frame(probs, channel=1, threshold=0.7, sigma=0, min_size=0)
    assert np.count_nonzero(core_only) == 100


def test_output_dtype_consecutive_raster_order():
    p = np.zeros((40, 40), np.float32)
    p[30:35, 30:35] = 1  # 25 px, last in raster order
    p[2:4, 2:4] = 1  # 4 px, removed
    p[5:10, 20:25] = 1  # 25 px, first in raster order
    p[20:22, 5:8] = 1  # 6 px, removed
    lab = threshold_frame(p, sigma=0, min_size=10)
    assert lab.dtype == np.uint32
    assert set(np.unique(lab)) == {0, 1, 2}
    assert lab[7, 22] == 1 and lab[32, 32] == 2


def test_size_filter_inclusive():
    p = np.zeros((50, 80), np.float32)
    sizes = {5: (1, 1), 10: (1, 20), 50: (20, 1), 200: (20, 40)}
    for size, (y, x) in sizes.items():
        p[y : y + 5, x : x + size // 5] = 1.0
    lab = threshold_frame(p, sigma=0, min_size=10, max_size=50)
    kept = sorted(np.bincount(lab.ravel())[1:].tolist())
    assert kept == [10, 50]
    lab = threshold_frame(p, sigma=0, min_size=0, max_size=None)
    assert sorted(np.bincount(lab.ravel())[1:].tolist()) == [5, 10, 50, 200]


def test_face_connectivity():
    p = np.zeros((10, 10), np.float32)
    p[1:4, 1:4] = 1
    p[4:7, 4:7] = 1  # touches the first square only at a corner
    assert threshold_frame(p, sigma=0, min_size=0).max() == 2
    v = np.zeros((6, 10, 10), np.float32)
    v[0:2, 1:4, 1:4] = 1
    v[2:4, 4:7, 4:7] = 1  # edge/corner contact in 3D
    assert threshold_frame(v, sigma=0, min_size=0, ndim=3).max() == 2


def test_smoothing_merges_and_sigma_zero_is_identity():
    p = np.zeros((30, 30), np.float32)
    p[10:20, 5:14] = 1
    p[10:20, 15:25] = 1  # one-pixel gap
    assert threshold_frame(p, sigma=0, min_size=0).max() == 2
    assert threshold_frame(p, sigma=1.5, threshold=0.4, min_size=0).max() == 1
    assert np.array_equal(threshold_frame(p, sigma=(0, 0), min_size=0) > 0, p > 0.5)


def test_anisotropic_sigma_zero_along_z():
    rng = np.random.default_rng(1)
    vol = rng.random((4, 32, 32)).astype(np.float32)
    vol[1] = 0.0  # an empty plane stays empty without z smoothing
    lab3 = threshold_frame(vol, sigma=(0, 1, 1), threshold=0.5, min_size=0, ndim=3)
    for z in range(vol.shape[0]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EmptyFrameWarning)
            lab2 = threshold_frame(vol[z], sigma=(1, 1), threshold=0.5, min_size=0, ndim=2)
        assert np.array_equal(lab3[z] > 0, lab2 > 0)
    assert not lab3[1].any()
    # with z smoothing the neighbouring planes leak into the empty one
    smoothed = threshold_frame(vol, sigma=(1, 0, 0), threshold=0.3, min_size=0, ndim=3)
    assert smoothed[1].any()


def test_3d_channel_last_and_2d_spatial_only():
    v = np.zeros((5, 20, 20), np.float32)
    v[1:4, 5:10, 5:10] = 0.9
    v[1:4, 12:18, 12:18] = 0.9
    probs = np.stack([1 - v, v, np.zeros_like(v)], axis=-1)
    lab = threshold_frame(probs, channel=1, sigma=(0.5, 1, 1), min_size=5)
    assert lab.shape == v.shape and lab.max() == 2
    # ndim inferred from sigma for an (z, y, x) array without channels
    lab_b = threshold_frame(v, sigma=(0.5, 1, 1), min_size=5)
    assert np.array_equal(lab, lab_b)
    # a 2D spatial-only array
    lab2 = threshold_frame(v[2], min_size=5)
    assert lab2.max() == 2


def test_deterministic(tail_scene):
    a = threshold_frame(tail_scene, threshold=0.3, min_size=0)
    b = threshold_frame(tail_scene.copy(), threshold=0.3, min_size=0)
    assert np.array_equal(a, b)


def test_nan_inf_error_names_source_and_count():
    p = np.full((10, 10, 2), 0.5, np.float32)
    p[0, 0, 1] = np.nan
    p[1, 1, 1] = np.inf
    with pytest.raises(InputError, match=r"t007\.h5: probabilities contain NaN/inf at 2 voxels"):
        threshold_frame(p, channel=1, source="t007.h5")


def test_channel_out_of_range():
    p = np.zeros((10, 10, 2), np.float32)
    with pytest.raises(InputError, match=r"f\.h5.*channel = 2.*2 channel"):
        threshold_frame(p, channel=2, source="f.h5")
    with pytest.raises(InputError, match=r"channel = 1.*1 channel"):
        threshold_frame(np.zeros((10, 10), np.float32), channel=1)


def test_values_out_of_range():
    p = np.zeros((10, 10), np.float32)
    p[0, 0] = 3.0
    with pytest.raises(InputError, match=r"raw\.tif: probabilities must lie in \[0, 1\].*3"):
        threshold_frame(p, source="raw.tif")
    # tiny rounding excess is tolerated
    p[0, 0] = 1.0 + 1e-5
    assert threshold_frame(p, sigma=0, min_size=0).max() == 1


def test_dtypes():
    p8 = np.zeros((20, 20), np.uint8)
    p8[5:15, 5:15] = 230  # ilastik uint8 export (0..255)
    assert threshold_frame(p8, sigma=0, min_size=0).max() == 1
    with pytest.raises(InputError, match="dtype int16"):
        threshold_frame(np.zeros((20, 20), np.int16), source="x")


def test_bad_shape():
    with pytest.raises(InputError, match="shape"):
        threshold_frame(np.zeros(10, np.float32))


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"method": "otsu"}, "objects.method"),
        ({"method": "hysteresis", "low": 0.8, "high": 0.6}, "objects.low"),
        ({"threshold": 1.5}, "objects.threshold"),
        ({"method": "hysteresis", "high": -0.1, "low": -0.2}, "objects.low"),
        ({"sigma": (-1, 1)}, "objects.sigma"),
        ({"sigma": (1, 1, 1, 1)}, "shape|objects.sigma"),
        ({"min_size": -1}, "objects.min_size"),
        ({"min_size": 20, "max_size": 10}, "objects.max_size"),
        ({"max_foreground_fraction": 0}, "objects.max_foreground_fraction"),
    ],
)
def test_config_errors(kwargs, key):
    with pytest.raises((ConfigError, InputError), match=key):
        threshold_frame(np.zeros((10, 10), np.float32), **kwargs)


def test_config_error_types():
    with pytest.raises(ConfigError):
        threshold_frame(np.zeros((10, 10), np.float32), method="hysteresis", low=0.9, high=0.1)


def test_empty_frame_warning():
    with pytest.warns(EmptyFrameWarning, match=r"t003"):
        lab = threshold_frame(np.zeros((20, 20), np.float32), source="t003")
    assert lab.dtype == np.uint32 and not lab.any()
    p = np.zeros((20, 20), np.float32)
    p[0, 0] = 1
    with pytest.warns(EmptyFrameWarning, match="size filter"):
        threshold_frame(p, sigma=0, min_size=10, source="t004")


def test_all_foreground_error():
    p = np.full((20, 20), 0.9, np.float32)
    with pytest.raises(InputError, match=r"t000: 100\.0 % of the frame is foreground.*objects\.threshold"):
        threshold_frame(p, source="t000")
    p[:2] = 0.0  # 90 % foreground: fine with the default limit, not with a stricter one
    assert threshold_frame(p, sigma=0).max() == 1
    with pytest.raises(InputError, match="objects.channel"):
        threshold_frame(p, sigma=0, max_foreground_fraction=0.5)


def test_sigma_pixels():
    assert sigma_pixels(1.0, (2.0, 0.5, 0.5)) == (0.5, 2.0, 2.0)
    assert sigma_pixels((0.0, 1.0), (1.0, 0.25)) == (0.0, 4.0)
    with pytest.raises(ConfigError, match="voxel_size"):
        sigma_pixels(1.0, (0.0, 1.0))
    with pytest.raises(ConfigError, match="objects.sigma"):
        sigma_pixels((1.0, 1.0), (1.0, 1.0, 1.0))


def test_relabel_segmentation():
    lab = np.zeros((20, 20), np.uint16)
    lab[0:5, 0:5] = 7  # 25 px
    lab[10:12, 10:12] = 3  # 4 px -> dropped
    lab[15:20, 15:20] = 50  # 25 px, split into two pieces below
    lab[15:20, 17] = 0
    out = relabel_segmentation(lab, min_size=5, source="mask000.tif")
    assert out.dtype == np.uint32
    assert set(np.unique(out)) == {0, 1, 2}
    assert np.all(out[lab == 7] == 1)  # increasing order of original value
    assert np.all(out[lab == 50] == 2)  # non-connected pieces stay one object
    assert not out[lab == 3].any()
    assert np.array_equal(relabel_segmentation(lab, max_size=10) > 0, lab == 3)


def test_relabel_segmentation_sparse_values_and_float():
    lab = np.zeros((10, 10), np.int64)
    lab[0, 0] = 2**40
    lab[5, 5] = 9
    out = relabel_segmentation(lab)
    assert out[5, 5] == 1 and out[0, 0] == 2
    assert np.array_equal(relabel_segmentation(lab.astype(np.float32) * 0 + (lab > 0) * 4.0), (lab > 0).astype(np.uint32))


def test_relabel_segmentation_errors():
    with pytest.raises(InputError, match="seg.tif.*non-integer"):
        relabel_segmentation(np.full((5, 5), 0.5, np.float32), source="seg.tif")
    with pytest.raises(InputError, match="dtype bool"):
        relabel_segmentation(np.zeros((5, 5), bool))
    with pytest.raises(InputError, match="negative"):
        relabel_segmentation(np.full((5, 5), -1, np.int32))
    with pytest.warns(EmptyFrameWarning):
        relabel_segmentation(np.zeros((5, 5), np.int32))


# --- touching objects (objects.split) ---------------------------------------------------------------------------

def _discs(centres, radius, shape=(60, 100)):
    yy, xx = np.indices(shape)
    return np.any([(yy - cy) ** 2 + (xx - cx) ** 2 < radius**2 for cy, cx in centres], axis=0)


def test_split_separates_two_touching_discs_at_their_neck():
    # radius 10, centres 18 apart: the distance map is 10 at the centres and 5 on the neck, so the second maximum
    # rises by 50 % of the radius above the neck
    mask = _discs([(30, 25), (30, 43)], 10)
    cc, n = ndi.label(mask)
    assert n == 1
    lab, k = split_touching(cc, 0.4, (1.0, 1.0))
    assert k == 2 and set(np.unique(lab)) == {0, 1, 2}
    left, right = lab[30, 20], lab[30, 48]
    assert left != right and left > 0 and right > 0
    # a symmetric pair splits in halves, up to the middle column of the neck (11 px) going to one side
    assert abs(int((lab == left).sum()) - int((lab == right).sum())) <= 11
    assert np.array_equal(lab > 0, mask)  # no pixel lost or added
    # a rise of no more than ratio × radius is not a second nucleus: at 0.5 and 0.6 the discs are one object
    assert split_touching(cc, 0.5, (1.0, 1.0))[1] == 1
    assert split_touching(cc, 0.6, (1.0, 1.0))[1] == 1


def test_split_keeps_single_nuclei_whole_whatever_their_border_or_holes():
    rng = np.random.default_rng(0)
    mask = _discs([(30, 30)], 15) & ~(rng.random((60, 100)) < 0.03)  # jagged border, pin holes
    mask |= _discs([(30, 75)], 12) & ~_discs([(30, 75)], 4)  # a dark nucleolus: a ring-shaped object
    cc, n = ndi.label(mask, structure=ndi.generate_binary_structure(2, 2))
    lab, k = split_touching(cc, 0.4, (1.0, 1.0))
    assert k == n == 2


def test_split_is_scale_free_and_anisotropic():
    """The same pair, sampled twice as finely along y with voxel size (0.5, 1): split the same way."""
    coarse = _discs([(30, 25), (30, 43)], 10)
    fine = np.repeat(coarse, 2, axis=0)
    assert split_touching(ndi.label(fine)[0], 0.4, (0.5, 1.0))[1] == 2
    # in pixels (no voxel size) the same pair is two ellipses stretched along y whose neck is broad relative to
    # their inscribed radius: not split, so the voxel size is what makes the criterion hold across samplings
    assert split_touching(ndi.label(fine)[0], 0.4, None)[1] == 1


def test_split_through_threshold_frame_and_config():
    probs = _discs([(30, 25), (30, 43), (10, 85)], 10).astype(np.float32)
    assert threshold_frame(probs, sigma=0, min_size=0).max() == 2
    assert threshold_frame(probs, sigma=0, min_size=0, split=0.4, voxel_size=(1.0, 1.0)).max() == 3
    objects = {"channel": 0, "method": "simple", "threshold": 0.5, "low": 0.4, "high": 0.7, "sigma": [0.0, 0.0],
               "min_size": 0, "max_size": 0, "max_foreground_fraction": 0.95, "split": 0.4}
    assert threshold_from_config(probs, objects, (1.0, 1.0)).max() == 3
    assert threshold_from_config(probs, {**objects, "split": 0}, (1.0, 1.0)).max() == 2
