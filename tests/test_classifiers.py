"""Tests of lineageflow.classifiers (object count and division Random Forests)."""

import logging
import pickle

import numpy as np
import pandas as pd
import pytest

from lineageflow.classifiers import (
    COUNT_FEATURE_NAMES,
    DIVISION_FEATURES,
    EPSILON,
    ObjectClassifier,
    classify_table,
    count_columns,
    count_features,
    division_features,
    predict_counts,
    predict_division,
    train_count_classifier,
    train_division_classifier,
)
import helpers
from lineageflow.errors import ConfigError, InputError
from lineageflow.features import object_features

SHAPE = (128, 128)


def _features(lab, raw, t, vs=(1.0, 1.0)):
    return object_features(lab, raw, frame=t, voxel_size=vs)


# --- count classifier on a clear synthetic signal ----------------------------------------------------------------

def _count_frame(t, rng):
    """One frame of helpers.count_frame as an object table, and the true counts in its row order."""
    lab, raw, truth = helpers.count_frame(rng, SHAPE)
    table = _features(lab, raw, t)
    return table, table["label"].map(truth).to_numpy()


@pytest.fixture(scope="module")
def count_data():
    rng = np.random.default_rng(1)
    return [_count_frame(t, rng) for t in range(10)]


def test_count_features_shape(count_data):
    table, _ = count_data[0]
    x = count_features(table)
    assert x.shape == (len(table), len(COUNT_FEATURE_NAMES)) and np.isfinite(x).all()
    # size relative to the frame's median object
    assert np.allclose(x[:, COUNT_FEATURE_NAMES.index("size_rel")], table["size"] / table["size"].median())


def test_count_classifier_learns(count_data):
    tables, counts = zip(*count_data)
    clf = train_count_classifier(tables[:7], counts[:7], n_trees=50)
    assert clf.kind == "count" and clf.classes == [0, 1, 2] and clf.spatial_ndim == 2
    for table, truth in zip(tables[7:], counts[7:]):
        p = predict_counts(clf, table)
        assert list(p.columns) == count_columns(2) == ["p_count_0", "p_count_1", "p_count_2"]
        assert p.index.equals(pd.MultiIndex.from_frame(table[["frame", "label"]]))
        assert np.allclose(p.sum(axis=1), 1.0) and (p.to_numpy() >= EPSILON / 2).all()
        assert np.array_equal(p.to_numpy().argmax(axis=1), truth)


def test_count_classifier_deterministic_and_row_order(count_data):
    tables, counts = zip(*count_data[:4])
    a = train_count_classifier(tables, counts, n_trees=20, seed=3)
    perm = [np.random.default_rng(i).permutation(len(t)) for i, t in enumerate(tables)]
    b = train_count_classifier([t.iloc[p] for t, p in zip(tables, perm)], [c[p] for c, p in zip(counts, perm)],
                               n_trees=20, seed=3)
    test = count_data[5][0]
    assert predict_counts(a, test).equals(predict_counts(b, test))
    c = train_count_classifier(tables, counts, n_trees=20, seed=4)
    assert not np.allclose(predict_counts(a, test), predict_counts(c, test))


def test_count_clipping_unannotated_and_absent_classes(count_data):
    table, truth = count_data[0]
    y = truth.astype(float)
    y[y == 2] = 5  # above max_count: clipped
    y[:3] = np.nan  # not annotated: ignored
    clf = train_count_classifier([table], [y], max_count=2, n_trees=10)
    assert clf.classes == [0, 1, 2]
    assert clf.info["n_samples"] == len(table) - 3
    # trained on counts 1 and 2 only: class 0 gets epsilon; wider output puts nothing but epsilon in 3
    only12 = np.where(truth == 0, np.nan, truth)
    clf12 = train_count_classifier([table], [only12], n_trees=10)
    p = predict_counts(clf12, table, max_count=3)
    assert list(p.columns) == count_columns(3)
    assert np.allclose(p["p_count_0"], p["p_count_3"]) and p["p_count_0"].max() < 2 * EPSILON
    assert np.allclose(p.sum(axis=1), 1.0)
    # narrower output: classes above N go to the last column
    p1 = predict_counts(clf12, table, max_count=1)
    assert np.allclose(p1["p_count_1"], 1 - p1["p_count_0"]) and p1["p_count_1"].min() > 0.99


def test_one_class_and_bad_counts(count_data):
    table, _ = count_data[0]
    with pytest.raises(InputError, match=rf"ann.csv: all {len(table)} annotated objects are class 1 \(one object\); "
                                         r"a classifier needs at least two classes"):
        train_count_classifier([table], [np.ones(len(table))], source="ann.csv")
    with pytest.raises(InputError, match="no annotated objects"):
        train_count_classifier([table], [np.full(len(table), np.nan)])
    with pytest.raises(InputError, match="count -1 is not a non-negative integer"):
        train_count_classifier([table], [np.r_[-1, np.ones(len(table) - 1)]])
    with pytest.raises(ValueError, match="targets for a table"):
        train_count_classifier([table], [np.ones(3)])


def test_count_fallback():
    table = _features(np.eye(8, dtype=np.uint8) * np.arange(8)[:, None], np.ones((8, 8)), 0)
    p = predict_counts(None, table, fallback_confidence=0.9)
    z = 1 + EPSILON
    assert np.allclose(p.to_numpy(), [[0.1 / z, 0.9 / z, EPSILON / z]] * len(table))
    assert np.allclose(predict_counts(None, table, fallback_confidence=1.0)["p_count_0"],
                       EPSILON / (1 + 2 * EPSILON))
    assert predict_counts(None, table, max_count=4).shape == (len(table), 5)
    for bad in (0.0, 1.5):
        with pytest.raises(ConfigError, match="fallback_confidence"):
            predict_counts(None, table, fallback_confidence=bad)
    empty = predict_counts(None, table.iloc[:0])
    assert empty.shape == (0, 3)


# --- division features -------------------------------------------------------------------------------------------

def _two(lab_centres, raw_level=100.0, t=0, r=None):
    lab = np.zeros((40, 60), np.uint16)
    raw = np.zeros((40, 60))
    for i, (cy, cx, rad, level) in enumerate(lab_centres, start=1):
        helpers.disk(lab, cy, cx, rad, i)
        raw[lab == i] = level
    return _features(lab, raw, t)


def test_division_features_geometry():
    parent = _two([(20, 20, 5, 200), (20, 50, 4, 100)], t=3)  # labels 1 (parent), 2 (far away)
    children = _two([(20, 14, 3, 100), (20, 26, 3, 50), (20, 50, 4, 100)], t=4)
    f = division_features(parent, children, max_distance=10)
    assert list(f.columns) == DIVISION_FEATURES
    assert list(f.index) == [(3, 1), (3, 2)]
    assert np.isfinite(f.to_numpy()).all()
    r = f.loc[(3, 1)]
    assert r["n_candidates"] == 2
    assert r["child_distance_0"] == pytest.approx(6) and r["child_distance_1"] == pytest.approx(6)
    assert r["children_angle"] == pytest.approx(180) and r["children_distance"] == pytest.approx(12)
    assert r["parent_children_size_ratio"] == pytest.approx(parent["size"][0] / (2 * children["size"][0]))
    assert r["children_size_ratio"] == pytest.approx(1)
    assert r["parent_children_intensity_ratio"] == pytest.approx(200 / 75)
    assert r["children_intensity_ratio"] == pytest.approx(0.5)
    assert r["parent_intensity_rel"] == pytest.approx(200 / 150)
    # object 2: one child within 10 (itself); the missing second child gets the "no child" values
    r2 = f.loc[(3, 2)]
    assert r2["n_candidates"] == 1 and r2["child_distance_0"] == pytest.approx(0)
    assert r2["child_distance_1"] == 20 and r2["children_distance"] == 20
    assert r2["children_angle"] == 0 and r2["children_size_ratio"] == 0
    assert r2["parent_children_size_ratio"] == pytest.approx(1)
    # caller's row order is kept
    assert list(division_features(parent.iloc[::-1], children, max_distance=10).index) == [(3, 2), (3, 1)]


def test_division_features_last_frame_and_3d():
    parent = _two([(20, 20, 5, 200), (20, 50, 4, 100)])
    for nxt in (None, parent.iloc[:0]):
        f = division_features(parent, nxt, max_distance=7)
        assert (f["n_candidates"] == 0).all() and (f["child_distance_0"] == 14).all()
        assert (f[["parent_children_size_ratio", "children_angle", "children_intensity_ratio"]] == 0).all().all()
        assert np.isfinite(f.to_numpy()).all()
    # physical units: z spacing 4, a child 2 slices above is 8 away
    lab = np.zeros((6, 20, 20), np.uint16)
    lab[1, 8:12, 8:12] = 1
    lab1 = np.zeros_like(lab)
    lab1[3, 8:12, 8:12] = 1
    vs = (4.0, 1.0, 1.0)
    t0 = object_features(lab, np.ones(lab.shape), frame=0, voxel_size=vs)
    t1 = object_features(lab1, np.ones(lab.shape), frame=1, voxel_size=vs)
    f = division_features(t0, t1, max_distance=9)
    assert f["child_distance_0"].iloc[0] == pytest.approx(8) and f["n_candidates"].iloc[0] == 1
    assert division_features(t0, t1, max_distance=7)["n_candidates"].iloc[0] == 0
    with pytest.raises(ConfigError, match="max_distance"):
        division_features(t0, t1, max_distance=0)


# --- division classifier -----------------------------------------------------------------------------------------

def _division_pair(t, rng):
    """Frames t and t+1 of cells on a grid: some cells of t are mitotic (small, bright) and divide into two
    halves on opposite sides; the others move a little (half of them with a close neighbour, so that they too
    have two candidate children). Returns (table t, table t+1, division truth per row of table t)."""
    lab, lab1 = np.zeros(SHAPE, np.uint16), np.zeros(SHAPE, np.uint16)
    raw, raw1 = rng.normal(10, 2, SHAPE), rng.normal(10, 2, SHAPE)

    def put(lab, raw, cy, cx, r, lid, level):
        m = np.zeros(SHAPE, bool)
        helpers.disk(m, cy, cx, r, True)
        lab[m] = lid
        raw[m] = rng.normal(level, 5, m.sum())

    truth = {}
    for i, d in enumerate(rng.permutation([1] * 4 + [0] * 12)):
        cy, cx, lid = 16 + 32 * (i // 4), 16 + 32 * (i % 4), i + 1
        truth[lid] = int(d)
        if d:
            put(lab, raw, cy, cx, 4, lid, 220)
            a = rng.uniform(0, np.pi)
            put(lab1, raw1, cy + 6 * np.sin(a), cx + 6 * np.cos(a), 3.5, 100 + lid, 120)
            put(lab1, raw1, cy - 6 * np.sin(a), cx - 6 * np.cos(a), 3.5, 200 + lid, 120)
        else:
            put(lab, raw, cy + 3, cx, 5, lid, 100)
            put(lab1, raw1, cy + 3, cx + 1, 5, 100 + lid, 100)
            if i % 2 == 0:
                put(lab, raw, cy - 7, cx, 3, 50 + lid, 100)
                put(lab1, raw1, cy - 7, cx + 1, 3, 150 + lid, 100)
    t0, t1 = _features(lab, raw, t), _features(lab1, raw1, t + 1)
    return t0, t1, t0["label"].map(lambda v: truth.get(v, 0)).to_numpy()


@pytest.fixture(scope="module")
def div_data():
    rng = np.random.default_rng(2)
    return [_division_pair(t, rng) for t in range(8)]


def test_division_classifier_learns(div_data):
    pairs = [(a, b) for a, b, _ in div_data]
    ys = [y for _, _, y in div_data]
    clf = train_division_classifier(pairs[:6], ys[:6], max_distance=12, n_trees=50)
    assert clf.kind == "division" and clf.classes == [0, 1] and clf.max_distance == 12
    f = division_features(*pairs[0], max_distance=12)
    assert (f["n_candidates"][ys[0] == 0] == 2).sum() >= 4  # negatives with two candidates exist
    for (a, b), y in zip(pairs[6:], ys[6:]):
        p = predict_division(clf, a, b)
        assert p.name == "p_division" and p.index.equals(pd.MultiIndex.from_frame(a[["frame", "label"]]))
        assert np.array_equal((p > 0.5).to_numpy().astype(int), y)
        assert ((p == 0) | ((p >= EPSILON) & (p <= 1 - EPSILON))).all()
    # the movie's last frame: no children, so no divisions at all
    assert (predict_division(clf, pairs[7][0], None) == 0).all()
    assert (predict_division(None, *pairs[6]) == 0).all()


def test_division_one_class_and_bad_labels(div_data):
    a, b, _ = div_data[0]
    with pytest.raises(InputError, match=r"all \d+ annotated objects are class 0 \(no division\)"):
        train_division_classifier([(a, b)], [np.zeros(len(a))], max_distance=12)
    with pytest.raises(InputError, match="must be 0 or 1"):
        train_division_classifier([(a, b)], [np.full(len(a), 2.0)], max_distance=12)


def test_classify_table_per_chunk(div_data, caplog):
    pairs = [(a, b) for a, b, _ in div_data]
    cclf = train_count_classifier([a for a, _ in pairs], [np.r_[0, np.ones(len(a) - 1)] for a, _ in pairs],
                                  n_trees=10)
    dclf = train_division_classifier(pairs, [y for _, _, y in div_data], max_distance=12, n_trees=20)
    movie = pd.concat([a for a, _ in pairs], ignore_index=True)  # frames 0..7, each frame from its own pair
    n_frames = 8
    whole = classify_table(movie, count_clf=cclf, division_clf=dclf, n_frames=n_frames)
    assert list(whole.columns) == ["frame", "label", *count_columns(2), "p_division"]
    assert len(whole) == len(movie) and (whole.loc[whole.frame == n_frames - 1, "p_division"] == 0).all()
    assert (whole["p_division"] > 0).any()
    # frame by frame, the same as predict_division with the next frame's objects
    f3 = movie[movie.frame == 3]
    assert np.allclose(whole.loc[whole.frame == 3, "p_division"],
                       predict_division(dclf, f3, movie[movie.frame == 4]).to_numpy())
    parts = []
    for a, b in ((0, 3), (3, 6), (6, n_frames)):
        chunk = movie[(movie.frame >= a) & (movie.frame < b)].sample(frac=1, random_state=0)  # any row order
        nxt = movie[movie.frame == b] if b < n_frames else None
        parts.append(classify_table(chunk, count_clf=cclf, division_clf=dclf, n_frames=n_frames,
                                    next_table=nxt, frames=(a, b)))
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)
    with pytest.raises(InputError, match="division features of frame 2 need the objects of frame 3"):
        classify_table(movie[movie.frame < 3], count_clf=cclf, division_clf=dclf, n_frames=n_frames, frames=(0, 3))
    # fall-backs are logged, never silent
    with caplog.at_level(logging.WARNING, logger="lineageflow"):
        fb = classify_table(movie[movie.frame < 3], count_clf=None, division_clf=None, n_frames=n_frames)
    assert "no count classifier" in caplog.text and "no division classifier" in caplog.text
    assert (fb["p_division"] == 0).all() and np.allclose(fb["p_count_1"], 0.9 / (1 + EPSILON))


# --- save / load -------------------------------------------------------------------------------------------------

def test_save_load_roundtrip_and_errors(tmp_path, count_data, div_data):
    tables, counts = zip(*count_data[:3])
    clf = train_count_classifier(tables, counts, n_trees=10)
    path = tmp_path / "sub" / "count.pkl"
    clf.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["count.pkl"]  # no temporary left behind
    back = ObjectClassifier.load(path, kind="count")
    assert back.source == str(path) and back.classes == clf.classes and back.info == clf.info
    assert predict_counts(back, count_data[5][0]).equals(predict_counts(clf, count_data[5][0]))

    with pytest.raises(InputError, match=r"count.pkl: is a count classifier, but a division classifier is needed"):
        ObjectClassifier.load(path, kind="division")
    with pytest.raises(InputError, match=r"count.pkl: is a count classifier, but a division classifier"):
        predict_division(back, div_data[0][0], div_data[0][1])
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"not a pickle at all")
    with pytest.raises(InputError, match="garbage.pkl: not a lineageflow object classifier"):
        ObjectClassifier.load(garbage)
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(InputError, match="other.pkl: not a lineageflow object classifier file"):
        ObjectClassifier.load(other)
    with pytest.raises(InputError, match="missing.pkl: object classifier file does not exist"):
        ObjectClassifier.load(tmp_path / "missing.pkl")


def test_classifier_from_other_dimensionality(count_data):
    tables, counts = zip(*count_data[:2])
    clf = train_count_classifier(tables, counts, n_trees=5)
    lab = np.zeros((3, 10, 10), np.uint8)
    lab[1, 2:5, 2:5] = 1
    t3 = object_features(lab, np.ones(lab.shape), frame=0, voxel_size=(1, 1, 1))
    with pytest.raises(InputError, match="trained on 2D objects, the object table is 3D"):
        predict_counts(clf, t3)


def test_train_from_annotations_gives_both_classifiers_or_no_division():
    import pandas as pd

    from lineageflow.classifiers import train_from_annotations

    rng = np.random.default_rng(0)
    rows = []
    for t in range(4):
        for lab in range(1, 9):
            big = lab <= 2
            rows.append({"frame": t, "label": lab, "pos_z": 0.0, "pos_y": 10.0 * lab, "pos_x": 5.0 * t,
                         "size": 200 if big else 100, "volume": 200.0 if big else 100.0})
    from lineageflow.features import FEATURE_COLUMNS
    table = pd.DataFrame(rows)
    for col in FEATURE_COLUMNS:
        if col not in table:
            table[col] = rng.uniform(1, 2, len(table))
    table["spatial_ndim"] = 2
    ann = pd.DataFrame([(r["frame"], r["label"], "count", 2 if r["label"] <= 2 else 1) for r in rows] +
                       [(r["frame"], r["label"], "division", 0) for r in rows],
                       columns=["frame", "label", "kind", "value"])
    count_clf, division_clf = train_from_annotations(table, ann, max_count=2, max_distance=30, n_trees=10)
    assert count_clf.kind == "count" and division_clf is None
    ann.loc[(ann["kind"] == "division") & (ann["frame"] == 1) & (ann["label"] == 5), "value"] = 1
    _, division_clf = train_from_annotations(table, ann, max_count=2, max_distance=30, n_trees=10)
    assert division_clf is not None and division_clf.kind == "division"
