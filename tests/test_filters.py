import json

import numpy as np
import pytest
from scipy import ndimage

from lineageflow.errors import ConfigError, InputError
from lineageflow.filters import (
    FEATURE_IDS,
    SCALES,
    FeatureSpec,
    _correlate1d,
    compute_features,
    feature_names,
    features_first,
    gaussian_kernel,
)


def one(fid, scale, in2d=False):
    return FeatureSpec(((fid, scale),), (in2d,))


# ---- FeatureSpec -----------------------------------------------------------------------------------------
def test_spec_orders_like_ilastik_and_roundtrips():
    spec = FeatureSpec.from_names(["HessianOfGaussianEigenvalues:1.0", "GaussianSmoothing:3.5", "GaussianSmoothing:0.3:2d"])
    assert spec.selection == (("GaussianSmoothing", 0.3), ("GaussianSmoothing", 3.5), ("HessianOfGaussianEigenvalues", 1.0))
    assert spec.compute_in_2d == (True, False, False)
    again = FeatureSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert FeatureSpec.from_names(spec.names()) == spec


def test_spec_from_matrix():
    m = np.zeros((6, 7), bool)
    m[0, :] = True
    m[5, 6] = True
    spec = FeatureSpec.from_matrix(FEATURE_IDS, SCALES, m, [False] * 6 + [True])
    assert len(spec.selection) == 8
    assert spec.selection[-1] == ("HessianOfGaussianEigenvalues", 10.0)
    assert spec.compute_in_2d[-1] and spec.compute_in_2d[6] and not spec.compute_in_2d[0]
    with pytest.raises(ConfigError):
        FeatureSpec.from_matrix(FEATURE_IDS, SCALES, m[:, :3])


@pytest.mark.parametrize("bad", ["Gaussian:1.0", "GaussianSmoothing:2.0", "GaussianSmoothing", "GaussianSmoothing:x",
                                 "GaussianSmoothing:1.0:4d"])
def test_spec_from_names_errors_name_the_entry(bad):
    with pytest.raises(ConfigError, match=bad.split(":")[0]):
        FeatureSpec.from_names(["LaplacianOfGaussian:1.0", bad])


def test_spec_rejects_duplicates_and_empty():
    with pytest.raises(ConfigError):
        FeatureSpec.from_names(["GaussianSmoothing:1.0", "GaussianSmoothing:1.0"])
    with pytest.raises(ConfigError):
        FeatureSpec(())


def test_default_spec_size():
    spec = FeatureSpec.default()
    assert len(feature_names(spec, 2)) == 41
    assert len(feature_names(spec, 3)) == 51


# ---- kernels -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sigma", [0.3, 0.7, 1.0, 3.0])
def test_kernel_moments(sigma):
    x = np.arange(-(gaussian_kernel(0, sigma, 3.5).size // 2), gaussian_kernel(0, sigma, 3.5).size // 2 + 1)
    assert gaussian_kernel(0, sigma, 3.5).sum() == pytest.approx(1)
    k1 = gaussian_kernel(1, sigma, 2.0)
    x1 = np.arange(k1.size) - k1.size // 2
    assert np.sum(x1 * k1) == pytest.approx(1) and k1.sum() == pytest.approx(0, abs=1e-12)
    k2 = gaussian_kernel(2, sigma, 2.0)
    x2 = np.arange(k2.size) - k2.size // 2
    assert k2.sum() == pytest.approx(0, abs=1e-12) and np.sum(0.5 * x2**2 * k2) == pytest.approx(1)
    assert x.size == 2 * int(np.floor(3.5 * sigma + 0.5)) + 1


def test_correlate_matches_scipy_mirror():
    rng = np.random.default_rng(0)
    for shape in [(7, 5), (1, 9), (2, 3), (9, 11, 13)]:
        a = rng.random(shape).astype(np.float32)
        for order in (0, 1, 2):
            k = gaussian_kernel(order, 1.0, 2.0)
            for ax in range(a.ndim):
                np.testing.assert_allclose(_correlate1d(a, k, ax), ndimage.correlate1d(a, k, axis=ax, mode="mirror"),
                                           atol=1e-5)


# ---- analytic expectations -----------------------------------------------------------------------------
def test_gaussian_of_constant_is_constant_and_derivatives_vanish():
    img = np.full((40, 50), 7.0, np.float32)
    f = compute_features(img, FeatureSpec.default())
    names = feature_names(FeatureSpec.default(), 2)
    for i, n in enumerate(names):
        expected = 7.0 if n.startswith("Gaussian Smoothing") else 0.0
        np.testing.assert_allclose(f[..., i], expected, atol=1e-4, err_msg=n)


@pytest.mark.parametrize("scale", [0.7, 1.6, 5.0])
def test_gradient_magnitude_of_ramp(scale):
    yy, xx = np.mgrid[0:60, 0:70].astype(np.float32)
    img = 0.5 * xx + 2.0 * yy
    f = compute_features(img, one("GaussianGradientMagnitude", scale))[..., 0]
    inner = f[20:40, 20:50]
    np.testing.assert_allclose(inner, np.hypot(0.5, 2.0), rtol=1e-4)


def test_laplacian_and_hessian_of_quadratic():
    yy, xx = np.mgrid[0:41, 0:41].astype(np.float64)
    img = (1.5 * (xx - 20) ** 2 - 0.5 * (yy - 20) ** 2).astype(np.float32)  # Hessian diag(-1, 3) in (y, x)
    lap = compute_features(img, one("LaplacianOfGaussian", 1.6))[..., 0]
    np.testing.assert_allclose(lap[15:26, 15:26], 2.0, rtol=1e-3)
    hess = compute_features(img, one("HessianOfGaussianEigenvalues", 1.6))
    assert hess.shape[-1] == 2
    np.testing.assert_allclose(hess[15:26, 15:26, 0], 3.0, rtol=1e-3)  # largest first
    np.testing.assert_allclose(hess[15:26, 15:26, 1], -1.0, rtol=1e-3)


def test_hessian_eigenvalues_3d_sorted_descending_and_rotation_consistent():
    z, y, x = np.mgrid[-10:11, -10:11, -10:11].astype(np.float64)
    img = (0.5 * (2 * z**2 - 1 * y**2 + 0.5 * x**2 + 0.8 * x * y)).astype(np.float32)
    ev = compute_features(img, one("HessianOfGaussianEigenvalues", 1.0))[10, 10, 10]
    expected = np.sort(np.linalg.eigvalsh([[2, 0, 0], [0, -1, 0.4], [0, 0.4, 0.5]]))[::-1]
    np.testing.assert_allclose(ev, expected, rtol=1e-3, atol=1e-4)


def test_structure_tensor_of_ramp():
    yy, xx = np.mgrid[0:40, 0:40].astype(np.float32)
    st = compute_features(3.0 * xx, one("StructureTensorEigenvalues", 1.0))
    np.testing.assert_allclose(st[10:30, 10:30, 0], 9.0, rtol=1e-4)
    np.testing.assert_allclose(st[10:30, 10:30, 1], 0.0, atol=1e-3)


@pytest.mark.parametrize("scale", [0.7, 3.5])
def test_dog_is_difference_of_smoothings(scale):
    """DoG = G(σ') − G(0.66σ') of the pre-smoothed image (smoothed minus less smoothed), against scipy's
    gaussian_filter with the same kernel radii (truncate = window) and mirror borders."""
    rng = np.random.default_rng(1)
    img = rng.random((30, 30)).astype(np.float32)
    spec = FeatureSpec.from_names([f"DifferenceOfGaussians:{scale}"])
    f = compute_features(img, spec)[..., 0]

    def g(a, sigma, window):
        return ndimage.gaussian_filter(a, sigma, mode="mirror", truncate=window)

    # σ > 1: pre-smoothed with √(σ² − 1), filter at σ' = 1; σ ≤ 1: pre-smoothed with σ, filter at σ' = σ
    pre_sigma, filter_sigma = (np.sqrt(scale**2 - 1), 1.0) if scale > 1 else (scale, scale)
    pre = g(img.astype(np.float64), pre_sigma, 3.5)
    expected = g(pre, filter_sigma, 2.0) - g(pre, 0.66 * filter_sigma, 2.0)
    assert np.abs(expected).max() > 1e-3  # a real difference to compare, not two equal smoothings
    np.testing.assert_allclose(f, expected, rtol=0, atol=1e-6)
    peak = np.zeros((31, 31), np.float32)
    peak[15, 15] = 1
    assert compute_features(peak, spec)[15, 15, 0] < 0


# ---- anisotropy, 2D/3D, channels -------------------------------------------------------------------------
def test_anisotropic_sigma_changes_z_only():
    img = np.zeros((21, 21, 21), np.float32)
    img[10, 10, 10] = 1000
    spec = one("GaussianSmoothing", 1.6)
    iso = compute_features(img, spec)[..., 0]
    ani = compute_features(img, spec, voxel_size=(3.0, 1.0, 1.0))[..., 0]
    # in-plane profile identical up to the z normalisation; z profile narrower
    np.testing.assert_allclose(ani[10, 10] / ani[10, 10, 10], iso[10, 10] / iso[10, 10, 10], rtol=1e-5)
    np.testing.assert_allclose(ani[10, :, 10] / ani[10, 10, 10], iso[10, :, 10] / iso[10, 10, 10], rtol=1e-5)
    assert ani[11, 10, 10] / ani[10, 10, 10] < iso[11, 10, 10] / iso[10, 10, 10]
    # equal voxel sizes = isotropic
    np.testing.assert_allclose(compute_features(img, spec, voxel_size=(2, 2, 2)), compute_features(img, spec))
    with pytest.raises(InputError):
        compute_features(img, spec, voxel_size=(1, 1))


def test_compute_in_2d_is_slicewise():
    rng = np.random.default_rng(2)
    vol = rng.random((5, 24, 26)).astype(np.float32)
    spec = FeatureSpec.from_names(["GaussianGradientMagnitude:1.6:2d", "HessianOfGaussianEigenvalues:1.0:2d"])
    f3 = compute_features(vol, spec)
    assert f3.shape == (5, 24, 26, 3)
    for z in range(5):
        np.testing.assert_allclose(f3[z], compute_features(vol[z], spec), rtol=1e-5, atol=1e-6)
    assert feature_names(spec, 3)[0].endswith("in 2D")


@pytest.mark.parametrize("shape", [(33, 40), (9, 33, 40)])
def test_shapes_and_names(shape):
    rng = np.random.default_rng(3)
    img = rng.integers(0, 255, shape).astype(np.uint8)
    spec = FeatureSpec.default()
    f = compute_features(img, spec)
    assert f.dtype == np.float32 and f.shape == shape + (len(feature_names(spec, len(shape))),)
    assert np.isfinite(f).all()
    np.testing.assert_array_equal(np.moveaxis(features_first(img, spec), 0, -1), f)


def test_multichannel_features_per_channel():
    rng = np.random.default_rng(4)
    a = rng.random((20, 22)).astype(np.float32)
    b = rng.random((20, 22)).astype(np.float32)
    spec = FeatureSpec.from_names(["GaussianSmoothing:1.0", "StructureTensorEigenvalues:1.0"])
    f = compute_features(np.stack([a, b], -1), spec, channels=True)
    names = feature_names(spec, 2, 2)
    assert f.shape[-1] == len(names) == 6
    fa, fb = compute_features(a, spec), compute_features(b, spec)
    np.testing.assert_allclose(f[..., 0], fa[..., 0])
    np.testing.assert_allclose(f[..., 1], fb[..., 0])
    np.testing.assert_allclose(f[..., 2:4], fa[..., 1:3])
    np.testing.assert_allclose(f[..., 4:6], fb[..., 1:3])
    assert names[1] == "Gaussian Smoothing (σ=1.0) c1"


def test_bad_inputs():
    with pytest.raises(InputError):
        compute_features(np.zeros(10), FeatureSpec.default())
    with pytest.raises(InputError):
        compute_features(np.zeros((2, 3, 4, 5)), FeatureSpec.default())
