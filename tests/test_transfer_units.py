"""Transfer to dimmer / offset movies: normalised pixel classifier (pixels.py) and count classifier (classifiers.py)."""

import json
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier

import helpers
from lineageflow import normalise, pixels
from lineageflow.augment import Augmentation
from lineageflow.classifiers import (
    COUNT_FEATURE_NAMES,
    count_features,
    normalised_intensities,
    predict_counts,
    train_count_classifier,
)
from lineageflow.errors import InputError
from lineageflow.features import object_features
from lineageflow.filters import FeatureSpec
from lineageflow.normalise import Normalisation

SPEC = FeatureSpec.from_names(
    ["GaussianSmoothing:0.7", "GaussianSmoothing:1.6", "GaussianGradientMagnitude:1.0", "LaplacianOfGaussian:1.6",
     "HessianOfGaussianEigenvalues:1.6"]
)
MOVIE = Normalisation("movie", 50, 99.8)
NONE = Normalisation("none")
GAIN, OFFSET = 0.4, 50.0


def scene(shape=(96, 96), seed=0):
    """Five discs (r 8, level 400) on a noisy background (100, σ 20). Labels: discs eroded to r 5 = 1, background
    farther than 14 px from any disc centre = 2. Returns image, labels, distance to the nearest centre."""
    rng = np.random.default_rng([77, seed])
    yy, xx = np.indices(shape)
    centres = [(20, 20), (20, 70), (50, 45), (75, 20), (75, 75)]
    d = np.min([np.hypot(yy - cy, xx - cx) for cy, cx in centres], axis=0)
    img = np.where(d <= 8, 400.0, 100.0) + rng.normal(0, 20, shape)
    lab = np.zeros(shape, np.uint8)
    lab[d <= 5] = 1
    lab[d >= 14] = 2
    return img.astype(np.float32), lab, d


def levels(img, norm=MOVIE):
    return normalise.movie_levels(lambda _: img, 1, norm)


@pytest.fixture(scope="module")
def px():
    img, lab, d = scene()
    other = (GAIN * img + OFFSET).astype(np.float32)  # a dimmer, offset acquisition of the same scene
    norm_clf = pixels.train([img], [lab], SPEC, n_trees=20, seed=0, normalisation=MOVIE, levels=levels(img))
    raw_clf = pixels.train([img], [lab], SPEC, n_trees=20, seed=0, normalisation=NONE)
    return img, lab, d, other, norm_clf, raw_clf


# --- pixel classifier ----------------------------------------------------------------------------------------------

def test_normalised_classifier_carries_over_gain_and_offset(px):
    img, lab, d, other, clf, _ = px
    lv, lv_other = levels(img), levels(other)
    np.testing.assert_allclose(lv_other, GAIN * lv + OFFSET, rtol=1e-5)  # percentiles follow the affine map
    p = pixels.predict(clf, img, levels=lv)
    q = pixels.predict(clf, other, levels=lv_other)
    assert p[..., 0][d <= 5].mean() > 0.95 and p[..., 0][d >= 14].mean() < 0.05  # it did learn the scene
    # normalised images agree to float32 rounding; a forest threshold could at worst flip for a few pixels
    assert np.abs(p - q).mean() < 1e-3
    assert np.abs(p - q).max() <= 0.1
    assert q[..., 0][d <= 5].mean() > 0.95


def test_raw_classifier_does_not_carry_over(px):
    img, lab, d, other, _, raw = px
    p = pixels.predict(raw, img)
    q = pixels.predict(raw, other)
    assert p[..., 0][d <= 5].mean() > 0.95
    # discs at 0.4 · 400 + 50 = 210 look like the 100-level background did to the raw forest
    assert q[..., 0][d <= 5].mean() < 0.5
    assert np.abs(p - q).mean() > 0.05


def test_movie_mode_needs_levels_at_prediction(px):
    img, *_, clf, raw = px
    with pytest.raises(InputError, match="levels"):
        pixels.predict(clf, img)
    pixels.predict(raw, img)  # mode 'none' needs none


def test_movie_mode_needs_levels_at_training():
    img, lab, _ = scene()
    with pytest.raises((ValueError, InputError), match="levels"):
        pixels.train([img], [lab], SPEC, n_trees=2, normalisation=MOVIE)


def test_frame_mode_needs_no_levels():
    img, lab, d = scene()
    clf = pixels.train([img], [lab], SPEC, n_trees=10, seed=0, normalisation=Normalisation("frame", 50, 99.8))
    p = pixels.predict(clf, img)
    q = pixels.predict(clf, (GAIN * img + OFFSET).astype(np.float32))
    assert np.abs(p - q).mean() < 1e-3


def test_training_record_and_metadata(px):
    img, lab, *_, clf, raw = px
    assert clf.normalisation == MOVIE and raw.normalisation == NONE
    n_labelled = int((lab > 0).sum())
    assert clf.training["n_rows"] == n_labelled
    assert clf.training["class_rows"] == {1: int((lab == 1).sum()), 2: int((lab == 2).sum())}
    np.testing.assert_allclose(clf.training["levels"], [levels(img).tolist()])
    assert clf.training["augmentation"] is None
    meta = clf.metadata()
    assert meta["format_version"] == pixels.FORMAT_VERSION == 3 and meta["normalisation"] == MOVIE.to_dict()


def test_save_load_keeps_normalisation(px, tmp_path):
    img, *_, other, clf, _ = px
    path = tmp_path / "clf.pkl"
    pixels.save(clf, path)
    back = pixels.load(path)
    assert back.normalisation == clf.normalisation == MOVIE
    assert back.training["n_rows"] == clf.training["n_rows"]
    lv = levels(other)
    np.testing.assert_array_equal(pixels.predict(back, other, levels=lv), pixels.predict(clf, other, levels=lv))
    with pytest.raises(InputError, match="levels"):
        pixels.predict(back, other)


def test_format_version_1_loads_as_unnormalised(px, tmp_path):
    img, *_, raw = px
    meta = raw.metadata()
    del meta["normalisation"]
    del meta["training"]
    meta["format_version"] = 1
    forest = raw.forest
    assert isinstance(forest, RandomForestClassifier)
    path = tmp_path / "old.pkl"
    with open(path, "wb") as fh:
        pickle.dump({"metadata_json": json.dumps(meta), "forest": forest}, fh)
    old = pixels.load(path)
    assert old.normalisation == Normalisation("none")
    assert old.normalisation.mode == "none"
    np.testing.assert_array_equal(pixels.predict(old, img), pixels.predict(raw, img))  # no levels needed
    # a newer version than this code knows is refused
    meta["format_version"] = pixels.FORMAT_VERSION + 1
    with open(path, "wb") as fh:
        pickle.dump({"metadata_json": json.dumps(meta), "forest": forest}, fh)
    with pytest.raises(InputError, match="old.pkl"):
        pixels.load(path)


def test_augmentation_adds_rows():
    img, lab, _ = scene()
    lv = levels(img)
    n = int((lab > 0).sum())
    aug = Augmentation(gain=(0.5,), noise=(1.0,), blur=(1.0,), seed=1)
    clf = pixels.train([img], [lab], SPEC, n_trees=5, seed=0, normalisation=MOVIE, levels=lv, augmentation=aug)
    assert clf.training["n_rows"] == n * (1 + aug.n_copies)
    assert clf.training["class_rows"] == {1: int((lab == 1).sum()) * 4, 2: int((lab == 2).sum()) * 4}
    assert clf.training["augmentation"] == aug.to_dict()
    # two frames: copies of each
    clf2 = pixels.train([img, img], [lab, lab], SPEC, n_trees=5, seed=0, normalisation=MOVIE, levels=[lv, lv],
                        augmentation=Augmentation(contrast=(0.5,)))
    assert clf2.training["n_rows"] == 2 * n * 2
    # a frame without labels contributes no row, augmented or not
    clf3 = pixels.train([img, img], [lab, np.zeros_like(lab)], SPEC, n_trees=5, normalisation=MOVIE,
                        levels=lv, augmentation=aug)
    assert clf3.training["n_rows"] == n * (1 + aug.n_copies)


# --- count classifier on normalised intensities --------------------------------------------------------------------

SHAPE = (128, 128)


@pytest.fixture(scope="module")
def counts_data():
    rng = np.random.default_rng(11)
    frames = [helpers.count_frame(rng, SHAPE) for _ in range(8)]
    tables, targets = [], []
    for t, (lab, raw, truth) in enumerate(frames):
        table = object_features(lab, raw, frame=t, voxel_size=(1.0, 1.0))
        tables.append(table)
        targets.append(table["label"].map(truth).to_numpy())
    movie = pd.concat(tables, ignore_index=True)
    lv = tuple(np.percentile(np.stack([raw for _, raw, _ in frames]), [1.0, 99.8]))
    return frames, movie, np.concatenate(targets), lv


def scaled(table, gain, offset=0.0):
    """The object table of the movie gain · raw + offset (intensity statistics transform exactly like this)."""
    t = table.copy()
    for c in ("intensity_mean", "intensity_min", "intensity_max"):
        t[c] = gain * t[c] + offset
    t["intensity_var"] = gain**2 * t["intensity_var"]
    t["intensity_sum"] = gain * t["intensity_sum"] + offset * t["size"]
    return t


def test_normalised_intensities_exact():
    table = pd.DataFrame({"frame": [0, 0], "label": [1, 2], "size": [4.0, 10.0],
                          "intensity_mean": [60.0, 10.0], "intensity_min": [10.0, 0.0], "intensity_max": [110.0, 20.0],
                          "intensity_var": [100.0, 4.0], "intensity_sum": [240.0, 100.0],
                          "intensity_skew": [0.3, -1.0]})
    keep = table.copy()
    out = normalised_intensities(table, (10.0, 110.0))
    np.testing.assert_allclose(out["intensity_mean"], [0.5, 0.0])
    np.testing.assert_allclose(out["intensity_min"], [0.0, -0.1])
    np.testing.assert_allclose(out["intensity_max"], [1.0, 0.1])
    np.testing.assert_allclose(out["intensity_var"], [0.01, 0.0004])
    np.testing.assert_allclose(out["intensity_sum"], [2.0, 0.0])  # (sum − lo · size) / span
    pd.testing.assert_series_equal(out["intensity_skew"], table["intensity_skew"])  # scale-free: unchanged
    pd.testing.assert_frame_equal(table, keep)  # input untouched
    assert normalised_intensities(table, None) is table
    flat = normalised_intensities(table, (5.0, 5.0))  # degenerate levels: shift only
    np.testing.assert_allclose(flat["intensity_mean"], [55.0, 5.0])


def test_count_features_with_levels(counts_data):
    _, movie, _, lv = counts_data
    x = count_features(movie, lv)
    assert x.shape == (len(movie), len(COUNT_FEATURE_NAMES))
    np.testing.assert_array_equal(x, count_features(normalised_intensities(movie, lv)))
    assert not np.allclose(x, count_features(movie))
    # gain and offset cancel once the levels follow them
    np.testing.assert_allclose(count_features(scaled(movie, GAIN, 7.0), (GAIN * lv[0] + 7.0, GAIN * lv[1] + 7.0)), x,
                               rtol=1e-9, atol=1e-9)


def test_count_classifier_on_normalised_intensities_transfers(counts_data):
    frames, movie, y, lv = counts_data
    clf = train_count_classifier([movie], [y], n_trees=30, seed=0, levels=[lv])
    assert clf.info["normalised_intensity"] is True
    p = predict_counts(clf, movie, levels=lv)
    assert (p.to_numpy().argmax(axis=1) == y).mean() > 0.95
    for gain, offset in ((GAIN, 0.0), (2.5, 0.0), (GAIN, 30.0)):
        other = scaled(movie, gain, offset)
        q = predict_counts(clf, other, levels=(gain * lv[0] + offset, gain * lv[1] + offset))
        pd.testing.assert_frame_equal(q, p, check_exact=False, atol=1e-12, rtol=0)
    # without normalisation the same forest settings do not transfer
    raw = train_count_classifier([movie], [y], n_trees=30, seed=0)
    assert raw.info["normalised_intensity"] is False
    p_raw = predict_counts(raw, movie)
    q_raw = predict_counts(raw, scaled(movie, GAIN))
    # (sizes alone still separate this synthetic data's classes, so the raw forest's argmax may survive, but its
    # probabilities move: the intensity features it split on are 0.4 × what it learned)
    assert np.abs(p_raw.to_numpy() - q_raw.to_numpy()).max() > 0.3
    assert np.abs(p_raw.to_numpy() - q_raw.to_numpy()).mean() > 0.1


def test_count_classifier_on_a_really_dimmer_movie(counts_data):
    """The object table measured on gain · raw + offset (not just rescaled columns) with that movie's levels."""
    frames, movie, y, lv = counts_data
    clf = train_count_classifier([movie], [y], n_trees=30, seed=0, levels=[lv])
    dim = pd.concat([object_features(lab, GAIN * raw + OFFSET, frame=t, voxel_size=(1.0, 1.0))
                     for t, (lab, raw, _) in enumerate(frames)], ignore_index=True)
    dim_lv = tuple(np.percentile(np.stack([GAIN * raw + OFFSET for _, raw, _ in frames]), [1.0, 99.8]))
    np.testing.assert_allclose(dim_lv, (GAIN * lv[0] + OFFSET, GAIN * lv[1] + OFFSET), rtol=1e-9)
    q = predict_counts(clf, dim, levels=dim_lv)
    p = predict_counts(clf, movie, levels=lv)
    assert np.abs(q.to_numpy() - p.to_numpy()).max() < 0.05
    assert (q.to_numpy().argmax(axis=1) == y).mean() > 0.95


def test_count_classifier_levels_errors(counts_data):
    _, movie, y, lv = counts_data
    clf = train_count_classifier([movie], [y], n_trees=5, seed=0, levels=[lv])
    with pytest.raises(InputError, match="levels"):
        predict_counts(clf, movie)
    raw = train_count_classifier([movie], [y], n_trees=5, seed=0)
    # a raw classifier ignores levels
    pd.testing.assert_frame_equal(predict_counts(raw, movie, levels=lv), predict_counts(raw, movie))
    half = movie[movie["frame"] < 4]
    rest = movie[movie["frame"] >= 4]
    with pytest.raises(ValueError, match="levels"):
        train_count_classifier([half, rest], [y[: len(half)], y[len(half):]], n_trees=5, levels=[lv, None])
    with pytest.raises(ValueError, match="levels"):
        train_count_classifier([half, rest], [y[: len(half)], y[len(half):]], n_trees=5, levels=[lv])


def test_count_classifier_per_table_levels(counts_data):
    """Two movies of different brightness, each with its own levels, train one classifier."""
    _, movie, y, lv = counts_data
    bright = scaled(movie, 3.0, 20.0)
    bright_lv = (3.0 * lv[0] + 20.0, 3.0 * lv[1] + 20.0)
    both = train_count_classifier([movie, bright], [y, y], n_trees=10, seed=0, levels=[lv, bright_lv])
    one = train_count_classifier([movie, movie], [y, y], n_trees=10, seed=0, levels=[lv, lv])
    pd.testing.assert_frame_equal(predict_counts(both, movie, levels=lv), predict_counts(one, movie, levels=lv),
                                  check_exact=False, atol=1e-12, rtol=0)


# --- objects.split 'auto' ------------------------------------------------------------------------------------------

def _pairs_image(touching: bool, seed: int):
    """Six pairs of r-8 nuclei, touching (centres 16 apart, a narrow neck once blurred) or apart (centres 30 apart), on a noisy background.
    Returns raw, GT labels (one label per nucleus), sparse labels (eroded nuclei 1, far background 2)."""
    rng = np.random.default_rng([seed, 7])
    raw = rng.normal(100, 5, (128, 192))
    gt = np.zeros(raw.shape, np.int32)
    gap = 16 if touching else 30
    k = 0
    for row in (32, 96):
        for col in (24, 84, 144):
            for dx in (0, gap):
                k += 1
                disk = np.zeros(raw.shape, bool)
                helpers.disk(disk, row, col + dx - gap // 2, 8)
                gt[disk & (gt == 0)] = k
                raw[disk] += 150
    from scipy import ndimage as ndi

    sparse = np.where(ndi.binary_erosion(gt > 0, iterations=3), 1, 0)
    sparse[~ndi.binary_dilation(gt > 0, iterations=6)] = 2
    return raw, gt, sparse.astype(np.uint8)


@pytest.mark.parametrize("touching, expected", [(True, 0.4), (False, 0.0)])
def test_choose_split_on_training_frames(touching, expected):
    from lineageflow import segment

    raw, gt, sparse = _pairs_image(touching, 1)
    clf = pixels.train([raw], [sparse], SPEC, n_trees=10, seed=0)
    objects = {"channel": 0, "method": "simple", "threshold": 0.5, "low": 0.4, "high": 0.7, "sigma": [1.0, 1.0],
               "min_size": 10, "max_size": 0, "max_foreground_fraction": 0.95, "split": "auto"}
    decision = segment.choose_split(clf, [raw], [gt], objects, (1.0, 1.0))
    ev = decision["evidence"]
    assert decision["ratio"] == expected and ev["n_gt"] == 12
    if touching:  # without the split every pair is one merger; with it every nucleus is alone
        assert ev["alone_without"] == 0 and ev["alone_with"] == 12 and decision["gain"] == 1.0
    else:
        assert ev["alone_without"] == ev["alone_with"] == 12 and decision["gain"] == 0.0
    clf.training["split"] = decision
    assert segment.resolved_objects(objects, clf)["split"] == expected
    assert segment.resolved_objects(objects, None)["split"] == 0.0  # ilastik's probabilities: no decision, off
    assert segment.resolved_objects({**objects, "split": 0.3}, clf)["split"] == 0.3  # a number is kept
