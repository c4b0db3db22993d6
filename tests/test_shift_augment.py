"""Tests of lineageflow.shift (deterministic intensity shifts of a movie) and lineageflow.augment (training copies)."""

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from lineageflow import normalise, shift
from lineageflow.augment import Augmentation
from lineageflow.errors import ConfigError, InputError
from lineageflow.normalise import Normalisation
from lineageflow.shift import MovieStats, Shift


def disc_image(shape=(256, 256), r=20, background=100.0, level=400.0, sigma=10.0, seed=0, dtype=np.float64):
    """A bright disc (centre of the image) on a Gaussian-noise background; returns image, disc mask, far mask.

    The noise stream is seeded [9001, seed]: NumPy treats default_rng([s, 0]) like default_rng(s), so seeding the
    image with a small integer could reproduce the very noise shift_frame adds at frame 0 (correlated, not
    independent, noise)."""
    rng = np.random.default_rng([9001, seed])
    yy, xx = np.indices(shape)
    d = np.hypot(yy - shape[0] / 2, xx - shape[1] / 2)
    img = np.where(d <= r, level, background) + rng.normal(0, sigma, shape)
    if np.dtype(dtype).kind in "ui":
        img = np.rint(img)
    return img.astype(dtype), d <= r - 2, d > r + 5


# --- Shift ---------------------------------------------------------------------------------------------------------

def test_contrast_at_bleach_ramp():
    b = Shift("b", bleach=0.4)
    assert b.contrast_at(0, 11) == pytest.approx(1.0)
    assert b.contrast_at(10, 11) == pytest.approx(0.4)
    assert b.contrast_at(5, 11) == pytest.approx(0.7)  # linear
    both = Shift("cb", contrast=0.5, bleach=0.4)
    assert both.contrast_at(0, 11) == pytest.approx(0.5)
    assert both.contrast_at(10, 11) == pytest.approx(0.2)
    assert b.contrast_at(0, 1) == pytest.approx(1.0)  # one frame: no ramp, no division by zero
    assert Shift("c", contrast=0.35).contrast_at(7, 11) == pytest.approx(0.35)


def test_suite_and_by_name():
    assert [s.name for s in shift.SUITE] == ["contrast0.5", "contrast0.35", "gain0.4", "offset", "bleach"]
    assert shift.by_name("gain0.4") == Shift("gain0.4", gain=0.4)
    assert shift.by_name("contrast0.15") == Shift("contrast0.15", contrast=0.15)
    assert shift.by_name("bleach0.2") == Shift("bleach0.2", bleach=0.2)
    assert shift.by_name("offset0") == Shift("offset0", offset=0.0)
    for bad in ("nope", "contrast", "contrast0", "gain-1", "contrastx", "bleachnan"):
        with pytest.raises(InputError, match=bad):
            shift.by_name(bad)


def test_movie_stats_known_background_and_noise():
    """Background 100, σ 10, and a disc covering 1.9 % of the pixels. The disc biases the median up by about
    Φ⁻¹(0.5 / 0.981) σ ≈ 0.024 σ and the MAD by a few %; the sampling error of both is < 0.01 σ here."""
    img, _, _ = disc_image()
    st = shift.movie_stats([img])
    assert st.background == pytest.approx(100.0, abs=0.5)
    assert st.noise == pytest.approx(10.0, rel=0.05)
    # exact definitions (the image is below the 500 000-pixel sampling stride)
    assert st.background == np.median(img)
    assert st.noise == pytest.approx(1.4826 * np.median(np.abs(img - np.median(img))), rel=1e-12)
    lo, hi = np.percentile(img, [1.0, 99.8])
    assert (st.low, st.high) == (pytest.approx(lo), pytest.approx(hi))
    assert st.low < 100 - 2 * 10 and st.high > 400  # the disc is the top 0.2 %
    # several frames are pooled
    img2, _, _ = disc_image(seed=1, background=300.0, level=600.0)
    st2 = shift.movie_stats([img, img2])
    assert st2.background == np.median(np.concatenate([img.ravel(), img2.ravel()]))


# --- shift_frame ---------------------------------------------------------------------------------------------------

def test_contrast_halves_difference_keeps_noise():
    """Disc 300 above background, σ = 10. After contrast 0.5 the difference must be 150 (the added noise has mean
    0; sampling error of the means ≈ 10 / √1100 ≈ 0.3, so ± 2 is > 6 standard errors) and the background std stays
    ≈ σ: sqrt(0.25 σ² + 0.75 σ̂²) with σ̂ the MAD estimate (a few % high because of the disc), so within 5 %.
    Without the noise top-up it would be 0.5 σ, far outside."""
    img, disc, far = disc_image()
    st = shift.movie_stats([img])
    out = shift.shift_frame(img, Shift("c", contrast=0.5), st, 0, 1, seed=3)
    assert out.dtype == img.dtype and out.shape == img.shape
    before = img[disc].mean() - img[far].mean()
    after = out[disc].mean() - out[far].mean()
    assert before == pytest.approx(300, abs=2)
    assert after == pytest.approx(before / 2, abs=2)
    assert out[far].std() == pytest.approx(img[far].std(), rel=0.05)
    assert out[disc].std() == pytest.approx(img[disc].std(), rel=0.08)  # fewer pixels: wider
    # the background level is kept
    assert out[far].mean() == pytest.approx(img[far].mean(), abs=1)


def test_contrast_on_integer_image():
    img, disc, far = disc_image(background=1000.0, level=1300.0, dtype=np.uint16)
    st = shift.movie_stats([img])
    out = shift.shift_frame(img, Shift("c", contrast=0.5), st, 0, 1)
    assert out.dtype == np.uint16
    assert out[disc].mean() - out[far].mean() == pytest.approx((img[disc].mean() - img[far].mean()) / 2, abs=2)
    assert out[far].std() == pytest.approx(img[far].std(), rel=0.05)


def test_gain_offset_exact_with_rounding_and_clipping():
    st = MovieStats(background=0.0, noise=0.0, low=0.0, high=100.0)  # offset unit: 100
    img = np.array([[0, 7, 10, 200, 255]], np.uint8)
    out = shift.shift_frame(img, Shift("g", gain=0.4), st, 0, 1)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[0, 3, 4, 80, 102]])  # 2.8 → 3, 102.0
    out = shift.shift_frame(img, Shift("go", gain=0.4, offset=0.25), st, 0, 1)
    np.testing.assert_array_equal(out, [[25, 28, 29, 105, 127]])
    out = shift.shift_frame(img, Shift("g2", gain=2.0), st, 0, 1)
    np.testing.assert_array_equal(out, [[0, 14, 20, 255, 255]])  # clipped at the dtype's max
    out = shift.shift_frame(img, Shift("neg", offset=-0.5), st, 0, 1)
    np.testing.assert_array_equal(out, [[0, 0, 0, 150, 205]])  # clipped at 0
    signed = np.array([[-100, 0, 100]], np.int16)
    out = shift.shift_frame(signed, Shift("i", gain=400.0), st, 0, 1)
    assert out.dtype == np.int16
    np.testing.assert_array_equal(out, [[-32768, 0, 32767]])
    flt = np.array([[0.5, -1.25, 3.0]], np.float32)
    out = shift.shift_frame(flt, Shift("f", gain=0.4, offset=0.25), st, 0, 1)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, flt.astype(np.float64) * 0.4 + 25.0, rtol=1e-7)  # float: no rounding


def test_shift_frame_determinism():
    img, _, _ = disc_image(shape=(64, 64), r=8)
    st = shift.movie_stats([img])
    c = Shift("c", contrast=0.5)
    a = shift.shift_frame(img, c, st, 2, 5, seed=1)
    np.testing.assert_array_equal(a, shift.shift_frame(img, c, st, 2, 5, seed=1))
    assert not np.array_equal(a, shift.shift_frame(img, c, st, 2, 5, seed=2))
    assert not np.array_equal(a, shift.shift_frame(img, c, st, 3, 5, seed=1))
    # no contrast change: no noise, the seed is irrelevant
    g = Shift("g", gain=0.4)
    np.testing.assert_array_equal(shift.shift_frame(img, g, st, 2, 5, seed=1), shift.shift_frame(img, g, st, 2, 5, 9))
    np.testing.assert_array_equal(shift.shift_frame(img, Shift("id"), st, 0, 5), img)


def test_bleach_only_changes_later_frames():
    img, disc, far = disc_image()
    st = shift.movie_stats([img])
    b = Shift("b", bleach=0.4)
    np.testing.assert_array_equal(shift.shift_frame(img, b, st, 0, 5), img)
    last = shift.shift_frame(img, b, st, 4, 5)
    assert last[disc].mean() - last[far].mean() == pytest.approx(0.4 * (img[disc].mean() - img[far].mean()), abs=2)


# --- write_shifted_sequence ----------------------------------------------------------------------------------------

def _ctc(tmp_path, n=4, gt=True):
    seq = tmp_path / "data" / "01"
    seq.mkdir(parents=True)
    for t in range(n):
        img, _, _ = disc_image(shape=(32, 40), r=6, background=500.0 + 50 * t, level=900.0, seed=t, dtype=np.uint16)
        tifffile.imwrite(seq / f"t{t:03d}.tif", img)
    if gt:
        tra = tmp_path / "data" / "01_GT" / "TRA"
        tra.mkdir(parents=True)
        tifffile.imwrite(tra / "man_track000.tif", np.ones((32, 40), np.uint16))
        (tra / "man_track.txt").write_text("1 0 3 0\n")
    return seq


@pytest.mark.parametrize("sh", [Shift("offset", offset=0.25), Shift("contrast0.5", contrast=0.5),
                                Shift("bleach", bleach=0.4, gain=0.4)])
def test_write_shifted_sequence(tmp_path, sh):
    seq = _ctc(tmp_path)
    files = sorted(seq.iterdir())
    before = {f.name: f.read_bytes() for f in files}
    out = shift.write_shifted_sequence(seq, tmp_path / "shifted" / "01", sh, seed=5)
    assert out == tmp_path / "shifted" / "01"
    assert sorted(p.name for p in out.iterdir()) == sorted(before)
    # stats from frames 0, n // 2, n - 1
    st = shift.movie_stats([tifffile.imread(files[i]) for i in (0, 2, 3)])
    for t, f in enumerate(files):
        src = tifffile.imread(f)
        got = tifffile.imread(out / f.name)
        assert got.dtype == src.dtype == np.uint16 and got.shape == src.shape
        np.testing.assert_array_equal(got, shift.shift_frame(src, sh, st, t, len(files), seed=5))
    assert not np.array_equal(tifffile.imread(out / "t003.tif"), tifffile.imread(files[3]))
    # the sources are untouched
    assert {f.name: f.read_bytes() for f in sorted(seq.iterdir())} == before
    # ground truth beside the copy
    gt = tmp_path / "shifted" / "01_GT"
    assert gt.is_dir()
    assert (gt / "TRA" / "man_track.txt").read_text() == "1 0 3 0\n"
    assert (gt / "TRA" / "man_track000.tif").read_bytes() == (seq.parent / "01_GT" / "TRA" / "man_track000.tif").read_bytes()
    # a second run overwrites the frames and keeps the link
    shift.write_shifted_sequence(seq, tmp_path / "shifted" / "01", sh, seed=5)
    assert (gt / "TRA" / "man_track.txt").is_file()


def test_write_shifted_sequence_explicit_and_missing_gt(tmp_path):
    seq = _ctc(tmp_path, n=2, gt=False)
    shift.write_shifted_sequence(seq, tmp_path / "a" / "01", Shift("g", gain=0.4))
    assert not (tmp_path / "a" / "01_GT").exists()  # nothing to link
    other_gt = tmp_path / "elsewhere" / "GT"
    other_gt.mkdir(parents=True)
    (other_gt / "marker.txt").write_text("x")
    shift.write_shifted_sequence(seq, tmp_path / "b" / "01", Shift("g", gain=0.4), gt_dir=other_gt)
    assert (tmp_path / "b" / "01_GT" / "marker.txt").read_text() == "x"
    with pytest.raises(InputError, match="missing_seq"):
        shift.write_shifted_sequence(tmp_path / "missing_seq", tmp_path / "c", Shift("g", gain=0.4))


# --- Augmentation --------------------------------------------------------------------------------------------------

def test_from_config():
    assert Augmentation.from_config(None) is None
    assert Augmentation.from_config({}) is None
    assert Augmentation.from_config({"seed": 4, "gain": [], "blur": []}) is None
    aug = Augmentation.from_config({"gain": [0.5, 2], "blur": [1], "seed": 4})
    assert aug == Augmentation(gain=(0.5, 2.0), blur=(1.0,), seed=4)
    assert aug.n_copies == 3
    assert aug.to_dict() == {"contrast": [], "gain": [0.5, 2.0], "noise": [], "poisson": [], "blur": [1.0], "seed": 4}
    assert Augmentation(**{k: tuple(v) if isinstance(v, list) else v for k, v in aug.to_dict().items()}) == aug


@pytest.mark.parametrize("kind", ["contrast", "gain", "noise", "poisson", "blur"])
@pytest.mark.parametrize("bad", [0, -1.5, float("nan"), float("inf")])
def test_from_config_bad_values(kind, bad):
    with pytest.raises(ConfigError, match=f"pixels.augment.{kind}"):
        Augmentation.from_config({kind: [1.0, bad]})


ALL = Augmentation(contrast=(0.5,), gain=(0.5, 2.0), noise=(1.0,), poisson=(100.0,), blur=(1.5,), seed=7)


def test_copies_names_count_dtype():
    img, _, _ = disc_image(shape=(48, 48), r=8, background=1000.0, level=1600.0, sigma=20.0, dtype=np.uint16)
    copies = ALL.copies(img, frame=3)
    assert [n for n, _ in copies] == ["contrast0.5", "gain0.5", "gain2", "noise1", "poisson100", "blur1.5"]
    assert len(copies) == ALL.n_copies == 6
    for _, c in copies:
        assert c.dtype == np.uint16 and c.shape == img.shape
        assert not np.array_equal(c, img)
    flt = img.astype(np.float32)
    assert all(c.dtype == np.float32 for _, c in ALL.copies(flt))


def test_copies_deterministic():
    img, _, _ = disc_image(shape=(48, 48), r=8, dtype=np.uint16)
    a = ALL.copies(img, frame=2)
    b = ALL.copies(img, frame=2)
    for (na, ca), (nb, cb) in zip(a, b):
        assert na == nb
        np.testing.assert_array_equal(ca, cb)
    other_seed = dict(Augmentation(**{**ALL.__dict__, "seed": 8}).copies(img, frame=2))
    other_frame = dict(ALL.copies(img, frame=3))
    for name, c in a:
        random = name.startswith(("contrast", "noise", "poisson"))
        assert np.array_equal(c, other_seed[name]) != random, name
        assert np.array_equal(c, other_frame[name]) != random, name


def test_gaussian_noise_raises_std():
    """Flat background σ = 20: adding k·σ̂ of independent noise gives σ·sqrt(1 + k²) (σ̂ is the MAD estimate;
    sampling error of a std over 16 384 pixels ≈ 0.6 %)."""
    rng = np.random.default_rng(0)
    img = np.rint(rng.normal(1000, 20, (128, 128))).astype(np.uint16)
    for k in (1.0, 2.0):
        (_, c), = Augmentation(noise=(k,)).copies(img)
        assert c.std() == pytest.approx(img.std() * np.sqrt(1 + k * k), rel=0.04)
        assert c.mean() == pytest.approx(img.mean(), abs=1.0)


def test_blur_lowers_std_gain_scales():
    rng = np.random.default_rng(0)
    img = np.rint(rng.normal(1000, 20, (128, 128))).astype(np.uint16)
    (_, blurred), = Augmentation(blur=(2.0,)).copies(img)
    # white noise through a Gaussian of σ_b: std / (2 √π σ_b) ≈ 0.14 σ
    assert blurred.std() < 0.25 * img.std()
    assert blurred.mean() == pytest.approx(img.mean(), abs=0.5)
    np.testing.assert_array_equal(blurred, np.rint(ndimage.gaussian_filter(img.astype(np.float64), 2.0)))
    small = np.array([[0, 7, 10, 200, 255]], np.uint8)
    (_, g1), (_, g2) = Augmentation(gain=(0.4, 2.0)).copies(small)
    np.testing.assert_array_equal(g1, [[0, 3, 4, 80, 102]])
    np.testing.assert_array_equal(g2, [[0, 14, 20, 255, 255]])  # rounded and clipped to uint8


def test_contrast_copy_matches_shift_frame():
    img, disc, far = disc_image(dtype=np.uint16)
    (_, c), = Augmentation(contrast=(0.5,), seed=2).copies(img, frame=4)
    st = shift.movie_stats([img])
    np.testing.assert_array_equal(c, shift.shift_frame(img, Shift("aug", contrast=0.5), st, 4, 1, seed=[2, 4, 0, 0, 0]))
    assert c[disc].mean() - c[far].mean() == pytest.approx((img[disc].mean() - img[far].mean()) / 2, abs=2)


def test_poisson_noise_grows_with_intensity():
    """Noise-free steps at 100 (background, the 1st percentile) and 200/400/800 (800 = the 99.8th percentile).
    With P photons at the high level, one photon is u = 700 / P; a region x has (x − 100) / u photons, so its
    std is sqrt((x − 100) u) and its mean stays x. 4096 pixels per region: std within 6 % (> 5 standard errors)."""
    img = np.full((256, 256), 100, np.uint16)
    img[:64, :64] = 200
    img[:64, 64:128] = 400
    img[:64, 128:192] = 800
    regions = {200: (slice(0, 64), slice(0, 64)), 400: (slice(0, 64), slice(64, 128)),
               800: (slice(0, 64), slice(128, 192))}
    st = shift.movie_stats([img])
    assert (st.low, st.high) == (100.0, 800.0)
    (_, c), = Augmentation(poisson=(50.0,)).copies(img)
    u = 700 / 50
    stds = []
    for x, sl in regions.items():
        region = c[sl].astype(np.float64)
        stds.append(region.std())
        assert region.std() == pytest.approx(np.sqrt((x - 100) * u), rel=0.06)
        assert region.mean() == pytest.approx(x, abs=3 * region.std() / 64 + 0.5)
    assert stds[0] < stds[1] < stds[2]
    np.testing.assert_array_equal(c[128:, :], 100)  # zero photons above the low level: no noise


def test_channel_last_handled_per_channel():
    rng = np.random.default_rng(1)
    ch0 = np.rint(rng.normal(100, 5, (64, 64))).astype(np.uint16)
    ch1 = np.rint(rng.normal(5000, 100, (64, 64))).astype(np.uint16)
    img = np.stack([ch0, ch1], axis=-1)
    aug = Augmentation(gain=(0.5,), noise=(1.0,), blur=(1.0,), seed=3)
    copies = aug.copies(img, frame=2, channels=True)
    assert [n for n, _ in copies] == ["gain0.5", "noise1", "blur1"]
    for (name, c), (n0, c0), (n1, c1) in zip(copies, aug.copies(ch0, 2), aug.copies(ch1, 2)):
        assert c.shape == img.shape and c.dtype == np.uint16 and name == n0 == n1
        if name != "noise1":  # deterministic kinds: exactly the single-channel copies
            np.testing.assert_array_equal(c[..., 0], c0)
            np.testing.assert_array_equal(c[..., 1], c1)
    noisy = dict(copies)["noise1"]
    # each channel gets noise of its own level (5 vs 100), not a shared one
    assert noisy[..., 0].std() == pytest.approx(5 * np.sqrt(2), rel=0.08)
    assert noisy[..., 1].std() == pytest.approx(100 * np.sqrt(2), rel=0.08)


def test_variants_normalised_by_own_levels():
    img, _, _ = disc_image(shape=(64, 64), r=10, background=1000.0, level=1600.0, sigma=20.0, dtype=np.uint16)
    norm = Normalisation("movie", 1.0, 99.8)
    aug = Augmentation(gain=(0.4,), noise=(1.0,), blur=(1.0,))
    variants = aug.variants(img, norm, frame=1)
    copies = aug.copies(img, frame=1)
    assert len(variants) == aug.n_copies == 3
    for v, (_, c) in zip(variants, copies):
        assert v.dtype == np.float32 and v.shape == img.shape
        lo, hi = np.percentile(c.astype(np.float64), [1.0, 99.8])
        np.testing.assert_allclose(v, (c - lo) / (hi - lo), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.percentile(v, [1.0, 99.8]), [0.0, 1.0], atol=1e-5)
    # frame-mode settings' percentiles are used
    v, = Augmentation(gain=(0.4,)).variants(img, Normalisation("movie", 10.0, 90.0))
    np.testing.assert_allclose(np.percentile(v, [10.0, 90.0]), [0.0, 1.0], atol=1e-5)
    # mode 'none': raw copies as float32
    raw = aug.variants(img, Normalisation("none"), frame=1)
    for v, (_, c) in zip(raw, copies):
        np.testing.assert_array_equal(v, c.astype(np.float32))
    # channel-last: per-channel levels
    two = np.stack([img, (img // 2).astype(np.uint16)], axis=-1)
    for v in aug.variants(two, norm, channels=True):
        for ch in range(2):
            np.testing.assert_allclose(np.percentile(v[..., ch], [1.0, 99.8]), [0.0, 1.0], atol=1e-5)
    assert normalise.MODES == ("none", "movie", "frame")
