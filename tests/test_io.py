"""Tests of lineageflow.io (movie readers, chunk/table writers) and lineageflow.atomic."""

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import tifffile

from lineageflow.atomic import atomic_path
from lineageflow.errors import InputError
from lineageflow.io import (
    axes_from_axistags,
    axistags_json,
    frame_number,
    list_frames,
    normalize_axes,
    open_movie,
    read_chunk,
    read_table,
    write_label_chunk,
    write_probabilities,
    write_table,
)

RNG = np.random.default_rng(0)


def _movie(shape, dtype=np.uint16):
    """Distinct values everywhere, so any axis mix-up shows."""
    return np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape).astype(dtype)


def _ctc_folder(folder: Path, frames, names=None):
    folder.mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(frames):
        name = names[t] if names else f"t{t:03d}.tif"
        tifffile.imwrite(folder / name, frame, photometric="minisblack")
    return folder


def _h5(path: Path, data, dataset="data", axes=None, axistags=None):
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(dataset, data=data)
        if axistags is not None:
            ds.attrs["axistags"] = axistags
        if axes is not None:
            ds.attrs["axes"] = axes
    return path


def _leftovers(folder: Path):
    """Everything in a folder (hidden temporaries included)."""
    return sorted(p.name for p in folder.iterdir())


# --- frame names -------------------------------------------------------------------------------------------------

def test_frame_number():
    assert frame_number("t000.tif") == 0
    assert frame_number("t012.tiff") == 12
    assert frame_number("mask0123.tif") == 123
    assert frame_number("man_seg007.tif") == 7
    assert frame_number("man_track010.tif") == 10
    assert frame_number("t001.png") is None
    assert frame_number("notes.txt") is None


def test_list_frames_sorted_by_number(tmp_path):
    frames = [np.zeros((4, 4), np.uint8)] * 12
    _ctc_folder(tmp_path / "01", frames, [f"t{t:03d}.tif" for t in range(12)])
    (tmp_path / "01" / "readme.txt").write_text("ignored")
    files = list_frames(tmp_path / "01")
    assert [p.name for p in files] == [f"t{t:03d}.tif" for t in range(12)]


# --- CTC folders -------------------------------------------------------------------------------------------------

def test_ctc_folder_2d(tmp_path):
    data = _movie((3, 7, 9))
    folder = _ctc_folder(tmp_path / "01", list(data))
    m = open_movie(folder)
    assert m.kind == "ctc"
    assert m.n_frames == 3
    assert m.spatial_shape == (7, 9)
    assert m.ndim == 2
    assert m.n_channels == 0
    assert m.dtype == np.uint16
    assert m.frame_shape == (7, 9)
    for t in range(3):
        np.testing.assert_array_equal(m.read(t), data[t])
    with pytest.raises(IndexError):
        m.read(3)


def test_ctc_folder_3d(tmp_path):
    data = _movie((2, 4, 6, 5), np.uint8)
    folder = _ctc_folder(tmp_path / "02", list(data))
    m = open_movie(folder)
    assert m.n_frames == 2
    assert m.spatial_shape == (4, 6, 5)
    assert m.ndim == 3
    assert m.dtype == np.uint8
    np.testing.assert_array_equal(m.read(1), data[1])


# --- multi-page TIFF ---------------------------------------------------------------------------------------------

def test_tiff_tyx_from_metadata(tmp_path):
    data = _movie((5, 7, 6))
    tifffile.imwrite(tmp_path / "m.tif", data)  # a plain page stack: tifffile calls it QYX
    m = open_movie(tmp_path / "m.tif")
    assert m.kind == "tiff"
    assert (m.n_frames, m.spatial_shape, m.n_channels) == (5, (7, 6), 0)
    for t in (0, 2, 4):
        np.testing.assert_array_equal(m.read(t), data[t])


def test_tiff_tzyx_from_metadata(tmp_path):
    data = _movie((3, 2, 5, 6))
    tifffile.imwrite(tmp_path / "m.tif", data, metadata={"axes": "TZYX"})
    m = open_movie(tmp_path / "m.tif")
    assert (m.n_frames, m.spatial_shape) == (3, (2, 5, 6))
    np.testing.assert_array_equal(m.read(1), data[1])


def test_tiff_tzyx_imagej_hyperstack(tmp_path):
    data = _movie((3, 2, 5, 6))
    tifffile.imwrite(tmp_path / "m.tif", data, imagej=True, metadata={"axes": "TZYX"})
    m = open_movie(tmp_path / "m.tif")
    assert (m.n_frames, m.spatial_shape) == (3, (2, 5, 6))
    np.testing.assert_array_equal(m.read(2), data[2])


def test_tiff_explicit_axes(tmp_path):
    data = _movie((3, 2, 5, 6))
    tifffile.imwrite(tmp_path / "m.tif", data)  # no axes metadata: QQYX
    m = open_movie(tmp_path / "m.tif", axes="TZYX")
    assert (m.n_frames, m.spatial_shape) == (3, (2, 5, 6))
    np.testing.assert_array_equal(m.read(2), data[2])
    data2 = _movie((5, 7, 6))
    tifffile.imwrite(tmp_path / "m2.tif", data2)
    m2 = open_movie(tmp_path / "m2.tif", axes="tyx")
    np.testing.assert_array_equal(m2.read(3), data2[3])


def test_tiff_explicit_axes_transposed(tmp_path):
    """A stack stored (z, t, y, x) read with axes 'ztyx' gives frames (z, y, x)."""
    data = _movie((2, 3, 5, 6))  # z, t, y, x
    tifffile.imwrite(tmp_path / "m.tif", data, photometric="minisblack")
    m = open_movie(tmp_path / "m.tif", axes="ztyx")
    assert (m.n_frames, m.spatial_shape) == (3, (2, 5, 6))
    np.testing.assert_array_equal(m.read(1), data[:, 1])


def test_tiff_ambiguous_stack_without_axes(tmp_path):
    """A 4D stack without axes metadata cannot be guessed: the error names the file and the 'axes' key."""
    tifffile.imwrite(tmp_path / "m.tif", _movie((3, 2, 5, 6)))
    with pytest.raises(InputError) as e:
        open_movie(tmp_path / "m.tif")
    msg = str(e.value)
    assert str(tmp_path / "m.tif") in msg
    assert "set config key 'axes'" in msg
    assert "'ttyx'" not in msg  # the user did not set axes: do not blame a value they never gave


def test_tiff_imagej_zstack_needs_axes(tmp_path):
    """Fiji saves a plain stack as slices (ZYX): there is no time axis to guess, the user must say 'tyx'."""
    data = _movie((5, 7, 6))
    tifffile.imwrite(tmp_path / "m.tif", data, imagej=True, metadata={"axes": "ZYX"})
    with pytest.raises(InputError) as e:
        open_movie(tmp_path / "m.tif")
    msg = str(e.value)
    assert str(tmp_path / "m.tif") in msg and "'ZYX'" in msg and "set config key 'axes'" in msg
    m = open_movie(tmp_path / "m.tif", axes="tyx")
    assert (m.n_frames, m.spatial_shape) == (5, (7, 6))
    np.testing.assert_array_equal(m.read(4), data[4])


def test_tiff_three_frame_stack_without_axes(tmp_path):
    """tifffile stores a (3, y, x) stack as planar RGB by default; the guess fails with a clear message."""
    tifffile.imwrite(tmp_path / "m.tif", _movie((3, 7, 6)), photometric="rgb", planarconfig="separate")
    with pytest.raises(InputError) as e:
        open_movie(tmp_path / "m.tif")
    assert "set config key 'axes'" in str(e.value)
    m = open_movie(tmp_path / "m.tif", axes="tyx")
    assert (m.n_frames, m.spatial_shape, m.n_channels) == (3, (7, 6), 0)


# --- HDF5 --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("axes, shape, to_canonical", [
    # to_canonical: the transpose from the stored order, with t first, to (t, z, y, x, c)
    ("tyx", (3, 5, 6), (0, 1, 2)),
    ("tzyx", (3, 2, 5, 6), (0, 1, 2, 3)),
    ("tczyx", (3, 2, 4, 5, 6), (0, 2, 3, 4, 1)),
    ("txyz", (3, 6, 5, 4), (0, 3, 2, 1)),
    ("tyxc", (3, 5, 6, 2), (0, 1, 2, 3)),
    ("TZYX", (3, 2, 5, 6), (0, 1, 2, 3)),
])
def test_hdf5_axes_strings(tmp_path, axes, shape, to_canonical):
    data = _movie(shape, np.float32)
    path = _h5(tmp_path / "m.h5", data)
    m = open_movie(path, dataset="data", axes=axes)
    canonical = np.transpose(data, to_canonical)
    assert m.kind == "hdf5"
    assert m.n_frames == 3
    has_c = "c" in axes.lower()
    assert m.spatial_shape == (canonical.shape[1:-1] if has_c else canonical.shape[1:])
    assert m.n_channels == (canonical.shape[-1] if has_c else 0)
    assert m.frame_shape == canonical.shape[1:]
    for t in range(3):
        np.testing.assert_array_equal(m.read(t), canonical[t])


def test_hdf5_time_not_first(tmp_path):
    data = _movie((6, 3, 5), np.uint8)  # y, t, x
    path = _h5(tmp_path / "m.h5", data)
    m = open_movie(path, dataset="data", axes="ytx")
    assert (m.n_frames, m.spatial_shape) == (3, (6, 5))
    np.testing.assert_array_equal(m.read(2), data[:, 2, :])


def test_hdf5_single_channel_is_dropped(tmp_path):
    data = _movie((3, 1, 5, 6), np.uint8)
    path = _h5(tmp_path / "m.h5", data)
    m = open_movie(path, dataset="data", axes="tcyx")
    assert m.n_channels == 0
    assert m.frame_shape == (5, 6)
    np.testing.assert_array_equal(m.read(1), data[1, 0])


def test_hdf5_ilastik_axistags(tmp_path):
    data = _movie((3, 6, 5, 4), np.float32)  # t, x, y, z as ilastik often stores
    tags = axistags_json("txyz")
    path = _h5(tmp_path / "m.h5", data, dataset="exported_data", axistags=tags)
    m = open_movie(path, dataset="exported_data")
    assert m._axes == "txyz"
    assert (m.n_frames, m.spatial_shape) == (3, (4, 5, 6))
    np.testing.assert_array_equal(m.read(2), data[2].transpose(2, 1, 0))


def test_hdf5_ilastik_axistags_bytes_and_single_dataset(tmp_path):
    """axistags stored as bytes; the only dataset of the file is used when none is named."""
    data = _movie((2, 5, 6, 3), np.float32)
    path = _h5(tmp_path / "m.h5", data, dataset="exported_data", axistags=np.bytes_(axistags_json("tyxc")))
    m = open_movie(path)
    assert (m.n_frames, m.spatial_shape, m.n_channels) == (2, (5, 6), 3)
    np.testing.assert_array_equal(m.read(1), data[1])


def test_hdf5_axistags_not_fitting(tmp_path):
    path = _h5(tmp_path / "m.h5", _movie((3, 5, 6), np.uint8), axistags=axistags_json("tzyx"))
    with pytest.raises(InputError) as e:
        open_movie(path, dataset="data")
    msg = str(e.value)
    assert f"{path}:data" in msg
    assert "axistags" in msg and "'tzyx'" in msg and "set config key 'axes'" in msg


def test_hdf5_explicit_axes_override_axistags(tmp_path):
    data = _movie((3, 5, 6), np.uint8)
    path = _h5(tmp_path / "m.h5", data, axistags=axistags_json("xty"))
    m = open_movie(path, dataset="data", axes="tyx")
    np.testing.assert_array_equal(m.read(1), data[1])


def test_axes_from_axistags():
    assert axes_from_axistags(axistags_json("tzyxc")) == "tzyxc"
    assert axes_from_axistags(axistags_json("tzyxc").encode()) == "tzyxc"
    assert axes_from_axistags(None) is None
    assert axes_from_axistags("not json") is None
    assert axes_from_axistags(json.dumps({"something": []})) is None
    tags = json.loads(axistags_json("tyxc"))
    assert [a["key"] for a in tags["axes"]] == list("tyxc")


# --- bad inputs --------------------------------------------------------------------------------------------------

def test_missing_path(tmp_path):
    with pytest.raises(InputError) as e:
        open_movie(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(e.value)


def test_folder_without_frames(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(InputError) as e:
        open_movie(tmp_path / "empty")
    assert str(tmp_path / "empty") in str(e.value)
    assert "no frames" in str(e.value)


def test_list_frames_missing_folder(tmp_path):
    with pytest.raises(InputError) as e:
        list_frames(tmp_path / "gone", what="label images")
    assert str(tmp_path / "gone") in str(e.value)
    assert "label images" in str(e.value)


def test_missing_frame_number(tmp_path):
    f = np.zeros((4, 4), np.uint8)
    folder = _ctc_folder(tmp_path / "01", [f, f], ["t000.tif", "t002.tif"])
    with pytest.raises(InputError) as e:
        open_movie(folder)
    msg = str(e.value)
    assert str(folder) in msg
    assert "1" in msg and "missing" in msg


def test_duplicate_frame_number(tmp_path):
    f = np.zeros((4, 4), np.uint8)
    folder = _ctc_folder(tmp_path / "01", [f, f], ["t000.tif", "t0000.tif"])
    with pytest.raises(InputError) as e:
        list_frames(folder)
    assert "t000.tif" in str(e.value) and "t0000.tif" in str(e.value)


def test_frames_of_different_shapes(tmp_path):
    frames = [np.zeros((6, 6), np.uint8), np.zeros((6, 6), np.uint8), np.zeros((6, 7), np.uint8)]
    folder = _ctc_folder(tmp_path / "01", frames)
    m = open_movie(folder)  # only frame 0 is read on open
    m.read(1)
    with pytest.raises(InputError) as e:
        m.read(2)
    assert str(folder / "t002.tif") in str(e.value)
    assert "(6, 7)" in str(e.value)


def test_corrupt_first_frame(tmp_path):
    folder = tmp_path / "01"
    folder.mkdir()
    (folder / "t000.tif").write_bytes(b"this is not a tiff")
    with pytest.raises(InputError) as e:
        open_movie(folder)
    assert str(folder / "t000.tif") in str(e.value)


def test_corrupt_later_frame(tmp_path):
    folder = _ctc_folder(tmp_path / "01", [np.ones((5, 5), np.uint8)] * 2)
    (folder / "t002.tif").write_bytes(b"\x00" * 10)
    # a truncated frame: a valid header, missing pixel data
    tifffile.imwrite(folder / "t003.tif", np.ones((64, 64), np.uint16))
    full = (folder / "t003.tif").read_bytes()
    (folder / "t003.tif").write_bytes(full[:200])
    m = open_movie(folder)
    assert m.n_frames == 4
    for t in (2, 3):
        with pytest.raises(InputError) as e:
            m.read(t)
        assert str(folder / f"t00{t}.tif") in str(e.value)


def test_corrupt_multipage_tiff(tmp_path):
    (tmp_path / "m.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(InputError) as e:
        open_movie(tmp_path / "m.tif")
    assert str(tmp_path / "m.tif") in str(e.value)


def test_corrupt_hdf5(tmp_path):
    (tmp_path / "m.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(InputError) as e:
        open_movie(tmp_path / "m.h5", dataset="data", axes="tyx")
    assert str(tmp_path / "m.h5") in str(e.value)


def test_unknown_format(tmp_path):
    (tmp_path / "m.png").write_bytes(b"x")
    with pytest.raises(InputError) as e:
        open_movie(tmp_path / "m.png")
    assert "m.png" in str(e.value)


@pytest.mark.parametrize("axes, why", [
    ("tyq", "not a valid axes string"),    # bad letter
    ("tyy", "not a valid axes string"),    # repeated letter
    ("t-x", "not a valid axes string"),
    ("tzyx", "has 4 axes but the data has 3"),
    ("yx", "has 2 axes but the data has 3"),
    ("zyx", "lacks the 't' axis"),
    ("tcx", "lacks the 'y' axis"),
])
def test_wrong_axes_hdf5(tmp_path, axes, why):
    path = _h5(tmp_path / "m.h5", _movie((3, 5, 6), np.uint8))
    with pytest.raises(InputError) as e:
        open_movie(path, dataset="data", axes=axes)
    msg = str(e.value)
    assert str(path) in msg
    assert why in msg
    assert repr(axes) in msg


@pytest.mark.parametrize("axes", ["tyq", "tyy", "tzyx", "zyx"])
def test_wrong_axes_tiff(tmp_path, axes):
    tifffile.imwrite(tmp_path / "m.tif", _movie((5, 7, 6)))
    with pytest.raises(InputError) as e:
        open_movie(tmp_path / "m.tif", axes=axes)
    assert str(tmp_path / "m.tif") in str(e.value)
    assert repr(axes) in str(e.value)


def test_normalize_axes_is_case_insensitive():
    assert normalize_axes("TZYX", 4, "src") == "tzyx"
    with pytest.raises(InputError) as e:
        normalize_axes("tzyx", 3, "some/file.h5:data", key="pixels.probabilities_axes")
    assert "some/file.h5:data" in str(e.value)
    assert "pixels.probabilities_axes" in str(e.value)


def test_hdf5_without_axistags_or_axes(tmp_path):
    path = _h5(tmp_path / "m.h5", _movie((3, 5, 6), np.uint8))
    with pytest.raises(InputError) as e:
        open_movie(path, dataset="data")
    assert str(path) in str(e.value)
    assert "axes" in str(e.value)


def test_hdf5_missing_dataset(tmp_path):
    path = _h5(tmp_path / "m.h5", _movie((3, 5, 6), np.uint8))
    with pytest.raises(InputError) as e:
        open_movie(path, dataset="exported_data", axes="tyx")
    assert str(path) in str(e.value)
    assert "exported_data" in str(e.value)


def test_hdf5_group_is_not_a_dataset(tmp_path):
    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as f:
        f.create_group("volumes").create_dataset("raw", data=_movie((3, 5, 6), np.uint8))
    with pytest.raises(InputError) as e:
        open_movie(path, dataset="volumes", axes="tyx")
    assert str(path) in str(e.value)
    m = open_movie(path, dataset="volumes/raw", axes="tyx")
    assert m.n_frames == 3


def test_hdf5_ambiguous_dataset(tmp_path):
    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as f:
        f["a"] = np.zeros((2, 3, 3))
        f["b"] = np.zeros((2, 3, 3))
    with pytest.raises(InputError) as e:
        open_movie(path, axes="tyx")
    assert str(path) in str(e.value)
    assert "'a'" in str(e.value) and "'b'" in str(e.value)


# --- chunk files -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, axes", [((2, 5, 6, 3), "tyxc"), ((2, 3, 5, 6, 2), "tzyxc")])
def test_probabilities_roundtrip(tmp_path, shape, axes):
    probs = RNG.random(shape).astype(np.float64)
    path = tmp_path / "sub" / "probs.h5"
    write_probabilities(path, probs, t0=10)
    arr, t0 = read_chunk(path, "exported_data")
    assert t0 == 10
    assert arr.dtype == np.float32
    np.testing.assert_allclose(arr, probs.astype(np.float32))
    with h5py.File(path, "r") as f:
        ds = f["exported_data"]
        assert axes_from_axistags(ds.attrs["axistags"]) == axes
        assert ds.attrs["axes"] == axes
    # the file reads back as a movie, like an ilastik export
    m = open_movie(path, dataset="exported_data")
    assert m.n_frames == 2 and m.n_channels == shape[-1]
    np.testing.assert_allclose(m.read(1), probs[1].astype(np.float32))
    assert _leftovers(path.parent) == ["probs.h5"]


@pytest.mark.parametrize("shape, axes", [((3, 5, 6), "tyx"), ((2, 3, 5, 6), "tzyx")])
def test_label_chunk_roundtrip(tmp_path, shape, axes):
    labels = RNG.integers(0, 70000, size=shape)
    path = tmp_path / "labels.h5"
    write_label_chunk(path, labels, t0=3)
    arr, t0 = read_chunk(path, "labels")
    assert t0 == 3
    assert arr.dtype == np.uint32
    np.testing.assert_array_equal(arr, labels)
    with h5py.File(path, "r") as f:
        assert axes_from_axistags(f["labels"].attrs["axistags"]) == axes
    m = open_movie(path, dataset="labels")
    np.testing.assert_array_equal(m.read(t0 - 3), labels[0])
    assert _leftovers(tmp_path) == ["labels.h5"]


def test_write_overwrites(tmp_path):
    path = tmp_path / "labels.h5"
    write_label_chunk(path, np.ones((1, 4, 4)), t0=0)
    write_label_chunk(path, np.full((2, 4, 4), 7), t0=5)
    arr, t0 = read_chunk(path, "labels")
    assert t0 == 5 and arr.shape == (2, 4, 4) and (arr == 7).all()
    assert _leftovers(tmp_path) == ["labels.h5"]


def test_read_chunk_errors(tmp_path):
    path = tmp_path / "probs.h5"
    write_probabilities(path, np.zeros((1, 4, 4, 2)), t0=0)
    with pytest.raises(InputError) as e:
        read_chunk(path, "labels")
    assert str(path) in str(e.value)
    with pytest.raises(InputError) as e:
        read_chunk(tmp_path / "missing.h5", "labels")
    assert "missing.h5" in str(e.value)
    (tmp_path / "junk.h5").write_bytes(b"junk")
    with pytest.raises(InputError):
        read_chunk(tmp_path / "junk.h5", "labels")


# --- tables ------------------------------------------------------------------------------------------------------

def test_table_roundtrip(tmp_path):
    df = pd.DataFrame({
        "t": np.array([0, 0, 1], dtype=np.int64),
        "label": np.array([1, 2, 1], dtype=np.uint32),
        "centroid_y": [1.5, 2.25, 3.0],
        "name": ["a", "b", "c"],
    })
    meta = {"movie": "results/x/01", "voxel_size": [1.0, 0.5], "t0": 0}
    path = tmp_path / "tables" / "features.parquet"
    write_table(path, df, meta)
    back, meta_back = read_table(path)
    pd.testing.assert_frame_equal(back, df)
    assert meta_back == meta
    assert _leftovers(path.parent) == ["features.parquet"]


def test_table_roundtrip_empty_and_no_metadata(tmp_path):
    df = pd.DataFrame({"t": pd.Series([], dtype=np.int64), "label": pd.Series([], dtype=np.uint32)})
    write_table(tmp_path / "e.parquet", df)
    back, meta = read_table(tmp_path / "e.parquet")
    assert meta == {}
    assert list(back.columns) == ["t", "label"] and len(back) == 0


def test_read_table_errors(tmp_path):
    with pytest.raises(InputError) as e:
        read_table(tmp_path / "missing.parquet")
    assert "missing.parquet" in str(e.value)
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError) as e:
        read_table(tmp_path / "bad.parquet")
    assert "bad.parquet" in str(e.value)


# --- atomic writes -----------------------------------------------------------------------------------------------

class Boom(Exception):
    pass


def test_atomic_file_success(tmp_path):
    target = tmp_path / "deep" / "out.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent
        assert not tmp.exists()
        tmp.write_text("done")
        assert not target.exists()  # not visible before the block ends
    assert target.read_text() == "done"
    assert _leftovers(target.parent) == ["out.txt"]


def test_atomic_file_failure_leaves_nothing(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(Boom):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise Boom
    assert _leftovers(tmp_path) == []


def test_atomic_file_failure_keeps_previous(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(Boom):
        with atomic_path(target) as tmp:
            tmp.write_text("new, half")
            raise Boom
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == ["out.txt"]


def test_atomic_nothing_written_is_an_error(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(FileNotFoundError):
        with atomic_path(target):
            pass
    assert _leftovers(tmp_path) == []


def test_atomic_folder_success_and_replace(tmp_path):
    target = tmp_path / "export"
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "a.txt").write_text("1")
        (tmp / "b.txt").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["a.txt", "b.txt"]
    # replacing an existing folder drops its old content
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "c.txt").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c.txt"]
    assert _leftovers(tmp_path) == ["export"]


def test_atomic_folder_failure_leaves_nothing(tmp_path):
    target = tmp_path / "export"
    with pytest.raises(Boom):
        with atomic_path(target) as tmp:
            tmp.mkdir()
            (tmp / "sub").mkdir()
            (tmp / "sub" / "a.txt").write_text("1")
            raise Boom
    assert _leftovers(tmp_path) == []


def test_atomic_folder_failure_keeps_existing_folder(tmp_path):
    target = tmp_path / "export"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(Boom):
        with atomic_path(target) as tmp:
            tmp.mkdir()
            (tmp / "new.txt").write_text("new")
            raise Boom
    assert sorted(p.name for p in target.iterdir()) == ["old.txt"]
    assert (target / "old.txt").read_text() == "old"
    assert _leftovers(tmp_path) == ["export"]


def test_atomic_writer_failure_h5(tmp_path, monkeypatch):
    """A writer that fails mid-way (here: h5py raising while writing) leaves no file and no temporary."""
    import lineageflow.io as lio

    real = lio.axistags_json

    def failing(axes):
        raise Boom("disk full")

    monkeypatch.setattr(lio, "axistags_json", failing)
    with pytest.raises(Boom):
        write_probabilities(tmp_path / "p.h5", np.zeros((1, 4, 4, 2)), t0=0)
    with pytest.raises(Boom):
        write_label_chunk(tmp_path / "l.h5", np.zeros((1, 4, 4)), t0=0)
    assert _leftovers(tmp_path) == []
    monkeypatch.setattr(lio, "axistags_json", real)


def test_atomic_writer_failure_table(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    def failing(table, where, **kw):
        Path(where).write_bytes(b"PAR1 half written")
        raise Boom("killed")

    monkeypatch.setattr(pq, "write_table", failing)
    with pytest.raises(Boom):
        write_table(tmp_path / "t.parquet", pd.DataFrame({"a": [1]}))
    assert _leftovers(tmp_path) == []


def test_atomic_keyboard_interrupt(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(os.urandom(100))
            raise KeyboardInterrupt
    assert _leftovers(tmp_path) == []


def test_read_tables_refuses_a_table_from_another_dataset(tmp_path):
    from lineageflow.io import read_tables, write_table

    df = pd.DataFrame({"frame": [0], "label": [1]})
    write_table(tmp_path / "a.parquet", df, {"spatial_shape": [10, 10], "n_frames": 5, "voxel_size": [1, 1]})
    write_table(tmp_path / "b.parquet", df, {"spatial_shape": [10, 12], "n_frames": 5, "voxel_size": [1, 1]})
    table, meta = read_tables([tmp_path / "a.parquet", tmp_path / "a.parquet"])
    assert len(table) == 2 and meta["n_frames"] == 5
    with pytest.raises(InputError, match="b.parquet"):
        read_tables([tmp_path / "a.parquet", tmp_path / "b.parquet"])


def test_label_chunks_serve_any_frame(tmp_path):
    from lineageflow.io import LabelChunks, write_label_chunk

    a = np.arange(2 * 4 * 4, dtype=np.uint32).reshape(2, 4, 4)
    write_label_chunk(tmp_path / "a.h5", a, t0=0)
    write_label_chunk(tmp_path / "b.h5", a + 100, t0=2)
    chunks = LabelChunks([tmp_path / "a.h5", tmp_path / "b.h5"])
    np.testing.assert_array_equal(chunks(3), a[1] + 100)
    np.testing.assert_array_equal(chunks(0), a[0])
    with pytest.raises(InputError, match="frame 7"):
        chunks(7)
