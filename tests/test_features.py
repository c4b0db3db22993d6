"""Tests of lineageflow.features (per-object table)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from skimage.measure import label as sk_label
from skimage.measure import regionprops_table

from lineageflow.errors import ConfigError, InputError
from lineageflow.features import (
    COLUMN_DTYPES,
    FEATURE_COLUMNS,
    ILASTIK_NAMES,
    check_table,
    empty_table,
    object_features,
)


def _ellipse_mask(shape, centre, a, b, direction):
    """Filled ellipse, semi-axis a along the unit (y, x) vector ``direction``, b across it."""
    yy, xx = np.indices(shape, dtype=float)
    dy, dx = yy - centre[0], xx - centre[1]
    u = dy * direction[0] + dx * direction[1]
    v = -dy * direction[1] + dx * direction[0]
    return (u / a) ** 2 + (v / b) ** 2 <= 1


def test_columns_and_dtypes_2d_3d():
    lab = np.zeros((20, 30), np.uint16)
    lab[2:5, 3:9] = 4
    raw = np.ones_like(lab, dtype=np.float32)
    for labels, raws, vs in ((lab, raw, (1, 1)), (lab[None], raw[None], (1, 1, 1))):
        df = object_features(labels, raws, frame=3, voxel_size=vs)
        assert list(df.columns) == FEATURE_COLUMNS
        assert {c: str(t) for c, t in df.dtypes.items()} == COLUMN_DTYPES
        assert df["frame"].tolist() == [3] and df["label"].tolist() == [4]
        assert df["spatial_ndim"].tolist() == [labels.ndim]
        check_table(df)
    assert set(ILASTIK_NAMES) <= set(FEATURE_COLUMNS)


def test_box_2d_centroid_size_bbox():
    lab = np.zeros((40, 60), np.int32)
    lab[10:20, 30:50] = 1
    lab[25:28, 5:7] = 2
    df = object_features(lab, np.zeros(lab.shape), frame=0, voxel_size=(1.0, 1.0))
    r = df.iloc[0]
    assert r["size"] == 200 and r["volume"] == 200.0
    assert (r["centroid_z"], r["centroid_y"], r["centroid_x"]) == (0.0, 14.5, 39.5)
    assert r["pos_z"] == 0.0
    assert [r[f"bbox_min_{a}"] for a in "zyx"] == [0, 10, 30]
    assert [r[f"bbox_max_{a}"] for a in "zyx"] == [1, 20, 50]
    assert r["radius_2"] == 0.0 and r["axis_0_z"] == 0.0
    assert df.iloc[1]["size"] == 6


def test_box_3d_and_physical_units():
    lab = np.zeros((6, 30, 40), np.uint32)
    lab[1:5, 10:20, 5:25] = 9
    vs = (2.0, 0.5, 0.25)
    df = object_features(lab, np.ones(lab.shape, np.uint8), frame=1, voxel_size=vs)
    r = df.iloc[0]
    centroid = np.array([r["centroid_z"], r["centroid_y"], r["centroid_x"]])
    np.testing.assert_allclose(centroid, [2.5, 14.5, 14.5])
    np.testing.assert_allclose([r["pos_z"], r["pos_y"], r["pos_x"]], centroid * vs)
    assert r["size"] == 4 * 10 * 20
    assert r["volume"] == pytest.approx(800 * 2.0 * 0.5 * 0.25)
    assert [r[f"bbox_max_{a}"] for a in "zyx"] == [5, 20, 25]
    # physical extents: z 8, y 5, x 5 -> main axis along z
    assert abs(r["axis_0_z"]) == pytest.approx(1.0)
    # radius of a uniform box side L (n voxels of size v): sqrt((n^2 - 1) / 12) * v
    assert r["radius_0"] == pytest.approx(np.sqrt((4**2 - 1) / 12) * 2.0)


def test_matches_regionprops():
    rng = np.random.default_rng(3)
    lab = sk_label(rng.random((80, 90)) > 0.6, connectivity=1).astype(np.int32)
    raw = rng.random(lab.shape)
    df = object_features(lab, raw, frame=0, voxel_size=(1, 1))
    ref = regionprops_table(lab, raw, properties=("label", "area", "centroid", "bbox", "intensity_mean"))
    np.testing.assert_array_equal(df["label"], ref["label"])
    np.testing.assert_array_equal(df["size"], ref["area"])
    np.testing.assert_allclose(df["centroid_y"], ref["centroid-0"])
    np.testing.assert_allclose(df["centroid_x"], ref["centroid-1"])
    np.testing.assert_array_equal(df["bbox_min_y"], ref["bbox-0"])
    np.testing.assert_array_equal(df["bbox_max_x"], ref["bbox-3"])
    np.testing.assert_allclose(df["intensity_mean"], ref["intensity_mean"])


def test_ellipse_radii_and_orientation():
    d = np.array([1.0, 1.0]) / np.sqrt(2)  # 45 degrees in (y, x)
    mask = _ellipse_mask((200, 200), (100, 100), 40, 15, d)
    df = object_features(mask.astype(np.uint8), np.zeros(mask.shape), frame=0, voxel_size=(1, 1))
    r = df.iloc[0]
    # filled ellipse: variance along a semi-axis s is s^2 / 4
    assert r["radius_0"] == pytest.approx(20.0, rel=0.02)
    assert r["radius_1"] == pytest.approx(7.5, rel=0.03)
    assert r["radius_2"] == 0.0
    axis = np.array([r["axis_0_z"], r["axis_0_y"], r["axis_0_x"]])
    assert np.linalg.norm(axis) == pytest.approx(1.0)
    assert axis[0] == 0.0 and axis[1] > 0  # canonical sign
    assert abs(axis[1:] @ d) == pytest.approx(1.0, abs=1e-3)
    assert r["elongation"] == pytest.approx(40 / 15, rel=0.03)


def test_orientation_in_physical_space():
    lab = np.zeros((40, 40), np.uint8)
    lab[10:30, 10:30] = 1  # square in pixels
    df = object_features(lab, np.zeros(lab.shape), frame=0, voxel_size=(1.0, 3.0))
    r = df.iloc[0]
    assert abs(r["axis_0_x"]) == pytest.approx(1.0)  # 3x wider physically along x
    assert r["radius_0"] == pytest.approx(3 * r["radius_1"])
    assert r["elongation"] == pytest.approx(3.0, rel=0.01)


def test_degenerate_objects_are_finite():
    lab = np.zeros((10, 10), np.uint8)
    lab[2, 2] = 1  # single pixel
    lab[5, 1:9] = 2  # one-pixel-thin line
    df = object_features(lab, np.ones(lab.shape), frame=0, voxel_size=(1, 1))
    assert np.isfinite(df.select_dtypes("number").to_numpy()).all()
    single, line = df.iloc[0], df.iloc[1]
    assert single["radius_0"] == 0 and single["elongation"] == pytest.approx(1.0)
    assert [single[f"axis_0_{a}"] for a in "zyx"] == [0.0, 0.0, 0.0]
    assert line["axis_0_x"] == pytest.approx(1.0) and line["elongation"] > 5
    assert single["intensity_skew"] == 0 and single["intensity_kurtosis"] == 0


def test_intensity_stats_against_scipy():
    rng = np.random.default_rng(0)
    lab = np.zeros((30, 50), np.int32)
    lab[2:12, 3:20] = 1
    lab[15:28, 25:45] = 5
    raw = rng.gamma(2.0, 50.0, lab.shape).astype(np.uint16)
    df = object_features(lab, raw, frame=0, voxel_size=(1, 1)).set_index("label")
    for lbl in (1, 5):
        v = raw[lab == lbl].astype(np.float64)
        r = df.loc[lbl]
        assert r["intensity_mean"] == pytest.approx(v.mean())
        assert r["intensity_var"] == pytest.approx(v.var())
        assert r["intensity_min"] == v.min() and r["intensity_max"] == v.max()
        assert r["intensity_sum"] == pytest.approx(v.sum())
        assert r["intensity_skew"] == pytest.approx(stats.skew(v))
        assert r["intensity_kurtosis"] == pytest.approx(stats.kurtosis(v))


def test_constant_intensity_gives_zero_moments():
    lab = np.zeros((10, 10), np.uint8)
    lab[1:8, 1:8] = 1
    df = object_features(lab, np.full(lab.shape, 0.1), frame=0, voxel_size=(1, 1))
    assert df["intensity_var"].iloc[0] == pytest.approx(0.0, abs=1e-20)
    assert df["intensity_skew"].iloc[0] == 0.0 and df["intensity_kurtosis"].iloc[0] == 0.0


def test_border_distance_and_touches():
    lab = np.zeros((200, 300), np.uint16)
    lab[4:7, 99:102] = 1  # centroid (5, 100): 5 px from the top
    lab[100:110, 0:4] = 2  # touches the left border
    lab[90:110, 140:160] = 3  # interior
    df = object_features(lab, np.zeros(lab.shape), frame=0, voxel_size=(0.5, 0.5)).set_index("label")
    assert df.loc[1, "border_distance"] == pytest.approx(5 * 0.5)
    assert df.loc[2, "border_distance"] == pytest.approx(1.5 * 0.5)
    assert df.loc[3, "border_distance"] == pytest.approx(min(99.5, 149.5) * 0.5)
    assert df["touches_border"].tolist() == [False, True, False]
    assert (df["border_distance_yx"] == df["border_distance"]).all()


def test_border_distance_3d_z_vs_yx():
    lab = np.zeros((5, 100, 100), np.uint8)
    lab[0:3, 40:60, 40:60] = 1  # centroid z = 1 -> 1 slice from the z border
    df = object_features(lab, np.zeros(lab.shape), frame=0, voxel_size=(2.0, 0.2, 0.2))
    r = df.iloc[0]
    assert r["border_distance"] == pytest.approx(2.0)
    assert r["border_distance_yx"] == pytest.approx(49.5 * 0.2)
    assert bool(r["touches_border"]) and not bool(r["touches_border_yx"])


def test_sorted_by_label_non_consecutive():
    lab = np.zeros((20, 20), np.int64)
    lab[0:3, 0:3] = 70
    lab[10:12, 10:12] = 3
    lab[15:18, 2:4] = 12
    df = object_features(lab, np.zeros(lab.shape), frame=0, voxel_size=(1, 1))
    assert df["label"].tolist() == [3, 12, 70]
    assert df["size"].tolist() == [4, 6, 9]


def test_empty_labels_give_empty_table():
    for shape, vs in (((10, 10), (1, 1)), ((3, 10, 10), (1, 1, 1))):
        df = object_features(np.zeros(shape, np.uint32), np.zeros(shape), frame=0, voxel_size=vs)
        assert len(df) == 0 and list(df.columns) == FEATURE_COLUMNS
        assert {c: str(t) for c, t in df.dtypes.items()} == COLUMN_DTYPES
        check_table(df)
    assert list(empty_table(3).columns) == FEATURE_COLUMNS


def test_input_errors():
    lab = np.zeros((10, 12), np.uint16)
    with pytest.raises(InputError, match=r"t005.*\(10, 12, 2\).*\(10, 12\).*single channel"):
        object_features(lab, np.zeros((10, 12, 2)), frame=5, voxel_size=(1, 1), source="t005")
    with pytest.raises(InputError, match=r"t005.*\(12, 10\).*\(10, 12\)"):
        object_features(lab, np.zeros((12, 10)), frame=5, voxel_size=(1, 1), source="t005")
    with pytest.raises(InputError, match="t006: labels have dtype float32"):
        object_features(lab.astype(np.float32), np.zeros(lab.shape), frame=6, voxel_size=(1, 1), source="t006")
    with pytest.raises(ConfigError, match="voxel_size"):
        object_features(lab, np.zeros(lab.shape), frame=0, voxel_size=(1, 1, 1))
    with pytest.raises(ConfigError, match="voxel_size"):
        object_features(lab, np.zeros(lab.shape), frame=0, voxel_size=(0, 1))


def test_check_table_roundtrip(tmp_path):
    lab = np.zeros((30, 30), np.uint16)
    lab[2:9, 3:8] = 1
    lab[15:25, 10:20] = 2
    df = object_features(lab, np.ones(lab.shape), frame=2, voxel_size=(0.5, 0.5))
    df.to_parquet(tmp_path / "f.parquet")
    check_table(pd.read_parquet(tmp_path / "f.parquet"), "f.parquet")
    df.to_csv(tmp_path / "f.csv", index=False)
    back = pd.read_csv(tmp_path / "f.csv")
    check_table(back, "f.csv")
    pd.testing.assert_frame_equal(back, df, check_dtype=False)


def test_check_table_errors():
    lab = np.zeros((10, 10), np.uint16)
    lab[2:5, 2:5] = 1
    df = object_features(lab, np.ones(lab.shape), frame=0, voxel_size=(1, 1))
    with pytest.raises(InputError, match=r"chunk_0\.parquet: feature table is missing 2 column\(s\): centroid_y, size"):
        check_table(df.drop(columns=["centroid_y", "size"]), "chunk_0.parquet")
    with pytest.raises(InputError, match=r"label is float64"):
        check_table(df.astype({"label": float}), "x")
    with pytest.raises(InputError, match=r"touches_border is object"):
        check_table(df.astype({"touches_border": object}), "x")
    with pytest.raises(InputError, match="duplicate"):
        check_table(pd.concat([df, df]), "x")
    with pytest.raises(InputError, match="DataFrame"):
        check_table({"a": 1}, "x")
    check_table(df.assign(extra=1.0))  # extra columns are fine


def test_100_objects_on_a_1024_frame():
    """100 objects on a 1024^2 frame: one row each, with its label and pixel count (speed is for the benchmarks)."""
    lab = np.zeros((1024, 1024), np.uint16)
    k = 0
    for i in range(10):
        for j in range(10):
            k += 1
            lab[20 + 100 * i : 80 + 100 * i, 30 + 100 * j : 70 + 100 * j] = k
    raw = np.random.default_rng(0).integers(0, 4000, lab.shape, dtype=np.uint16)
    df = object_features(lab, raw, frame=0, voxel_size=(0.2, 0.2))
    assert len(df) == 100
    assert sorted(df["label"]) == list(range(1, 101)) and (df["size"] == 60 * 40).all()
